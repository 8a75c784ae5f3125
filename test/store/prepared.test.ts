import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLAN_EACH_CALL, preparingPool } from '../../src/store/prepared.js';
import { testDatabaseUrl } from '../harness/postgres.js';

const url = testDatabaseUrl();

describe.skipIf(!url)(url ? 'named prepared statements on PostgreSQL' : 'prepared statements: needs PostgreSQL', () => {
  const table = `prep_${randomBytes(4).toString('hex')}`;
  const open: Kysely<any>[] = [];
  // One connection each, so pg_prepared_statements shows everything the wrapper prepared.
  const connect = (maxStatements: number) => {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: preparingPool(pool, { maxParams: 3, maxStatements }) }) });
    open.push(db);
    return db;
  };
  const prepared = async (db: Kysely<any>) =>
    (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db)).rows.map((r) => r.statement);
  const byId = (db: Kysely<any>, id: number) => db.selectFrom(table).selectAll().where('id', '=', id).execute();

  beforeAll(async () => {
    const db = connect(100);
    await sql.raw(`create table ${table} (id int primary key, a text)`).execute(db);
    await sql.raw(`insert into ${table} values (1, 'one'), (2, 'two')`).execute(db);
  });
  afterAll(async () => {
    await sql.raw(`drop table if exists ${table}`).execute(open[0]!);
    await Promise.all(open.map((db) => db.destroy()));
  });

  test('a query with parameters is prepared once and answers correctly every time', async () => {
    const db = connect(100);
    expect(await byId(db, 1)).toEqual([{ id: 1, a: 'one' }]);
    expect(await byId(db, 2)).toEqual([{ id: 2, a: 'two' }]);
    const statements = await prepared(db);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toContain(`from "${table}" where "id" = $1`);
  });

  test('queries past the parameter bound or the statement bound run unnamed and still answer', async () => {
    const db = connect(3);
    const some = await db.selectFrom(table).select('id').where('id', 'in', [1, 2, 3, 4]).orderBy('id').execute();
    expect(some).toEqual([{ id: 1 }, { id: 2 }]);
    for (let i = 0; i < 5; i++) {
      const { rows } = await sql<Record<string, number>>`select ${i}::int * 2 as ${sql.ref(`n${i}`)}`.execute(db);
      expect(rows).toEqual([{ [`n${i}`]: i * 2 }]);
    }
    const statements = await prepared(db);
    expect(statements).toHaveLength(3);
    expect(statements.some((s) => s.includes(' in ('))).toBe(false);
  });

  test('a statement that begins with PLAN_EACH_CALL stays unnamed, so it is planned with its values each time', async () => {
    const db = connect(100);
    for (let i = 1; i <= 7; i++) {
      const { rows } = await sql<{ a: string }>`${sql.raw(PLAN_EACH_CALL)} select a from ${sql.table(table)} where id = ${(i % 2) + 1}`.execute(db);
      expect(rows).toEqual([{ a: i % 2 ? 'two' : 'one' }]);
    }
    expect(await prepared(db)).toEqual([]);
  });

  test('a column added under a prepared select * shows up instead of failing', async () => {
    const db = connect(100);
    expect(await byId(db, 1)).toEqual([{ id: 1, a: 'one' }]);
    await sql.raw(`alter table ${table} add column b int not null default 7`).execute(db);
    expect(await byId(db, 1)).toEqual([{ id: 1, a: 'one', b: 7 }]);
  });

  test('inside a transaction a stale statement fails once; the next call prepares it afresh', async () => {
    const db = connect(100);
    expect(await byId(db, 2)).toEqual([{ id: 2, a: 'two', b: 7 }]);
    await sql.raw(`alter table ${table} add column c int not null default 8`).execute(db);
    await expect(db.transaction().execute((trx) => byId(trx, 2))).rejects.toThrow(/cached plan/);
    expect(await byId(db, 2)).toEqual([{ id: 2, a: 'two', b: 7, c: 8 }]);
  });

  test('a connection released for destruction is not handed out again', async () => {
    const pgPool = new pg.Pool({ connectionString: url, max: 1 });
    const pool = preparingPool(pgPool, { maxParams: 3, maxStatements: 10 });
    const backend = async (c: Awaited<ReturnType<typeof pool.connect>>) =>
      ((await c.query('select pg_backend_pid() as pid', [])) as { rows: { pid: number }[] }).rows[0]!.pid;
    const first = await pool.connect();
    const pid = await backend(first);
    first.release();
    const same = await pool.connect();
    expect(await backend(same)).toBe(pid);
    same.release(true);
    const fresh = await pool.connect();
    expect(await backend(fresh)).not.toBe(pid);
    fresh.release();
    await pool.end();
  });

  test('a rollback to a savepoint keeps the transaction open: a stale statement there is not retried', async () => {
    const db = connect(100);
    expect(await byId(db, 1)).toMatchObject({ 0: { id: 1 } });
    await sql.raw(`alter table ${table} add column d int not null default 9`).execute(db);
    await expect(
      db.transaction().execute(async (trx) => {
        await sql.raw('savepoint s1').execute(trx);
        await sql.raw('rollback to savepoint s1').execute(trx);
        return byId(trx, 1);
      }),
    ).rejects.toThrow(/cached plan/);
    expect(await byId(db, 1)).toEqual([expect.objectContaining({ id: 1, d: 9 })]);
  });
});
