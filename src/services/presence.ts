import type { PresenceStore } from '../presence/presence-store.js';
import { frames } from '../schemas/server-frames.js';
import type { Db } from '../store/database.js';
import { contactIds } from '../store/conversations.repository.js';
import { setPresence } from '../store/users.repository.js';
import type { BlocksService } from './blocks.js';
import type { Fanout } from './fanout.js';

/**
 * Online/offline transitions: a user goes online with their first socket and offline
 * with their last. Each transition is stored on the user row (status, last_seen) and
 * sent as `status_change` to everyone who shares a conversation with them — unless their
 * last_seen_visibility is `nobody` — but never to anyone with a block between them,
 * either way.
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
    private readonly fanout: Fanout,
    private readonly store: PresenceStore,
    private readonly graceMs: number,
    private readonly blocks: BlocksService,
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
    const contacts = await this.blocks.apartFrom(userId, await contactIds(this.db, userId));
    await this.fanout.toUsers(contacts, frames.statusChange(userId, status, row.last_seen.toISOString()));
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
