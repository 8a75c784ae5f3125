import { sql } from 'kysely';
import type { Role } from '../domain/system-messages.js';
import type { Db, Trx } from './database.js';

/** A group's own row, as group administration reads (and locks) it. */
export interface GroupRow {
  id: number;
  type: 'direct' | 'group';
  name: string | null;
  description: string | null;
  avatar: string | null;
  only_admins_can_post: boolean;
  only_admins_can_edit_info: boolean;
  only_admins_can_add: boolean;
  history_visible_to_new_members: boolean;
  last_seq: number;
}

export interface MemberRow {
  user_id: number;
  role: Role;
}

/**
 * The conversation's row, locked for the rest of the transaction (FOR UPDATE: the same
 * lock a message batch takes for its seqs, so group changes and sends on every node
 * take turns), and its members by seniority (joined_at, then id).
 */
export async function lockGroup(trx: Trx, conversationId: number): Promise<{ group: GroupRow; members: MemberRow[] } | undefined> {
  const group = await trx
    .selectFrom('conversations')
    .select([
      'id',
      'type',
      'name',
      'description',
      'avatar',
      'only_admins_can_post',
      'only_admins_can_edit_info',
      'only_admins_can_add',
      'history_visible_to_new_members',
      'last_seq',
    ])
    .where('id', '=', conversationId)
    .forUpdate()
    .executeTakeFirst();
  if (!group) return undefined;
  const members = await trx
    .selectFrom('conversation_participants')
    .select(['user_id', 'role'])
    .where('conversation_id', '=', conversationId)
    .orderBy('joined_at')
    .orderBy('user_id')
    .execute();
  return { group, members };
}

/**
 * New members. They see the messages after `visibleFromSeq`, and have read and received
 * everything up to `readSeq` (the messages before they joined are never unread).
 */
export async function insertMembers(
  trx: Trx,
  conversationId: number,
  members: { userId: number; role: Role }[],
  seqs: { visibleFromSeq: number; readSeq: number },
): Promise<void> {
  if (members.length === 0) return;
  await trx
    .insertInto('conversation_participants')
    .values(
      members.map((m) => ({
        conversation_id: conversationId,
        user_id: m.userId,
        role: m.role,
        visible_from_seq: seqs.visibleFromSeq,
        last_read_seq: seqs.readSeq,
        last_delivered_seq: seqs.readSeq,
      })),
    )
    .execute();
}

export async function deleteMembers(trx: Trx, conversationId: number, userIds: number[]): Promise<void> {
  if (userIds.length === 0) return;
  await trx
    .deleteFrom('conversation_participants')
    .where('conversation_id', '=', conversationId)
    .where('user_id', 'in', userIds)
    .execute();
}

export async function setRole(trx: Trx, conversationId: number, userId: number, role: Role): Promise<void> {
  await trx
    .updateTable('conversation_participants')
    .set({ role })
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .execute();
}

export type GroupInfo = Partial<
  Pick<
    GroupRow,
    | 'name'
    | 'description'
    | 'avatar'
    | 'only_admins_can_post'
    | 'only_admins_can_edit_info'
    | 'only_admins_can_add'
    | 'history_visible_to_new_members'
  >
>;

/** Updates the group's info; `rosterChanged`: its roster version grows (see migrations/000006). */
export async function updateGroup(trx: Trx, conversationId: number, info: GroupInfo, rosterChanged: boolean): Promise<void> {
  await trx
    .updateTable('conversations')
    .set({
      ...info,
      updated_at: sql<Date>`now()`,
      ...(rosterChanged ? { roster_version: sql<number>`roster_version + 1` } : {}),
    })
    .where('id', '=', conversationId)
    .execute();
}

export interface InviteRow {
  code: string;
  conversation_id: number;
  created_by: number | null;
  expires_at: Date | null;
  max_uses: number | null;
  uses: number;
  revoked_at: Date | null;
  created_at: Date;
}

export async function insertInvite(
  db: Db,
  i: { code: string; conversationId: number; createdBy: number; expiresAt: Date | null; maxUses: number | null },
): Promise<InviteRow> {
  return db
    .insertInto('conversation_invites')
    .values({
      code: i.code,
      conversation_id: i.conversationId,
      created_by: i.createdBy,
      expires_at: i.expiresAt,
      max_uses: i.maxUses,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findInvite(db: Db | Trx, code: string): Promise<InviteRow | undefined> {
  return db.selectFrom('conversation_invites').selectAll().where('code', '=', code).executeTakeFirst();
}

/** The group's invites still usable at `at` (not revoked, not expired, uses left), newest first. */
export async function activeInvites(db: Db, conversationId: number, at: Date): Promise<InviteRow[]> {
  return db
    .selectFrom('conversation_invites')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
    .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
    .orderBy('created_at', 'desc')
    .orderBy('code')
    .execute();
}

/**
 * Counts one use of the invite if it is still usable at `at`, in one statement (so concurrent
 * joins never pass max_uses); true when it was.
 */
export async function useInvite(trx: Trx, code: string, at: Date): Promise<boolean> {
  const row = await trx
    .updateTable('conversation_invites')
    .set({ uses: sql<number>`uses + 1` })
    .where('code', '=', code)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
    .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
    .returning('code')
    .executeTakeFirst();
  return row !== undefined;
}

export async function revokeInvite(db: Db, code: string): Promise<void> {
  await db.updateTable('conversation_invites').set({ revoked_at: sql<Date>`now()` }).where('code', '=', code).where('revoked_at', 'is', null).execute();
}

/** A conversation's name, description, avatar and member count (an invite's preview). */
export async function groupCard(
  db: Db,
  conversationId: number,
): Promise<{ id: number; name: string | null; description: string | null; avatar: string | null; members: number } | undefined> {
  const row = await db
    .selectFrom('conversations as c')
    .select(['c.id', 'c.name', 'c.description', 'c.avatar'])
    .select((eb) =>
      eb
        .selectFrom('conversation_participants as p')
        .select(eb.fn.countAll<number>().as('n'))
        .whereRef('p.conversation_id', '=', 'c.id')
        .as('members'),
    )
    .where('c.id', '=', conversationId)
    .executeTakeFirst();
  return row && { ...row, members: Number(row.members ?? 0) };
}
