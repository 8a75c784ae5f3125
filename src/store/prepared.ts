import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * Named prepared statements for Kysely on pg.
 *
 * Kysely sends every query as an unnamed statement, so PostgreSQL parses and plans it on
 * every execution. For natter's short hot queries that planning is most of the server's
 * work: a history page measured with pgbench ran 8,600/s unnamed and 25,600/s prepared on
 * the same machine. This pool wrapper gives each distinct SQL text (with parameters) a
 * name, and pg prepares it once per connection and then only binds and executes it.
 *
 * Bounds: statements with more than `maxParams` parameters (multi-row inserts, long `in`
 * lists — their text varies with their size) stay unnamed, and at most `maxStatements`
 * texts are ever named, so neither this process nor a PostgreSQL backend collects plans
 * without limit. Connection poolers in transaction mode need this off (see README).
 *
 * A statement whose best plan depends on its values stays unnamed too: its text begins
 * with PLAN_EACH_CALL. After five executions PostgreSQL may switch a named statement to
 * one generic plan made without the values, and for a full-text search that plan cannot
 * tell a word in half the messages (walk the newest first) from a word in ten (ask the
 * index); planned with its values each time, every search gets the plan for its words.
 */
export const PLAN_EACH_CALL = '/* plan each call */';

export function preparingPool(pool: pg.Pool, opts: { maxParams: number; maxStatements: number }): PostgresPool {
  const names = new Map<string, string>();
  let named = 0;
  const nameFor = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && named < opts.maxStatements) {
      name = `natter_${++named}`;
      names.set(text, name);
    }
    return name;
  };
  // Kysely keys its connection objects by client identity, so each pg client keeps one wrapper.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let wrapper = wrappers.get(client);
    if (wrapper) return wrapper;
    let inTransaction = false;
    const plain = client.query.bind(client) as (a: unknown, b?: unknown) => Promise<unknown>;
    const run = async (text: string, values: unknown[]): Promise<unknown> => {
      const name =
        values.length > 0 && values.length <= opts.maxParams && !text.startsWith(PLAN_EACH_CALL) ? nameFor(text) : undefined;
      if (!name) {
        const [, verb, next] = /^\s*(\w+)\s*(\w*)/.exec(text)?.map((w) => w.toLowerCase()) ?? [];
        if (verb === 'begin' || verb === 'start') inTransaction = true;
        // `rollback to savepoint` stays inside the transaction.
        else if (verb === 'commit' || (verb === 'rollback' && next !== 'to')) inTransaction = false;
        return plain(text, values);
      }
      try {
        return await client.query({ name, text, values });
      } catch (err) {
        if (!isStalePlan(err)) throw err;
        // A migration changed what the statement returns (a column added to a table it
        // selects with *). PostgreSQL refuses the old plan; a new name prepares it afresh
        // on every connection. Outside a transaction nothing ran, so it is safe to retry.
        names.delete(text);
        if (inTransaction) throw err;
        return run(text, values);
      }
    };
    wrapper = {
      query: ((textOrCursor: unknown, values?: readonly unknown[]) =>
        typeof textOrCursor === 'string' ? run(textOrCursor, [...(values ?? [])]) : plain(textOrCursor)) as PostgresPoolClient['query'],
      // Kysely passes true when a connection must not be reused (a failed rollback).
      release: (destroy?: boolean) => client.release(destroy),
    };
    wrappers.set(client, wrapper);
    return wrapper;
  };
  return {
    connect: async () => wrap(await pool.connect()),
    end: () => pool.end(),
    // Kysely opens a side connection with these to cancel a query whose signal aborted.
    options: pool.options,
  };
}

/**
 * PostgreSQL's answer when a prepared statement's result columns changed under it. The
 * routine name does not depend on the server's language; the message is the fallback.
 */
function isStalePlan(err: unknown): boolean {
  const e = err as { code?: string; routine?: string; message?: string };
  return (
    e.code === '0A000' &&
    (e.routine === 'RevalidateCachedQuery' || /cached plan must not change result type/.test(e.message ?? ''))
  );
}
