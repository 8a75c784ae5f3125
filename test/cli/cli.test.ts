import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { verifyPassword } from '../../src/services/passwords.js';
import { ROOT, TSX_IMPORT } from '../../support/processes.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { testDatabaseUrl, urlForDatabase, withAdmin } from '../harness/postgres.js';
import { ALL_TABLES } from '../harness/schema.js';

/** The project's migration versions, the latest, and the one `migrate create` makes next. */
const ALL_VERSIONS = [
  ...new Set(readdirSync(path.join(ROOT, 'migrations')).map((f) => Number(/^(\d+)_/.exec(f)?.[1])).filter(Number.isInteger)),
].sort((a, b) => a - b);
const LATEST = ALL_VERSIONS.at(-1)!;
const NEXT = LATEST + 1;
const NEXT_FILE = String(NEXT).padStart(6, '0');

/**
 * `natter` as a child process, on whichever database the run uses: a scratch PostgreSQL
 * database when DATABASE_URL (or TEST_DATABASE_URL) is set, otherwise PGlite in a temp
 * DATA_DIR with DATABASE_URL='' (which config reads as unset). PGlite needs a few seconds
 * per process, so each test walks through many steps on one database.
 */

const SLOW = 300_000;

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'natter-cli-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function natter(args: string[], env: Record<string, string>, cwd = ROOT): Promise<Run> {
  const base = { ...process.env };
  // The child gets exactly the database we point it at, and no loaders from the test runner.
  delete base.DATABASE_URL;
  delete base.TEST_DATABASE_URL;
  delete base.NODE_OPTIONS;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      // src/main.ts of the working directory: some tests run a copy of the project.
      ['--import', TSX_IMPORT, 'src/main.ts', ...args],
      { cwd, env: { ...base, NODE_ENV: 'test', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Expects a clean exit with exactly these stdout lines. */
async function ok(run: Promise<Run>, ...lines: string[]): Promise<Run> {
  const r = await run;
  expect(r, r.stderr).toMatchObject({ code: 0 });
  expect(r.stdout.trimEnd().split('\n')).toEqual(lines);
  return r;
}

/** Expects exit code 1 with `pattern` on stderr. */
async function fails(run: Promise<Run>, pattern: RegExp): Promise<Run> {
  const r = await run;
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(1);
  expect(r.stderr).toMatch(pattern);
  return r;
}

interface Target {
  /** DATABASE_URL and DATA_DIR for the child. */
  env: Record<string, string>;
  /** Opens the same database in this process (never while a child is using a PGlite dir). */
  open(): Promise<Database>;
}

async function scratchTarget(): Promise<Target> {
  const dataDir = tempDir();
  const server = testDatabaseUrl();
  if (!server) {
    return {
      env: { DATABASE_URL: '', DATA_DIR: dataDir },
      open: () => openDatabase({ databaseUrl: undefined, dataDir, poolSize: 1 }),
    };
  }
  const name = `natter_cli_${process.pid}_${randomBytes(3).toString('hex')}`;
  await withAdmin(server, (admin) => admin.query(`create database ${name}`));
  cleanups.push(() => withAdmin(server, (admin) => admin.query(`drop database if exists ${name} with (force)`)));
  const url = urlForDatabase(server, name);
  return {
    env: { DATABASE_URL: url, DATA_DIR: dataDir },
    open: () => openDatabase({ databaseUrl: url, dataDir: '', poolSize: 1 }),
  };
}

async function inspect<T>(target: Target, fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
  const database = await target.open();
  try {
    return await fn(database.db);
  } finally {
    await database.close();
  }
}

async function tables(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(db);
  return rows.map((r) => r.name);
}

async function versionRows(db: Kysely<any>) {
  return (await sql<{ version: number; dirty: boolean }>`select version, dirty from schema_migrations`.execute(db)).rows;
}

async function count(db: Kysely<any>, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(db);
  return rows[0]!.n;
}

describe('errors before any database is opened', () => {
  test('usage errors, bad configuration and production guards exit 1 and explain', async () => {
    const home = tempDir();
    // A folder that must not appear: none of these commands may create the embedded database.
    const dataDir = path.join(home, 'never-created');
    const env = { DATABASE_URL: '', DATA_DIR: dataDir };
    const [unknown, badConfig, prodSecret, badMigrate, prodReset] = await Promise.all([
      natter(['frobnicate'], env),
      natter(['migrate', 'version'], { ...env, PORT: 'abc', JWT_SECRET: 'short' }),
      natter(['migrate', 'version'], { ...env, NODE_ENV: 'production' }),
      natter(['migrate', 'sideways'], env),
      natter(['db', 'reset'], { ...env, NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40) }),
    ]);

    await fails(Promise.resolve(unknown), /^unknown command "frobnicate"\n\nusage: natter \[command\]/);
    expect(unknown.stderr).toContain('migrate create NAME');
    expect(unknown.stdout).toBe('');

    await fails(Promise.resolve(badConfig), /Invalid configuration/);
    expect(badConfig.stderr).toContain('PORT must be an integer, got "abc"');
    expect(badConfig.stderr).toContain('JWT_SECRET must be at least 32 characters');

    await fails(Promise.resolve(prodSecret), /JWT_SECRET must be set to your own secret when NODE_ENV=production/);

    await fails(Promise.resolve(badMigrate), /unknown migrate command "sideways"[\s\S]*usage: natter/);
    await fails(Promise.resolve(prodReset), /refusing to reset a production database without --yes/);

    expect(existsSync(dataDir)).toBe(false);
  }, 120_000);
});

describe('vapid', () => {
  test('prints a new Web Push key pair as two environment lines the config accepts, touching no database', async () => {
    const dataDir = path.join(tempDir(), 'never-created');
    const env = { DATABASE_URL: '', DATA_DIR: dataDir };
    const [first, second] = await Promise.all([natter(['vapid'], env), natter(['vapid'], env)]);
    for (const run of [first, second]) {
      expect(run, run.stderr).toMatchObject({ code: 0 });
      expect(run.stdout).toMatch(/^VAPID_PUBLIC_KEY=[A-Za-z0-9_-]{87}\nVAPID_PRIVATE_KEY=[A-Za-z0-9_-]{43}\n$/);
    }
    expect(first.stdout).not.toBe(second.stdout);
    const lines = Object.fromEntries(first.stdout.trimEnd().split('\n').map((l) => l.split('=') as [string, string]));
    expect(Buffer.from(lines.VAPID_PUBLIC_KEY!, 'base64url')).toHaveLength(65);
    expect(Buffer.from(lines.VAPID_PRIVATE_KEY!, 'base64url')).toHaveLength(32);
    expect(loadConfig({ ...lines, VAPID_SUBJECT: 'mailto:ops@example.com' })).toMatchObject({
      vapidPublicKey: lines.VAPID_PUBLIC_KEY,
      vapidPrivateKey: lines.VAPID_PRIVATE_KEY,
    });
    expect(existsSync(dataDir)).toBe(false);

    const help = await natter(['help'], env);
    expect(help.stdout).toContain('vapid ');
  }, 120_000);
});

describe('migrate', () => {
  test('version, up, create, a failing file, force, down and goto, with their output and exit codes', async () => {
    // A copy of the project, so `migrate create` and a broken migration stay out of the real folder.
    const project = tempDir();
    for (const entry of ['src', 'migrations', 'package.json', 'tsconfig.json']) {
      cpSync(path.join(ROOT, entry), path.join(project, entry), { recursive: true });
    }
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'), 'dir');
    const migrations = path.join(project, 'migrations');
    const target = await scratchTarget();
    const run = (...args: string[]) => natter(args, target.env, project);

    await ok(run('migrate', 'up', '1'), 'applied 1', 'version: 1');

    await ok(
      run('migrate', 'create', 'add_widgets'),
      path.join(migrations, `${NEXT_FILE}_add_widgets.up.sql`),
      path.join(migrations, `${NEXT_FILE}_add_widgets.down.sql`),
    );
    await fails(run('migrate', 'create', 'add-widgets'), /only letters, digits and underscores/);

    writeFileSync(
      path.join(migrations, `${NEXT_FILE}_add_widgets.up.sql`),
      'create table widgets (id bigint primary key);\nselect * from no_such_table;\n',
    );
    writeFileSync(path.join(migrations, `${NEXT_FILE}_add_widgets.down.sql`), 'drop table widgets;\n');
    const failed = await fails(run('migrate', 'up'), new RegExp(`migration ${NEXT}_add_widgets \\(up\\) failed: .*no_such_table`));
    expect(failed.stderr).toContain(`marked dirty at version ${NEXT}`);
    expect(failed.stderr).toContain(`natter migrate force ${LATEST}`);
    await ok(run('migrate', 'version'), `version: ${NEXT} (dirty)`);
    await fails(run('migrate', 'goto', '1'), new RegExp(`the database is dirty at version ${NEXT}.*natter migrate force`));

    await ok(run('migrate', 'force', String(LATEST)), `version: ${LATEST}`);
    writeFileSync(path.join(migrations, `${NEXT_FILE}_add_widgets.up.sql`), 'create table widgets (id bigint primary key);\n');
    await ok(run('migrate', 'up'), `applied ${NEXT}`, `version: ${NEXT}`);
    await inspect(target, async (db) => {
      expect(await tables(db)).toEqual(expect.arrayContaining(['users', 'messages', 'widgets', 'schema_migrations']));
      expect(await versionRows(db)).toEqual([{ version: NEXT, dirty: false }]);
    });

    await ok(run('migrate', 'down'), `rolled back ${NEXT}`, `version: ${LATEST}`);
    await ok(run('migrate', 'goto', '1'), 'version: 1');
    await ok(run('migrate', 'down', 'all'), 'rolled back 1', 'version: none');
    await inspect(target, async (db) => {
      expect(await tables(db)).toEqual(['schema_migrations']);
      expect(await versionRows(db)).toEqual([]);
    });
  }, SLOW);
});

describe('seed and db reset', () => {
  test('seed migrates and adds sample data once; db reset empties and re-migrates', async () => {
    const target = await scratchTarget();
    const run = (...args: string[]) => natter(args, target.env);

    await ok(run('seed'), 'seeded: 4 users, 3 conversations, 5 messages added (sample password: password123)');
    await ok(run('seed'), 'seeded: 0 users, 0 conversations, 0 messages added (sample password: password123)');
    await inspect(target, async (db) => {
      expect(await versionRows(db)).toEqual([{ version: LATEST, dirty: false }]);
      // The second run added nothing, so the totals are what the first run reported.
      expect(await count(db, 'users')).toBe(4);
      expect(await count(db, 'conversations')).toBe(3);
      expect(await count(db, 'messages')).toBe(5);
      expect(await count(db, 'conversation_participants')).toBe(2 + 2 + 4);
      const alice = await db.selectFrom('users').select('password_hash').where('email', '=', 'alice@example.com').executeTakeFirstOrThrow();
      expect(await verifyPassword(alice.password_hash, 'password123')).toBe(true);
      // seq is dense per conversation and last_seq matches the newest message.
      const { rows } = await sql<{ last_seq: number; max: number | null; n: number }>`
        select c.last_seq, max(m.seq) as max, count(m.id) as n
        from conversations c left join messages m on m.conversation_id = c.id
        group by c.id order by c.id`.execute(db);
      for (const row of rows) expect(row.last_seq).toBe(row.max ?? 0);
      for (const row of rows) expect(row.n).toBe(row.last_seq);
    });

    await ok(run('db', 'reset'), `database reset; applied ${ALL_VERSIONS.join(', ')}`);
    await inspect(target, async (db) => {
      expect(await tables(db)).toEqual(ALL_TABLES);
      expect(await versionRows(db)).toEqual([{ version: LATEST, dirty: false }]);
      expect(await count(db, 'users')).toBe(0);
      expect(await count(db, 'messages')).toBe(0);
    });
  }, SLOW);
});
