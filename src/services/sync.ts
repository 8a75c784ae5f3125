import { AppError } from '../domain/errors.js';
import type { Message } from '../domain/conversations.js';
import type { Db } from '../store/database.js';
import { memberSeqs } from '../store/conversations.repository.js';
import type { MessagesService } from './messages.js';

/** Messages read from the database per batch while catching a client up. */
export const SYNC_BATCH = 100;
/** Conversations a single `since` may name. */
export const SYNC_MAX_CONVERSATIONS = 10_000;

export interface SyncSink {
  /** Sends one message to the client; resolves when the client can take more. */
  message(message: Message): Promise<void>;
}

/**
 * Catching a client up after a reconnect. For each conversation in `since` (id → the
 * last seq the client holds) that the user is a member of, every later message is handed
 * to the sink in seq order, in bounded batches read one after another (never one
 * unbounded query or reply). Returns each of the user's conversations with the last seq
 * the client now has (for conversations not in `since`: their last_seq, so the client can
 * page their history over REST).
 */
export class SyncService {
  constructor(
    private readonly db: Db,
    private readonly messages: MessagesService,
  ) {}

  async sync(userId: number, since: Record<string, number> | undefined, sink: SyncSink): Promise<Record<string, number>> {
    const entries = Object.entries(since ?? {});
    if (entries.length > SYNC_MAX_CONVERSATIONS) {
      throw new AppError('validation_failed', `since may name at most ${SYNC_MAX_CONVERSATIONS} conversations`, {
        field: 'since',
      });
    }
    const wanted = new Map<number, number>();
    for (const [key, seq] of entries) {
      const id = Number(key);
      if (!Number.isSafeInteger(id) || id < 1 || !Number.isSafeInteger(seq) || seq < 0) {
        throw new AppError('validation_failed', 'since maps conversation ids to the last seq held (integers ≥ 0)', {
          field: 'since',
        });
      }
      wanted.set(id, seq);
    }
    const result: Record<string, number> = {};
    for (const { id, last_seq } of await memberSeqs(this.db, userId)) {
      const held = wanted.get(id);
      if (held === undefined || held >= last_seq) {
        result[id] = last_seq;
        continue;
      }
      let after = held;
      for (;;) {
        const page = await this.messages.history(userId, id, { afterSeq: after, limit: SYNC_BATCH });
        for (const message of page.messages) {
          await sink.message(message);
          after = message.seq;
        }
        if (!page.has_more || page.messages.length === 0) break;
      }
      result[id] = after;
    }
    return result;
  }
}
