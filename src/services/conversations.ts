import type { AttachmentLinks } from '../domain/attachments.js';
import { directKey } from '../domain/conversations.js';
import { AppError, notFound } from '../domain/errors.js';
import { toMemberSettings } from '../domain/member-settings.js';
import { messageStatus, senderView, summarizePointers, toMessage } from '../domain/messages.js';
import { toUser } from '../domain/users.js';
import type { Conversation, Participant } from '../schemas/conversations.js';
import { inTransaction, type Db } from '../store/database.js';
import {
  addParticipants,
  findDirectId,
  findForMember,
  insertDirect,
  insertGroup,
  listForMember,
  participantsOf,
  type MemberListPosition,
  unreadCounts,
  type MemberConversationRow,
  type ParticipantRow,
} from '../store/conversations.repository.js';
import { hiddenAt, reactionSummaries } from '../store/message-changes.repository.js';
import { latestOf } from '../store/messages.repository.js';
import { existingUserIds, findUsersByIds, type UserRow } from '../store/users.repository.js';
import type { Access } from './access.js';
import type { BlocksService } from './blocks.js';

export interface ConversationPage {
  conversations: Conversation[];
  next_cursor: string | null;
}

/** Conversations: creating them, and each member's view of them. */
export class ConversationsService {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
    private readonly links: AttachmentLinks,
    private readonly blocks: BlocksService,
    private readonly maxGroupMembers: number,
  ) {}

  /**
   * `direct`: returns the existing conversation between the two users (created: false)
   * or makes it. `group`: the caller becomes owner; every listed user a member.
   * More members than GROUP_MAX_MEMBERS → group_full; unknown users → not_found naming them; someone listed who blocks the caller →
   * blocked (a direct conversation with them is refused even when it exists); nothing is
   * created.
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
      await this.blocks.assertNotBlockedBy(callerId, [input.participantId], 'participant_id');
      const key = directKey(callerId, input.participantId);
      const { id, created } = await inTransaction(this.db, async (trx) => {
        const made = await insertDirect(trx, key, callerId);
        if (made === undefined) return { id: (await findDirectId(trx, key))!, created: false };
        await addParticipants(trx, made, [
          { userId: callerId, role: 'member' },
          { userId: input.participantId, role: 'member' },
        ]);
        return { id: made, created: true };
      });
      return { conversation: await this.get(callerId, id), created };
    }
    const name = input.name.trim();
    if (name === '') throw new AppError('validation_failed', 'name is required for a group', { field: 'name' });
    const memberIds = [...new Set(input.participantIds)].filter((id) => id !== callerId);
    if (memberIds.length + 1 > this.maxGroupMembers) {
      throw new AppError('group_full', `A group has at most ${this.maxGroupMembers} members`, { field: 'participant_ids' });
    }
    await this.requireUsers(memberIds, 'participant_ids');
    await this.blocks.assertNotBlockedBy(callerId, memberIds, 'participant_ids');
    const id = await inTransaction(this.db, async (trx) => {
      const made = await insertGroup(trx, { name, avatar: input.avatar ?? null, createdBy: callerId });
      await addParticipants(trx, made, [
        { userId: callerId, role: 'owner' },
        ...memberIds.map((userId) => ({ userId, role: 'member' as const })),
      ]);
      return made;
    });
    return { conversation: await this.get(callerId, id), created: true };
  }

  /** The conversation as `callerId` sees it; not_found unless they are a member. */
  async get(callerId: number, conversationId: number): Promise<Conversation> {
    await this.access.requireMember(callerId, conversationId);
    // Gone meanwhile (the member left): the same answer the gate gives.
    const row = await findForMember(this.db, conversationId, callerId);
    if (!row) throw notFound('Conversation');
    const [conversation] = await this.assemble(callerId, [row]);
    return conversation!;
  }

  /**
   * The caller's conversations: the ones they pinned first (the latest pinned first), then
   * the rest, each by most recent activity. `archived`: only those they archived (true) or
   * did not (false); absent, all.
   */
  async list(callerId: number, opts: { limit: number; cursor?: string; archived?: boolean }): Promise<ConversationPage> {
    const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    const rows = await listForMember(this.db, callerId, { limit: opts.limit + 1, after, archived: opts.archived });
    const page = rows.slice(0, opts.limit);
    const last = page.at(-1);
    return {
      conversations: await this.assemble(callerId, page),
      next_cursor: rows.length > opts.limit && last ? encodeCursor(last.pinned_us, last.activity_us, last.id) : null,
    };
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
    const [participants, latest, unread, { blockedBy }] = await Promise.all([
      participantsOf(this.db, ids),
      latestOf(this.db, rows),
      unreadCounts(this.db, callerId, ids),
      this.blocks.relations(callerId),
    ]);
    const latestIds = [...latest.values()].map((m) => m.id);
    const [reactions, hidden] = await Promise.all([
      reactionSummaries(this.db, callerId, latestIds),
      hiddenAt(this.db, callerId, latestIds),
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
      const pointers = summarizePointers(callerId, members, blockedBy);
      return {
        id: row.id,
        type: row.type,
        name: row.name,
        description: row.description,
        avatar: row.avatar,
        settings: {
          only_admins_can_post: row.only_admins_can_post,
          only_admins_can_edit_info: row.only_admins_can_edit_info,
          only_admins_can_add: row.only_admins_can_add,
          history_visible_to_new_members: row.history_visible_to_new_members,
        },
        created_by: row.created_by,
        last_seq: row.last_seq,
        mod_seq: row.last_mod_seq,
        unread_count: unread.get(row.id) ?? 0,
        participants: members.map((p): Participant => ({ ...toUser(p, { id: callerId, contact: true, blocked: blockedBy.has(p.id) }), role: p.role })),
        messages: last
          ? [
              toMessage(
                last,
                senderView(
                  last.sender_id === null ? undefined : knownUsers.get(last.sender_id),
                  callerId,
                  last.sender_id !== null && blockedBy.has(last.sender_id),
                ),
                messageStatus(last, callerId, pointers),
                this.links,
                { reactions: reactions.get(last.id), hidden: hidden.get(last.id) },
              ),
            ]
          : [],
        last_message_at: row.last_message_at?.toISOString() ?? null,
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
        my_settings: toMemberSettings(row),
      };
    });
  }
}

/**
 * Opaque to clients: `p:<pinned_at or nothing>:<activity>:<id>`, times in epoch
 * microseconds, base64url. `c:<activity>:<id>` cursors, handed out before pinning sorted
 * the list, are still accepted as positions among the unpinned conversations.
 */
const encodeCursor = (pinnedMicros: number | null, atMicros: number, id: number) =>
  Buffer.from(`p:${pinnedMicros ?? ''}:${atMicros}:${id}`).toString('base64url');

function decodeCursor(cursor: string): MemberListPosition {
  const text = Buffer.from(cursor, 'base64url').toString();
  const position = ((): MemberListPosition | undefined => {
    const p = /^p:(\d*):(\d+):(\d+)$/.exec(text);
    if (p) return { pinnedMicros: p[1] === '' ? null : Number(p[1]), atMicros: Number(p[2]), id: Number(p[3]) };
    const c = /^c:(.+):(\d+)$/.exec(text);
    if (!c) return undefined;
    // Cursors handed out before microsecond precision held an ISO time; still accept them.
    const atMicros = /^\d+$/.test(c[1]!) ? Number(c[1]) : new Date(c[1]!).getTime() * 1000;
    return { pinnedMicros: null, atMicros, id: Number(c[2]) };
  })();
  const valid = (n: number | null) => n === null || Number.isSafeInteger(n);
  if (!position || !valid(position.pinnedMicros) || !valid(position.atMicros) || !valid(position.id)) {
    throw new AppError('validation_failed', 'cursor is not valid', { field: 'cursor' });
  }
  return position;
}
