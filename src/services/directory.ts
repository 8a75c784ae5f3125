import { LRUCache } from 'lru-cache';
import type { Db } from '../store/database.js';
import { findForMember, memberIds } from '../store/conversations.repository.js';
import { findUserById, type UserRow } from '../store/users.repository.js';

/**
 * Per-node caches of what every send needs — a conversation's member ids and the sender's
 * profile — so the hot path does not re-read them from the database for each message.
 *
 * Correctness:
 * - Members: a cached list is trusted for "yes, a member" and for fanout; a miss ("not in
 *   the list") is checked against the database, so a user added elsewhere is never refused.
 *   Membership today only grows (conversations are created with their members); when
 *   members can be removed, the removal must call `forgetConversation` on every node
 *   (through the bus) — until then entries also expire after `membersTtlMs`.
 * - Profiles: `forgetUser` on change on this node; other nodes see a changed username or
 *   avatar in new message frames within `usersTtlMs`.
 */
export class Directory {
  private readonly members: LRUCache<number, number[]>;
  private readonly users: LRUCache<number, UserRow>;

  constructor(
    private readonly db: Db,
    opts: { membersTtlMs: number; usersTtlMs: number; max: number },
  ) {
    this.members = new LRUCache<number, number[]>({
      max: opts.max,
      ttl: opts.membersTtlMs,
      fetchMethod: (conversationId) => memberIds(this.db, conversationId),
    });
    this.users = new LRUCache<number, UserRow>({
      max: opts.max,
      ttl: opts.usersTtlMs,
      fetchMethod: async (userId) => findUserById(this.db, userId),
    });
  }

  /** The conversation's member ids (empty for a conversation that does not exist). */
  async memberIds(conversationId: number): Promise<number[]> {
    return (await this.members.fetch(conversationId)) ?? [];
  }

  /** Whether `userId` is a member; a cache miss is confirmed against the database. */
  async isMember(userId: number, conversationId: number): Promise<boolean> {
    if ((await this.memberIds(conversationId)).includes(userId)) return true;
    if (!(await findForMember(this.db, conversationId, userId))) return false;
    this.members.delete(conversationId);
    return true;
  }

  async user(userId: number): Promise<UserRow | undefined> {
    return this.users.fetch(userId);
  }

  forgetUser(userId: number): void {
    this.users.delete(userId);
  }

  forgetConversation(conversationId: number): void {
    this.members.delete(conversationId);
  }
}
