import type { WebSocket } from 'ws';
import type { MessagePosition } from '../bus/bus.js';
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
 * One authenticated WebSocket. Outbound frames go through `send`, which enforces the
 * bounded send buffer: a client that stops reading is closed with 4008 instead of
 * growing memory or slowing anyone else. Inbound frames are handled one at a time, in
 * arrival order, so a client's messages commit in the order it sent them.
 */
export class Connection {
  alive = true;
  private closing = false;
  private tokens: number;
  private lastRefill = Date.now();
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  /** Live frames held back while a sync streams history (null: not syncing). */
  private held: FrameData[] | null = null;
  private heldBytes = 0;
  /** While a sync replays: per conversation, the lowest and highest live seq seen. */
  private live: Map<number, { min: number; max: number }> | null = null;
  /** Per conversation, the last seq a finished sync sent (or reported as known). */
  private readonly synced = new Map<number, number>();

  constructor(
    readonly socket: WebSocket,
    readonly userId: number,
    readonly sessionId: string,
    private readonly limits: ConnectionLimits,
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
   * parsed here (it was serialised once for every recipient).
   */
  deliver(frame: FrameData, message?: MessagePosition): void {
    if (message) {
      const upTo = this.synced.get(message.conversation_id);
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
    this.held.push(frame);
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
  async endSync(sent: Record<string, number>): Promise<void> {
    this.live = null;
    for (const [id, seq] of Object.entries(sent)) this.synced.set(Number(id), seq);
    const held = this.held ?? [];
    while (held.length > 0 && this.open) {
      if (this.socket.bufferedAmount > this.limits.maxBufferedBytes / 2) {
        await this.drained();
        continue;
      }
      const frame = held.shift()!;
      this.heldBytes -= Buffer.byteLength(frame);
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

  /** Takes one frame from the rate budget; false when the client is over its limit. */
  takeToken(): boolean {
    const now = Date.now();
    const max = this.limits.framesPerSecond * 2;
    this.tokens = Math.min(max, this.tokens + ((now - this.lastRefill) / 1000) * this.limits.framesPerSecond);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Runs `task` after every frame received before it; at most `maxPending` wait. */
  enqueue(task: () => Promise<void>, maxPending: number): boolean {
    if (this.pending >= maxPending) return false;
    this.pending++;
    this.chain = this.chain.then(task).finally(() => {
      this.pending--;
    });
    return true;
  }

  /**
   * Closes with a code; a peer that does not complete the handshake is cut off after
   * `terminateAfterMs` (null: left to the heartbeat). Frames it sends meanwhile are ignored.
   */
  close(code: number, reason: string, terminateAfterMs: number | null = 2000): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.close(code, reason);
    if (terminateAfterMs !== null) setTimeout(() => this.socket.terminate(), terminateAfterMs).unref();
  }
}
