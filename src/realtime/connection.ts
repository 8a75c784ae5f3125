import type { WebSocket } from 'ws';
import type { ChangePosition, MessagePosition } from '../bus/bus.js';
import { NO_REALTIME_METER, type RealtimeMeter } from '../metrics/meters.js';
import { serializeFrame, type ServerFrame } from '../schemas/server-frames.js';
import { CLOSE } from './protocol.js';

/** A serialised frame: JSON text, or that text already UTF-8 encoded (see Gateway). */
export type FrameData = string | Buffer;
/** A Buffer is sent as a text frame: it holds JSON text. */
const AS_TEXT = { binary: false } as const;

export interface ConnectionLimits {
  /** Bytes that may wait in the socket's send buffer before the client counts as slow. */
  maxBufferedBytes: number;
  /** Sustained client frames per second (bucket size is twice this). */
  framesPerSecond: number;
}

/**
 * Frames a socket may have waiting (read but not finished: queued, being handled, or a
 * message committing) before the server stops reading from it.
 */
export const MAX_WAITING_FRAMES = 256;
/**
 * Past this many waiting frames the socket is closed with 4029. Reading stops at
 * MAX_WAITING_FRAMES, and what still arrives after that is the rest of the data already
 * read from the network (at most one read of 64 KiB, ~3,000 of the smallest frames), so a
 * client cannot get here by sending fast: it is the bound on memory should it ever.
 */
export const ABUSE_WAITING_FRAMES = MAX_WAITING_FRAMES + 4096;

/**
 * One authenticated WebSocket. Outbound frames go through `send`, which enforces the
 * bounded send buffer: a client that stops reading is closed with 4008 instead of
 * growing memory or slowing anyone else. Inbound frames are shaped, not policed: a client
 * over its rate, or with too many frames waiting, is not refused but no longer read from
 * until it is back within bounds, so TCP flow control slows it down and every frame it
 * sent is answered. Inbound frames are handled in arrival order (see `enqueue`).
 */
export class Connection {
  alive = true;
  private closing = false;
  private tokens: number;
  private lastRefill = Date.now();
  private chain: Promise<void> = Promise.resolve();
  /** Frames read and not yet finished (see MAX_WAITING_FRAMES). */
  private waiting = 0;
  /** Whether reading is paused to shape this client, and the timer that ends a rate pause. */
  private readPaused = false;
  private rateTimer: NodeJS.Timeout | undefined;
  /** Made when a frame first waits its turn (most sockets never need one). */
  private closed: AbortController | undefined;
  /** Live frames held back while a sync streams history (null: not syncing), with their change's place if any. */
  private held: { frame: FrameData; change?: ChangePosition }[] | null = null;
  private heldBytes = 0;
  /** While a sync replays: per conversation, the lowest and highest live seq seen. */
  private live: Map<number, { min: number; max: number }> | null = null;
  /** Per conversation, the last seq a finished sync sent (or reported as known). */
  private synced: Map<number, number> | undefined;
  /** Per conversation whose changes a finished sync replayed, the mod_seq it covered. */
  private syncedChanges: Map<number, number> | undefined;

  constructor(
    readonly socket: WebSocket,
    readonly userId: number,
    readonly sessionId: string,
    /** The session's public id as a device (what call frames name it by). */
    readonly deviceId: string,
    private readonly limits: ConnectionLimits,
    private readonly meter: RealtimeMeter = NO_REALTIME_METER,
  ) {
    this.tokens = limits.framesPerSecond * 2;
  }

  get open(): boolean {
    return !this.closing && this.socket.readyState === this.socket.OPEN;
  }

  /**
   * Sends a serialised frame; false (and the socket closing with 4008) if the client is
   * too slow: something is still waiting to be sent and this frame would take the total
   * past the bound. A client with nothing waiting is keeping up, so it gets the frame
   * even when that one frame is larger than the bound.
   */
  send(frame: FrameData): boolean {
    if (!this.open) return false;
    const waiting = this.socket.bufferedAmount;
    if (waiting > 0 && waiting + Buffer.byteLength(frame) > this.limits.maxBufferedBytes) {
      // No terminate timer: the close frame sits behind the backlog, and a client that is
      // slow rather than gone should still read it and learn why. Nothing more is buffered
      // for it, and the heartbeat cuts it off if it does not finish within two rounds.
      this.close(CLOSE.SLOW_CONSUMER, 'slow consumer: send buffer full', null);
      return false;
    }
    if (typeof frame === 'string') this.socket.send(frame);
    else this.socket.send(frame, AS_TEXT);
    this.meter.frameOut(frame);
    return true;
  }

  /** One frame to this socket alone (bus frames arrive serialised, through `deliver`). */
  sendFrame(frame: ServerFrame): boolean {
    return this.send(serializeFrame(frame));
  }

  /**
   * A frame from the bus. While a sync replays history, `new_message` frames are not
   * kept: their seqs are noted (`liveSeqs`) and the sync fetches those messages from the
   * database after the history, so live messages never overtake it and cost no memory
   * per frame. Other frames wait in `held` (bounded by the send-buffer limit: past it the
   * client is too far behind and is closed as a slow consumer). After a sync, a
   * `new_message` it already sent (seq ≤ what it reported) is dropped: its publish can
   * trail its commit, so it may arrive after the sync read it. `message` is the
   * position the publisher attached to a `new_message` frame; the frame itself is never
   * parsed here (it was serialised once for every recipient). `change` is the place of a
   * `message_updated` or `reaction` frame: one a sync already covered (its mod_seq is not
   * above what the sync replayed the changes up to) is dropped, held or late.
   */
  deliver(frame: FrameData, message?: MessagePosition, change?: ChangePosition): void {
    if (change && change.mod_seq <= (this.syncedChanges?.get(change.conversation_id) ?? -1)) return;
    if (message) {
      const upTo = this.synced?.get(message.conversation_id);
      if (upTo !== undefined && message.seq <= upTo) return;
      if (this.live) {
        const seen = this.live.get(message.conversation_id);
        if (!seen) this.live.set(message.conversation_id, { min: message.seq, max: message.seq });
        else {
          seen.min = Math.min(seen.min, message.seq);
          seen.max = Math.max(seen.max, message.seq);
        }
        return;
      }
    }
    if (this.held === null) {
      this.send(frame);
      return;
    }
    this.heldBytes += Buffer.byteLength(frame);
    if (this.heldBytes > this.limits.maxBufferedBytes) {
      this.held = [];
      this.heldBytes = 0;
      this.close(CLOSE.SLOW_CONSUMER, 'slow consumer: too far behind during sync', null);
      return;
    }
    this.held.push(change ? { frame, change } : { frame });
  }

  /** Starts holding live frames back (see `deliver`); false when a sync is already running. */
  beginSync(): boolean {
    if (this.held !== null) return false;
    this.held = [];
    this.live = new Map();
    return true;
  }

  /**
   * Live messages seen during the sync beyond what `sent` says the client has, as
   * (after, upTo] ranges per conversation; a conversation missing from `sent` (joined
   * during the sync) starts just before the first live seq.
   */
  liveBeyond(sent: Record<string, number>): { conversationId: number; after: number; upTo: number }[] {
    const out: { conversationId: number; after: number; upTo: number }[] = [];
    for (const [conversationId, { min, max }] of this.live ?? []) {
      const after = sent[conversationId] ?? min - 1;
      if (max > after) out.push({ conversationId, after, upTo: max });
    }
    return out;
  }

  /**
   * Ends a sync whose `synced` frame has just been sent: from now on a `new_message` with
   * seq ≤ `sent` for its conversation is dropped (already sent), and the held frames go
   * out in arrival order, paced by the send buffer, with live frames queued behind them
   * until the queue is empty. Must be called with no await between the caller's last
   * `liveBeyond` check and it, so no live message slips between the two.
   */
  async endSync(sent: Record<string, number>, changesUpTo: Record<string, number> = {}): Promise<void> {
    this.live = null;
    this.synced ??= new Map();
    for (const [id, seq] of Object.entries(sent)) this.synced.set(Number(id), seq);
    this.syncedChanges ??= new Map();
    for (const [id, modSeq] of Object.entries(changesUpTo)) this.syncedChanges.set(Number(id), modSeq);
    const held = this.held ?? [];
    while (held.length > 0 && this.open) {
      if (this.socket.bufferedAmount > this.limits.maxBufferedBytes / 2) {
        await this.drained();
        continue;
      }
      const { frame, change } = held.shift()!;
      this.heldBytes -= Buffer.byteLength(frame);
      if (change && change.mod_seq <= (this.syncedChanges.get(change.conversation_id) ?? -1)) continue;
      this.send(frame);
    }
    this.held = null;
    this.heldBytes = 0;
  }

  /** Resolves when the socket's unsent data is below half the bound (or it closed). */
  async drained(): Promise<void> {
    while (this.open && this.socket.bufferedAmount > this.limits.maxBufferedBytes / 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Counts a frame that was read and takes it from the rate budget, which may go into
   * debt: the answer is when the frame may be handled (a timestamp in ms; now or earlier
   * for a client within its rate), so frames that arrived together are still handled at
   * the client's rate. While the client is over its rate or has MAX_WAITING_FRAMES
   * waiting, the socket is not read from. Every admitted frame must be `settle`d once,
   * when it is finished. Null (and the socket closing with 4029) past ABUSE_WAITING_FRAMES.
   */
  admit(): number | null {
    this.waiting++;
    this.refill();
    this.tokens -= 1;
    if (this.waiting > ABUSE_WAITING_FRAMES) {
      this.close(CLOSE.RATE_LIMITED, 'too many frames waiting');
      return null;
    }
    this.shape();
    return this.lastRefill + this.debtMs();
  }

  /** A frame admitted earlier is finished (answered, refused, or its message committed). */
  settle(): void {
    this.waiting--;
    this.shape();
  }

  /** True while the server has stopped reading from this socket to slow the client down. */
  get shaping(): boolean {
    return this.readPaused && !this.closing;
  }

  /** Aborted when the server closes this socket: frames waiting their turn stop waiting. */
  get closedSignal(): AbortSignal {
    this.closed ??= new AbortController();
    if (this.closing) this.closed.abort();
    return this.closed.signal;
  }

  /** True once the server has closed this socket (whatever the peer does). */
  get closedByServer(): boolean {
    return this.closing;
  }

  /** How long until the rate budget is out of debt (0: it is not). */
  private debtMs(): number {
    return this.tokens < 0 ? (-this.tokens / this.limits.framesPerSecond) * 1000 : 0;
  }

  private refill(): void {
    const now = Date.now();
    const max = this.limits.framesPerSecond * 2;
    this.tokens = Math.min(max, this.tokens + ((now - this.lastRefill) / 1000) * this.limits.framesPerSecond);
    this.lastRefill = now;
  }

  /** Pauses or resumes reading; resumes below half the waiting bound, with no rate debt. */
  private shape(): void {
    if (this.closing) return;
    const overRate = this.tokens < 0;
    if (!this.readPaused && (overRate || this.waiting >= MAX_WAITING_FRAMES)) {
      this.readPaused = true;
      this.socket.pause();
    } else if (this.readPaused && !overRate && this.waiting <= MAX_WAITING_FRAMES / 2) {
      this.readPaused = false;
      this.socket.resume();
    }
    if (this.readPaused && overRate && this.rateTimer === undefined) {
      const ms = Math.ceil(this.debtMs());
      this.rateTimer = setTimeout(() => {
        this.rateTimer = undefined;
        this.refill();
        this.shape();
      }, ms);
      this.rateTimer.unref();
    }
  }

  /**
   * Runs `task` after the tasks of every frame received before it, one at a time. A
   * task that starts a commit returns once the message holds its place in the write
   * queue, so the next frame is handled while it commits (see the router).
   */
  enqueue(task: () => Promise<void>): void {
    // A task must not throw (the router answers failures); should one, the next frames
    // must still run.
    this.chain = this.chain.then(task).catch(() => {});
  }

  /**
   * Closes with a code; a peer that does not complete the handshake is cut off after
   * `terminateAfterMs` (null: left to the heartbeat). Frames it sends meanwhile are ignored.
   */
  close(code: number, reason: string, terminateAfterMs: number | null = 2000): void {
    if (this.closing) return;
    this.closing = true;
    if (code === CLOSE.SLOW_CONSUMER) this.meter.slowConsumer();
    clearTimeout(this.rateTimer);
    this.closed?.abort();
    // A socket paused for shaping must read again to see the close handshake, and from
    // now on the heartbeat judges it like any other.
    if (this.readPaused) this.socket.resume();
    this.readPaused = false;
    this.socket.close(code, reason);
    if (terminateAfterMs !== null) setTimeout(() => this.socket.terminate(), terminateAfterMs).unref();
  }
}
