/**
 * search: one user in --conversations (50) conversations holding --messages (1,000,000)
 * messages of pseudo-words with Zipf-distributed frequencies, generated in SQL straight
 * into natter's scratch PostgreSQL database; then `GET /search/messages` at --concurrency
 * (8) for --seconds (10) per query kind — one word, two words, prefixes, from frequent,
 * middle and rare words — and, as the baseline, the very statement natter's repository
 * runs for the same queries, sent with pg straight to the database at the same
 * concurrency. Reported per kind: latency percentiles of both and natter/raw.
 */
import { endsInPrefix } from '../../src/domain/search.js';
import { openDatabase } from '../../src/store/database.js';
import { searchStatement } from '../../src/store/search.repository.js';
import type { SearchLoadResult } from '../gen/search-load.js';
import { createGroup, mapLimit, type BenchUser } from '../lib/api.js';
import { benchUsers, num, type Context } from '../lib/context.js';
import { CpuMeter } from '../lib/proc.js';
import { table } from '../lib/report.js';
import { withPg } from '../lib/spawn.js';
import { Histogram } from '../lib/stats.js';

/** 8 consonants × 5 vowels: syllable d (0–39) is characters 2d, 2d+1. */
const SYLLABLES = 'kakekikokulalelilolumamemimomunanenononupapepipopurarerirorusasesisosutatetitotu';

/**
 * The word of frequency rank `r` (1 = most frequent), as SQL: two syllables for the first
 * 1,600 ranks (frequent words are short), three after; the rank is scrambled first
 * (× 7919, a prime, modulo the number of such words) so that neighbouring ranks do not
 * share prefixes. Distinct for every rank up to 65,600.
 */
function wordSql(r: string): string {
  const syl = (d: string) => `substr('${SYLLABLES}', 2 * (${d}) + 1, 2)`;
  const two = `((${r}) * 7919) % 1600`;
  const three = `(((${r}) - 1600) * 7919) % 64000`;
  return `case when ${r} <= 1600 then ${syl(`${two} / 40`)} || ${syl(`${two} % 40`)}
               else ${syl(`${three} / 1600`)} || ${syl(`${three} / 40 % 40`)} || ${syl(`${three} % 40`)} end`;
}

interface Seeded {
  searcher: BenchUser;
  conversations: number[];
  messages: number;
  vocabulary: number;
  seed_seconds: number;
}

/**
 * Fills the scratch database: `n` messages, round-robin over the conversations (so seq is
 * g / conversations + 1 and ids grow with created_at, 30 s apart), each of 1–20 words
 * whose ranks are drawn as floor(V^u) for uniform u — P(rank = k) ∝ log(1 + 1/k), i.e.
 * Zipf with s = 1. Deterministic (setseed, no parallel workers). The GIN index is built
 * after the load, which is much faster than keeping it up to date row by row; then the
 * conversations' last_seq/last_mod_seq are set, mod_seq = seq as for messages that never
 * changed, and the database is vacuumed and analyzed.
 */
async function load(dbUrl: string, conversations: number[], senders: number[], n: number, vocabulary: number): Promise<void> {
  await withPg(dbUrl, async (c) => {
    await c.query(`set synchronous_commit = off`);
    await c.query(`set maintenance_work_mem = '1GB'`);
    await c.query(`set max_parallel_workers_per_gather = 0`);
    await c.query(`select setseed(0.42)`);
    await c.query(`drop index if exists messages_search_idx`);
    const words = `(select string_agg(${wordSql('d.r')}, ' ')
                      from (select floor(power(${vocabulary}, random()) + 0 * k)::int as r
                              from generate_series(1, 1 + floor(random() * 20)::int + 0 * g) k) d)`;
    let t = Date.now();
    await c.query(
      `insert into messages (conversation_id, seq, mod_seq, sender_id, type, content, created_at, updated_at)
       select ($1::bigint[])[1 + g % $2], g / $2 + 1, g / $2 + 1, ($3::bigint[])[1 + (g / $2) % 3], 'text', ${words},
              now() - make_interval(secs => ($4 - g) * 30.0), now() - make_interval(secs => ($4 - g) * 30.0)
         from generate_series(0, $4 - 1) g`,
      [conversations, conversations.length, senders, n],
    );
    console.log(`  ${n} messages inserted in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    await c.query(`create index messages_search_idx on messages using gin (search)`);
    console.log(`  GIN index built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await c.query(
      `update conversations c
          set last_seq = s.n, last_mod_seq = s.n, last_message_at = s.at, updated_at = s.at
         from (select conversation_id, max(seq) as n, max(created_at) as at from messages group by conversation_id) s
        where c.id = s.conversation_id`,
    );
    t = Date.now();
    // All tables: the participants were just inserted too, and a planner that thinks the
    // searcher is in 4 conversations, not 50, drives the search from them (one GIN scan each).
    await c.query(`vacuum (analyze)`);
    console.log(`  vacuum analyze in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  });
}

async function seed(ctx: Context, dbUrl: string): Promise<Seeded> {
  const n = num(ctx.opts, 'messages', 1_000_000);
  const count = num(ctx.opts, 'conversations', 50);
  const vocabulary = num(ctx.opts, 'vocabulary', 20_000);
  if (vocabulary < 2000 || vocabulary > 65_600) throw new Error('--vocabulary must be between 2000 and 65600');
  const [searcher, ...partners] = (await benchUsers(ctx, 3, `bs${ctx.run}u`)) as [BenchUser, BenchUser, BenchUser];
  const conversations = await mapLimit(Array.from({ length: count }, (_, i) => i), 8, (i) =>
    createGroup(ctx.target, searcher, partners, `search ${i}`),
  );
  console.log(`seeding ${n} messages in ${count} conversations (vocabulary ${vocabulary}) with SQL…`);
  const t0 = Date.now();
  await load(dbUrl, conversations, [searcher.id, ...partners.map((p) => p.id)], n, vocabulary);
  const seconds = Math.round((Date.now() - t0) / 100) / 10;
  console.log(`seeded in ${seconds} s`);
  return { searcher, conversations, messages: n, vocabulary, seed_seconds: seconds };
}

/** mulberry32: the same queries on every run. */
function prng(seedValue: number): () => number {
  let a = seedValue >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Kind {
  name: string;
  /** Ranks of the words of one query → the query. */
  make: (rank: (lo: number, hi: number) => number, word: (r: number) => string) => string;
}

const FREQUENT: [number, number] = [1, 10];
const MIDDLE: [number, number] = [100, 1000];
const RARE: [number, number] = [5000, 19_999];

const KINDS: Kind[] = [
  { name: 'one frequent (rank 1–10)', make: (rank, w) => w(rank(...FREQUENT)) },
  { name: 'one middle (100–1000)', make: (rank, w) => w(rank(...MIDDLE)) },
  { name: 'one rare (5000–20000)', make: (rank, w) => w(rank(...RARE)) },
  { name: 'two frequent (1–20)', make: (rank, w) => `${w(rank(1, 20))} ${w(rank(1, 20))}` },
  { name: 'two middle', make: (rank, w) => `${w(rank(...MIDDLE))} ${w(rank(...MIDDLE))}` },
  { name: 'two rare', make: (rank, w) => `${w(rank(...RARE))} ${w(rank(...RARE))}` },
  { name: 'prefix: 3 letters of any word', make: (rank, w) => w(rank(1, 19_999)).slice(0, 3) },
  { name: 'middle word + 3-letter prefix', make: (rank, w) => `${w(rank(...MIDDLE))} ${w(rank(1, 19_999)).slice(0, 3)}` },
];

/** --queries (20) per kind, with words read from the database (the same function made them). */
async function queries(dbUrl: string, vocabulary: number, perKind: number): Promise<Map<string, string[]>> {
  const random = prng(7);
  const ranks: number[] = [];
  const plans = KINDS.map((kind) =>
    Array.from({ length: perKind }, () => {
      const picked: number[] = [];
      kind.make(
        (lo, hi) => {
          const r = Math.min(vocabulary - 1, lo + Math.floor(random() * (hi - lo + 1)));
          picked.push(r);
          return r;
        },
        () => '',
      );
      ranks.push(...picked);
      return picked;
    }),
  );
  const words = await withPg(dbUrl, async (c) => {
    const { rows } = await c.query<{ r: number; w: string }>(`select r, ${wordSql('r')} as w from unnest($1::int[]) r`, [[...new Set(ranks)]]);
    return new Map(rows.map((row) => [Number(row.r), row.w]));
  });
  return new Map(
    KINDS.map((kind, k) => [
      kind.name,
      plans[k]!.map((picked) => {
        let i = 0;
        return kind.make(() => picked[i++]!, (r) => words.get(r)!);
      }),
    ]),
  );
}

function figuresOf(results: SearchLoadResult[]) {
  const lat = new Histogram();
  for (const r of results) lat.merge(r.latency);
  const ok = results.reduce((s, r) => s + r.ok, 0);
  const elapsed = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
  const statuses: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    requests_ok: ok,
    requests_failed: results.reduce((s, r) => s + r.failed, 0),
    statuses,
    requests_per_s: Math.round(ok / elapsed),
    results_per_request: ok ? Math.round((results.reduce((s, r) => s + r.results, 0) / ok) * 10) / 10 : null,
    latency: lat.summary(),
  };
}

/** The concurrency split over the generator processes. */
const share = (ctx: Context, concurrency: number, w: number) => {
  const per = Math.ceil(concurrency / ctx.pool.size);
  return Math.max(0, Math.min(per, concurrency - per * w));
};

export async function search(ctx: Context) {
  const dbUrl = ctx.server?.database.url;
  if (!dbUrl) {
    throw new Error('search needs --spawn on PostgreSQL (DATABASE_URL or --database-url): its messages are generated in SQL in the scratch database');
  }
  const seconds = num(ctx.opts, 'seconds', 10);
  const concurrency = Math.max(1, num(ctx.opts, 'concurrency', 8));
  const limit = num(ctx.opts, 'limit', 20);
  const perKind = num(ctx.opts, 'queries', 20);
  const seeded = await seed(ctx, dbUrl);
  const byKind = await queries(dbUrl, seeded.vocabulary, perKind);

  // The statements natter's repository runs for these queries, compiled as natter compiles them.
  const database = await openDatabase({ databaseUrl: dbUrl, dataDir: '', poolSize: 1 });
  const statements = new Map(
    [...byKind].map(([kind, qs]) => [
      kind,
      qs.map((q) => {
        const c = searchStatement({ callerId: seeded.searcher.id, language: 'simple', q, prefix: endsInPrefix(q), limit: limit + 1 }).compile(database.db);
        return { sql: c.sql, parameters: [...c.parameters] };
      }),
    ]),
  );
  await database.close();

  const plans: Record<string, { query: string; matches: number; plan: string[] }> = {};
  await withPg(dbUrl, async (c) => {
    for (const [kind, list] of statements) {
      const q = byKind.get(kind)![0]!;
      const { rows } = await c.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${list[0]!.sql}`, list[0]!.parameters);
      const prefix = endsInPrefix(q);
      const count = await c.query<{ n: string }>(
        `select count(*) as n from messages where search @@ ${prefix ? `regexp_replace(websearch_to_tsquery('simple', $1)::text, '(^|[ (])(''(?:[^'']|'''')*'')$', '\\1\\2:*')::tsquery` : `websearch_to_tsquery('simple', $1)`}`,
        [q],
      );
      plans[kind] = { query: q, matches: Number(count.rows[0]!.n), plan: rows.map((r) => r['QUERY PLAN']) };
      console.log(`\n${kind}: "${q}" matches ${plans[kind].matches} messages\n  ${plans[kind].plan.filter((l) => /Scan|Limit|Sort|Execution/.test(l)).slice(0, 6).join('\n  ')}`);
    }
  });

  const rows: Record<string, string | number | null>[] = [];
  const out: Record<string, unknown> = {};
  for (const [kind, qs] of byKind) {
    console.log(`\n${kind}: natter for ${seconds} s at concurrency ${concurrency}…`);
    const cpu = new CpuMeter(ctx.serverPid);
    cpu.start();
    const natter = figuresOf(
      await ctx.pool.all<SearchLoadResult>('searchHttp', (w) => ({
        url: ctx.target,
        token: seeded.searcher.token,
        queries: qs,
        limit,
        concurrency: share(ctx, concurrency, w),
        durationMs: seconds * 1000,
      })),
    );
    const cpuFig = cpu.stop();
    console.log(`${kind}: raw SQL for ${seconds} s at concurrency ${concurrency}…`);
    const raw = figuresOf(
      await ctx.pool.all<SearchLoadResult>('searchRaw', (w) => ({
        databaseUrl: dbUrl,
        statements: statements.get(kind)!,
        concurrency: share(ctx, concurrency, w),
        durationMs: seconds * 1000,
      })),
    );
    const ratio = (a: number | null, b: number | null) => (a !== null && b ? Math.round((a / b) * 100) / 100 : null);
    const p95Ratio = ratio(natter.latency.p95_ms, raw.latency.p95_ms);
    out[kind] = { queries: qs, natter: { ...natter, server_cpu_s: cpuFig.server_cpu_s, machine_busy_pct: cpuFig.machine_busy_pct }, raw, natter_over_raw_p50: ratio(natter.latency.p50_ms, raw.latency.p50_ms), natter_over_raw_p95: p95Ratio, explain: plans[kind] };
    rows.push({
      kind,
      matches: plans[kind]?.matches ?? null,
      'natter req/s': natter.requests_per_s,
      p50: natter.latency.p50_ms,
      p95: natter.latency.p95_ms,
      p99: natter.latency.p99_ms,
      'raw req/s': raw.requests_per_s,
      'raw p50': raw.latency.p50_ms,
      'raw p95': raw.latency.p95_ms,
      'raw p99': raw.latency.p99_ms,
      'p95 n/raw': p95Ratio,
      'p50 n/raw': ratio(natter.latency.p50_ms, raw.latency.p50_ms),
      failed: natter.requests_failed + raw.requests_failed,
      'p95<50': natter.latency.p95_ms !== null && natter.latency.p95_ms < 50 ? 'pass' : 'FAIL',
    });
  }
  console.log(`\n${table(rows)}`);
  console.log(`\nmatches: messages matching the first query of the kind; latency in ms; raw = the same statement over pg (pool of ${concurrency}), no HTTP`);
  return {
    parameters: { messages: seeded.messages, conversations: seeded.conversations.length, vocabulary: seeded.vocabulary, seconds, concurrency, limit, queries_per_kind: perKind },
    figures: { seed_seconds: seeded.seed_seconds, kinds: out },
    summary: rows,
  };
}
