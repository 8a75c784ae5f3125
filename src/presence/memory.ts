import type { PresenceStore } from './presence-store.js';

/** Socket counts in this process: the one-node store (PRESENCE=memory). */
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

  /** No other node can die with this one's sockets: the handler is never called. */
  setGoneHandler(): void {}

  isReady(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.sockets.clear();
  }
}
