import { LRUCache } from 'lru-cache';
import { CACHE_CHANNEL, type Bus } from '../bus/bus.js';
import type { Db } from '../store/database.js';
import type { Roster } from '../domain/conversations.js';
import { rostersOf } from '../store/conversations.repository.js';
import { findUserById, type UserRow } from '../store/users.repository.js';

/**
 * The per-node cache of what every send needs — a conversation's member ids and the
 * sender's profile — so the hot path does not re-read them from the database for each
 * message. It is only a cache: the database is the truth, and every entry can be dropped.
 *
 * Correctness:
 * - Members (the roster: who is in, who may post): a cached list is trusted for "yes, a member" and for fanout; a miss ("not in
 *   the list") is checked against the database by Access, so a user added elsewhere is
 *   never refused.
 *   A change of members must call `conversationChanged`, which drops the list here and,
 *   through the bus's cache channel, on every node.
 * - Profiles: `userChanged` after a profile edit, the same way — so a changed name, avatar
 *   or presence-privacy setting shows everywhere within the bus's delivery time.
 * - Entries also expire (`membersTtlMs`, `usersTtlMs`): that bounds staleness when the bus
 *   dropped an event (it is at most once), and keeps presence fields in profiles fresh.
 */
export class NodeCache {
  private readonly members: LRUCache<number, Roster>;
  private readonly users: LRUCache<number, UserRow>;

  constructor(
    private readonly db: Db,
    opts: { membersTtlMs: number; usersTtlMs: number; max: number },
    private readonly bus?: Bus,
  ) {
    this.members = new LRUCache<number, Roster>({
      max: opts.max,
      ttl: opts.membersTtlMs,
      fetchMethod: async (conversationId) =>
        (await rostersOf(this.db, [conversationId])).get(conversationId) ?? { version: -1, memberIds: [], posterIds: null },
    });
    this.users = new LRUCache<number, UserRow>({
      max: opts.max,
      ttl: opts.usersTtlMs,
      fetchMethod: async (userId) => findUserById(this.db, userId),
    });
  }

  /** The conversation's member ids (empty for a conversation that does not exist). */
  async memberIds(conversationId: number): Promise<number[]> {
    return (await this.roster(conversationId)).memberIds;
  }

  /**
   * The conversation's roster: its members, who may post, and the version they are of
   * (-1 and nobody for a conversation that does not exist). The message writer checks
   * the version against the committed one, so a stale copy never lets a removed member
   * post or see a message.
   */
  async roster(conversationId: number): Promise<Roster> {
    return (await fetchFresh(this.members, conversationId)) ?? { version: -1, memberIds: [], posterIds: null };
  }

  /** Drops this node's copy of a conversation's members (it was found stale). */
  forgetMembers(conversationId: number): void {
    this.members.delete(conversationId);
  }

  /** The user's stored profile (undefined: no such user). */
  async profile(userId: number): Promise<UserRow | undefined> {
    return fetchFresh(this.users, userId);
  }

  /** Listens on the bus's cache channel for changes made through other nodes. */
  async start(): Promise<void> {
    await this.bus?.subscribe(CACHE_CHANNEL, (event) => {
      if (event.kind === 'user_changed') this.users.delete(event.userId);
      else if (event.kind === 'conversation_changed') this.members.delete(event.conversationId);
    });
  }

  /** A user's profile changed: forget it here at once, and on every other node. */
  async userChanged(userId: number): Promise<void> {
    this.users.delete(userId);
    await this.bus?.publish(CACHE_CHANNEL, { kind: 'user_changed', userId });
  }

  /** A conversation's members changed: forget them here at once, and on every other node. */
  async conversationChanged(conversationId: number): Promise<void> {
    this.members.delete(conversationId);
    await this.bus?.publish(CACHE_CHANNEL, { kind: 'conversation_changed', conversationId });
  }
}

/**
 * `cache.fetch`, asked again when the entry was dropped while its fetch ran. An
 * invalidation (or an eviction) aborts the fetch in flight, and lru-cache rejects its
 * callers; the value it was reading may be the old one, so it must not be used or kept.
 * The next fetch reads afresh.
 */
// lru-cache's own bounds: keys and values are anything but null and undefined.
export async function fetchFresh<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(cache: LRUCache<K, V>, key: K): Promise<V | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await cache.fetch(key);
    } catch (err) {
      if (attempt >= 3 || !FETCH_ABORTS.has((err as Error)?.message)) throw err;
    }
  }
}

/** The reasons lru-cache gives when it aborts a fetch in flight. */
const FETCH_ABORTS = new Set(['deleted', 'evicted', 'replaced']);
