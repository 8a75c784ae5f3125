/**
 * Counts each user's open sockets, so presence knows a user's first socket (online) and
 * last (offline). Two implementations side by side, held to one contract suite
 * (test/presence/contract.test.ts): memory.ts for one node, redis.ts for a cluster, where
 * counts are cluster-wide and the sockets of a node that died are removed exactly once.
 */
export interface PresenceStore {
  /** Adds a socket; true when it is the user's first (on any node, for a shared store). */
  connect(userId: number): Promise<boolean>;
  /** Removes a socket; true when it was the user's last. */
  disconnect(userId: number): Promise<boolean>;
  /** The user's open sockets (across all nodes, for a shared store). */
  count(userId: number): Promise<number>;
  /**
   * Called with each user whose last socket was on a node that died (shared stores; a
   * lone node has no other node to lose).
   */
  setGoneHandler(handler: (userId: number) => void): void;
  /** False while a shared store is unreachable (then /ready answers 503). */
  isReady(): boolean;
  close(): Promise<void>;
}
