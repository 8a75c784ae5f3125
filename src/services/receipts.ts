import { userChannel, type Bus } from '../bus/bus.js';
import { notFound } from '../domain/errors.js';
import type { Db } from '../store/database.js';
import { participantsOf, unreadCounts } from '../store/conversations.repository.js';
import { findInConversation } from '../store/messages.repository.js';
import { advancePointer } from '../store/receipts.repository.js';
import type { ConversationsService } from './conversations.js';
import type { Directory } from './directory.js';

export interface Pointers {
  conversation_id: number;
  last_delivered_seq: number;
  last_read_seq: number;
}

export interface ReceiptState extends Pointers {
  unread_count: number;
}

export interface MessageReceipts {
  message_id: number;
  seq: number;
  /** One entry per other participant: how far this message has got with them. */
  receipts: { user_id: number; status: 'sent' | 'delivered' | 'read' }[];
}

export interface UnreadSummary {
  total: number;
  conversations: { conversation_id: number; unread_count: number }[];
}

/**
 * Delivered/read pointers per participant (not a row per message per reader).
 * Invariant: last_read_seq ≤ last_delivered_seq ≤ conversation.last_seq; pointers only
 * move forward.
 */
export class ReceiptsService {
  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly conversations: ConversationsService,
    private readonly directory: Directory,
  ) {}

  /**
   * Moves the caller's `delivered` or `read` pointer to `seq` (default: the latest
   * message). An older seq is ignored; a seq past the end is capped. When a pointer
   * moves, a `receipt` frame goes to every participant's sockets — the caller's own
   * included, so their other devices update badges. A user who does not share read
   * receipts sends others `delivered` instead of `read`.
   * Throws not_found unless the caller is a member. This runs for every delivered/read
   * frame, so it costs one transaction plus cached lookups; unread counts are left to
   * `advanceAndCount` (REST), which needs them in its reply.
   */
  async advance(userId: number, conversationId: number, kind: 'delivered' | 'read', seq?: number): Promise<Pointers> {
    // No seq: up to the latest message (advancePointer caps at last_seq).
    const result = await advancePointer(this.db, conversationId, userId, kind, seq ?? Number.MAX_SAFE_INTEGER);
    if (!result) throw notFound('Conversation');
    const { before, after } = result;
    const readMoved = after.last_read_seq > before.last_read_seq;
    const deliveredMoved = after.last_delivered_seq > before.last_delivered_seq;
    if (readMoved || deliveredMoved) {
      const frame = (status: 'delivered' | 'read', s: number) =>
        JSON.stringify({ type: 'receipt', conversation_id: conversationId, user_id: userId, status, seq: s });
      const ids = await this.directory.memberIds(conversationId);
      // From the profile cache: a change of the setting is announced to every node.
      const shareRead = readMoved ? ((await this.directory.user(userId))?.share_read_receipts ?? true) : true;
      const toOthers = readMoved && shareRead ? frame('read', after.last_read_seq) : deliveredMoved ? frame('delivered', after.last_delivered_seq) : null;
      const toSelf = readMoved ? frame('read', after.last_read_seq) : frame('delivered', after.last_delivered_seq);
      await Promise.all([
        this.bus.publish(userChannel(userId), { kind: 'frame', frame: toSelf }),
        toOthers
          ? this.bus.publishMany(ids.filter((id) => id !== userId).map(userChannel), { kind: 'frame', frame: toOthers })
          : undefined,
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
   * Per-member status of one message, for every participant but its sender. Members who
   * do not share read receipts show at most `delivered`.
   */
  async detail(userId: number, conversationId: number, messageId: number): Promise<MessageReceipts> {
    await this.conversations.requireMember(userId, conversationId);
    const message = await findInConversation(this.db, conversationId, messageId);
    if (!message) throw notFound('Message');
    const participants = await participantsOf(this.db, [conversationId]);
    return {
      message_id: message.id,
      seq: message.seq,
      receipts: participants
        .filter((p) => p.id !== message.sender_id)
        .map((p) => ({
          user_id: p.id,
          status:
            p.share_read_receipts && p.last_read_seq >= message.seq
              ? 'read'
              : p.last_delivered_seq >= message.seq
                ? 'delivered'
                : 'sent',
        })),
    };
  }

  /** The caller's unread counts per conversation (only those with any) and their sum. */
  async unread(userId: number): Promise<UnreadSummary> {
    const counts = await unreadCounts(this.db, userId);
    const conversations = [...counts].map(([conversation_id, unread_count]) => ({ conversation_id, unread_count }));
    return { total: conversations.reduce((sum, c) => sum + c.unread_count, 0), conversations };
  }
}
