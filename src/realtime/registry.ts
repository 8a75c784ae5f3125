import { userChannel, type Bus, type BusEvent } from '../bus/bus.js';
import { CLOSE } from './protocol.js';
import type { Connection } from './connection.js';

/**
 * This node's sockets by user, and the bus subscription of each user who has one here.
 * A user's channel is subscribed with their first socket on this node and unsubscribed
 * with their last; every event on it goes to each of their sockets here.
 */
export class SocketRegistry {
  private readonly byUser = new Map<number, Set<Connection>>();
  private readonly unsubscribe = new Map<number, Promise<() => Promise<void>>>();
  /** The last frame encoded for delivery and its bytes (see `encoded`). */
  private lastFrame = '';
  private lastBytes = Buffer.alloc(0);

  constructor(
    private readonly bus: Bus,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {}

  /** Number of open sockets on this node. */
  get size(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  /**
   * Adds a socket; resolves once its user's channel is subscribed (live delivery works
   * from then on). A failed subscription rejects and is not kept: the next socket of the
   * user tries afresh.
   */
  add(conn: Connection): Promise<unknown> {
    let set = this.byUser.get(conn.userId);
    if (!set) this.byUser.set(conn.userId, (set = new Set()));
    set.add(conn);
    let sub = this.unsubscribe.get(conn.userId);
    if (!sub) {
      const userId = conn.userId;
      const created = this.bus.subscribe(userChannel(userId), (event) => this.deliver(userId, event));
      created.catch(() => {
        if (this.unsubscribe.get(userId) === created) this.unsubscribe.delete(userId);
      });
      this.unsubscribe.set(userId, (sub = created));
    }
    return sub;
  }

  /** Removes a socket; true when it was its user's last here (their channel is unsubscribed). */
  async remove(conn: Connection): Promise<boolean> {
    const set = this.byUser.get(conn.userId);
    set?.delete(conn);
    if (!set || set.size > 0) return false;
    this.byUser.delete(conn.userId);
    const unsubscribe = this.unsubscribe.get(conn.userId);
    this.unsubscribe.delete(conn.userId);
    try {
      if (unsubscribe) await (await unsubscribe)();
    } catch (err) {
      this.log.warn({ err, userId: conn.userId }, 'bus unsubscribe failed');
    }
    return true;
  }

  /** Users with a socket on this node. */
  get users(): number {
    return this.byUser.size;
  }

  /** Every open socket on this node. */
  *all(): Iterable<Connection> {
    for (const set of this.byUser.values()) yield* set;
  }

  private deliver(userId: number, event: BusEvent): void {
    const set = this.byUser.get(userId);
    if (!set) return;
    for (const conn of set) {
      if (event.kind === 'frame') {
        const d = event.device;
        if (d && ('only' in d ? conn.deviceId !== d.only : d.except.includes(conn.deviceId))) continue;
        conn.deliver(this.encoded(event.frame), event.position, event.change);
      }
      else if (event.kind === 'session_revoked' && conn.sessionId === event.sessionId) {
        conn.close(CLOSE.SESSION_ENDED, 'session ended');
      }
    }
  }

  /**
   * The frame as UTF-8 bytes, encoded once for all its recipients: a fanout hands every
   * recipient the same frame string in a row (one bus event for all of them), and ws
   * would otherwise encode it again for each socket.
   */
  private encoded(frame: string): Buffer {
    if (frame !== this.lastFrame) {
      this.lastFrame = frame;
      this.lastBytes = Buffer.from(frame);
    }
    return this.lastBytes;
  }
}
