import type { Conversation, Message, MessageStatus, Participant } from '../domain/conversations.js';
import { directKey } from '../domain/conversations.js';
import type { User } from '../domain/users.js';
import { AppError, notFound } from '../domain/errors.js';
import type { Db } from '../store/database.js';
import {
  createGroup,
  existingUserIds,
  findForMember,
  findOrCreateDirect,
  listForMember,
  participantsOf,
  unreadCounts,
  type MemberConversationRow,
  type ParticipantRow,
} from '../store/conversations.repository.js';
import { latestOf, type MessageRow, type PointerSummary } from '../store/messages.repository.js';
import { findUsersByIds, type UserRow } from '../store/users.repository.js';
import { toUser } from './users.js';

/** How the other participants' pointers look to one requester, for message status. */
export interface StatusView {
  requesterId: number;
  myReadSeq: number;
  othersMinReadSeq: number;
  othersMinDeliveredSeq: number;
  hasOthers: boolean;
}

export function statusView(requesterId: number, participants: ParticipantRow[]): StatusView {
  const others = participants.filter((p) => p.id !== requesterId);
  const me = participants.find((p) => p.id === requesterId);
  return {
    requesterId,
    myReadSeq: me?.last_read_seq ?? 0,
    // Someone who keeps read receipts private never shows as having read anything.
    othersMinReadSeq: Math.min(...others.map((p) => (p.share_read_receipts ? p.last_read_seq : 0))),
    othersMinDeliveredSeq: Math.min(...others.map((p) => p.last_delivered_seq)),
    hasOthers: others.length > 0,
  };
}

/** The same view from the pointer summary a history page query returns. */
export function statusViewOf(requesterId: number, p: PointerSummary): StatusView {
  return {
    requesterId,
    myReadSeq: p.my_read_seq,
    othersMinReadSeq: p.others_read_seq ?? 0,
    othersMinDeliveredSeq: p.others_delivered_seq ?? 0,
    hasOthers: p.others_read_seq !== null,
  };
}

/**
 * A message's status as the requester sees it. Their own message: `read` once every
 * other participant has read it, `delivered` once every other participant has it, else
 * `sent`. Someone else's: `read` once the requester has read it, else `delivered`.
 */
export function messageStatus(row: Pick<MessageRow, 'seq' | 'sender_id'>, view: StatusView): MessageStatus {
  if (row.sender_id !== view.requesterId) return view.myReadSeq >= row.seq ? 'read' : 'delivered';
  if (!view.hasOthers) return 'sent';
  if (view.othersMinReadSeq >= row.seq) return 'read';
  if (view.othersMinDeliveredSeq >= row.seq) return 'delivered';
  return 'sent';
}

/**
 * The sender as `viewerId` sees them (undefined: a frame for all participants alike).
 * A page converts each distinct sender once and shares the object between its messages.
 */
export function senderView(sender: UserRow | undefined, viewerId?: number): User | null {
  return sender ? toUser(sender, { id: viewerId, contact: true }) : null;
}

export function toMessage(row: MessageRow, sender: User | null, status: MessageStatus): Message {
  return {
    id: row.id,
    conversation_id: row.conversation_id,
    seq: row.seq,
    sender_id: row.sender_id,
    sender,
    content: row.content,
    type: row.type,
    status,
    media_url: row.media_url,
    reply_to_id: row.reply_to_id,
    client_id: row.client_id,
    edited_at: row.edited_at?.toISOString() ?? null,
    deleted_at: row.deleted_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface ConversationPage {
  conversations: Conversation[];
  next_cursor: string | null;
}

export class ConversationsService {
  constructor(private readonly db: Db) {}

  /**
   * `direct`: returns the existing conversation between the two users (created: false)
   * or makes it. `group`: the caller becomes owner; every listed user a member.
   * Unknown users → not_found naming them; nothing is created.
   */
  async create(
    callerId: number,
    input:
      | { type: 'direct'; participantId: number }
      | { type: 'group'; name: string; participantIds: number[]; avatar?: string | null },
  ): Promise<{ conversation: Conversation; created: boolean }> {
    if (input.type === 'direct') {
      if (input.participantId === callerId) {
        throw new AppError('validation_failed', 'You cannot start a direct conversation with yourself', {
          field: 'participant_id',
        });
      }
      await this.requireUsers([input.participantId], 'participant_id');
      const { id, created } = await findOrCreateDirect(
        this.db,
        directKey(callerId, input.participantId),
        callerId,
        input.participantId,
      );
      return { conversation: await this.get(callerId, id), created };
    }
    const name = input.name.trim();
    if (name === '') throw new AppError('validation_failed', 'name is required for a group', { field: 'name' });
    const memberIds = [...new Set(input.participantIds)].filter((id) => id !== callerId);
    await this.requireUsers(memberIds, 'participant_ids');
    const id = await createGroup(this.db, { name, avatar: input.avatar ?? null, ownerId: callerId, memberIds });
    return { conversation: await this.get(callerId, id), created: true };
  }

  /** The conversation as `callerId` sees it; not_found unless they are a member. */
  async get(callerId: number, conversationId: number): Promise<Conversation> {
    const row = await findForMember(this.db, conversationId, callerId);
    if (!row) throw notFound('Conversation');
    const [conversation] = await this.assemble(callerId, [row]);
    return conversation!;
  }

  /** The caller's conversations, most recent activity first. */
  async list(callerId: number, opts: { limit: number; cursor?: string }): Promise<ConversationPage> {
    const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    const rows = await listForMember(this.db, callerId, { limit: opts.limit + 1, after });
    const page = rows.slice(0, opts.limit);
    const last = page.at(-1);
    return {
      conversations: await this.assemble(callerId, page),
      next_cursor: rows.length > opts.limit && last ? encodeCursor(last.activity_us, last.id) : null,
    };
  }

  /** Throws not_found unless the caller is a member; returns their view of the row. */
  async requireMember(callerId: number, conversationId: number): Promise<MemberConversationRow> {
    const row = await findForMember(this.db, conversationId, callerId);
    if (!row) throw notFound('Conversation');
    return row;
  }

  private async requireUsers(ids: number[], field: string): Promise<void> {
    const found = new Set(await existingUserIds(this.db, ids));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new AppError('not_found', `User${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`, {
        field,
      });
    }
  }

  /** Rows → wire objects with participants, the latest message and the unread count. */
  private async assemble(callerId: number, rows: MemberConversationRow[]): Promise<Conversation[]> {
    const ids = rows.map((r) => r.id);
    const [participants, latest, unread] = await Promise.all([
      participantsOf(this.db, ids),
      latestOf(this.db, rows),
      unreadCounts(this.db, callerId, ids),
    ]);
    const byConversation = new Map<number, ParticipantRow[]>();
    for (const p of participants) {
      const list = byConversation.get(p.conversation_id) ?? [];
      list.push(p);
      byConversation.set(p.conversation_id, list);
    }
    const knownUsers = new Map<number, UserRow>(participants.map((p) => [p.id, p]));
    const formerSenders = [...latest.values()]
      .map((m) => m.sender_id)
      .filter((id): id is number => id !== null && !knownUsers.has(id));
    for (const u of await findUsersByIds(this.db, [...new Set(formerSenders)])) knownUsers.set(u.id, u);

    return rows.map((row) => {
      const members = byConversation.get(row.id) ?? [];
      const last = latest.get(row.id);
      const view = statusView(callerId, members);
      return {
        id: row.id,
        type: row.type,
        name: row.name,
        avatar: row.avatar,
        created_by: row.created_by,
        last_seq: row.last_seq,
        unread_count: unread.get(row.id) ?? 0,
        participants: members.map((p): Participant => ({ ...toUser(p, { id: callerId, contact: true }), role: p.role })),
        messages: last
          ? [
              toMessage(
                last,
                senderView(last.sender_id === null ? undefined : knownUsers.get(last.sender_id), callerId),
                messageStatus(last, view),
              ),
            ]
          : [],
        last_message_at: row.last_message_at?.toISOString() ?? null,
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
      };
    });
  }
}

/** Opaque to clients: `c:<activity in epoch microseconds>:<id>`, base64url. */
const encodeCursor = (atMicros: number, id: number) => Buffer.from(`c:${atMicros}:${id}`).toString('base64url');

function decodeCursor(cursor: string): { atMicros: number; id: number } {
  const m = /^c:(.+):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  // Cursors handed out before microsecond precision held an ISO time; still accept them.
  const atMicros = !m ? NaN : /^\d+$/.test(m[1]!) ? Number(m[1]) : new Date(m[1]!).getTime() * 1000;
  if (!m || !Number.isSafeInteger(atMicros) || !Number.isSafeInteger(Number(m[2]))) {
    throw new AppError('validation_failed', 'cursor is not valid', { field: 'cursor' });
  }
  return { atMicros, id: Number(m[2]) };
}
