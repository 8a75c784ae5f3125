import { sql, type Selectable } from 'kysely';
import { isAdmin, type Roster } from '../domain/conversations.js';
import type { Db, Trx } from './database.js';
import { notSeenCall } from './calls.repository.js';
import type { ConversationsTable } from './schema.js';
import type { Role } from '../schemas/conversations.js';
import type { UserRow } from './users.repository.js';
import { mutedUntilColumn } from './member-settings.repository.js';

export type ConversationRow = Selectable<ConversationsTable>;

/** A conversation seen by one member: the row plus that member's pointers. */
export interface MemberConversationRow extends ConversationRow {
  last_read_seq: number;
  last_delivered_seq: number;
  role: Role;
  visible_from_seq: number;
  muted_until: Date | null;
  archived: boolean;
  pinned_at: Date | null;
}

export interface ParticipantRow extends UserRow {
  conversation_id: number;
  role: Role;
  last_read_seq: number;
  last_delivered_seq: number;
  /** The member sees the messages after this seq (see migrations/000005). */
  visible_from_seq: number;
}

/**
 * Inserts the direct conversation for `key` unless it exists; returns its id, or
 * undefined when another call made it first (the unique direct_key decides the winner).
 */
export async function insertDirect(db: Db, key: string, creatorId: number): Promise<number | undefined> {
  const row = await db
    .insertInto('conversations')
    .values({ type: 'direct', direct_key: key, created_by: creatorId })
    .onConflict((oc) => oc.column('direct_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row?.id;
}

export async function findDirectId(db: Db, key: string): Promise<number | undefined> {
  const row = await db.selectFrom('conversations').select('id').where('direct_key', '=', key).executeTakeFirst();
  return row?.id;
}

export async function insertGroup(db: Db, g: { name: string; avatar: string | null; createdBy: number }): Promise<number> {
  const { id } = await db
    .insertInto('conversations')
    .values({ type: 'group', name: g.name, avatar: g.avatar, created_by: g.createdBy })
    .returning('id')
    .executeTakeFirstOrThrow();
  return id;
}

export async function addParticipants(db: Db, conversationId: number, members: { userId: number; role: Role }[]): Promise<void> {
  if (members.length === 0) return;
  await db
    .insertInto('conversation_participants')
    .values(members.map((m) => ({ conversation_id: conversationId, user_id: m.userId, role: m.role })))
    .execute();
}

const memberColumns = [
  'c.id',
  'c.type',
  'c.name',
  'c.description',
  'c.avatar',
  'c.only_admins_can_post',
  'c.only_admins_can_edit_info',
  'c.only_admins_can_add',
  'c.history_visible_to_new_members',
  'c.created_by',
  'c.direct_key',
  'c.last_seq',
  'c.last_mod_seq',
  'c.roster_version',
  'c.last_message_at',
  'c.created_at',
  'c.updated_at',
  'p.last_read_seq',
  'p.last_delivered_seq',
  'p.role',
  'p.visible_from_seq',
  mutedUntilColumn.as('muted_until'),
  'p.archived',
  'p.pinned_at',
] as const;

/** The conversation if `userId` is a member; undefined for "missing" and "not yours" alike. */
export async function findForMember(db: Db, conversationId: number, userId: number): Promise<MemberConversationRow | undefined> {
  return db
    .selectFrom('conversations as c')
    .innerJoin('conversation_participants as p', 'p.conversation_id', 'c.id')
    .select(memberColumns)
    .where('c.id', '=', conversationId)
    .where('p.user_id', '=', userId)
    .executeTakeFirst();
}

const activity = sql<Date>`coalesce(c.last_message_at, c.created_at)`;
/** The activity time in whole microseconds since the epoch: a Date would drop the microseconds. */
const activityMicros = sql<number>`(extract(epoch from coalesce(c.last_message_at, c.created_at)) * 1000000)::bigint`;
/** The member's pinned_at in microseconds, as activityMicros; null when not pinned. */
const pinnedMicros = sql<number | null>`(extract(epoch from p.pinned_at) * 1000000)::bigint`;
const micros = (us: number) => sql<Date>`(timestamptz 'epoch' + ${String(us)}::bigint * interval '1 microsecond')`;

/** Where a page of `listForMember` ends: pinnedMicros null for an unpinned conversation. */
export interface MemberListPosition {
  pinnedMicros: number | null;
  atMicros: number;
  id: number;
}

/**
 * The member's conversations: those they pinned first, the latest pinned first, then the
 * rest; each part by most recent activity (ties by id), starting after the cursor.
 * `archived` keeps only those the member archived (true) or did not (false). The cursor
 * carries microseconds, the precision PostgreSQL stores: rounded to milliseconds it would
 * skip conversations active (or pinned) within the same millisecond as the last one of
 * the previous page.
 */
export async function listForMember(
  db: Db,
  userId: number,
  opts: { limit: number; after?: MemberListPosition; archived?: boolean },
): Promise<(MemberConversationRow & { activity_us: number; pinned_us: number | null })[]> {
  let q = db
    .selectFrom('conversations as c')
    .innerJoin('conversation_participants as p', 'p.conversation_id', 'c.id')
    .select([...memberColumns, activityMicros.as('activity_us'), pinnedMicros.as('pinned_us')])
    .where('p.user_id', '=', userId);
  if (opts.archived !== undefined) q = q.where('p.archived', '=', opts.archived);
  if (opts.after) {
    const { pinnedMicros: pinnedAt, atMicros, id } = opts.after;
    q = q.where(
      pinnedAt === null
        ? sql<boolean>`(p.pinned_at is null and (${activity}, c.id) < (${micros(atMicros)}, ${id}))`
        : sql<boolean>`((p.pinned_at, ${activity}, c.id) < (${micros(pinnedAt)}, ${micros(atMicros)}, ${id}) or p.pinned_at is null)`,
    );
  }
  return q
    .orderBy(sql`p.pinned_at desc nulls last`)
    .orderBy(activity, 'desc')
    .orderBy('c.id', 'desc')
    .limit(opts.limit)
    .execute();
}

/** Participants of the given conversations, with their user rows, by join order. */
export async function participantsOf(db: Db, conversationIds: number[]): Promise<ParticipantRow[]> {
  if (conversationIds.length === 0) return [];
  return db
    .selectFrom('conversation_participants as p')
    .innerJoin('users as u', 'u.id', 'p.user_id')
    .selectAll('u')
    .select(['p.conversation_id', 'p.role', 'p.last_read_seq', 'p.last_delivered_seq', 'p.visible_from_seq'])
    .where('p.conversation_id', 'in', conversationIds)
    .orderBy('p.conversation_id')
    .orderBy('p.joined_at')
    .orderBy('u.id')
    .execute();
}

/**
 * The rosters of the conversations (absent: no such conversation). In a transaction that
 * locked the conversation rows (takeSeqs) it is the roster of the moment.
 */
export async function rostersOf(db: Db | Trx, conversationIds: number[]): Promise<Map<number, Roster>> {
  const out = new Map<number, Roster>();
  if (conversationIds.length === 0) return out;
  const rows = await db
    .selectFrom('conversations as c')
    .leftJoin('conversation_participants as p', 'p.conversation_id', 'c.id')
    .select(['c.id', 'c.roster_version', 'c.only_admins_can_post', 'p.user_id', 'p.role'])
    .where('c.id', 'in', conversationIds)
    .execute();
  for (const r of rows) {
    let roster = out.get(r.id);
    if (!roster) {
      roster = { version: Number(r.roster_version), memberIds: [], posterIds: r.only_admins_can_post ? [] : null };
      out.set(r.id, roster);
    }
    if (r.user_id === null) continue;
    roster.memberIds.push(r.user_id);
    if (roster.posterIds && r.role !== null && isAdmin(r.role)) roster.posterIds.push(r.user_id);
  }
  return out;
}

/**
 * Users who share at least one conversation with `userId` (never the user): all of them,
 * or only those among `among`.
 */
export async function contactIds(db: Db, userId: number, among?: number[]): Promise<number[]> {
  if (among && among.length === 0) return [];
  let q = db
    .selectFrom('conversation_participants as other')
    .innerJoin('conversation_participants as mine', 'mine.conversation_id', 'other.conversation_id')
    .select('other.user_id')
    .distinct()
    .where('mine.user_id', '=', userId)
    .where('other.user_id', '<>', userId);
  if (among) q = q.where('other.user_id', 'in', among);
  const rows = await q.execute();
  return rows.map((r) => r.user_id);
}

/**
 * Unread messages per conversation for `userId` (of all their conversations, or of
 * `conversationIds`): after their last_read_seq, not their own, not system messages, not
 * a call record nobody has to look at (`notSeenCall`), not deleted (for everyone, or for them).
 * Conversations with none are absent.
 */
export async function unreadCounts(db: Db, userId: number, conversationIds?: number[]): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  if (conversationIds && conversationIds.length === 0) return counts;
  let q = db
    .selectFrom('conversation_participants as p')
    .innerJoin('messages as m', 'm.conversation_id', 'p.conversation_id')
    .select(['p.conversation_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('p.user_id', '=', userId);
  if (conversationIds) q = q.where('p.conversation_id', 'in', conversationIds);
  const rows = await q
    .whereRef('m.seq', '>', 'p.last_read_seq')
    .where('m.type', '<>', 'system')
    .where(notSeenCall)
    .where((eb) => eb.or([eb('m.sender_id', 'is', null), eb('m.sender_id', '<>', userId)]))
    .where('m.deleted_at', 'is', null)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('message_hidden as h')
            .select('h.message_id')
            .whereRef('h.user_id', '=', 'p.user_id')
            .whereRef('h.message_id', '=', 'm.id'),
        ),
      ),
    )
    .groupBy('p.conversation_id')
    .orderBy('p.conversation_id')
    .execute();
  for (const r of rows) counts.set(r.conversation_id, Number(r.n));
  return counts;
}

/** Every conversation of `userId` with its last_seq and last_mod_seq, by id. */
export async function memberSeqs(db: Db, userId: number): Promise<{ id: number; last_seq: number; last_mod_seq: number }[]> {
  return db
    .selectFrom('conversation_participants as p')
    .innerJoin('conversations as c', 'c.id', 'p.conversation_id')
    .select(['c.id', 'c.last_seq', 'c.last_mod_seq'])
    .where('p.user_id', '=', userId)
    .orderBy('c.id')
    .execute();
}
