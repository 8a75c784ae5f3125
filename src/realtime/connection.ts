import type { WebSocket } from 'ws';
import { CLOSE } from './protocol.js';

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

  /** Sends a serialised frame; false (and the socket closing) if the client is too slow. */
  send(frame: string): boolean {
    if (!this.open) return false;
    if (this.socket.bufferedAmount + Buffer.byteLength(frame) > this.limits.maxBufferedBytes) {
      this.close(CLOSE.SLOW_CONSUMER, 'slow consumer: send buffer full');
      return false;
    }
    this.socket.send(frame);
    return true;
  }

  sendFrame(frame: object): boolean {
    return this.send(JSON.stringify(frame));
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

  /** Closes with a code; a peer that does not complete the handshake is cut off after 2 s. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}
