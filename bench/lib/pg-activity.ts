/**
 * Where a spawned server's time goes on the database side: samples pg_stat_activity of
 * one database every few milliseconds (on its own connection) and counts, per statement
 * (its first characters, whitespace collapsed), how many samples found a backend running
 * it. A sample with none running means the server was doing something else then (its own
 * code, HTTP, waiting) — together the shares say which statements the wall time went to.
 * PostgreSQL only; the statements are natter's own, parameterised, so their text is stable.
 */
import pg from 'pg';

export interface ActivityProfile {
  samples: number;
  interval_ms: number;
  /** Samples in which no backend of the database ran a statement. */
  none_active: number;
  none_active_pct: number;
  /** Per statement: samples it was running in (several can run at once), and that as a percentage of all samples. */
  statements: { statement: string; samples: number; pct: number; waits: Record<string, number> }[];
}

export async function sampleActivity(databaseUrl: string, everyMs = 10): Promise<{ stop(): Promise<ActivityProfile> }> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'natter-bench-sampler' });
  await client.connect();
  const db = (await client.query<{ d: string }>('select current_database() as d')).rows[0]!.d;
  const counts = new Map<string, { samples: number; waits: Record<string, number> }>();
  let samples = 0;
  let none = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t = Date.now();
      const { rows } = await client.query<{ q: string; w: string | null }>(
        `select left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as q, wait_event_type || ':' || wait_event as w
           from pg_stat_activity
          where datname = $1 and state = 'active' and pid <> pg_backend_pid() and application_name <> 'natter-bench-sampler'`,
        [db],
      );
      samples++;
      if (rows.length === 0) none++;
      for (const r of rows) {
        const c = counts.get(r.q) ?? { samples: 0, waits: {} };
        c.samples++;
        const w = r.w ?? 'cpu';
        c.waits[w] = (c.waits[w] ?? 0) + 1;
        counts.set(r.q, c);
      }
      const left = everyMs - (Date.now() - t);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await client.end();
      const share = (n: number) => (samples ? Math.round((n / samples) * 1000) / 10 : 0);
      return {
        samples,
        interval_ms: everyMs,
        none_active: none,
        none_active_pct: share(none),
        statements: [...counts]
          .map(([statement, c]) => ({ statement, samples: c.samples, pct: share(c.samples), waits: c.waits }))
          .sort((a, b) => b.samples - a.samples),
      };
    },
  };
}
