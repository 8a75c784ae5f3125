/**
 * direct: N users in pairs, one direct conversation per pair, every user connected and
 * sending to its partner at a fixed, stepped-up rate (open loop).
 *
 * `--metrics off|on|both` (with --spawn) starts natter itself: with METRICS=false, or
 * with metrics on and a scraper reading /metrics every 5 s as Prometheus would
 * (METRICS_TOKEN set for the run); `both` runs the ladder on each, every rate on both
 * sides, and gives the on/off ratios per rate.
 */
import { randomBytes } from 'node:crypto';
import { createDirect, mapLimit, type BenchUser } from '../lib/api.js';
import { benchUsers, num, startNatter, type Context } from '../lib/context.js';
import { runLadder } from '../lib/ladder.js';
import { compareOnOff } from '../lib/on-off.js';
import { startScraper } from '../lib/scraper.js';
import { waitConnected } from '../lib/steps.js';
import { split } from '../lib/workers.js';

export interface DirectHooks {
  /** After registration, before the sockets open (the push scenario registers a device per user here). */
  afterSetup?: (users: BenchUser[]) => Promise<void>;
  /** Run every rate even past the limits (a fixed-rate comparison, not a search for the knee). */
  keepGoing?: boolean;
  /** Every socket answers messages from others with `delivered` (the push scenario's fair send path). */
  ackDelivered?: boolean;
}

export async function directLadder(ctx: Context, hooks: DirectHooks = {}) {
  const users = Math.max(2, Math.floor(num(ctx.opts, 'users', 1000) / 2) * 2);
  console.log(`registering ${users} users…`);
  const t0 = Date.now();
  const all = await benchUsers(ctx, users, `bd${ctx.run}u`);
  const pairs = Array.from({ length: users / 2 }, (_, i) => [all[2 * i]!, all[2 * i + 1]!] as const);
  const convs = await mapLimit(pairs, 16, ([a, b]) => createDirect(ctx.target, a, b));
  await hooks.afterSetup?.(all);
  console.log(`setup: ${users} users, ${pairs.length} conversations in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Both ends of a pair live in the same generator process.
  const perWorker = split(pairs.map((p, i) => ({ p, conv: convs[i]! })), ctx.pool.size);
  const c0 = Date.now();
  const opened = await ctx.pool.all<{ opened: number; failed: number; errors: string[] }>('connect', (w) => ({
    url: ctx.target,
    concurrency: 100,
    ack: hooks.ackDelivered === true,
    sockets: perWorker[w]!.flatMap(({ p, conv }) => p.map((u) => ({ userId: u.id, token: u.token, convs: [conv] }))),
  }));
  const failed = opened.reduce((n, o) => n + o.failed, 0);
  if (failed) throw new Error(`${failed} sockets failed to connect: ${opened.flatMap((o) => o.errors).slice(0, 3).join('; ')}`);
  const connected = await waitConnected(ctx.pool, users);
  console.log(`${users} sockets open in ${Date.now() - c0} ms (${connected} 'connected' frames)`);
  const senders = perWorker.map((list) => list.flatMap(({ p, conv }) => p.map((u) => ({ userId: u.id, convId: conv }))));
  const ladder = await runLadder(ctx, { senders, defaultStart: 250, defaultFactor: 2, fanout: 1, keepGoing: hooks.keepGoing });
  await ctx.pool.all('close', () => ({}));
  return { users, conversations: pairs.length, senders: users, ...ladder };
}

export const METRICS_MODES = ['off', 'on', 'both'] as const;
/** How often the scraper reads /metrics: Prometheus's common scrape interval is 15 s; 5 s is a busy one. */
const SCRAPE_INTERVAL_MS = 5000;

/** One side of `--metrics`: a fresh natter with metrics off, or on and scraped, and the ladder on it. */
async function metricsSide(ctx: Context, side: 'off' | 'on', keepGoing: boolean) {
  console.log(`\n== direct, metrics ${side} ==`);
  const token = randomBytes(24).toString('base64url');
  // Nothing inherited: off is off on both ports; on is scraped on the main port with the token.
  const env = side === 'off' ? { METRICS: 'false', METRICS_PORT: '', METRICS_HOST: '', METRICS_TOKEN: '' } : { METRICS: 'true', METRICS_PORT: '', METRICS_HOST: '', METRICS_TOKEN: token };
  const server = await startNatter(ctx.opts, env);
  const scraper = side === 'on' ? startScraper(server.url, token, SCRAPE_INTERVAL_MS) : undefined;
  try {
    const ladder = await directLadder({ ...ctx, target: server.url, server, serverPid: server.pid }, { keepGoing });
    const scrapes = await scraper?.stop();
    if (scrapes) {
      if (scrapes.scrapes === 0) throw new Error(`the scraper never read /metrics (${scrapes.failures} failures)`);
      console.log(`scraper: ${scrapes.scrapes} scrapes of /metrics (${scrapes.failures} failed), p99 ${scrapes.duration.p99_ms} ms, ${scrapes.last_bytes} bytes`);
    }
    return { server_config: server.config, ladder, ...(scrapes ? { scraper: scrapes } : {}) };
  } finally {
    await scraper?.stop();
    await server.stop();
  }
}

export async function direct(ctx: Context) {
  const parameters = { users: num(ctx.opts, 'users', 1000), step_seconds: num(ctx.opts, 'step-seconds', 10) };
  const mode = ctx.opts.metrics;
  if (mode === undefined) return { parameters, ...(await directLadder(ctx)) };
  if (mode === 'off' || mode === 'on') return { parameters: { ...parameters, metrics: mode }, [`metrics_${mode}`]: await metricsSide(ctx, mode, false) };
  if (mode !== 'both') throw new Error(`--metrics must be one of ${METRICS_MODES.join(', ')}, got "${String(mode)}"`);
  // Every rate on both sides, so each has its pair.
  const off = await metricsSide(ctx, 'off', true);
  const on = await metricsSide(ctx, 'on', true);
  const per_rate = compareOnOff(off.ladder, on.ladder);
  return { parameters: { ...parameters, metrics: mode, scrape_interval_ms: SCRAPE_INTERVAL_MS }, metrics_off: off, metrics_on: on, per_rate };
}
