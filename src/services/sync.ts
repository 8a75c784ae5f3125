import { AppError } from '../domain/errors.js';
import type { Message } from '../schemas/messages.js';
import type { Db } from '../store/database.js';
import { memberSeqs } from '../store/conversations.repository.js';
import { changedSince, hiddenSince } from '../store/message-changes.repository.js';
import type { ViewRow } from '../store/message-views.js';
import type { MessagesService } from './messages.js';

/** Messages read from the database per batch while catching a client up. */
export const SYNC_BATCH = 100;
/** Conversations a single `since` (or `changes_since`) may name. */
export const SYNC_MAX_CONVERSATIONS = 10_000;

export interface SyncSink {
  /** Sends one missed message to the client; resolves when the client can take more. */
  message(message: Message): Promise<void>;
  /** Sends one message that changed since the client's copy (its current state); same pacing. */
  changed(message: Message): Promise<void>;
}

export interface SyncResult {
  /** Per conversation of the user, the last seq the client now has. */
  seqs: Record<string, number>;
  /** Per conversation of the user, its last mod_seq when the sync began. */
  modSeqs: Record<string, number>;
}

/**
 * Catching a client up after a reconnect. `sync` takes a snapshot of the user's
 * conversations (last_seq, last_mod_seq), then for each of them:
 * - in `since` (id → the last seq the client holds): hands every message after the held
 *   seq up to the snapshot to `sink.message`, in seq order;
 * - in `changesSince` (id → the last mod_seq the client holds): then hands every message
 *   it holds (seq ≤ the held seq, or the snapshot's last_seq without `since`) that changed
 *   after that mod_seq to `sink.changed`, in its current state, once — and the messages
 *   the user hid meanwhile on another device.
 * All in bounded batches read one after another (never one unbounded query or reply).
 * Returns each conversation's last seq the client now has (for conversations not in
 * `since`: their last_seq, so the client can page their history over REST) and the
 * snapshot's mod_seqs. Messages committed after the snapshot are not replayed here: the
 * caller learns of them from the bus and fetches them with `replay` (see the gateway);
 * changes after it arrive live.
 * Throws validation_failed for a malformed `since` or `changesSince`; ids the user is not
 * a member of are ignored (not reported, not an error).
 */
export class SyncService {
  /** Syncs run (metrics). */
  readonly stats = { syncs: 0 };

  constructor(
    private readonly db: Db,
    private readonly messages: MessagesService,
  ) {}

  async sync(
    userId: number,
    since: Record<string, number> | undefined,
    changesSince: Record<string, number> | undefined,
    sink: SyncSink,
  ): Promise<SyncResult> {
    this.stats.syncs++;
    const wantedSeqs = held(since, 'since');
    const wantedChanges = held(changesSince, 'changes_since');
    const result: SyncResult = { seqs: {}, modSeqs: {} };
    for (const { id, last_seq, last_mod_seq } of await memberSeqs(this.db, userId)) {
      result.modSeqs[id] = last_mod_seq;
      const heldSeq = wantedSeqs.get(id);
      let upTo: number | undefined = last_seq;
      if (heldSeq !== undefined && heldSeq < last_seq) upTo = await this.replay(userId, id, heldSeq, last_seq, sink);
      if (upTo === undefined) {
        // Left the conversation meanwhile.
        delete result.modSeqs[id];
        continue;
      }
      result.seqs[id] = upTo;
      const heldModSeq = wantedChanges.get(id);
      if (heldModSeq !== undefined && heldModSeq < last_mod_seq) {
        await this.replayChanges(userId, id, heldModSeq, Math.min(heldSeq ?? last_seq, last_seq), sink);
      }
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

  /**
   * The messages with seq ≤ upToSeq changed after `afterModSeq` (by mod_seq), then those
   * the user hid after it that did not change otherwise, each in its current state.
   */
  private async replayChanges(userId: number, conversationId: number, afterModSeq: number, upToSeq: number, sink: SyncSink) {
    // Each message once: one changed again while the pages are read comes up again at its
    // new mod_seq, and a hidden one may also have changed (then it went out hidden).
    const sent = new Set<number>();
    const send = async (rows: ViewRow[]) => {
      const fresh = rows.filter((r) => !sent.has(r.id));
      for (const r of fresh) sent.add(r.id);
      for (const message of await this.messages.view(userId, fresh)) await sink.changed(message);
    };
    let cursor = afterModSeq;
    for (;;) {
      const rows = await changedSince(this.db, userId, conversationId, { afterModSeq: cursor, upToSeq, limit: SYNC_BATCH });
      await send(rows);
      if (rows.length < SYNC_BATCH) break;
      cursor = rows.at(-1)!.mod_seq;
    }
    cursor = afterModSeq;
    for (;;) {
      const rows = await hiddenSince(this.db, userId, conversationId, { afterModSeq: cursor, upToSeq, limit: SYNC_BATCH });
      await send(rows);
      if (rows.length < SYNC_BATCH) break;
      cursor = rows.at(-1)!.hidden_mod_seq!;
    }
  }
}

/**
 * A `since`-style map (conversation id → a counter the client holds) checked: keys are
 * conversation ids written the one way JSON numbers print ("01", "1e3" or " 1" would name
 * a conversation the client never knew by that id), values integers ≥ 0.
 */
function held(map: Record<string, number> | undefined, field: string): Map<number, number> {
  const entries = Object.entries(map ?? {});
  if (entries.length > SYNC_MAX_CONVERSATIONS) {
    throw new AppError('validation_failed', `${field} may name at most ${SYNC_MAX_CONVERSATIONS} conversations`, { field });
  }
  const out = new Map<number, number>();
  for (const [key, value] of entries) {
    const id = /^[1-9][0-9]{0,15}$/.test(key) ? Number(key) : NaN;
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(value) || value < 0) {
      throw new AppError(
        'validation_failed',
        `${field}.${key} is not valid: ${field} maps conversation ids (1 to 2^53 − 1) to integers ≥ 0`,
        { field: `${field}.${key}` },
      );
    }
    out.set(id, value);
  }
  return out;
}
