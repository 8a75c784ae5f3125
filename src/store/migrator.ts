import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { sql } from 'kysely';
import type { Database, Db } from './database.js';

/**
 * Runs the plain-SQL migrations in golang-migrate's layout and bookkeeping, so the
 * official `migrate` tool and this one can take turns on the same database:
 *
 * - files `NNNNNN_name.up.sql` / `NNNNNN_name.down.sql`;
 * - table `schema_migrations(version bigint primary key, dirty boolean)` holding one row,
 *   the current version (no row = nothing applied);
 * - before a file runs the row says (version, dirty=true); after it succeeds, dirty=false.
 *   A failed file leaves the database dirty, and every command but `force` refuses to run
 *   until someone has looked.
 *
 * Unlike golang-migrate, each file runs inside a transaction together with its
 * "clean" mark, so a failing file leaves no half-applied schema behind.
 * All commands hold a PostgreSQL advisory lock, so nodes starting together migrate once.
 */

/** The project's migrations/ folder, beside src/ (and beside dist/ once built). */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

export interface MigrationFile {
  version: number;
  name: string;
  upPath: string;
  downPath: string;
}

export interface MigrationState {
  version: number | null;
  dirty: boolean;
}

const FILE_PATTERN = /^(\d+)_(.+)\.(up|down)\.sql$/;
// Arbitrary but fixed: identifies natter's migration lock among advisory locks.
const LOCK_KEY = 7_261_033_245;

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Reads and checks the migrations folder: every version has exactly one up and one down file. */
export function listMigrations(dir: string): MigrationFile[] {
  const byVersion = new Map<number, Partial<MigrationFile> & { name: string }>();
  for (const file of readdirSync(dir)) {
    const m = FILE_PATTERN.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    const entry = byVersion.get(version) ?? { name: m[2]! };
    if (entry.name !== m[2]) {
      throw new MigrationError(`migration ${version} has two names: ${entry.name} and ${m[2]}`);
    }
    entry[m[3] === 'up' ? 'upPath' : 'downPath'] = path.join(dir, file);
    byVersion.set(version, entry);
  }
  return [...byVersion.entries()]
    .sort(([a], [b]) => a - b)
    .map(([version, e]) => {
      if (!e.upPath || !e.downPath) {
        throw new MigrationError(`migration ${version}_${e.name} needs both an .up.sql and a .down.sql file`);
      }
      return { version, name: e.name, upPath: e.upPath, downPath: e.downPath };
    });
}

/**
 * Writes an empty up/down pair numbered one past the highest version (six digits, as
 * `migrate create -seq -digits 6`). Returns the two paths.
 */
export function createMigration(dir: string, name: string): [string, string] {
  if (!/^[a-z0-9_]+$/i.test(name)) {
    throw new MigrationError('a migration name may hold only letters, digits and underscores');
  }
  const last = listMigrations(dir).at(-1)?.version ?? 0;
  const prefix = String(last + 1).padStart(6, '0');
  const up = path.join(dir, `${prefix}_${name}.up.sql`);
  const down = path.join(dir, `${prefix}_${name}.down.sql`);
  writeFileSync(up, '', { flag: 'wx' });
  writeFileSync(down, '', { flag: 'wx' });
  return [up, down];
}

export class Migrator {
  private readonly files: MigrationFile[];

  constructor(
    private readonly database: Database,
    dir: string,
  ) {
    this.files = listMigrations(dir);
  }

  /** The highest version among the files (0 when the folder is empty). */
  get latest(): number {
    return this.files.at(-1)?.version ?? 0;
  }

  async state(): Promise<MigrationState> {
    return this.locked((conn) => readState(conn));
  }

  /** Applies the next `steps` pending migrations (all when undefined). Returns versions applied. */
  async up(steps?: number): Promise<number[]> {
    return this.locked(async (conn) => {
      const current = await cleanVersion(conn);
      const pending = this.files.filter((f) => f.version > current);
      const batch = steps === undefined ? pending : pending.slice(0, steps);
      for (const file of batch) await this.apply(conn, file, 'up');
      return batch.map((f) => f.version);
    });
  }

  /** Rolls back the last `steps` applied migrations (all when undefined). Returns versions undone. */
  async down(steps?: number): Promise<number[]> {
    return this.locked(async (conn) => {
      const current = await cleanVersion(conn);
      const applied = this.files.filter((f) => f.version <= current).reverse();
      const batch = steps === undefined ? applied : applied.slice(0, steps);
      for (const file of batch) await this.apply(conn, file, 'down');
      return batch.map((f) => f.version);
    });
  }

  /** Migrates up or down until `version` is current (0 = nothing applied). */
  async goto(version: number): Promise<void> {
    if (version !== 0 && !this.files.some((f) => f.version === version)) {
      throw new MigrationError(`there is no migration ${version}`);
    }
    await this.locked(async (conn) => {
      const current = await cleanVersion(conn);
      if (version > current) {
        for (const f of this.files.filter((f) => f.version > current && f.version <= version)) {
          await this.apply(conn, f, 'up');
        }
      } else {
        for (const f of this.files.filter((f) => f.version <= current && f.version > version).reverse()) {
          await this.apply(conn, f, 'down');
        }
      }
    });
  }

  /** Records `version` as current and clean without running anything (0 = nothing applied). */
  async force(version: number): Promise<void> {
    if (!Number.isInteger(version) || version < 0) throw new MigrationError('force needs a version ≥ 0');
    await this.locked((conn) => writeState(conn, version === 0 ? null : version, false));
  }

  private async apply(conn: Db, file: MigrationFile, direction: 'up' | 'down'): Promise<void> {
    const script = readFileSync(direction === 'up' ? file.upPath : file.downPath, 'utf8');
    const previous = this.files[this.files.indexOf(file) - 1]?.version ?? null;
    const after = direction === 'up' ? file.version : previous;
    // The transaction rolls back on failure, so the schema is still where it was before the file.
    const before = direction === 'up' ? previous : file.version;
    await writeState(conn, file.version, true);
    try {
      await conn.transaction().execute(async (trx) => {
        if (script.trim() !== '') await this.database.runScript(trx, script);
        await writeState(trx, after, false);
      });
    } catch (err) {
      throw new MigrationError(
        `migration ${file.version}_${file.name} (${direction}) failed: ${(err as Error).message}. ` +
          `The database is marked dirty at version ${file.version}; nothing of this file was applied. ` +
          `Fix the file, then run \`natter migrate force ${before ?? 0}\` and try again.`,
      );
    }
  }

  /** Runs `fn` on one connection holding the migration lock. */
  private async locked<T>(fn: (conn: Db) => Promise<T>): Promise<T> {
    return this.database.db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(${LOCK_KEY})`.execute(conn);
      try {
        await sql`create table if not exists schema_migrations (version bigint not null primary key, dirty boolean not null)`.execute(
          conn,
        );
        return await fn(conn);
      } finally {
        await sql`select pg_advisory_unlock(${LOCK_KEY})`.execute(conn);
      }
    });
  }
}

async function readState(conn: Db): Promise<MigrationState> {
  const row = await conn.selectFrom('schema_migrations').select(['version', 'dirty']).limit(1).executeTakeFirst();
  return row ? { version: Number(row.version), dirty: row.dirty } : { version: null, dirty: false };
}

async function cleanVersion(conn: Db): Promise<number> {
  const state = await readState(conn);
  if (state.dirty) {
    throw new MigrationError(
      `the database is dirty at version ${state.version}: a migration failed part-way. ` +
        'Check the schema, then run `natter migrate force <version>` with the version it really is at.',
    );
  }
  return state.version ?? 0;
}

/** golang-migrate's SetVersion: the table holds at most one row. */
async function writeState(conn: Db, version: number | null, dirty: boolean): Promise<void> {
  await conn.deleteFrom('schema_migrations').execute();
  if (version !== null) await conn.insertInto('schema_migrations').values({ version, dirty }).execute();
}
