import { userChannel, type Bus } from '../bus/bus.js';
import type { Db } from '../store/database.js';
import { contactIds } from '../store/conversations.repository.js';
import { setPresence } from '../store/users.repository.js';

/**
 * Counts a user's open sockets. The memory implementation serves one node; a shared one
 * (Redis) makes the counts cluster-wide.
 */
export interface PresenceStore {
  /** Adds a socket; true when it is the user's first. */
  connect(userId: number): Promise<boolean>;
  /** Removes a socket; true when it was the user's last. */
  disconnect(userId: number): Promise<boolean>;
  /** The user's open sockets (across all nodes, for a shared store). */
  count(userId: number): Promise<number>;
  /** Shared stores: called for each user whose last socket was on a node that died. */
  setGoneHandler?(handler: (userId: number) => void): void;
  close(): Promise<void>;
}

export class MemoryPresenceStore implements PresenceStore {
  private readonly sockets = new Map<number, number>();

  async connect(userId: number): Promise<boolean> {
    const n = (this.sockets.get(userId) ?? 0) + 1;
    this.sockets.set(userId, n);
    return n === 1;
  }

  async disconnect(userId: number): Promise<boolean> {
    const n = (this.sockets.get(userId) ?? 0) - 1;
    if (n > 0) {
      this.sockets.set(userId, n);
      return false;
    }
    this.sockets.delete(userId);
    return n === 0;
  }

  async count(userId: number): Promise<number> {
    return this.sockets.get(userId) ?? 0;
  }

  async close(): Promise<void> {
    this.sockets.clear();
  }
}

/**
 * Online/offline transitions: a user goes online with their first socket and offline
 * with their last. Each transition is stored on the user row (status, last_seen) and
 * sent as `status_change` to everyone who shares a conversation with them — unless their
 * last_seen_visibility is `nobody`.
 *
 * Flapping is absorbed: going offline waits `graceMs`; a socket that comes back within
 * it — on this node or, with a shared store, on any — cancels the offline, and nobody sees
 * an offline/online pair. The offline that does happen carries the moment the last
 * socket closed as last_seen. Transitions are conditional updates of the user row, so
 * with several nodes each one is announced once. Transitions of one user run in order.
 */
export class PresenceService {
  private readonly chains = new Map<number, Promise<void>>();
  private readonly pendingOffline = new Map<number, { timer: NodeJS.Timeout; at: Date }>();
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly store: PresenceStore,
    private readonly graceMs: number,
  ) {
    store.setGoneHandler?.((userId) => void this.lostWithNode(userId));
  }

  connected(userId: number): Promise<void> {
    return this.serial(userId, async () => {
      if (!(await this.store.connect(userId))) return;
      const pending = this.pendingOffline.get(userId);
      if (pending) {
        // Back within the grace period: they never went offline for anyone.
        clearTimeout(pending.timer);
        this.pendingOffline.delete(userId);
        return;
      }
      await this.transition(userId, 'online', new Date());
    });
  }

  disconnected(userId: number): Promise<void> {
    return this.serial(userId, async () => {
      if (await this.store.disconnect(userId)) await this.goOfflineLater(userId, new Date());
    });
  }

  /** The user's last socket was on a node that died (reported by a shared store). */
  private lostWithNode(userId: number): Promise<void> {
    return this.serial(userId, async () => {
      if (!this.pendingOffline.has(userId)) await this.goOfflineLater(userId, new Date());
    });
  }

  /** Offline after the grace period, unless a socket is open somewhere by then. */
  private async goOfflineLater(userId: number, at: Date): Promise<void> {
    if (this.graceMs <= 0 || this.closed) {
      await this.offlineUnlessBack(userId, at);
      return;
    }
    const timer = setTimeout(() => {
      void this.serial(userId, async () => {
        if (this.pendingOffline.get(userId)?.timer !== timer) return;
        this.pendingOffline.delete(userId);
        await this.offlineUnlessBack(userId, at);
      });
    }, this.graceMs);
    timer.unref();
    this.pendingOffline.set(userId, { timer, at });
  }

  private async offlineUnlessBack(userId: number, at: Date): Promise<void> {
    // With a shared store the user may have come back on another node meanwhile.
    if ((await this.store.count(userId)) > 0) return;
    await this.transition(userId, 'offline', at);
  }

  /** Shutting down: offline transitions still in their grace period happen now. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.pendingOffline.entries()];
    this.pendingOffline.clear();
    await Promise.all(
      pending.map(([userId, { timer, at }]) => {
        clearTimeout(timer);
        return this.serial(userId, () => this.offlineUnlessBack(userId, at)).catch(() => {});
      }),
    );
  }

  private async transition(userId: number, status: 'online' | 'offline', at: Date): Promise<void> {
    const row = await setPresence(this.db, userId, status, at);
    if (!row || row.last_seen_visibility === 'nobody') return;
    const frame = JSON.stringify({
      type: 'status_change',
      user_id: userId,
      status,
      last_seen: row.last_seen.toISOString(),
    });
    const contacts = await contactIds(this.db, userId);
    await this.bus.publishMany(contacts.map(userChannel), { kind: 'frame', frame });
  }

  private serial(userId: number, fn: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(userId) ?? Promise.resolve()).then(fn, fn);
    const tracked = next.catch(() => {}).finally(() => {
      if (this.chains.get(userId) === tracked) this.chains.delete(userId);
    });
    this.chains.set(userId, tracked);
    return next;
  }
}
