import { sql } from 'kysely';
import { FOREVER, MUTED_FOREVER, type MemberSettingsChange, type MemberSettingsRecord } from '../domain/member-settings.js';
import type { Db, Trx } from './database.js';

/**
 * Each member's own settings of a conversation: conversation_participants.muted_until,
 * archived and pinned_at (migrations/000005). A mute without end is stored as
 * 'infinity' and read as FOREVER, the same on both drivers (pg would read Infinity and
 * PGlite an invalid Date).
 */

/** `p.muted_until` of `conversation_participants as p`, with 'infinity' read as FOREVER. */
export const mutedUntilColumn = sql<Date | null>`case when p.muted_until = 'infinity' then timestamptz ${sql.lit(MUTED_FOREVER)} else p.muted_until end`;

const settingsColumns = [mutedUntilColumn.as('muted_until'), 'p.archived', 'p.pinned_at'] as const;

/** The member's settings, the row locked until the transaction ends; undefined: not a member. */
export async function lockMemberSettings(trx: Trx, conversationId: number, userId: number): Promise<MemberSettingsRecord | undefined> {
  return trx
    .selectFrom('conversation_participants as p')
    .select(settingsColumns)
    .where('p.conversation_id', '=', conversationId)
    .where('p.user_id', '=', userId)
    .forUpdate()
    .executeTakeFirst();
}

/**
 * Applies `change` to the member's settings and returns them as they now are; undefined:
 * not a member. Pinning keeps the pinned_at of a conversation already pinned; a mute at
 * or after FOREVER is stored as 'infinity'.
 */
export async function updateMemberSettings(
  db: Db,
  conversationId: number,
  userId: number,
  change: MemberSettingsChange,
): Promise<MemberSettingsRecord | undefined> {
  const { mutedUntil, archived, pinned } = change;
  return db
    .updateTable('conversation_participants as p')
    .set({
      ...(mutedUntil === undefined
        ? {}
        : { muted_until: mutedUntil !== null && mutedUntil >= FOREVER ? sql<Date>`'infinity'::timestamptz` : mutedUntil }),
      ...(archived === undefined ? {} : { archived }),
      ...(pinned === undefined ? {} : { pinned_at: pinned ? sql<Date>`coalesce(p.pinned_at, now())` : null }),
    })
    .where('p.conversation_id', '=', conversationId)
    .where('p.user_id', '=', userId)
    .returning(settingsColumns)
    .executeTakeFirst();
}

/**
 * The users among `userIds` who are members of the conversation and have it muted at
 * `at` (default: the database's now): muted_until later than that. By user id.
 */
export async function mutedMemberIds(db: Db, conversationId: number, userIds: number[], at?: Date): Promise<number[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .selectFrom('conversation_participants')
    .select('user_id')
    .where('conversation_id', '=', conversationId)
    // An array parameter keeps the statement's text (and its prepared plan) the same for any count.
    .where('user_id', '=', sql<number>`any(${userIds}::bigint[])`)
    .where('muted_until', '>', at ?? sql<Date>`now()`)
    .orderBy('user_id')
    .execute();
  return rows.map((r) => r.user_id);
}
