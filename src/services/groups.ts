import { randomBytes } from 'node:crypto';
import type { AttachmentLinks } from '../domain/attachments.js';
import type { Clock } from '../domain/clock.js';
import { isAdmin } from '../domain/conversations.js';
import { AppError, notFound } from '../domain/errors.js';
import { senderView, toMessage } from '../domain/messages.js';
import { systemText, type Role, type SystemEvent } from '../domain/system-messages.js';
import type { Conversation, GroupSettings, Invite } from '../schemas/conversations.js';
import { findForMember } from '../store/conversations.repository.js';
import type { Db, Trx } from '../store/database.js';
import {
  activeInvites,
  deleteMembers,
  findInvite,
  insertInvite,
  insertMembers,
  lockGroup,
  groupCard,
  revokeInvite,
  setRole,
  updateGroup,
  useInvite,
  type GroupInfo,
  type GroupRow,
  type InviteRow,
  type MemberRow,
} from '../store/groups.repository.js';
import { insertOwnMessages, type MessageRow } from '../store/messages.repository.js';
import { existingUserIds, findUsersByIds } from '../store/users.repository.js';
import type { BlocksService } from './blocks.js';
import type { ConversationsService } from './conversations.js';
import type { MessagesService } from './messages.js';
import type { MessageWriter } from './message-writer.js';
import type { NodeCache } from './node-cache.js';

export interface GroupEdit {
  name?: string;
  description?: string | null;
  avatar?: string | null;
  settings?: Partial<GroupSettings>;
}

export interface InvitePreview {
  invite: Invite;
  conversation: { id: number; name: string | null; description: string | null; avatar: string | null; member_count: number };
}

/** The group as a change sees it, in the transaction that holds it locked. */
interface Locked {
  group: GroupRow;
  members: MemberRow[];
  /** The actor's membership (undefined: not a member, e.g. joining by invite). */
  actor: MemberRow | undefined;
}

/** What a change does; each event becomes one system message, in order. */
interface Plan {
  events: SystemEvent[];
  add?: { userId: number; role: Role }[];
  remove?: number[];
  roles?: { userId: number; role: Role }[];
  info?: GroupInfo;
}

/**
 * Group administration: members, roles, the group's info and rules, invite links.
 *
 * Every change is one transaction in the conversation's write lane (MessageWriter.run):
 * it locks the conversation row (the lock sends take for their seqs, on every node), reads
 * the members and their roles under that lock and decides there — so two admins acting
 * at once, or a send racing a removal, see one order — then writes the membership rows,
 * the group's row and a system message per event (each takes a seq), and bumps the
 * roster version when who is in or who may post changed. After the commit every node
 * forgets its cached roster, and the system messages go to the members and to whoever
 * was removed or left (the last frame of the conversation they get).
 */
export class GroupsService {
  constructor(
    private readonly db: Db,
    private readonly writer: MessageWriter,
    private readonly cache: NodeCache,
    private readonly messages: MessagesService,
    private readonly blocks: BlocksService,
    private readonly conversations: ConversationsService,
    private readonly links: AttachmentLinks,
    private readonly opts: { maxMembers: number; inviteBaseUrl: string },
    /** Invite expiry is told by this clock (tests move it forward). */
    private readonly clock: Clock,
  ) {}

  /**
   * Adds users as members: admins may, and every member unless only_admins_can_add.
   * Users already in are left as they are (nothing at all changes when all are). Throws
   * unknown_users naming the ids that are no user, blocked when one of them blocks the
   * caller, group_full past GROUP_MAX_MEMBERS; nobody is added then.
   */
  async addMembers(actorId: number, conversationId: number, userIds: number[]): Promise<Conversation> {
    const ids = [...new Set(userIds)].filter((id) => id !== actorId);
    // Not a member: the same 404 as for a group that does not exist, before anything else.
    if (!(await findForMember(this.db, conversationId, actorId))) throw notFound('Conversation');
    const found = new Set(await existingUserIds(this.db, ids));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new AppError('unknown_users', `No user with id ${missing.join(', ')}`, { field: 'user_ids' });
    }
    await this.blocks.assertNotBlockedBy(actorId, ids, 'user_ids');
    await this.apply(actorId, conversationId, ({ group, members, actor }) => {
      if (!isAdmin(actor!.role) && group.only_admins_can_add) throw forbidden('Only admins can add members to this group');
      const fresh = ids.filter((id) => !members.some((m) => m.user_id === id));
      if (fresh.length === 0) return { events: [] };
      this.assertRoom(members.length + fresh.length, 'user_ids');
      return {
        events: [{ event: 'member_added', actor_id: actorId, user_ids: fresh }],
        add: fresh.map((userId) => ({ userId, role: 'member' as const })),
      };
    });
    return this.conversations.get(actorId, conversationId);
  }

  /**
   * Removes a member (admins remove members; only the owner removes admins; nobody
   * removes the owner). The caller's own id: they leave (see `leave`).
   */
  async removeMember(actorId: number, conversationId: number, userId: number): Promise<void> {
    if (userId === actorId) return this.leave(actorId, conversationId);
    await this.apply(actorId, conversationId, ({ members, actor }) => {
      if (!isAdmin(actor!.role)) throw forbidden('Only admins can remove members');
      const target = memberOf(members, userId);
      if (target.role === 'owner') throw forbidden('The owner cannot be removed');
      if (target.role === 'admin' && actor!.role !== 'owner') throw forbidden('Only the owner can remove an admin');
      return { events: [{ event: 'member_removed', actor_id: actorId, user_ids: [userId] }], remove: [userId] };
    });
  }

  /**
   * The caller leaves. An owner who leaves hands ownership to the longest-serving admin,
   * or else the longest-serving member; the last member leaving leaves an empty group
   * nobody can reach.
   */
  async leave(actorId: number, conversationId: number): Promise<void> {
    await this.apply(actorId, conversationId, ({ members, actor }) => {
      const plan: Plan = { events: [{ event: 'member_left', actor_id: actorId }], remove: [actorId] };
      if (actor!.role !== 'owner') return plan;
      const others = members.filter((m) => m.user_id !== actorId);
      const heir = others.find((m) => m.role === 'admin') ?? others[0];
      if (heir) {
        plan.roles = [{ userId: heir.user_id, role: 'owner' }];
        plan.events.push({ event: 'owner_changed', actor_id: actorId, user_ids: [heir.user_id] });
      }
      return plan;
    });
  }

  /**
   * The owner makes a member an admin or an admin a member; `owner` hands ownership over
   * (the old owner becomes an admin). Nobody changes the owner's role but by handing it on.
   */
  async setRole(actorId: number, conversationId: number, userId: number, role: Role): Promise<Conversation> {
    await this.apply(actorId, conversationId, ({ members, actor }) => {
      if (actor!.role !== 'owner') throw forbidden('Only the owner can change roles');
      const target = memberOf(members, userId);
      if (target.role === 'owner') throw forbidden("The owner's role changes only by handing ownership to another member");
      if (role === 'owner') {
        return {
          events: [{ event: 'owner_changed', actor_id: actorId, user_ids: [userId] }],
          roles: [
            { userId, role: 'owner' },
            { userId: actorId, role: 'admin' },
          ],
        };
      }
      if (target.role === role) return { events: [] };
      return { events: [{ event: 'role_changed', actor_id: actorId, user_ids: [userId], role }], roles: [{ userId, role }] };
    });
    return this.conversations.get(actorId, conversationId);
  }

  /**
   * Changes the group's name, description, avatar (admins; every member too unless
   * only_admins_can_edit_info) and its settings (admins). A new name is told as
   * `renamed`, anything else as `info_changed`; what does not change is not told.
   */
  async edit(actorId: number, conversationId: number, edit: GroupEdit): Promise<Conversation> {
    const name = edit.name?.trim();
    if (name === '') throw new AppError('validation_failed', 'name must not be empty', { field: 'name' });
    await this.apply(actorId, conversationId, ({ group, actor }) => {
      const admin = isAdmin(actor!.role);
      const editsInfo = name !== undefined || edit.description !== undefined || edit.avatar !== undefined;
      if (editsInfo && !admin && group.only_admins_can_edit_info) throw forbidden("Only admins can change this group's info");
      if (edit.settings !== undefined && !admin) throw forbidden("Only admins can change this group's settings");
      const wanted: GroupInfo = {
        ...(name !== undefined ? { name } : {}),
        ...(edit.description !== undefined ? { description: edit.description } : {}),
        ...(edit.avatar !== undefined ? { avatar: edit.avatar } : {}),
        ...edit.settings,
      };
      const info = Object.fromEntries(
        Object.entries(wanted).filter(([key, value]) => group[key as keyof GroupInfo] !== value),
      ) as GroupInfo;
      const events: SystemEvent[] = [];
      if (typeof info.name === 'string') events.push({ event: 'renamed', actor_id: actorId, name: info.name });
      if (Object.keys(info).some((key) => key !== 'name')) events.push({ event: 'info_changed', actor_id: actorId });
      return { events, info };
    });
    return this.conversations.get(actorId, conversationId);
  }

  /** A new invite link (admins). `expiresIn` in seconds; no limit when left out. */
  async createInvite(actorId: number, conversationId: number, opts: { expiresIn?: number; maxUses?: number }): Promise<Invite> {
    await this.requireAdmin(actorId, conversationId);
    const row = await insertInvite(this.db, {
      code: randomBytes(12).toString('base64url'),
      conversationId,
      createdBy: actorId,
      expiresAt: opts.expiresIn === undefined ? null : new Date(this.clock.now() + opts.expiresIn * 1000),
      maxUses: opts.maxUses ?? null,
    });
    return this.toInvite(row);
  }

  /** The group's usable invite links (admins), newest first. */
  async invites(actorId: number, conversationId: number): Promise<Invite[]> {
    await this.requireAdmin(actorId, conversationId);
    return (await activeInvites(this.db, conversationId, new Date(this.clock.now()))).map((r) => this.toInvite(r));
  }

  /** What an invite leads to, for anyone holding its code. */
  async preview(code: string): Promise<InvitePreview> {
    const invite = await this.usableInvite(code);
    const { id, name, description, avatar, members } = (await groupCard(this.db, invite.conversation_id))!;
    return { invite: this.toInvite(invite), conversation: { id, name, description, avatar, member_count: members } };
  }

  /** Joins the invite's group (a member already: nothing changes, no use is counted). */
  async join(userId: number, code: string): Promise<Conversation> {
    const invite = await this.usableInvite(code);
    await this.apply(
      userId,
      invite.conversation_id,
      async ({ members, actor }, trx) => {
        if (actor) return { events: [] };
        // Everyone left: the group is gone for good, its links with it.
        if (members.length === 0) throw inviteInvalid();
        this.assertRoom(members.length + 1, 'code');
        if (!(await useInvite(trx, code, new Date(this.clock.now())))) throw inviteInvalid();
        return {
          events: [{ event: 'member_joined', actor_id: userId }],
          add: [{ userId, role: 'member' }],
        };
      },
      { asMember: false },
    );
    return this.conversations.get(userId, invite.conversation_id);
  }

  /** Revokes an invite (the group's admins). */
  async revoke(actorId: number, code: string): Promise<void> {
    const invite = await findInvite(this.db, code);
    if (!invite) throw notFound('Invite');
    await this.requireAdmin(actorId, invite.conversation_id);
    await revokeInvite(this.db, code);
  }

  /**
   * Runs a change: in the conversation's write lane, one transaction that locks the
   * group, lets `decide` look at it (and write in its transaction; throwing refuses the
   * change, nothing written), then
   * writes what the plan says. After the commit the rosters are forgotten everywhere and
   * the system messages published.
   */
  private async apply(
    actorId: number,
    conversationId: number,
    decide: (locked: Locked, trx: Trx) => Plan | Promise<Plan>,
    opts: { asMember: boolean } = { asMember: true },
  ): Promise<void> {
    // Read before the change, so that nothing is awaited between its commit and its
    // publish: this node publishes a conversation's messages in seq order.
    const [profile, relations] = await Promise.all([this.cache.profile(actorId), this.blocks.relations(actorId)]);
    const done = await this.writer.run(conversationId, async (trx) => {
      const locked = await lockGroup(trx, conversationId);
      const actor = locked?.members.find((m) => m.user_id === actorId);
      if (!locked || (opts.asMember && !actor)) throw notFound('Conversation');
      if (locked.group.type !== 'group') throw new AppError('not_a_group', 'Only groups have members to manage, roles and invites');
      const plan = await decide({ ...locked, actor }, trx);
      if (plan.events.length === 0) return undefined;
      const rows = await this.write(trx, actorId, locked, plan);
      const removed = new Set(plan.remove);
      const memberIds = [...locked.members.map((m) => m.user_id).filter((id) => !removed.has(id)), ...(plan.add ?? []).map((a) => a.userId)];
      return { rows, audience: [...memberIds, ...removed] };
    });
    if (!done) return;
    const sender = senderView(profile);
    await Promise.all([
      this.cache.conversationChanged(conversationId),
      ...done.rows.map((row) => this.messages.publishNew(toMessage(row, sender, 'sent', this.links), profile, done.audience, relations)),
    ]);
  }

  /** The plan's writes, in the locked transaction; returns its system messages. */
  private async write(trx: Trx, actorId: number, { group }: Pick<Locked, 'group'>, plan: Plan): Promise<MessageRow[]> {
    const named = new Set([actorId, ...plan.events.flatMap((e) => e.user_ids ?? [])]);
    const names = new Map((await findUsersByIds(trx, [...named])).map((u) => [u.id, u.username]));
    const rows = (await insertOwnMessages(
      trx,
      group.id,
      actorId,
      plan.events.map((system) => ({ type: 'system' as const, content: systemText(system, names), system })),
    ))!;
    const first = rows[0]!.seq;
    await deleteMembers(trx, group.id, plan.remove ?? []);
    // New members see from their own system message on (or the whole history), and
    // nothing before it is unread for them.
    await insertMembers(trx, group.id, plan.add ?? [], {
      visibleFromSeq: group.history_visible_to_new_members ? 0 : first - 1,
      readSeq: first - 1,
    });
    for (const r of plan.roles ?? []) await setRole(trx, group.id, r.userId, r.role);
    const info = plan.info ?? {};
    const rosterChanged =
      (plan.add?.length ?? 0) > 0 ||
      (plan.remove?.length ?? 0) > 0 ||
      (plan.roles?.length ?? 0) > 0 ||
      info.only_admins_can_post !== undefined;
    if (Object.keys(info).length > 0 || rosterChanged) await updateGroup(trx, group.id, info, rosterChanged);
    return rows;
  }

  private assertRoom(members: number, field: string): void {
    if (members > this.opts.maxMembers) {
      throw new AppError('group_full', `A group has at most ${this.opts.maxMembers} members`, { field });
    }
  }

  /** The caller is an admin (or the owner) of the group; not_found / not_a_group / forbidden otherwise. */
  private async requireAdmin(actorId: number, conversationId: number): Promise<void> {
    const row = await findForMember(this.db, conversationId, actorId);
    if (!row) throw notFound('Conversation');
    if (row.type !== 'group') throw new AppError('not_a_group', 'Only groups have invite links');
    if (!isAdmin(row.role)) throw forbidden('Only admins can manage invite links');
  }

  private async usableInvite(code: string): Promise<InviteRow> {
    const invite = await findInvite(this.db, code);
    if (!invite) throw notFound('Invite');
    const spent = invite.max_uses !== null && invite.uses >= invite.max_uses;
    const expired = invite.expires_at !== null && invite.expires_at.getTime() <= this.clock.now();
    if (invite.revoked_at !== null || spent || expired) throw inviteInvalid();
    return invite;
  }

  private toInvite(r: InviteRow): Invite {
    return {
      code: r.code,
      url: `${this.opts.inviteBaseUrl}/invites/${r.code}`,
      conversation_id: r.conversation_id,
      created_by: r.created_by,
      expires_at: r.expires_at?.toISOString() ?? null,
      max_uses: r.max_uses,
      uses: r.uses,
      created_at: r.created_at.toISOString(),
    };
  }
}

const forbidden = (message: string) => new AppError('forbidden', message);
const inviteInvalid = () => new AppError('invite_invalid', 'This invite link was revoked, has expired or has been used up');

function memberOf(members: MemberRow[], userId: number): MemberRow {
  const m = members.find((x) => x.user_id === userId);
  if (!m) throw new AppError('not_found', 'That user is not a member of this group');
  return m;
}
