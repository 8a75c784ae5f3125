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
 * analyzes it. Nodes starting together wait for the lock, look again, and find the work
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
  if (current === language) return 'current';
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${REBUILD_LOCK_KEY})`.execute(trx);
    const now = await searchColumnLanguage(trx);
    if (now === language) return 'current';
    onRebuild(now ?? null);
    await rebuildSearchColumn(trx, language);
    return 'rebuilt';
  });
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
  await sql`analyze messages (search)`.execute(trx);
}
