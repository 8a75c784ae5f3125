import { sql } from 'kysely';
import { ConfigError } from '../config/config.js';
import type { Db, Trx } from './database.js';

/**
 * messages.search is `to_tsvector(<configuration>, content)`, a stored generated column
 * with a GIN index (migrations/000002 makes it with `simple`). Queries must parse with
 * the configuration the column was built with, so at start-up the column is made to
 * match SEARCH_LANGUAGE: rebuilt when it differs, which rewrites the messages table.
 */

// Arbitrary but fixed, and not the migrator's: identifies the search column rebuild among advisory locks.
const REBUILD_LOCK_KEY = 7_261_033_246;

/**
 * How many lexemes ANALYZE keeps statistics for is ten times this (PostgreSQL's default,
 * 100, keeps 1,000). The planner chooses between walking messages newest first and the
 * GIN index by how many messages it expects a word to match, and a word outside those
 * statistics is guessed rare: on a million messages a word in 5,000 of them, or a
 * prefix of 30,000, went to the index and took 50–175 ms where the walk takes 1–3 ms.
 * With 10,000 lexemes (ANALYZE then samples 300,000 rows) those choices came out right.
 */
export const SEARCH_STATISTICS = 1000;

/** What `ensureSearchLanguage` found. */
export type SearchColumnState = 'current' | 'rebuilt' | 'missing';

/** The text search configurations this database knows, by name. */
export async function textSearchConfigs(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select cfgname as name from pg_ts_config order by cfgname`.execute(db);
  return rows.map((r) => r.name);
}

/**
 * The configuration messages.search is built with, read from its generation expression
 * (`to_tsvector('simple'::regconfig, content)`); undefined when there is no such column
 * (migrations not applied yet), null when the expression is not of that form.
 */
export async function searchColumnLanguage(db: Db): Promise<string | null | undefined> {
  const row = await sql<{ expression: string | null }>`
    select generation_expression as expression
      from information_schema.columns
     where table_schema = current_schema() and table_name = 'messages' and column_name = 'search'`
    .execute(db)
    .then((r) => r.rows[0]);
  if (!row) return undefined;
  return /^to_tsvector\('([^']+)'::regconfig, content\)$/.exec(row.expression ?? '')?.[1] ?? null;
}

/**
 * Makes messages.search use `language`. Throws ConfigError when the database has no such
 * text search configuration (naming those it has). When the column uses another one,
 * calls `onRebuild(from)` and then, in one transaction holding an advisory lock, drops
 * and re-adds the column and its GIN index (every row's vector is computed again) and
 * analyzes it. The column's statistics target is set to SEARCH_STATISTICS either way. Nodes starting together wait for the lock, look again, and find the work
 * done: the table is rewritten once.
 */
export async function ensureSearchLanguage(
  db: Db,
  language: string,
  onRebuild: (from: string | null) => void,
): Promise<SearchColumnState> {
  const known = await textSearchConfigs(db);
  if (!known.includes(language)) {
    throw new ConfigError([
      `SEARCH_LANGUAGE "${language}" is not a text search configuration of this database (it has: ${known.join(', ')})`,
    ]);
  }
  const current = await searchColumnLanguage(db);
  if (current === undefined) return 'missing';
  if (current === language && (await searchStatisticsTarget(db)) === SEARCH_STATISTICS) return 'current';
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${REBUILD_LOCK_KEY})`.execute(trx);
    const now = await searchColumnLanguage(trx);
    if (now === language) {
      if ((await searchStatisticsTarget(trx)) !== SEARCH_STATISTICS) await collectStatistics(trx);
      return 'current';
    }
    onRebuild(now ?? null);
    await rebuildSearchColumn(trx, language);
    return 'rebuilt';
  });
}

/** messages.search's statistics target (-1: the server's default). */
async function searchStatisticsTarget(db: Db): Promise<number> {
  const { rows } = await sql<{ target: number }>`
    select coalesce(attstattarget, -1)::int as target
      from pg_attribute
     where attrelid = 'messages'::regclass and attname = 'search' and not attisdropped`.execute(db);
  return rows[0]?.target ?? -1;
}

/** Sets SEARCH_STATISTICS on messages.search and analyzes it, so the planner sees them now. */
async function collectStatistics(trx: Trx): Promise<void> {
  await sql`alter table messages alter column search set statistics ${sql.lit(SEARCH_STATISTICS)}`.execute(trx);
  await sql`analyze messages (search)`.execute(trx);
}

async function rebuildSearchColumn(trx: Trx, language: string): Promise<void> {
  // The name goes into DDL, which takes no parameters: it is checked against pg_ts_config
  // above, and against this pattern here so that nothing else can ever be spliced in.
  if (!/^[a-z_]+$/.test(language)) throw new Error(`not a text search configuration name: ${language}`);
  await sql`drop index if exists messages_search_idx`.execute(trx);
  await sql`alter table messages drop column if exists search`.execute(trx);
  await sql`alter table messages add column search tsvector
              generated always as (to_tsvector(${sql.lit(language)}::regconfig, content)) stored`.execute(trx);
  await sql`create index messages_search_idx on messages using gin (search)`.execute(trx);
  // The planner's choice between the index and a newest-first walk rests on these statistics.
  await collectStatistics(trx);
}
