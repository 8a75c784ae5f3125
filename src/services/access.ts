import { notFound } from '../domain/errors.js';
import type { NodeCache } from './node-cache.js';

/**
 * The one membership gate. Every service that touches a conversation asks here first;
 * nothing else decides who is in a conversation. "Not a member" and "no such
 * conversation" are the same answer (not_found), so nobody learns which conversations
 * exist. Group administration adds `requireRole` beside it.
 */
export class Access {
  constructor(private readonly cache: NodeCache) {}

  /**
   * Resolves when `userId` is a member of `conversationId`; throws not_found otherwise.
   * Answered from the per-node cache (a "yes" is trusted; a "no" is confirmed against the
   * database, so a member added on another node is never refused).
   */
  async requireMember(userId: number, conversationId: number): Promise<void> {
    if (!(await this.cache.isMember(userId, conversationId))) throw notFound('Conversation');
  }
}
