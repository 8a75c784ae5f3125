import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import {
  Kysely,
  PGliteDialect,
  PostgresDialect,
  sql,
  type PGlite as PGliteClient,
  type PGliteQueryOptions,
  type PGliteQueryResults,
  type PGliteTransaction,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { preparingPool } from './prepared.js';
import type { DB } from './schema.js';

/** A database handle: the pool, or a transaction (which is one too). */
export type Db = Kysely<DB>;
/** A transaction: repository functions that must run inside one say so by taking this. */
export type Trx = Transaction<DB>;

/**
 * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws.
 * Services decide what is atomic and call this; repository functions never open a
 * transaction themselves, they take the `trx` they are handed.
 */
export function inTransaction<T>(db: Db, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return db.transaction().execute(fn);
}

export interface Database {
  readonly db: Db;
  readonly kind: 'postgres' | 'pglite';
  /** Runs a multi-statement SQL script (a migration file) on one connection. */
  runScript(db: Db, script: string): Promise<void>;
  /** True when a trivial query succeeds. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /**
   * The connection pool now (metrics): PostgreSQL's pg.Pool counts; PGlite has one
   * connection, shared in turn, and reports its size only.
   */
  pool(): { size: number; total?: number; idle?: number; waiting?: number };
  /** PGlite only: the whole data dir as a tarball (backups, test templates). */
  snapshot?(): Promise<Blob>;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; undefined selects the embedded PGlite database. */
  databaseUrl: string | undefined;
  /** Folder for PGlite's files; `memory://` keeps it in memory. */
  dataDir: string;
  poolSize: number;
  /** PostgreSQL only: named prepared statements for queries with parameters (see prepared.ts). */
  preparedStatements?: boolean;
  /** PGlite only: start from this data-dir dump (a migrated template) instead of initdb. */
  pgliteTemplate?: Blob;
}

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;

/**
 * bigint columns (ids, seq) come back as JS numbers on both drivers: ids stay far below
 * 2^53, and clients written for the seed expect integers, not strings.
 */
const parseInt8 = (value: string) => Number(value);

type Nested = string | null | Nested[];
const toNumbers = (value: Nested): unknown =>
  value === null ? null : Array.isArray(value) ? value.map(toNumbers) : Number(value);
/** bigint[] (array_agg of ids): pg's own parser yields strings; PGlite's applies parseInt8 per element. */
const parseInt8Array = (value: string) =>
  toNumbers((pg.types.getTypeParser as (oid: number, format: 'text') => (raw: string) => Nested)(INT8_ARRAY_OID, 'text')(value));

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts.poolSize, opts.preparedStatements ?? false) : openPglite(opts);
}

function openPostgres(url: string, poolSize: number, preparedStatements: boolean): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? parseInt8
          : oid === INT8_ARRAY_OID
            ? parseInt8Array
            : (pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown)) as typeof pg.types.getTypeParser,
    },
  });
  // A connection that loses its server (restart, failover, a terminated backend) must not
  // crash the process: idle ones are reported by the pool, busy ones by the client, and
  // the query in flight fails on its own. The pool replaces the connection.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const dialect = new PostgresDialect({
    pool: preparedStatements ? preparingPool(pool, { maxParams: 16, maxStatements: 200 }) : pool,
  });
  const db = new Kysely<DB>({ dialect });
  return {
    db,
    kind: 'postgres',
    runScript,
    pool: () => ({ size: poolSize, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    ping: () => ping(db),
    close: () => db.destroy(),
  };
}

async function openPglite(opts: DatabaseOptions): Promise<Database> {
  const inMemory = opts.dataDir.startsWith('memory://');
  const dataDir = inMemory ? opts.dataDir : path.resolve(opts.dataDir, 'pglite');
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  const pglite = await PGlite.create({
    dataDir,
    parsers: { [INT8_OID]: parseInt8 },
    ...(opts.pgliteTemplate ? { loadDataDir: opts.pgliteTemplate } : {}),
  });
  const db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite: scriptable(pglite) }) });
  return {
    db,
    kind: 'pglite',
    runScript,
    pool: () => ({ size: 1 }),
    ping: () => ping(db),
    close: () => db.destroy(),
    snapshot: () => pglite.dumpDataDir('none'),
  };
}

type Queryable = Pick<PGlite, 'query' | 'exec'>;

/**
 * PGlite's query() uses the extended protocol, one statement at a time; a query without
 * parameters goes through exec() instead (the simple protocol), so a migration file with
 * several statements runs as it does on PostgreSQL — inside a transaction too.
 */
function scriptable(pglite: PGlite): PGliteClient {
  const run = async <T>(
    on: Queryable,
    text: string,
    params: unknown[] | undefined,
    opts: PGliteQueryOptions | undefined,
  ): Promise<PGliteQueryResults<T>> => {
    if (params && params.length > 0) return on.query<T>(text, params, opts);
    const results = await on.exec(text, opts);
    // exec() types its rows loosely; a script's last statement's rows are whatever it selected.
    return (results[results.length - 1] ?? { rows: [], fields: [], affectedRows: 0 }) as PGliteQueryResults<T>;
  };
  return {
    get closed() {
      return pglite.closed;
    },
    get ready() {
      return pglite.ready;
    },
    waitReady: pglite.waitReady,
    close: () => pglite.close(),
    query: (text, params, opts) => run(pglite, text, params, opts),
    transaction: (callback) =>
      pglite.transaction((tx) => {
        const wrapped: PGliteTransaction = {
          query: (text, params, opts) => run(tx, text, params, opts),
          rollback: () => tx.rollback(),
        };
        return callback(wrapped);
      }),
  };
}

/**
 * A query without parameters goes over the simple protocol (pg does so itself; the PGlite
 * client above routes it to exec), which runs several statements in one go, as
 * golang-migrate does.
 */
async function runScript(conn: Db, script: string): Promise<void> {
  await sql.raw(script).execute(conn);
}

async function ping(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
