import { notFound } from '../domain/errors.js';
import { advancePointers, memberStatus, receiptsFor, type Pointers } from '../domain/messages.js';
import type { MessageReceipts, ReceiptState, UnreadSummary } from '../schemas/receipts.js';
import { frames } from '../schemas/server-frames.js';
import { inTransaction, type Db } from '../store/database.js';
import { participantsOf, unreadCounts } from '../store/conversations.repository.js';
import { findViewed } from '../store/messages.repository.js';
import { lockPointers, setPointers } from '../store/receipts.repository.js';
import type { Access } from './access.js';
import type { BlocksService } from './blocks.js';
import type { Fanout } from './fanout.js';
import type { NodeCache } from './node-cache.js';

/**
 * Delivered/read pointers per member (not a row per message per reader); the rules are
 * in domain/receipts.ts.
 */
export class ReceiptsService {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
    private readonly cache: NodeCache,
    private readonly fanout: Fanout,
    private readonly blocks: BlocksService,
  ) {}

  /**
   * Moves the caller's `delivered` or `read` pointer to `seq` (default: the latest
   * message). An older seq is ignored; a seq past the end is capped. When a pointer
   * moves, a `receipt` frame goes to every member's sockets — the caller's own included,
   * so their other devices update badges. A user who does not share read receipts sends
   * others `delivered` instead of `read`, and so does every reader to the members they block.
   * Throws not_found unless the caller is a member. This runs for every delivered/read
   * frame, so it costs one transaction plus cached lookups; unread counts are left to
   * `advanceAndCount` (REST), which needs them in its reply.
   */
  async advance(
    userId: number,
    conversationId: number,
    kind: 'delivered' | 'read',
    seq?: number,
  ): Promise<Pointers & { conversation_id: number }> {
    await this.access.requireMember(userId, conversationId);
    const moved = await inTransaction(this.db, async (trx) => {
      const current = await lockPointers(trx, conversationId, userId);
      if (!current) return undefined;
      const before = { last_delivered_seq: current.last_delivered_seq, last_read_seq: current.last_read_seq };
      // No seq: up to the latest message.
      const after = advancePointers(before, current.last_seq, kind, seq ?? current.last_seq);
      if (after.last_delivered_seq !== before.last_delivered_seq || after.last_read_seq !== before.last_read_seq) {
        await setPointers(trx, conversationId, userId, after);
      }
      return { before, after };
    });
    // Left the conversation between the gate and the lock: the gate's answer.
    if (!moved) throw notFound('Conversation');
    const { before, after } = moved;
    // Only a read that moved asks for the setting: delivered frames (about one a message) do
    // not. From the profile cache; a change of the setting is announced to every node.
    const readMoved = after.last_read_seq > before.last_read_seq;
    const sharesReads = readMoved ? ((await this.cache.profile(userId))?.share_read_receipts ?? true) : true;
    const notices = receiptsFor(before, after, sharesReads);
    if (notices) {
      const [ids, { blocks }] = await Promise.all([
        this.cache.memberIds(conversationId),
        readMoved && sharesReads ? this.blocks.relations(userId) : { blocks: new Set<number>() },
      ]);
      const { self, others } = notices;
      const toOthers = ids.filter((id) => id !== userId && !blocks.has(id));
      // Those the reader blocks get what a reader who keeps reads private shows.
      const toBlocked = ids.filter((id) => blocks.has(id));
      const privately = toBlocked.length > 0 ? receiptsFor(before, after, false)?.others : null;
      await Promise.all([
        this.fanout.toUsers([userId], frames.receipt(conversationId, userId, self.status, self.seq)),
        others && toOthers.length > 0
          ? this.fanout.toUsers(toOthers, frames.receipt(conversationId, userId, others.status, others.seq))
          : undefined,
        privately ? this.fanout.toUsers(toBlocked, frames.receipt(conversationId, userId, privately.status, privately.seq)) : undefined,
      ]);
    }
    return { conversation_id: conversationId, ...after };
  }

  /** `advance`, answering with the caller's unread count in that conversation too. */
  async advanceAndCount(userId: number, conversationId: number, kind: 'delivered' | 'read', seq?: number): Promise<ReceiptState> {
    const pointers = await this.advance(userId, conversationId, kind, seq);
    const unread = await unreadCounts(this.db, userId, [conversationId]);
    return { ...pointers, unread_count: unread.get(conversationId) ?? 0 };
  }

  /**
   * Per-member status of one message, for every member but its sender. Members who do not
   * share read receipts show at most `delivered`, and so do members who block the caller.
   */
  async detail(userId: number, conversationId: number, messageId: number): Promise<MessageReceipts> {
    await this.access.requireMember(userId, conversationId);
    // As the caller sees it: a message from before their view of the group begins is not there.
    const message = await findViewed(this.db, userId, conversationId, messageId);
    if (!message) throw notFound('Message');
    const [participants, { blockedBy }] = await Promise.all([
      participantsOf(this.db, [conversationId]),
      this.blocks.relations(userId),
    ]);
    return {
      message_id: message.id,
      seq: message.seq,
      receipts: participants
        .filter((p) => p.id !== message.sender_id)
        .map((p) => ({ user_id: p.id, status: memberStatus(p, message.seq, blockedBy.has(p.id)) })),
    };
  }

  /** The caller's unread counts per conversation (only those with any) and their sum. */
  async unread(userId: number): Promise<UnreadSummary> {
    const counts = await unreadCounts(this.db, userId);
    const conversations = [...counts].map(([conversation_id, unread_count]) => ({ conversation_id, unread_count }));
    return { total: conversations.reduce((sum, c) => sum + c.unread_count, 0), conversations };
  }
}
