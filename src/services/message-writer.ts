import { AppError } from '../domain/errors.js';
import { mayPost, type Roster } from '../domain/conversations.js';
import { participantsOf, rostersOf, type ParticipantRow } from '../store/conversations.repository.js';
import { inTransaction, type Db, type Trx } from '../store/database.js';
import type { CommitOutbox } from './push.js';
import {
  ClientIdRace,
  findByClientId,
  findByClientIds,
  insertMessages,
  takeSeqs,
  type MessageRow,
  type NewMessage,
} from '../store/messages.repository.js';

export interface WriterOptions {
  /** Most messages in one transaction. */
  maxBatch: number;
  /** How long a lone message waits for company before it is written (ms). */
  delayMs: number;
  /** Write lanes: batches committing at once (each takes one database connection). */
  concurrency: number;
  /** Written in each batch's transaction for its new messages (the push outbox). */
  outbox?: CommitOutbox;
  /** Told of each committed batch: its size, its new messages, its transaction's seconds (metrics). */
  onBatch?: (size: number, created: number, seconds: number) => void;
}

export type Written =
  | {
      row: MessageRow;
      created: true;
      /**
       * The members when it committed, if the roster changed since the sender was
       * checked (NewMessage.rosterVersion): the message goes to these, not the cached ones.
       */
      memberIds?: number[];
    }
  | {
      row: MessageRow;
      /** The (sender, client_id) pair was stored before; `row` is that message. */
      created: false;
      /** The members of its conversation, with their pointers, for its status. */
      participants: ParticipantRow[];
    };

/** What `commit` finds before the members of repeated messages are looked up. */
type Found = { row: MessageRow; created: boolean; memberIds?: number[] };

interface Pending {
  message: NewMessage;
  resolve: (result: Written) => void;
  reject: (err: unknown) => void;
}

/** A transaction of its own in a conversation's lane (see `run`). */
interface Job {
  job: (trx: Trx) => Promise<unknown>;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

/** One write lane: its queue and whether a batch of it is committing. */
interface Lane {
  queue: (Pending | Job)[];
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Group commit in write lanes. The messages of one conversation always take the same lane
 * (`conversation_id mod concurrency`); a lane commits one batch at a time, flushed when
 * `maxBatch` are waiting or `delayMs` after the first one arrived, and while it commits
 * the next batch gathers. Under load the batches grow by themselves and the database does
 * a fraction of the commits. Lanes commit in parallel and never touch the same
 * conversation rows, so they never wait on each other's locks; and because a lane's
 * batches commit and resolve one after another, a conversation's messages are resolved
 * (and so published) in seq order.
 *
 * Contract: `write` resolves only after the transaction holding the message committed,
 * and rejects when it did not — so nobody is ever acknowledged for a message that is not
 * stored. A batch that fails because of one of its messages (PostgreSQL refused a row, a
 * conversation is gone) is split and retried until the failing message is alone: it fails
 * by itself and every other message commits. A failure nobody's message caused (the
 * connection dropped, the server is shutting down) fails the batch; its senders retry.
 * Idempotent on (sender, client_id): a pair stored before, or repeated inside the batch,
 * yields the stored (or first) message with `created: false`.
 */
export class MessageWriter {
  private readonly lanes: Lane[];
  private readonly idle = new Set<() => void>();
  /** Batches written and messages in them, for metrics and tests. */
  readonly stats = { batches: 0, messages: 0 };

  constructor(
    private readonly db: Db,
    private readonly opts: WriterOptions,
  ) {
    this.lanes = Array.from({ length: opts.concurrency }, () => ({ queue: [], busy: false, timer: undefined }));
  }

  write(message: NewMessage): Promise<Written> {
    const lane = this.laneOf(message.conversationId);
    return new Promise((resolve, reject) => {
      lane.queue.push({ message, resolve, reject });
      if (lane.queue.length >= this.opts.maxBatch) this.flush(lane);
      else lane.timer ??= setTimeout(() => this.flush(lane), this.opts.delayMs);
    });
  }

  /**
   * Runs `job` in a transaction of its own, in the conversation's lane: after the
   * messages queued before it commit and before those queued after it. A change that
   * writes messages itself (a group's system messages) goes this way, so that this
   * node resolves — and publishes — a conversation's messages in seq order. Resolves
   * with the job's result after the commit; rejects when the job threw (rolled back).
   */
  run<T>(conversationId: number, job: (trx: Trx) => Promise<T>): Promise<T> {
    const lane = this.laneOf(conversationId);
    return new Promise<T>((resolve, reject) => {
      lane.queue.push({ job, resolve: resolve as (result: unknown) => void, reject });
      this.flush(lane);
    });
  }

  /** Messages and jobs waiting in the lanes, not counting batches committing. */
  get queued(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.queue.length;
    return n;
  }

  private laneOf(conversationId: number): Lane {
    return this.lanes[conversationId % this.lanes.length]!;
  }

  /** Resolves when nothing is queued or in flight. */
  async drain(): Promise<void> {
    while (this.lanes.some((l) => l.busy || l.queue.length > 0)) {
      await new Promise<void>((resolve) => this.idle.add(resolve));
    }
  }

  private flush(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    if (lane.busy || lane.queue.length === 0) return; // the batch in flight flushes again when done
    lane.busy = true;
    // A job goes alone; messages go in a batch up to the next job.
    const first = lane.queue[0]!;
    const nextJob = lane.queue.findIndex((p) => 'job' in p);
    const batch = 'job' in first ? lane.queue.splice(0, 1) : lane.queue.splice(0, Math.min(this.opts.maxBatch, nextJob === -1 ? Infinity : nextJob));
    const done = 'job' in first ? this.runJob(first) : this.settle(batch as Pending[]);
    void done.finally(() => {
      lane.busy = false;
      // What gathered meanwhile goes at once: it has waited for a whole commit already.
      if (lane.queue.length > 0) this.flush(lane);
      else if (!this.lanes.some((l) => l.busy || l.queue.length > 0)) {
        for (const wake of this.idle) wake();
        this.idle.clear();
      }
    });
  }

  private async runJob(job: Job): Promise<void> {
    try {
      job.resolve(await inTransaction(this.db, job.job));
    } catch (err) {
      job.reject(err);
    }
  }

  /**
   * Commits a batch and settles each message's promise. When a message of it made the
   * transaction fail (nothing of it was written), the two halves are tried one after the
   * other, in order, until the culprit is alone; a lost client_id race is settled the same
   * way, the lone message then finding its stored twin.
   */
  private async settle(batch: Pending[]): Promise<void> {
    try {
      const started = performance.now();
      const found = await this.commit(batch.map((p) => p.message));
      this.stats.batches++;
      this.stats.messages += batch.length;
      if (this.opts.onBatch) {
        let created = 0;
        for (const f of found) if (f.created) created++;
        this.opts.onBatch(batch.length, created, (performance.now() - started) / 1000);
      }
      // Looked up before anything of the batch resolves, so that a repeat's answer leaves
      // in its place among the batch's new messages, not after them.
      const results = await this.withParticipants(found);
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      if (!(err instanceof ClientIdRace) && !blamesAMessage(err)) {
        for (const p of batch) p.reject(err);
      } else if (batch.length === 1) {
        const [p] = batch as [Pending];
        try {
          p.resolve(await this.afterRace(p.message, err));
        } catch (e) {
          p.reject(e);
        }
      } else {
        const half = Math.ceil(batch.length / 2);
        await this.settle(batch.slice(0, half));
        await this.settle(batch.slice(half));
      }
    }
  }

  /** A lone message whose commit failed: after a lost client_id race, the winner's message. */
  private async afterRace(message: NewMessage, err: unknown): Promise<Written> {
    const twin = err instanceof ClientIdRace ? await findByClientId(this.db, message.senderId, message.clientId!) : undefined;
    if (twin) return (await this.withParticipants([{ row: twin, created: false }]))[0]!;
    throw err;
  }

  /** Adds the members of each repeated message's conversation (one query, only if any). */
  private async withParticipants(found: Found[]): Promise<Written[]> {
    const ids = [...new Set(found.filter((f) => !f.created).map((f) => f.row.conversation_id))];
    const members = await participantsOf(this.db, ids);
    return found.map((f) =>
      f.created
        ? { row: f.row, created: true, ...(f.memberIds ? { memberIds: f.memberIds } : {}) }
        : { row: f.row, created: false, participants: members.filter((m) => m.conversation_id === f.row.conversation_id) },
    );
  }

  /**
   * Commits a batch: one lookup of repeated client_ids, then one transaction that takes
   * each conversation's next seqs and inserts the new messages. Results in input order.
   * Throws ClientIdRace (nothing written) when another writer inserted one of the
   * client_ids meanwhile; see `blamesAMessage` for what other errors mean.
   */
  private async commit(items: NewMessage[]): Promise<Found[]> {
    const keyOf = (m: NewMessage) => (m.clientId === null ? null : `${m.senderId}\u0000${m.clientId}`);
    const keyed = items.filter((m): m is NewMessage & { clientId: string } => m.clientId !== null);
    const stored = new Map((await findByClientIds(this.db, keyed)).map((r) => [`${r.sender_id}\u0000${r.client_id}`, r]));

    // The first occurrence of each new client_id is inserted; repeats point at it.
    const fresh: NewMessage[] = [];
    const firstIndex = new Map<string, number>();
    type Step = { kind: 'stored'; row: MessageRow } | { kind: 'repeat' | 'insert'; index: number };
    const plan = items.map((m): Step => {
      const key = keyOf(m);
      if (key !== null) {
        const row = stored.get(key);
        if (row) return { kind: 'stored', row };
        const seen = firstIndex.get(key);
        if (seen !== undefined) return { kind: 'repeat', index: seen };
        firstIndex.set(key, fresh.length);
      }
      fresh.push(m);
      return { kind: 'insert', index: fresh.length - 1 };
    });

    const inserted =
      fresh.length === 0
        ? []
        : await inTransaction(this.db, async (trx) => {
            const counts = new Map<number, number>();
            for (const m of fresh) counts.set(m.conversationId, (counts.get(m.conversationId) ?? 0) + 1);
            const next = await takeSeqs(trx, counts);
            const rosters = await changedRosters(trx, fresh, next);
            const withSeqs = fresh.map((m) => {
              const taken = next.get(m.conversationId);
              // Deleted since the sender's membership was checked.
              if (taken === undefined) throw new AppError('not_found', 'Conversation not found');
              checkSender(m, rosters.get(m.conversationId));
              next.set(m.conversationId, { ...taken, seq: taken.seq + 1, modSeq: taken.modSeq + 1 });
              return { ...m, seq: taken.seq, modSeq: taken.modSeq };
            });
            const rows = await insertMessages(trx, withSeqs);
            await this.opts.outbox?.enqueue(trx, rows);
            return rows.map((row) => ({ row, memberIds: rosters.get(row.conversation_id)?.memberIds }));
          });

    if (fresh.length > 0) this.opts.outbox?.committed();
    return plan.map((p) =>
      p.kind === 'stored'
        ? { row: p.row, created: false }
        : { ...inserted[p.index]!, created: p.kind === 'insert' },
    );
  }
}

/**
 * The rosters of the batch's conversations whose roster version moved past the one a
 * sender was checked against, read in the transaction that holds their rows locked (so
 * they are the rosters the messages commit under).
 */
async function changedRosters(
  trx: Trx,
  messages: NewMessage[],
  taken: Map<number, { rosterVersion: number }>,
): Promise<Map<number, Roster>> {
  const stale = new Set<number>();
  for (const m of messages) {
    const now = taken.get(m.conversationId)?.rosterVersion;
    if (m.rosterVersion !== undefined && now !== undefined && now !== m.rosterVersion) stale.add(m.conversationId);
  }
  return stale.size === 0 ? new Map() : rostersOf(trx, [...stale]);
}

/** A sender checked against an older roster, checked again against the current one. */
function checkSender(m: NewMessage, roster: Roster | undefined): void {
  if (!roster || mayPost(roster, m.senderId)) return;
  if (!roster.memberIds.includes(m.senderId)) throw new AppError('not_found', 'Conversation not found');
  throw new AppError('forbidden', 'Only admins can post in this group');
}

/**
 * Whether a failed batch failed because of something in one of its messages, so that
 * nothing of it was written and the others may be retried without it: an AppError we
 * threw inside the transaction, or an error PostgreSQL reported (it has a `severity`)
 * about the data — a value it cannot take (class 22), a constraint (23), a value past a
 * limit such as an index row's size (54), or a trigger raising (P0). Anything else — a
 * lost connection, a server shutting down or read-only after a failover, a lock timeout,
 * a schema change under way — says nothing about the messages (and a commit that died
 * with its connection may even have happened), so the batch fails as a whole rather than
 * being split into hundreds of failing transactions.
 */
function blamesAMessage(err: unknown): boolean {
  if (err instanceof AppError) return true;
  const e = err as { code?: unknown; severity?: unknown } | null;
  if (typeof e?.code !== 'string' || typeof e.severity !== 'string') return false;
  return ['22', '23', '54', 'P0'].includes(e.code.slice(0, 2));
}
