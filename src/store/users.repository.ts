import { sql } from 'kysely';
import type { Db } from './database.js';
import type { UsersTable } from './schema.js';
import type { Selectable } from 'kysely';

export type UserRow = Selectable<UsersTable>;

/** Thrown when an insert or update hits the unique email or username index. */
export class UniqueViolation extends Error {
  constructor(readonly field: 'email' | 'username') {
    super(`${field} already taken`);
  }
}

function translateUnique(err: unknown): never {
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e.code === '23505') {
    const where = `${e.constraint ?? ''} ${e.message ?? ''}`;
    if (where.includes('users_email_key')) throw new UniqueViolation('email');
    if (where.includes('users_username_key')) throw new UniqueViolation('username');
  }
  throw err;
}

export async function insertUser(
  db: Db,
  user: { username: string; email: string; passwordHash: string; phone: string | null; avatar: string | null },
): Promise<UserRow> {
  try {
    return await db
      .insertInto('users')
      .values({
        username: user.username,
        email: user.email,
        password_hash: user.passwordHash,
        phone: user.phone,
        avatar: user.avatar,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    translateUnique(err);
  }
}

export async function findUserById(db: Db, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Looks a user up by email or username, both case-insensitively (uses the unique indexes). */
export async function findUserByLogin(db: Db, login: string): Promise<UserRow | undefined> {
  const column = login.includes('@') ? 'email' : 'username';
  return db
    .selectFrom('users')
    .selectAll()
    .where(sql<string>`lower(${sql.ref(column)})`, '=', login.toLowerCase())
    .executeTakeFirst();
}

export async function updateUser(
  db: Db,
  id: number,
  changes: Partial<Pick<UserRow, 'username' | 'phone' | 'avatar' | 'last_seen_visibility' | 'share_read_receipts'>>,
): Promise<UserRow | undefined> {
  try {
    return await db
      .updateTable('users')
      // Named columns only, whatever else the object carries at run time.
      .set({
        username: changes.username,
        phone: changes.phone,
        avatar: changes.avatar,
        last_seen_visibility: changes.last_seen_visibility,
        share_read_receipts: changes.share_read_receipts,
        updated_at: sql`now()`,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  } catch (err) {
    translateUnique(err);
  }
}

/**
 * Users other than `excludeId`, ordered by id, starting after `afterId`; `search` matches
 * a substring of username or email, case-insensitively.
 */
export async function listUsers(
  db: Db,
  opts: { excludeId: number; search?: string; afterId?: number; limit: number },
): Promise<UserRow[]> {
  let q = db.selectFrom('users').selectAll().where('id', '<>', opts.excludeId);
  if (opts.afterId !== undefined) q = q.where('id', '>', opts.afterId);
  if (opts.search) {
    const pattern = `%${opts.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where((eb) =>
      eb.or([eb(sql`lower(username)`, 'like', pattern), eb(sql`lower(email)`, 'like', pattern)]),
    );
  }
  return q.orderBy('id').limit(opts.limit).execute();
}

/** Users among `ids` that exist. */
export async function existingUserIds(db: Db, ids: number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('users').select('id').where('id', 'in', ids).execute();
  return rows.map((r) => r.id);
}

export async function findUsersByIds(db: Db, ids: number[]): Promise<UserRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
}

/**
 * Records a presence transition with last_seen = `at` (the moment it happened). Only a
 * real change is written: undefined when the user is already in that state, so with
 * several nodes exactly one of them sees (and announces) each transition.
 */
export async function setPresence(db: Db, id: number, status: 'online' | 'offline', at: Date): Promise<UserRow | undefined> {
  return db
    .updateTable('users')
    .set({ status, last_seen: at })
    .where('id', '=', id)
    .where('status', '<>', status)
    .returningAll()
    .executeTakeFirst();
}

/** Marks everyone offline: a single node starting up has no sockets yet. Returns how many. */
export async function resetPresence(db: Db): Promise<number> {
  const result = await db.updateTable('users').set({ status: 'offline' }).where('status', '=', 'online').executeTakeFirst();
  return Number(result.numUpdatedRows);
}
