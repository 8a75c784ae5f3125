import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { endpointAllowed, type PushPlatform } from '../domain/devices.js';
import { callNotificationText, notificationText, type PushPreview } from '../domain/push.js';
import type { PushNotification, PushProvider, PushTarget, SendResult } from '../push/provider.js';
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
  ringableDevices,
  renewClaim,
  rescheduleClaimed,
  unreadTotals,
  type ClaimedPush,
  type PendingSummary,
  type PushDevice,
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

/** An incoming call, as its ring push tells of it. */
export interface RingCall {
  call_id: string;
  conversation_id: number;
  caller_id: number;
  caller_name: string;
  video: boolean;
  /** When the call was placed (ms since the epoch): the ring window starts here. */
  sent_at: number;
  /** How long it rings (CALL_RING_TIMEOUT, in ms): the ring window ends at sent_at + this. */
  ring_timeout_ms: number;
}

export interface RingInput {
  /** The callee. */
  userId: number;
  /** Public device ids (sessions.device_id) not to push: those already showing the call, or busy. */
  excludeDevices: readonly string[];
  call: RingCall;
}

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
  private readonly rings = new Set<Promise<void>>();
  /** Rings waiting to retry; close() cuts their wait short. */
  private readonly ringPauses = new Set<() => void>();
  /** Counters for tests and the ops issue's metrics. */
  readonly stats = { sent: 0, skipped: 0, retried: 0, gone: 0, failed: 0, givenUp: 0 };
  /** Rings (ringDevices), per device: sent, gone, failed, retried (sends), givenUp, and late (the window closed before a send). */
  readonly ringStats = { sent: 0, gone: 0, failed: 0, retried: 0, givenUp: 0, late: 0 };
  /** Sends tried per provider (platform) and result: sent, gone, failed, retry, given_up. Rings count too. */
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

  /**
   * Rings `userId`'s devices for an incoming call, now — no outbox: a ring is of use only
   * during the ring window, so nothing of it survives a crash or outlives the window.
   *
   * - Pushes each device of the user on a live session whose public device id is not in
   *   `excludeDevices`, once, at the platform's highest priority, kept by the platform no
   *   longer than the rest of the ring window (see PushNotification.ring). Data: kind
   *   "call", call_id, conversation_id, caller_id and caller_name (not with PUSH_PREVIEW
   *   none), video, sent_at (ISO), age_ms (send time − sent_at) and ring_timeout_ms, all
   *   strings, so an app whose push comes after sent_at + ring_timeout_ms shows a missed call.
   * - Rings through a muted conversation; rings nobody when the user blocks the caller.
   * - A send answered `retry` is sent again with the worker's backoff (no sooner than
   *   Retry-After) while the next try would still start inside the ring window, up to
   *   PUSH_MAX_ATTEMPTS sends; a device its provider says is gone is deleted; `failed`
   *   gives up that device. A send that timed out after the platform took it and was
   *   retried can arrive twice: the collapse key `call-<call_id>` shows it once.
   * - Sends do not wait for PUSH_CONCURRENCY: a ring must not queue behind a fan-out.
   *
   * Resolves once every device's ring has settled (at the latest at the end of the ring
   * window, plus one PUSH_TIMEOUT). Rejects only when the devices cannot be read; provider
   * and network errors never reject. After close() it does nothing.
   */
  async ringDevices(input: RingInput): Promise<void> {
    if (this.closed) return;
    const ring = this.ring(input);
    this.rings.add(ring);
    try {
      await ring;
    } finally {
      this.rings.delete(ring);
    }
  }

  private async ring({ userId, excludeDevices, call }: RingInput): Promise<void> {
    const endsAt = call.sent_at + call.ring_timeout_ms;
    const now = this.clock.now();
    if (now >= endsAt) return;
    const devices = await ringableDevices(this.db, {
      userId,
      callerId: call.caller_id,
      excludeDeviceIds: excludeDevices,
      platforms: this.platforms,
      now: new Date(now),
    });
    if (devices.length === 0) return;
    // The call's own record counts: it is unread until answered.
    const badge = (await unreadTotals(this.db, [userId])).get(userId) ?? 0;
    const gone: number[] = [];
    await Promise.all(
      devices.map(async (device) => {
        if (device.platform === 'webpush' && !endpointAllowed(device.subscription?.endpoint ?? '', this.opts.webPushEndpoints)) {
          this.log.warn({ device: device.id }, 'web push endpoint not on WEBPUSH_ENDPOINTS; device removed');
          gone.push(device.id);
        } else if ((await this.ringDevice(device, call, badge, endsAt)) === 'gone') gone.push(device.id);
      }),
    );
    // Outside any transaction, as a user's own DELETE /devices removes one.
    if (gone.length > 0) await deleteDevices(this.db, gone);
  }

  /** Sends one device its ring, retrying while the window lasts; how it ended. */
  private async ringDevice(device: PushDevice, call: RingCall, badge: number, endsAt: number): Promise<'sent' | 'gone' | 'over'> {
    const provider = this.providers.get(device.platform);
    if (!provider) return 'over';
    const target: PushTarget = { deviceId: device.id, platform: device.platform, token: device.token, subscription: device.subscription };
    for (let attempt = 1; ; attempt++) {
      const now = this.clock.now();
      if (this.closed || now >= endsAt) {
        this.ringStats.late++;
        return 'over';
      }
      const result = await provider
        .send(target, this.ringNotification(call, badge, now, Math.ceil((endsAt - now) / 1000)))
        .catch((err: unknown): SendResult => ({ kind: 'retry', reason: String(err) }));
      let wait = 0;
      let last = false;
      if (result.kind === 'retry') {
        wait = this.backoff(attempt, result.retryAfterMs);
        last = attempt >= this.opts.maxAttempts || this.closed || this.clock.now() + wait >= endsAt;
      }
      this.tally(device.platform, last ? 'given_up' : result.kind);
      switch (result.kind) {
        case 'sent':
          this.ringStats.sent++;
          return 'sent';
        case 'gone':
          this.ringStats.gone++;
          return 'gone';
        case 'failed':
          this.ringStats.failed++;
          this.log.warn({ device: device.id, platform: device.platform, reason: result.reason, call: call.call_id }, 'call push refused; given up');
          return 'over';
        case 'retry':
          if (last) {
            this.ringStats.givenUp++;
            this.log.warn({ device: device.id, platform: device.platform, reason: result.reason, attempts: attempt, call: call.call_id }, 'call push failed within the ring window; given up');
            return 'over';
          }
          this.ringStats.retried++;
          await this.pause(wait);
      }
    }
  }

  private ringNotification(call: RingCall, badge: number, now: number, ttlSeconds: number): PushNotification {
    const data: Record<string, string> = {
      kind: 'call',
      call_id: call.call_id,
      conversation_id: String(call.conversation_id),
      video: String(call.video),
      sent_at: new Date(call.sent_at).toISOString(),
      age_ms: String(Math.max(0, now - call.sent_at)),
      ring_timeout_ms: String(call.ring_timeout_ms),
    };
    if (this.opts.preview !== 'none') {
      data.caller_id = String(call.caller_id);
      data.caller_name = call.caller_name;
    }
    return {
      conversationId: call.conversation_id,
      collapseKey: `call-${call.call_id}`,
      ...callNotificationText(this.opts.preview, { callerName: call.caller_name, video: call.video }),
      badge,
      count: 1,
      data,
      ring: { ttlSeconds },
    };
  }

  private tally(platform: PushPlatform, result: 'sent' | 'gone' | 'failed' | 'retry' | 'given_up'): void {
    let tally = this.results.get(platform);
    if (!tally) this.results.set(platform, (tally = { sent: 0, gone: 0, failed: 0, retry: 0, given_up: 0 }));
    tally[result]++;
  }

  /** Waits ms, or until close(). */
  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.ringPauses.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.ringPauses.add(done);
    });
  }

  /** Stops the worker after its round and rings after their sends in flight; those finish and are settled. Closes the providers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.wakeAll();
    for (const wake of [...this.ringPauses]) wake();
    await this.running;
    await Promise.allSettled([...this.rings]);
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
