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

  async close(): Promise<void> {
    this.sockets.clear();
  }
}

/**
 * Online/offline transitions: a user goes online with their first socket and offline
 * (last_seen = now) with their last. Each transition is stored on the user row and sent
 * as `status_change` to everyone who shares a conversation with them.
 * Transitions of one user are processed in order.
 */
export class PresenceService {
  private readonly chains = new Map<number, Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly store: PresenceStore,
  ) {}

  connected(userId: number): Promise<void> {
    return this.serial(userId, async () => {
      if (await this.store.connect(userId)) await this.transition(userId, 'online');
    });
  }

  disconnected(userId: number): Promise<void> {
    return this.serial(userId, async () => {
      if (await this.store.disconnect(userId)) await this.transition(userId, 'offline');
    });
  }

  private async transition(userId: number, status: 'online' | 'offline'): Promise<void> {
    const row = await setPresence(this.db, userId, status);
    if (!row) return;
    const frame = JSON.stringify({
      type: 'status_change',
      user_id: userId,
      status,
      last_seen: row.last_seen.toISOString(),
    });
    const contacts = await contactIds(this.db, userId);
    await Promise.all(contacts.map((id) => this.bus.publish(userChannel(id), { kind: 'frame', frame })));
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
