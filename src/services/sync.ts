import { AppError } from '../domain/errors.js';
import type { Message } from '../schemas/messages.js';
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
 * Catching a client up after a reconnect. `sync` takes a snapshot of the user's
 * conversations and their last_seq, then for each conversation in `since` (id → the last
 * seq the client holds) that the user is a member of, hands every message after the
 * held seq up to that snapshot to the sink in seq order, in bounded batches read one
 * after another (never one unbounded query or reply). Returns each of the user's
 * conversations with the last seq the client now has (for conversations not in `since`:
 * their last_seq, so the client can page their history over REST).
 * Messages committed after the snapshot are not replayed here: the caller learns of them
 * from the bus and fetches them with `replay` (see the gateway).
 * Throws validation_failed for a malformed `since`; ids the user is not a member of are
 * ignored (not reported, not an error).
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
      // Keys are conversation ids written the one way JSON numbers print: "01", "1e3" or
      // " 1" would name a conversation the client never knew by that id.
      const id = /^[1-9][0-9]{0,15}$/.test(key) ? Number(key) : NaN;
      if (!Number.isSafeInteger(id) || !Number.isSafeInteger(seq) || seq < 0) {
        throw new AppError(
          'validation_failed',
          `since.${key} is not valid: since maps conversation ids (1 to 2^53 − 1) to the last seq held (integers ≥ 0)`,
          { field: `since.${key}` },
        );
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
      const got = await this.replay(userId, id, held, last_seq, sink);
      if (got !== undefined) result[id] = got;
    }
    return result;
  }

  /**
   * Hands the messages with after < seq ≤ upTo to the sink in seq order, in batches of
   * SYNC_BATCH; resolves to the last seq handed over (after, when there were none), or
   * undefined when the user is no longer a member.
   */
  async replay(userId: number, conversationId: number, after: number, upTo: number, sink: SyncSink): Promise<number | undefined> {
    let last = after;
    try {
      while (last < upTo) {
        const page = await this.messages.history(userId, conversationId, { afterSeq: last, limit: SYNC_BATCH });
        for (const message of page.messages) {
          if (message.seq > upTo) return last;
          await sink.message(message);
          last = message.seq;
        }
        if (!page.has_more || page.messages.length === 0) break;
      }
    } catch (err) {
      if (err instanceof AppError && err.code === 'not_found') return undefined;
      throw err;
    }
    return last;
  }
}
