import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { endpointAllowed, type PushPlatform } from '../domain/devices.js';
import { notificationText, type PushPreview } from '../domain/push.js';
import type { PushNotification, PushProvider, SendResult } from '../push/provider.js';
import { inTransaction, type Db, type Trx } from '../store/database.js';
import type { MessageRow } from '../store/messages.repository.js';
import {
  claimDue,
  completeClaimed,
  deleteDevices,
  enqueuePushes,
  liveDevices,
  lockClaimed,
  outboxState,
  pendingSummaries,
  renewClaim,
  rescheduleClaimed,
  unreadTotals,
  type ClaimedPush,
  type PendingSummary,
  type Settled,
} from '../store/push.repository.js';

export interface PushOptions {
  /** How long a message may wait to be delivered to a socket before it is pushed (ms). */
  delayMs: number;
  preview: PushPreview;
  /** Sends tried per (row, device) before it is given up. */
  maxAttempts: number;
  /** Requests in flight at once on this node. */
  concurrency: number;
  /** How long a claimed row is this node's before another may take it (ms); renewed while its round runs. */
  leaseMs: number;
  /** Rows claimed at once. */
  batchSize: number;
  /** How often the outbox is looked at when nothing local woke the worker (ms). */
  pollMs: number;
  /** First retry's backoff (ms), doubling each attempt, capped at maxBackoffMs, with jitter. */
  retryBaseMs: number;
  maxBackoffMs: number;
  /** Whether `start` runs the worker loop; false leaves rounds to `runOnce` (tests). */
  worker: boolean;
  /** WEBPUSH_ENDPOINTS: a stored subscription elsewhere (registered before a change of it) is not sent to. */
  webPushEndpoints: readonly string[];
}

export const DEFAULT_PUSH_TUNING = { leaseMs: 60_000, batchSize: 500, pollMs: 1000, retryBaseMs: 1000, maxBackoffMs: 15 * 60_000, worker: true, webPushEndpoints: [] as readonly string[] };

/** What the message writer calls in and after each commit (see MessageWriter). */
export interface CommitOutbox {
  /** In the committing transaction: the rows for these new messages. */
  enqueue(trx: Trx, rows: MessageRow[]): Promise<void>;
  /** After the commit: outbox rows were written. */
  committed(): void;
}

/**
 * Push notifications, from a durable outbox (push_outbox).
 *
 * Guarantees:
 * - A message's outbox rows commit with it (`enqueue`, in the writer's transaction): once
 *   a send is acknowledged, a crash can delay its push, never lose it.
 * - Every node runs a worker; a row is claimed by one worker at a time (SKIP LOCKED and a
 *   lease), so with nothing failing each (conversation, device) notification is sent once.
 *   A node dying after a send and before settling it leads to one repeat when the lease
 *   runs out (at least once across a crash; never twice without one).
 * - A row is sent only if, when it is due, the recipient's delivered pointer is below
 *   it, the conversation is not muted for them, and a message in it is from someone they
 *   do not block; otherwise it is settled without a request.
 * - Retries (429, 5xx, timeouts) back off exponentially with jitter, honouring
 *   Retry-After, up to maxAttempts; a device its provider says is gone is deleted.
 */
/**
 * Rounds a node's worker runs at once while there is work. A round's database work
 * (claim, decide, settle) leaves its sends idle; with a second round, one's database work
 * overlaps the other's sends. Their sends share one PUSH_CONCURRENCY. Only the first
 * polls; the others run when woken (a commit's rows fell due, or the first found work).
 */
const ROUNDS_IN_FLIGHT = 2;

export class PushService implements CommitOutbox {
  private readonly limit: ReturnType<typeof pLimit>;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly wakers = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  /** Counters for tests and the ops issue's metrics. */
  readonly stats = { sent: 0, skipped: 0, retried: 0, gone: 0, failed: 0, givenUp: 0 };
  /** Sends tried per provider (platform) and result: sent, gone, failed, retry, given_up. */
  readonly results = new Map<PushPlatform, Record<'sent' | 'gone' | 'failed' | 'retry' | 'given_up', number>>();

  constructor(
    private readonly db: Db,
    private readonly providers: Map<PushPlatform, PushProvider>,
    private readonly opts: PushOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.limit = pLimit(opts.concurrency);
  }

  /**
   * The outbox across all nodes (metrics): its rows, and how long the most overdue one
   * has been due (0 when none is; rows wait PUSH_DELAY before they are due).
   */
  async queueState(): Promise<{ waiting: number; oldestAgeSeconds: number }> {
    const { waiting, earliestDue } = await outboxState(this.db);
    const overdue = earliestDue === null ? 0 : (this.clock.now() - earliestDue.getTime()) / 1000;
    return { waiting, oldestAgeSeconds: Math.max(0, overdue) };
  }

  /** The platforms with a provider: only their devices get outbox rows. */
  get platforms(): PushPlatform[] {
    return [...this.providers.keys()];
  }

  async enqueue(trx: Trx, rows: MessageRow[]): Promise<void> {
    // A call rings its callee's devices with a push of its own (CallsService), at once.
    const pushable = rows.filter((r) => r.type !== 'system' && r.type !== 'call' && r.sender_id !== null);
    if (pushable.length === 0) return;
    const now = this.clock.now();
    await enqueuePushes(
      trx,
      pushable.map((r) => ({ conversationId: r.conversation_id, seq: r.seq, senderId: r.sender_id! })),
      { now: new Date(now), dueAt: new Date(now + this.opts.delayMs), platforms: this.platforms },
    );
  }

  committed(): void {
    // Rows this node wrote fall due after the delay: look then rather than at the next poll.
    if (this.closed || this.timer || !this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wakeAll();
    }, this.opts.delayMs + 5);
  }

  /** Starts this node's worker. */
  start(): void {
    if (this.running || this.platforms.length === 0 || !this.opts.worker) return;
    this.running = Promise.all(Array.from({ length: ROUNDS_IN_FLIGHT }, (_, i) => this.loop(i === 0))).then(() => undefined);
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }

  private async loop(polls: boolean): Promise<void> {
    while (!this.closed) {
      let claimed = 0;
      try {
        claimed = await this.runOnce();
      } catch (err) {
        if (this.closed) break;
        this.log.warn({ err }, 'push worker round failed; trying again');
      }
      if (this.closed) break;
      if (claimed > 0) {
        // Work: the other rounds join in. Claim again at once even after a short batch: a
        // row that a commit changed while the claim ran is locked and skipped by it, not
        // claimed (it stays due for the next claim).
        this.wakeAll();
        continue;
      }
      await this.sleep(polls ? this.opts.pollMs : undefined);
    }
  }

  /** Waits ms (undefined: no limit), or until woken (a commit's rows fell due, work was found, close). */
  private sleep(ms: number | undefined): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.wakers.delete(wake);
        resolve();
      };
      const t = ms === undefined ? undefined : setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /**
   * One round: claims the rows due now, decides and sends them, and settles them in one
   * transaction. Resolves with how many rows it claimed. The lease is renewed while the
   * round runs, so a slow round's rows are not claimed again by another node.
   */
  async runOnce(): Promise<number> {
    const now = this.clock.now();
    const claim = randomUUID();
    const rows = await claimDue(this.db, {
      now: new Date(now),
      leaseUntil: new Date(now + this.opts.leaseMs),
      limit: this.opts.batchSize,
      claim,
    });
    if (rows.length === 0) return 0;
    const renewal = setInterval(() => {
      renewClaim(this.db, claim, new Date(this.clock.now() + this.opts.leaseMs)).catch((err: unknown) =>
        this.log.warn({ err }, 'push lease renewal failed'),
      );
    }, this.opts.leaseMs / 3);
    try {
      await this.round(claim, rows, now);
    } finally {
      clearInterval(renewal);
    }
    return rows.length;
  }

  private async round(claim: string, rows: ClaimedPush[], now: number): Promise<void> {
    const devices = new Map((await liveDevices(this.db, [...new Set(rows.map((r) => r.device_id))], new Date(now))).map((d) => [d.id, d]));
    const key = (c: number, u: number, f: number, l: number) => `${c}:${u}:${f}:${l}`;
    const wanted = new Map<string, { conversationId: number; userId: number; firstSeq: number; lastSeq: number }>();
    for (const r of rows) {
      wanted.set(key(r.conversation_id, r.user_id, r.first_seq, r.last_seq), {
        conversationId: r.conversation_id,
        userId: r.user_id,
        firstSeq: r.first_seq,
        lastSeq: r.last_seq,
      });
    }
    // A row is sent when a message of it older than PUSH_DELAY is still undelivered; one
    // that joined the row late does not make it due alone (it gets its own full delay).
    const summaries = new Map(
      (await pendingSummaries(this.db, [...wanted.values()], new Date(now), new Date(now - this.opts.delayMs))).map((s) => [
        key(s.conversation_id, s.user_id, s.first_seq, s.last_seq),
        s,
      ]),
    );

    const done: Settled[] = [];
    const retry: { conversationId: number; deviceId: number; dueAt: Date; release?: boolean }[] = [];
    const gone = new Set<number>();
    const toSend: { row: ClaimedPush; summary: Ripe }[] = [];
    for (const row of rows) {
      const device = devices.get(row.device_id);
      const summary = summaries.get(key(row.conversation_id, row.user_id, row.first_seq, row.last_seq));
      if (!device || !summary || device.user_id !== row.user_id) {
        // The session ended, the recipient left, or the device is another account's now.
        done.push(settled(row, row.last_seq));
        this.stats.skipped++;
      } else if (device.platform === 'webpush' && !endpointAllowed(device.subscription?.endpoint ?? '', this.opts.webPushEndpoints)) {
        this.log.warn({ device: device.id }, 'web push endpoint not on WEBPUSH_ENDPOINTS; device removed');
        gone.add(device.id);
      } else if (row.attempts > this.opts.maxAttempts) {
        // Claimed that often without being settled: its rounds keep dying.
        this.stats.givenUp++;
        done.push(settled(row, row.last_seq));
      } else if (!shouldSend(summary)) {
        // Settled up to what is past its delay; later messages keep waiting.
        done.push(settled(row, summary.muted ? row.last_seq : summary.ripe_seq));
        this.stats.skipped++;
      } else toSend.push({ row, summary: summary as Ripe });
    }
    const badges = await unreadTotals(this.db, [...new Set(toSend.map((s) => s.row.user_id))]);

    await Promise.all(
      toSend.map(({ row, summary }) =>
        this.limit(async () => {
          if (this.closed) {
            // Shutting down: not started, so handed back for any node to take at once.
            retry.push({ conversationId: row.conversation_id, deviceId: row.device_id, dueAt: new Date(this.clock.now()), release: true });
            return;
          }
          const device = devices.get(row.device_id)!;
          const provider = this.providers.get(device.platform);
          const result: SendResult = provider
            ? await provider
                .send(
                  { deviceId: device.id, platform: device.platform, token: device.token, subscription: device.subscription },
                  this.notification(summary, badges.get(row.user_id) ?? 0),
                )
                .catch((err: unknown): SendResult => ({ kind: 'retry', reason: String(err) }))
            : { kind: 'failed', reason: `no provider for ${device.platform}` };
          // The notification told of everything up to last_seq.
          const upTo = settled(row, row.last_seq);
          let tally = this.results.get(device.platform);
          if (!tally) this.results.set(device.platform, (tally = { sent: 0, gone: 0, failed: 0, retry: 0, given_up: 0 }));
          const given = result.kind === 'retry' && row.attempts >= this.opts.maxAttempts;
          tally[given ? 'given_up' : result.kind]++;
          switch (result.kind) {
            case 'sent':
              this.stats.sent++;
              done.push(upTo);
              break;
            case 'gone':
              this.stats.gone++;
              gone.add(device.id);
              break;
            case 'failed':
              this.stats.failed++;
              this.log.warn({ device: device.id, platform: device.platform, reason: result.reason }, 'push refused; given up');
              done.push(upTo);
              break;
            case 'retry':
              if (row.attempts >= this.opts.maxAttempts) {
                this.stats.givenUp++;
                this.log.warn({ device: device.id, platform: device.platform, reason: result.reason, attempts: row.attempts }, 'push failed too often; given up');
                done.push(upTo);
              } else {
                this.stats.retried++;
                retry.push({
                  conversationId: row.conversation_id,
                  deviceId: row.device_id,
                  dueAt: new Date(this.clock.now() + this.backoff(row.attempts, result.retryAfterMs)),
                });
              }
              break;
          }
        }),
      ),
    );

    await this.settle(claim, done, retry, [...gone]);
  }

  /** One transaction, rows locked in key order (as commits lock them), gone devices deleted in it; retried after a deadlock. */
  private async settle(
    claim: string,
    done: Settled[],
    retry: { conversationId: number; deviceId: number; dueAt: Date; release?: boolean }[],
    gone: number[],
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await inTransaction(this.db, async (trx) => {
          await lockClaimed(trx, claim, [...done, ...retry], gone);
          await completeClaimed(trx, claim, done, new Date(this.clock.now() + this.opts.delayMs));
          await rescheduleClaimed(trx, claim, retry);
          // In the same transaction: its cascade finds the devices' rows already locked, in key order.
          await deleteDevices(trx, gone);
        });
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01' || attempt >= 3) throw err;
      }
    }
  }

  private notification(s: Ripe, badge: number): PushNotification {
    const text = notificationText(this.opts.preview, {
      conversationType: s.conversation_type,
      conversationName: s.conversation_name,
      senderName: s.latest.sender_name,
      type: s.latest.type,
      content: s.latest.content,
      attachmentKinds: s.latest.attachment_kinds,
      count: s.count,
    });
    const data: Record<string, string> = {
      kind: 'message',
      conversation_id: String(s.conversation_id),
      seq: String(s.latest.seq),
      message_id: String(s.latest.id),
      count: String(s.count),
    };
    if (this.opts.preview !== 'none') data.sender_id = String(s.latest.sender_id);
    return { conversationId: s.conversation_id, collapseKey: `conversation-${s.conversation_id}`, ...text, badge, count: s.count, data };
  }

  /** Exponential backoff with "equal jitter", never shorter than the provider's Retry-After. */
  private backoff(attempts: number, retryAfterMs: number | undefined): number {
    const exp = Math.min(this.opts.maxBackoffMs, this.opts.retryBaseMs * 2 ** Math.max(0, attempts - 1));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    return Math.max(jittered, Math.min(retryAfterMs ?? 0, 24 * 3600_000));
  }

  /** Stops the worker after its round; in-flight sends finish and are settled. Closes the providers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.wakeAll();
    await this.running;
    for (const p of this.providers.values()) await p.close();
  }
}

type Ripe = PendingSummary & { latest: NonNullable<PendingSummary['latest']> };

/** Not muted, and a message of the row past its PUSH_DELAY still undelivered. */
function shouldSend(s: PendingSummary): boolean {
  return !s.muted && s.due && s.latest !== null;
}

function settled(row: ClaimedPush, upTo: number): Settled {
  return { conversationId: row.conversation_id, deviceId: row.device_id, lastSeq: upTo };
}
