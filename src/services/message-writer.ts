import { inTransaction, type Db } from '../store/database.js';
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
  /** Batches in flight at once (each takes one database connection). */
  concurrency: number;
}

export interface Written {
  row: MessageRow;
  /** False: the (sender, client_id) pair was stored before; `row` is that message. */
  created: boolean;
}

interface Pending {
  message: NewMessage;
  resolve: (result: Written) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: concurrent sends are written in batches, one transaction each, flushed
 * when `maxBatch` are waiting or `delayMs` after the first one arrived, whichever comes
 * first; while all `concurrency` batches are in flight, new sends gather for the next.
 * Under load the batches grow by themselves and the database does a fraction of the
 * commits.
 *
 * Contract: `write` resolves only after the transaction holding the message committed,
 * and rejects when it did not (the whole batch fails together) — so nobody is ever
 * acknowledged for a message that is not stored. Idempotent on (sender, client_id): a
 * pair stored before, or repeated inside the batch, yields the stored (or first) message
 * with `created: false`.
 */
export class MessageWriter {
  private queue: Pending[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly idle = new Set<() => void>();
  /** Batches written and messages in them, for metrics and tests. */
  readonly stats = { batches: 0, messages: 0 };

  constructor(
    private readonly db: Db,
    private readonly opts: WriterOptions,
  ) {}

  write(message: NewMessage): Promise<Written> {
    return new Promise((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      if (this.queue.length >= this.opts.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.delayMs);
    });
  }

  /** Resolves when nothing is queued or in flight. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0) {
      await new Promise<void>((resolve) => this.idle.add(resolve));
    }
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight < this.opts.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight++;
      void this.writeBatch(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length >= this.opts.maxBatch || (this.queue.length > 0 && this.timer === undefined)) this.flush();
        if (this.queue.length === 0 && this.inFlight === 0) {
          for (const wake of this.idle) wake();
          this.idle.clear();
        }
      });
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      const results = await this.commit(batch.map((p) => p.message));
      this.stats.batches++;
      this.stats.messages += batch.length;
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      if (!(err instanceof ClientIdRace)) {
        for (const p of batch) p.reject(err);
        return;
      }
      // Another writer stored one of these client_ids meanwhile; nothing of the batch was
      // written. One by one, each finds its stored twin or is inserted.
      for (const p of batch) {
        try {
          p.resolve(await this.commitOne(p.message));
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }

  /** One message alone; a lost client_id race finds the winner's message. */
  private async commitOne(message: NewMessage): Promise<Written> {
    try {
      const [result] = await this.commit([message]);
      return result!;
    } catch (err) {
      const twin = err instanceof ClientIdRace ? await findByClientId(this.db, message.senderId, message.clientId!) : undefined;
      if (twin) return { row: twin, created: false };
      throw err;
    }
  }

  /**
   * Commits a batch: one lookup of repeated client_ids, then one transaction that takes
   * each conversation's next seqs and inserts the new messages. Results in input order.
   * Throws ClientIdRace (nothing written) when another writer inserted one of the
   * client_ids meanwhile; any other error means nothing of the batch was committed.
   */
  private async commit(items: NewMessage[]): Promise<Written[]> {
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
            const withSeqs = fresh.map((m) => {
              const seq = next.get(m.conversationId);
              if (seq === undefined) throw new Error(`conversation ${m.conversationId} vanished`);
              next.set(m.conversationId, seq + 1);
              return { ...m, seq };
            });
            return insertMessages(trx, withSeqs);
          });

    return plan.map((p) =>
      p.kind === 'stored' ? { row: p.row, created: false } : { row: inserted[p.index]!, created: p.kind === 'insert' },
    );
  }
}
