import { mayPost, type Roster } from '../domain/conversations.js';
import { AppError, notFound } from '../domain/errors.js';
import type { Db } from '../store/database.js';
import { findForMember } from '../store/conversations.repository.js';
import type { NodeCache } from './node-cache.js';

/**
 * The one membership gate. Every service that touches a conversation asks here first;
 * nothing else decides who is in a conversation. "Not a member" and "no such
 * conversation" are the same answer (not_found), so nobody learns which conversations
 * exist.
 */
export class Access {
  constructor(
    private readonly db: Db,
    private readonly cache: NodeCache,
  ) {}

  /**
   * Resolves when `userId` is a member of `conversationId`; throws not_found otherwise.
   * A "yes" from the per-node cache is trusted; a "no" is confirmed against the database
   * (and the stale list dropped), so a member added on another node is never refused.
   */
  async requireMember(userId: number, conversationId: number): Promise<void> {
    if ((await this.cache.memberIds(conversationId)).includes(userId)) return;
    await this.confirmMember(userId, conversationId);
  }

  /**
   * requireMember against the database alone, for an answer the cache's "yes" may have
   * let through wrongly (a member removed through another node, its cache event not yet
   * here): throws not_found and drops the stale roster when they are not a member.
   */
  async confirmMember(userId: number, conversationId: number): Promise<void> {
    const member = await findForMember(this.db, conversationId, userId);
    this.cache.forgetMembers(conversationId);
    if (!member) throw notFound('Conversation');
  }

  /**
   * requireMember, and that the user may post there (a group where only admins post:
   * forbidden for the others). Returns the roster they were checked against, for the
   * message writer to check again at the commit. A "no" is confirmed with a fresh roster.
   */
  async requirePoster(userId: number, conversationId: number): Promise<Roster> {
    await this.requireMember(userId, conversationId);
    let roster = await this.cache.roster(conversationId);
    if (mayPost(roster, userId)) return roster;
    this.cache.forgetMembers(conversationId);
    roster = await this.cache.roster(conversationId);
    if (!roster.memberIds.includes(userId)) throw notFound('Conversation');
    if (!mayPost(roster, userId)) throw new AppError('forbidden', 'Only admins can post in this group');
    return roster;
  }
}

