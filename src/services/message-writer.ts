import type { Db } from '../store/database.js';
import { ClientIdRace, insertBatch, insertMessage, type MessageRow, type NewMessage } from '../store/messages.repository.js';

export interface WriterOptions {
  /** Most messages in one transaction. */
  maxBatch: number;
  /** How long a lone message waits for company before it is written (ms). */
  delayMs: number;
  /** Batches in flight at once (each takes one database connection). */
  concurrency: number;
}

interface Pending {
  message: NewMessage;
  resolve: (result: { row: MessageRow; created: boolean }) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: concurrent sends are written in batches, one transaction each (see
 * insertBatch), flushed when `maxBatch` are waiting or `delayMs` after the first one
 * arrived, whichever comes first; while all `concurrency` batches are in flight, new sends
 * gather for the next. Under load the batches grow by themselves and the database does
 * a fraction of the commits.
 *
 * Contract: `write` resolves only after the transaction holding the message committed,
 * and rejects when it did not (the whole batch fails together) — so nobody is ever
 * acknowledged for a message that is not stored. Idempotent on (sender, client_id).
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

  write(message: NewMessage): Promise<{ row: MessageRow; created: boolean }> {
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
      const results = await insertBatch(
        this.db,
        batch.map((p) => p.message),
      );
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
          p.resolve(await insertMessage(this.db, p.message));
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }
}
