import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/app.js';
import type { Database } from '../../src/store/database.js';
import { createMigration, listMigrations, MigrationError, Migrator } from '../../src/store/migrator.js';
import { testDatabase } from '../harness/app.js';
import { ALL_TABLES } from '../harness/schema.js';


async function tables(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'
    order by table_name`.execute(db);
  return rows.map((r) => r.name);
}

async function columns(db: Kysely<any>, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select column_name as name from information_schema.columns
    where table_schema = current_schema() and table_name = ${table}
    order by column_name`.execute(db);
  return rows.map((r) => r.name);
}

async function indexes(db: Kysely<any>, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select indexname as name from pg_indexes
    where schemaname = current_schema() and tablename = ${table}
    order by indexname`.execute(db);
  return rows.map((r) => r.name);
}

/** Every row of schema_migrations, as golang-migrate would read them. */
async function versionRows(db: Kysely<any>): Promise<{ version: number; dirty: boolean }[]> {
  const { rows } = await sql<{ version: number; dirty: boolean }>`select version, dirty from schema_migrations`.execute(db);
  return rows;
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'natter-migrations-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), body);
}

describe('on the real migrations', () => {
  let database: Database;
  let migrator: Migrator;
  beforeEach(async () => {
    database = await testDatabase('empty');
    migrator = new Migrator(database, MIGRATIONS_DIR);
  });
  afterEach(() => database?.close());

  test('up, down all, up again on an empty database', async () => {
    const db = database.db;
    expect(migrator.latest).toBe(10);
    expect(await migrator.state()).toEqual({ version: null, dirty: false });
    expect(await tables(db)).toEqual(['schema_migrations']);
    expect(await versionRows(db)).toEqual([]);

    expect(await migrator.up()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await tables(db)).toEqual(ALL_TABLES);
    expect(await columns(db, 'messages')).toContain('search');
    expect(await versionRows(db)).toEqual([{ version: 10, dirty: false }]);
    expect(await migrator.state()).toEqual({ version: 10, dirty: false });
    expect(await migrator.up()).toEqual([]);

    expect(await migrator.down()).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(await tables(db)).toEqual(['schema_migrations']);
    expect(await versionRows(db)).toEqual([]);
    expect(await migrator.state()).toEqual({ version: null, dirty: false });
    expect(await migrator.down()).toEqual([]);

    expect(await migrator.up()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await tables(db)).toEqual(ALL_TABLES);
    expect(await versionRows(db)).toEqual([{ version: 10, dirty: false }]);
  });

  test('schema_migrations has the columns golang-migrate expects', async () => {
    await migrator.up(1);
    const { rows } = await sql<{ column_name: string; data_type: string; is_nullable: string }>`
      select column_name, data_type, is_nullable from information_schema.columns
      where table_schema = current_schema() and table_name = 'schema_migrations' order by ordinal_position`.execute(
      database.db,
    );
    expect(rows).toEqual([
      { column_name: 'version', data_type: 'bigint', is_nullable: 'NO' },
      { column_name: 'dirty', data_type: 'boolean', is_nullable: 'NO' },
    ]);
  });

  test('up N and down N move that many steps', async () => {
    const db = database.db;
    expect(await migrator.up(1)).toEqual([1]);
    expect(await versionRows(db)).toEqual([{ version: 1, dirty: false }]);
    expect(await tables(db)).toContain('messages');
    expect(await columns(db, 'messages')).not.toContain('search');

    expect(await migrator.up(1)).toEqual([2]);
    expect(await versionRows(db)).toEqual([{ version: 2, dirty: false }]);
    expect(await columns(db, 'messages')).toContain('search');
    expect(await columns(db, 'messages')).not.toContain('attachments');
    expect(await migrator.up(2)).toEqual([3, 4]);
    expect(await columns(db, 'messages')).toContain('attachments');
    expect(await columns(db, 'attachments')).toContain('uploader_id');
    expect(await columns(db, 'messages')).toContain('mod_seq');
    expect(await columns(db, 'messages')).not.toContain('system');
    expect(await migrator.up(1)).toEqual([5]);
    expect(await columns(db, 'messages')).toContain('system');
    expect(await tables(db)).toContain('conversation_invites');
    expect(await columns(db, 'conversations')).not.toContain('roster_version');
    expect(await migrator.up(1)).toEqual([6]);
    expect(await columns(db, 'conversations')).toContain('roster_version');
    expect(await tables(db)).not.toContain('push_devices');
    expect(await migrator.up(1)).toEqual([7]);
    expect(await columns(db, 'push_devices')).toEqual(expect.arrayContaining(['session_id', 'platform', 'address', 'subscription']));
    expect(await tables(db)).toContain('push_tokens');
    expect(await migrator.up(1)).toEqual([8]);
    expect(await columns(db, 'push_outbox')).toEqual(expect.arrayContaining(['device_id', 'last_seq', 'due_at', 'claim']));
    expect(await tables(db)).not.toContain('push_tokens');
    expect(await columns(db, 'sessions')).not.toContain('device_id');
    expect(await migrator.up(1)).toEqual([9]);
    expect(await columns(db, 'sessions')).toContain('device_id');
    expect(await columns(db, 'messages')).toContain('call');
    expect(await indexes(db, 'messages')).not.toContain('messages_call_id_idx');
    expect(await migrator.up(5)).toEqual([10]);
    expect(await indexes(db, 'messages')).toEqual(expect.arrayContaining(['messages_call_id_idx', 'messages_open_call_idx']));
    expect(await migrator.up(5)).toEqual([]);

    expect(await migrator.down(1)).toEqual([10]);
    expect(await indexes(db, 'messages')).not.toContain('messages_call_id_idx');
    expect(await migrator.down(1)).toEqual([9]);
    expect(await columns(db, 'messages')).not.toContain('call');
    expect(await migrator.down(1)).toEqual([8]);
    expect(await tables(db)).not.toContain('push_outbox');
    expect(await tables(db)).toContain('push_tokens');
    expect(await migrator.down(1)).toEqual([7]);
    expect(await tables(db)).not.toContain('push_devices');
    expect(await migrator.down(1)).toEqual([6]);
    expect(await columns(db, 'conversations')).not.toContain('roster_version');
    expect(await migrator.down(1)).toEqual([5]);
    expect(await columns(db, 'messages')).not.toContain('system');
    expect(await columns(db, 'conversation_participants')).toContain('muted');
    expect(await migrator.down(1)).toEqual([4]);
    expect(await columns(db, 'messages')).not.toContain('mod_seq');
    expect(await migrator.down(1)).toEqual([3]);
    expect(await columns(db, 'attachments')).toContain('owner_id');
    expect(await migrator.down(1)).toEqual([2]);
    expect(await versionRows(db)).toEqual([{ version: 1, dirty: false }]);
    expect(await columns(db, 'messages')).not.toContain('search');
    expect(await migrator.down(1)).toEqual([1]);
    expect(await versionRows(db)).toEqual([]);
    expect(await tables(db)).toEqual(['schema_migrations']);
    expect(await migrator.down(1)).toEqual([]);

    expect(await migrator.up(0)).toEqual([]);
    expect(await migrator.up(10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await migrator.down(10)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(await versionRows(db)).toEqual([]);
  });

  test('goto migrates up and down, 0 empties the schema', async () => {
    const db = database.db;
    await migrator.goto(1);
    expect(await versionRows(db)).toEqual([{ version: 1, dirty: false }]);
    expect(await columns(db, 'messages')).not.toContain('search');

    await migrator.goto(2);
    expect(await versionRows(db)).toEqual([{ version: 2, dirty: false }]);
    expect(await columns(db, 'messages')).toContain('search');

    await migrator.goto(2);
    expect(await versionRows(db)).toEqual([{ version: 2, dirty: false }]);

    await migrator.goto(1);
    expect(await versionRows(db)).toEqual([{ version: 1, dirty: false }]);
    expect(await columns(db, 'messages')).not.toContain('search');

    await migrator.goto(0);
    expect(await versionRows(db)).toEqual([]);
    expect(await tables(db)).toEqual(['schema_migrations']);

    await migrator.goto(10);
    expect(await tables(db)).toEqual(ALL_TABLES);
    await migrator.goto(0);
    expect(await tables(db)).toEqual(['schema_migrations']);

    await expect(migrator.goto(11)).rejects.toThrow(/there is no migration 11/);
    expect(await versionRows(db)).toEqual([]);
  });

  test('force records a clean version and runs nothing', async () => {
    const db = database.db;
    await migrator.force(10);
    expect(await versionRows(db)).toEqual([{ version: 10, dirty: false }]);
    expect(await tables(db)).toEqual(['schema_migrations']);
    expect(await migrator.up()).toEqual([]);

    await migrator.force(1);
    expect(await versionRows(db)).toEqual([{ version: 1, dirty: false }]);
    await migrator.force(0);
    expect(await versionRows(db)).toEqual([]);
    expect(await tables(db)).toEqual(['schema_migrations']);

    await expect(migrator.force(-1)).rejects.toThrow(MigrationError);
    await expect(migrator.force(1.5)).rejects.toThrow(MigrationError);
    expect(await versionRows(db)).toEqual([]);
  });

  test('000010 on a database whose records reuse a call_id: the first keeps it, the later get fresh ones, and a reuse is refused after', async () => {
    const db = database.db;
    await migrator.up(9);
    const { rows: users } = await sql<{ id: number }>`
      insert into users (username, email, password_hash) values ('a', 'a@example.com', 'x') returning id`.execute(db);
    const { rows: convs } = await sql<{ id: number }>`insert into conversations (type) values ('group') returning id`.execute(db);
    const [user, conv] = [users[0]!.id, convs[0]!.id];
    const call = (id: string, outcome: string) => JSON.stringify({ call_id: id, video: false, caller_id: user, outcome });
    const records: [string, string][] = [['reused', 'missed'], ['once', 'finished'], ['reused', 'finished'], ['twice', 'declined'], ['reused', 'declined'], ['twice', 'missed']];
    for (const [i, [id, outcome]] of records.entries()) {
      await sql`insert into messages (conversation_id, seq, sender_id, type, call) values (${conv}, ${i + 1}, ${user}, 'call', ${call(id, outcome)}::jsonb)`.execute(db);
    }

    expect(await migrator.up()).toEqual([10]);
    const { rows } = await sql<{ call_id: string; outcome: string }>`
      select call->>'call_id' as call_id, call->>'outcome' as outcome from messages order by seq`.execute(db);
    // Each id stays with its first record; the records and their outcomes are all there.
    expect(rows.map((r) => r.outcome)).toEqual(records.map(([, outcome]) => outcome));
    expect(rows.map((r) => r.call_id).slice(0, 2)).toEqual(['reused', 'once']);
    expect(rows[3]!.call_id).toBe('twice');
    expect(new Set(rows.map((r) => r.call_id)).size).toBe(records.length);
    for (const i of [2, 4, 5]) expect(rows[i]!.call_id).toMatch(/^[0-9a-f-]{36}$/);
    await expect(
      sql`insert into messages (conversation_id, seq, sender_id, type, call) values (${conv}, 7, ${user}, 'call', ${call('once', 'missed')}::jsonb)`.execute(db),
    ).rejects.toThrow(/messages_call_id_idx/);
  });

  test('two migrators starting together apply each file once', async () => {
    const other = new Migrator(database, MIGRATIONS_DIR);
    const results = await Promise.all([migrator.up(), other.up()]);
    expect(results.map((r) => r.join(',')).sort()).toEqual(['', '1,2,3,4,5,6,7,8,9,10']);
    expect(await versionRows(database.db)).toEqual([{ version: 10, dirty: false }]);
  });
});

describe('a failing migration', () => {
  let database: Database;
  let dir: string;
  beforeEach(async () => {
    database = await testDatabase('empty');
    dir = tempDir();
    writeFiles(dir, {
      '000001_first.up.sql': 'create table alpha (id int primary key);',
      '000001_first.down.sql': 'drop table alpha;',
      // The first statement succeeds, the second fails: the first must not survive.
      '000002_broken.up.sql': 'create table beta (id int primary key);\ninsert into no_such_table values (1);',
      '000002_broken.down.sql': 'drop table beta;',
    });
  });
  afterEach(() => database?.close());

  test('up leaves it dirty with nothing of the file applied; only force gets past; force + fix recovers', async () => {
    const db = database.db;
    const migrator = new Migrator(database, dir);
    const failure = await migrator.up().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(MigrationError);
    const message = (failure as Error).message;
    expect(message).toMatch(/migration 2_broken \(up\) failed/);
    expect(message).toMatch(/no_such_table/);
    expect(message).toMatch(/dirty at version 2/);
    // Nothing of 2 was applied, so the database really is at version 1: that is what to force.
    expect(message).toContain('natter migrate force 1');

    expect(await versionRows(db)).toEqual([{ version: 2, dirty: true }]);
    expect(await migrator.state()).toEqual({ version: 2, dirty: true });
    expect(await tables(db)).toEqual(['alpha', 'schema_migrations']);

    for (const attempt of [() => migrator.up(), () => migrator.down(), () => migrator.up(1), () => migrator.down(1), () => migrator.goto(0), () => migrator.goto(2)]) {
      await expect(attempt()).rejects.toThrow(/database is dirty at version 2.*natter migrate force/s);
    }
    expect(await versionRows(db)).toEqual([{ version: 2, dirty: true }]);
    expect(await tables(db)).toEqual(['alpha', 'schema_migrations']);

    await migrator.force(1);
    expect(await versionRows(db)).toEqual([{ version: 1, dirty: false }]);
    writeFiles(dir, { '000002_broken.up.sql': 'create table beta (id int primary key);' });
    expect(await new Migrator(database, dir).up()).toEqual([2]);
    expect(await versionRows(db)).toEqual([{ version: 2, dirty: false }]);
    expect(await tables(db)).toEqual(['alpha', 'beta', 'schema_migrations']);
  });

  test('a failing down file leaves it dirty with nothing undone; its hint is the version it is really at', async () => {
    const db = database.db;
    writeFiles(dir, {
      '000002_broken.up.sql': 'create table beta (id int primary key);',
      '000002_broken.down.sql': 'drop table beta;\ndrop table no_such_table;',
    });
    const migrator = new Migrator(database, dir);
    expect(await migrator.up()).toEqual([1, 2]);
    const failure = await migrator.down(1).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(MigrationError);
    expect((failure as Error).message).toMatch(/migration 2_broken \(down\) failed/);
    expect((failure as Error).message).toContain('natter migrate force 2');
    expect(await versionRows(db)).toEqual([{ version: 2, dirty: true }]);
    expect(await tables(db)).toEqual(['alpha', 'beta', 'schema_migrations']);
    await expect(migrator.up()).rejects.toThrow(/dirty/);

    await migrator.force(2);
    writeFiles(dir, { '000002_broken.down.sql': 'drop table beta;' });
    expect(await migrator.down()).toEqual([2, 1]);
    expect(await versionRows(db)).toEqual([]);
    expect(await tables(db)).toEqual(['schema_migrations']);
  });

  test('a file may hold several statements and may be empty', async () => {
    writeFiles(dir, {
      '000002_broken.up.sql': 'create table beta (id int);\ncreate table gamma (id int);\n-- done\n',
      '000003_nothing.up.sql': '\n',
      '000003_nothing.down.sql': '',
    });
    const migrator = new Migrator(database, dir);
    expect(await migrator.up()).toEqual([1, 2, 3]);
    expect(await tables(database.db)).toEqual(['alpha', 'beta', 'gamma', 'schema_migrations']);
    expect(await versionRows(database.db)).toEqual([{ version: 3, dirty: false }]);
    expect(await migrator.down(1)).toEqual([3]);
    expect(await versionRows(database.db)).toEqual([{ version: 2, dirty: false }]);
  });
});

describe('migration files', () => {
  test('create numbers one past the highest version, six digits, empty files', () => {
    const dir = tempDir();
    expect(createMigration(dir, 'first').map((p) => path.basename(p))).toEqual([
      '000001_first.up.sql',
      '000001_first.down.sql',
    ]);
    writeFiles(dir, { '000002_second.up.sql': 'select 1;', '000002_second.down.sql': 'select 1;' });
    const [up, down] = createMigration(dir, 'Add_reactions_2');
    expect(path.basename(up)).toBe('000003_Add_reactions_2.up.sql');
    expect(path.basename(down)).toBe('000003_Add_reactions_2.down.sql');
    expect(path.dirname(up)).toBe(dir);
    expect(readFileSync(up, 'utf8')).toBe('');
    expect(readFileSync(down, 'utf8')).toBe('');
    expect(listMigrations(dir).map((m) => [m.version, m.name])).toEqual([
      [1, 'first'],
      [2, 'second'],
      [3, 'Add_reactions_2'],
    ]);
  });

  test('create refuses names that are not letters, digits and underscores', () => {
    const dir = tempDir();
    for (const name of ['', 'two words', 'dash-ed', '../escape', 'x.up', 'naïve']) {
      expect(() => createMigration(dir, name), name).toThrow(MigrationError);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  test('listMigrations sorts by version and ignores other files', () => {
    const dir = tempDir();
    writeFiles(dir, {
      '000010_ten.up.sql': '',
      '000010_ten.down.sql': '',
      '000002_two.down.sql': '',
      '000002_two.up.sql': '',
      'README.md': '',
      '000003_three.sql': '',
    });
    expect(listMigrations(dir)).toEqual([
      { version: 2, name: 'two', upPath: path.join(dir, '000002_two.up.sql'), downPath: path.join(dir, '000002_two.down.sql') },
      { version: 10, name: 'ten', upPath: path.join(dir, '000010_ten.up.sql'), downPath: path.join(dir, '000010_ten.down.sql') },
    ]);
  });

  test('listMigrations rejects a version with only an up (or only a down) file', () => {
    const dir = tempDir();
    writeFiles(dir, { '000001_a.up.sql': '', '000001_a.down.sql': '', '000002_b.up.sql': '' });
    expect(() => listMigrations(dir)).toThrow(/migration 2_b needs both an \.up\.sql and a \.down\.sql/);
    const other = tempDir();
    writeFiles(other, { '000001_a.down.sql': '' });
    expect(() => listMigrations(other)).toThrow(MigrationError);
  });

  test('listMigrations rejects one version under two names', () => {
    const dir = tempDir();
    writeFiles(dir, { '000001_a.up.sql': '', '000001_b.down.sql': '' });
    expect(() => listMigrations(dir)).toThrow(/two names/);
  });
});

describe('bigint columns', () => {
  let database: Database;
  beforeAll(async () => {
    database = await testDatabase('migrated');
  });
  afterAll(() => database?.close());

  test('ids, seq and counts come back as JS numbers', async () => {
    const db = database.db;
    const user = await db
      .insertInto('users')
      .values({ username: 'big', email: 'big@example.com', password_hash: 'x' })
      .returning(['id'])
      .executeTakeFirstOrThrow();
    expect(typeof user.id).toBe('number');
    const conv = await db
      .insertInto('conversations')
      .values({ type: 'group', name: 'g', created_by: user.id, last_seq: 41 })
      .returning(['id', 'last_seq', 'created_by'])
      .executeTakeFirstOrThrow();
    expect(conv).toEqual({ id: expect.any(Number), last_seq: 41, created_by: user.id });
    const message = await db
      .insertInto('messages')
      .values({ conversation_id: conv.id, seq: 42, mod_seq: 42, sender_id: user.id, content: 'hi' })
      .returning(['id', 'seq', 'conversation_id', 'sender_id'])
      .executeTakeFirstOrThrow();
    for (const value of Object.values(message)) expect(typeof value).toBe('number');
    expect(message.seq).toBe(42);

    // With parameters (extended protocol) and without (simple protocol, PGlite's exec path).
    const withParams = await db.selectFrom('messages').select(['id', 'seq']).where('id', '=', message.id).executeTakeFirstOrThrow();
    expect(withParams).toEqual({ id: message.id, seq: 42 });
    const { rows } = await sql<{ id: unknown; seq: unknown; n: unknown }>`
      select id, seq, (select count(*) from messages) as n from messages`.execute(db);
    expect(rows).toEqual([{ id: message.id, seq: 42, n: 1 }]);
  });

  test('bigint arrays come back as arrays of numbers', async () => {
    const { rows } = await sql<{ ids: unknown; nested: unknown; none: unknown }>`
      select array_agg(id order by id) as ids, array[array[1, 2], array[3, null]]::bigint[] as nested,
             null::bigint[] as none
      from users`.execute(database.db);
    const [row] = rows;
    expect(row!.ids).toEqual([expect.any(Number)]);
    expect(row!.nested).toEqual([
      [1, 2],
      [3, null],
    ]);
    expect(row!.none).toBeNull();
    const withParam = await sql<{ ids: unknown }>`select array[${7}::bigint, ${8}::bigint] as ids`.execute(database.db);
    expect(withParam.rows[0]!.ids).toEqual([7, 8]);
  });
});
