/**
 * Closed-loop message searches at a fixed concurrency for a fixed time: over HTTP against
 * natter (`GET /search/messages`), or the same SQL statements straight against the
 * database with pg (the raw baseline).
 */
import http from 'node:http';
import pg from 'pg';
import { Histogram, clock, type HistogramData } from '../lib/stats.js';

export interface SearchLoadResult {
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  /** Results returned, summed over the requests. */
  results: number;
  latency: HistogramData;
  elapsedMs: number;
}

export interface SearchHttpArgs {
  url: string;
  token: string;
  queries: string[];
  limit: number;
  concurrency: number;
  durationMs: number;
}

export interface SearchRawArgs {
  databaseUrl: string;
  /** Compiled statements, as the repository builds them for these queries. */
  statements: { sql: string; parameters: unknown[] }[];
  concurrency: number;
  durationMs: number;
}

function get(agent: http.Agent, url: URL, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${token}` }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** `concurrency` loops, each taking the next query of the list (each loop starts elsewhere in it). */
async function loop(
  concurrency: number,
  durationMs: number,
  count: number,
  one: (i: number) => Promise<{ status: string; results: number }>,
): Promise<SearchLoadResult> {
  const latency = new Histogram();
  const statuses: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let results = 0;
  const t0 = clock();
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      let i = Math.floor((lane * count) / concurrency);
      while (clock() < end) {
        const start = clock();
        try {
          const r = await one(i++ % count);
          latency.record(clock() - start);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status === '200') {
            ok++;
            results += r.results;
          } else failed++;
        } catch {
          failed++;
          statuses.error = (statuses.error ?? 0) + 1;
        }
      }
    }),
  );
  return { ok, failed, statuses, results, latency: latency.toJSON(), elapsedMs: clock() - t0 };
}

export async function searchHttpLoad(a: SearchHttpArgs): Promise<SearchLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: a.concurrency });
  const urls = a.queries.map((q) => new URL(`${a.url}/api/v1/search/messages?${new URLSearchParams({ q, limit: String(a.limit) }).toString()}`));
  try {
    return await loop(a.concurrency, a.durationMs, urls.length, async (i) => {
      const res = await get(agent, urls[i]!, a.token);
      const results = res.status === 200 ? (JSON.parse(res.body) as { results: unknown[] }).results.length : 0;
      return { status: String(res.status), results };
    });
  } finally {
    agent.destroy();
  }
}

export async function searchRawLoad(a: SearchRawArgs): Promise<SearchLoadResult> {
  const pool = new pg.Pool({ connectionString: a.databaseUrl, max: a.concurrency });
  try {
    // Connections are opened before the clock starts, as natter's pool holds them open.
    await Promise.all(Array.from({ length: a.concurrency }, () => pool.connect())).then((cs) => cs.forEach((c) => c.release()));
    return await loop(a.concurrency, a.durationMs, a.statements.length, async (i) => {
      const s = a.statements[i]!;
      const res = await pool.query(s.sql, s.parameters);
      return { status: '200', results: res.rows.length };
    });
  } finally {
    await pool.end();
  }
}
