import { sql, type Selectable } from 'kysely';
import type { Db } from './database.js';
import type { SessionsTable } from './schema.js';

export type SessionRow = Selectable<SessionsTable>;

export async function insertSession(
  db: Db,
  s: { id: string; deviceId: string; userId: number; refreshHash: string; userAgent: string | null; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('sessions')
    .values({
      id: s.id,
      device_id: s.deviceId,
      user_id: s.userId,
      refresh_hash: s.refreshHash,
      user_agent: s.userAgent,
      expires_at: s.expiresAt,
    })
    .execute();
}

export async function findSession(db: Db, id: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The session's device id if it is live at `at` (exists, not revoked, not expired); undefined otherwise. */
export async function activeSessionDevice(db: Db, id: string, userId: number, at: Date): Promise<string | undefined> {
  const row = await db
    .selectFrom('sessions')
    .select('device_id')
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirst();
  return row?.device_id;
}

/**
 * Replaces the refresh hash only if it is still `expectedHash` (compare-and-set), so two
 * concurrent refreshes with one token cannot both succeed. Returns false when it lost.
 */
export async function rotateRefreshHash(
  db: Db,
  id: string,
  expectedHash: string,
  newHash: string,
  expiresAt: Date,
): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ refresh_hash: newHash, previous_hash: expectedHash, refreshed_at: sql`now()`, expires_at: expiresAt })
    .where('id', '=', id)
    .where('refresh_hash', '=', expectedHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function revokeSession(db: Db, id: string): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: sql`now()` }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

/** Which of the given sessions are live at `at` (not revoked, not expired). */
export async function liveSessionIds(db: Db, ids: string[], at: Date): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('sessions')
    .select('id')
    .where('id', 'in', ids)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', at)
    .execute();
  return new Set(rows.map((r) => r.id));
}
