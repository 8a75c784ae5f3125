/**
 * history: one conversation holding N messages, then REST page reads (limit=50, random
 * before_seq) at a fixed concurrency for a fixed time. With --bare (and --spawn) the same
 * reads then go to the bare history route (bench/baseline/bare-history.ts) on the same
 * database, so natter's pages/s come with the ratio to it, measured in the same run.
 */
import { createDirect, mapLimit, request, type BenchUser } from '../lib/api.js';
import { benchUsers, num, type Context } from '../lib/context.js';
import { table } from '../lib/report.js';
import { spawnBareHistory, withPg, type ServerHandle } from '../lib/spawn.js';
import { CpuMeter } from '../lib/proc.js';
import { Histogram } from '../lib/stats.js';
import type { HistoryLoadResult } from '../gen/http-load.js';

async function seedWithSql(dbUrl: string, conv: number, a: number, b: number, n: number): Promise<void> {
  await withPg(dbUrl, async (c) => {
    await c.query('begin');
    await c.query(
      `insert into messages (conversation_id, seq, mod_seq, sender_id, type, content, created_at, updated_at)
       select $1, g, g, case when g % 2 = 0 then $2::bigint else $3::bigint end, 'text',
              'history message ' || g || ': the quick brown fox jumps over the lazy dog',
              now() - make_interval(secs => $4 - g), now() - make_interval(secs => $4 - g)
       from generate_series(1, $4::int) g`,
      [conv, a, b, n],
    );
    await c.query('update conversations set last_seq = $2, last_mod_seq = $2, last_message_at = now() where id = $1', [conv, n]);
    await c.query('commit');
    await c.query('analyze messages');
  });
}

/** The seeded conversation: its reader (whose token the reads carry), the other member, its size. */
export interface SeededHistory {
  reader: BenchUser;
  other: BenchUser;
  conv: number;
  messages: number;
  seeding: 'sql' | 'rest';
  seed_seconds: number;
}

/** Creates the conversation and fills it: with one SQL statement on a spawned PostgreSQL, else over REST. */
export async function seedHistory(ctx: Context): Promise<SeededHistory> {
  const n = num(ctx.opts, 'messages', 100_000);
  const [a, b] = (await benchUsers(ctx, 2, `bh${ctx.run}u`)) as [BenchUser, BenchUser];
  const conv = await createDirect(ctx.target, a, b);
  const t0 = Date.now();
  const dbUrl = ctx.server?.database.url;
  const seeding = dbUrl && !ctx.opts['seed-rest'] ? 'sql' : 'rest';
  if (dbUrl && seeding === 'sql') {
    console.log(`seeding ${n} messages with SQL…`);
    await seedWithSql(dbUrl, conv, a.id, b.id, n);
  } else {
    console.log(`seeding ${n} messages over REST (64 concurrent)…`);
    await mapLimit(Array.from({ length: n }, (_, i) => i), 64, async (i) => {
      const u = i % 2 ? a : b;
      const res = await request(ctx.target, 'POST', `/conversations/${conv}/messages`, { content: `history message ${i}` }, u.token);
      if (res.status !== 201 && res.status !== 200) throw new Error(`seeding: HTTP ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`);
    });
  }
  const seedS = (Date.now() - t0) / 1000;
  console.log(`seeded in ${seedS.toFixed(1)} s`);
  return { reader: a, other: b, conv, messages: n, seeding, seed_seconds: Math.round(seedS * 10) / 10 };
}

export type HistoryFigures = Awaited<ReturnType<typeof readHistory>>;

/** Closed-loop page reads from the generators against `url` for --seconds at --concurrency. */
export async function readHistory(ctx: Context, url: string, serverPid: number | undefined, seeded: SeededHistory) {
  const seconds = num(ctx.opts, 'seconds', 10);
  const concurrency = Math.max(1, num(ctx.opts, 'concurrency', 32));
  const limit = num(ctx.opts, 'limit', 50);
  console.log(`reading ${url} for ${seconds} s at concurrency ${concurrency}…`);
  const cpu = new CpuMeter(serverPid);
  cpu.start();
  const per = Math.ceil(concurrency / ctx.pool.size);
  const results = await ctx.pool.all<HistoryLoadResult>('history', (w) => ({
    url,
    token: seeded.reader.token,
    convId: seeded.conv,
    maxSeq: seeded.messages,
    limit,
    concurrency: Math.max(1, Math.min(per, concurrency - per * w)),
    durationMs: seconds * 1000,
  }));
  const cpuFig = cpu.stop();
  const lat = new Histogram();
  for (const r of results) lat.merge(r.latency);
  const ok = results.reduce((s, r) => s + r.ok, 0);
  const elapsed = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
  const bytes = results.reduce((s, r) => s + r.bytes, 0);
  const statuses: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const figures = {
    requests_ok: ok,
    requests_failed: results.reduce((s, r) => s + r.failed, 0),
    wrong_pages: results.reduce((s, r) => s + r.wrongPages, 0),
    statuses,
    requests_per_s: Math.round(ok / elapsed),
    latency: lat.summary(),
    mb_per_s: Math.round((bytes / elapsed / 2 ** 20) * 10) / 10,
    bytes_per_page: ok ? Math.round(bytes / ok) : null,
    server_cpu_s: cpuFig.server_cpu_s,
    server_cpu_ms_per_request: cpuFig.server_cpu_s !== null && ok ? Math.round((cpuFig.server_cpu_s / ok) * 1e5) / 100 : null,
    machine_busy_pct: cpuFig.machine_busy_pct,
  };
  const s = figures.latency;
  console.log(`\n${table([{ 'req/s': figures.requests_per_s, p50: s.p50_ms, p95: s.p95_ms, p99: s.p99_ms, max: s.max_ms, 'MB/s': figures.mb_per_s, 'B/page': figures.bytes_per_page, 'cpu ms/req': figures.server_cpu_ms_per_request, 'busy%': figures.machine_busy_pct, failed: figures.requests_failed, 'wrong pages': figures.wrong_pages }])}`);
  return figures;
}

/**
 * Stops natter (PGlite allows one process per directory; on PostgreSQL it leaves the
 * machine to the bare route alone, as natter had it) and reads the same conversation
 * through the bare history route.
 */
export async function readBareHistory(ctx: Context, natter: ServerHandle, seeded: SeededHistory): Promise<HistoryFigures> {
  await natter.stop();
  const bare = await spawnBareHistory(natter.database, seeded.reader.id, [seeded.reader.id, seeded.other.id]);
  console.log(`bare history route pid ${bare.pid} at ${bare.url}`);
  try {
    return await readHistory(ctx, bare.url, bare.pid, seeded);
  } finally {
    await bare.stop();
  }
}

export async function history(ctx: Context) {
  if (ctx.opts.bare && !ctx.server) throw new Error('history --bare needs --spawn: the bare route opens the database natter was seeded on');
  const seeded = await seedHistory(ctx);
  const figures = await readHistory(ctx, ctx.target, ctx.serverPid, seeded);
  const bare = ctx.opts.bare && ctx.server ? await readBareHistory(ctx, ctx.server, seeded) : undefined;
  const ratio = bare?.requests_per_s ? Math.round((figures.requests_per_s / bare.requests_per_s) * 100) / 100 : null;
  if (bare) console.log(`\nnatter / bare history route: ${ratio ?? '–'} (pages/s ${figures.requests_per_s} / ${bare.requests_per_s})`);
  const { reader: _r, other: _o, ...seed } = seeded;
  const parameters = { messages: seeded.messages, seconds: num(ctx.opts, 'seconds', 10), concurrency: Math.max(1, num(ctx.opts, 'concurrency', 32)), limit: num(ctx.opts, 'limit', 50) };
  return {
    parameters,
    figures: { seeded_messages: seed.messages, seeding: seed.seeding, seed_seconds: seed.seed_seconds, ...figures },
    ...(bare ? { bare_route: bare, natter_over_bare_pages_per_s: ratio } : {}),
  };
}
