import { sql } from 'kysely';
import type { Db } from './database.js';
import type { UserRow } from './users.repository.js';

/**
 * user_blocks: one row per (blocker, blocked) pair; the primary key makes blocking
 * idempotent, the CHECK refuses a self-block, and the index on blocked_id answers "who
 * blocks this user".
 */

/** Records that `blockerId` blocks `blockedId`; false when they already did (nothing changes). */
export async function insertBlock(db: Db, blockerId: number, blockedId: number): Promise<boolean> {
  const row = await db
    .insertInto('user_blocks')
    .values({ blocker_id: blockerId, blocked_id: blockedId })
    .onConflict((oc) => oc.columns(['blocker_id', 'blocked_id']).doNothing())
    .returning('blocker_id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Lifts the block; false when there was none. */
export async function deleteBlock(db: Db, blockerId: number, blockedId: number): Promise<boolean> {
  const result = await db
    .deleteFrom('user_blocks')
    .where('blocker_id', '=', blockerId)
    .where('blocked_id', '=', blockedId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** When `blockerId` blocked `blockedId`; undefined: they do not. */
export async function blockedAt(db: Db, blockerId: number, blockedId: number): Promise<Date | undefined> {
  const row = await db
    .selectFrom('user_blocks')
    .select('created_at')
    .where('blocker_id', '=', blockerId)
    .where('blocked_id', '=', blockedId)
    .executeTakeFirst();
  return row?.created_at;
}

export interface BlockedUserRow extends UserRow {
  blocked_at: Date;
}

/** The users `blockerId` blocks, by user id, after `afterId`, at most `limit`. */
export async function listBlocked(
  db: Db,
  blockerId: number,
  opts: { afterId?: number; limit: number },
): Promise<BlockedUserRow[]> {
  let q = db
    .selectFrom('user_blocks as b')
    .innerJoin('users as u', 'u.id', 'b.blocked_id')
    .selectAll('u')
    .select('b.created_at as blocked_at')
    .where('b.blocker_id', '=', blockerId);
  if (opts.afterId !== undefined) q = q.where('b.blocked_id', '>', opts.afterId);
  return q.orderBy('b.blocked_id').limit(opts.limit).execute();
}

/** The users among `candidateIds` who block `blockedId`. */
export async function blockersAmong(db: Db, blockedId: number, candidateIds: number[]): Promise<number[]> {
  if (candidateIds.length === 0) return [];
  const rows = await db
    .selectFrom('user_blocks')
    .select('blocker_id')
    .where('blocked_id', '=', blockedId)
    // An array parameter keeps the statement's text (and its prepared plan) the same for any count.
    .where('blocker_id', '=', sql<number>`any(${candidateIds}::bigint[])`)
    .orderBy('blocker_id')
    .execute();
  return rows.map((r) => r.blocker_id);
}

/** Everyone `userId` blocks and everyone who blocks `userId`. */
export async function blockRelations(db: Db, userId: number): Promise<{ blocks: number[]; blockedBy: number[] }> {
  const rows = await db
    .selectFrom('user_blocks')
    .select(['blocker_id', 'blocked_id'])
    .where((eb) => eb.or([eb('blocker_id', '=', userId), eb('blocked_id', '=', userId)]))
    .execute();
  return {
    blocks: rows.filter((r) => r.blocker_id === userId).map((r) => r.blocked_id),
    blockedBy: rows.filter((r) => r.blocked_id === userId).map((r) => r.blocker_id),
  };
}

/**
 * A conversation's type, and whether it is a direct one whose other member blocks
 * `senderId` (always false for a group). Undefined: no such conversation.
 */
export async function directBlockOf(
  db: Db,
  conversationId: number,
  senderId: number,
): Promise<{ type: 'direct' | 'group'; blocked: boolean } | undefined> {
  return db
    .selectFrom('conversations as c')
    .select([
      'c.type',
      (eb) =>
        eb
          .exists(
            eb
              .selectFrom('conversation_participants as p')
              .innerJoin('user_blocks as b', 'b.blocker_id', 'p.user_id')
              .select('p.user_id')
              .whereRef('p.conversation_id', '=', 'c.id')
              .where('b.blocked_id', '=', senderId),
          )
          .as('blocked'),
    ])
    .where('c.id', '=', conversationId)
    .executeTakeFirst()
    .then((row) => row && { type: row.type, blocked: row.type === 'direct' && Boolean(row.blocked) });
}
