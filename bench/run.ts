/**
 * natter's benchmark suite.
 *
 *   npm run bench -- <scenario> [--spawn | --target http://127.0.0.1:8080] [options]
 *   npm run bench -- chart bench/results/direct-….json [--out file.svg]
 *
 * Scenarios: direct, group, idle, history, resume, search, upload, push, calls, baseline, compare. See bench/README.md.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { TargetError } from './lib/api.js';
import { writeChart } from './lib/chart.js';
import { cleanup } from './lib/cleanup.js';
import { adminDatabaseUrl, busOf, createContext, num, type Context, type Options } from './lib/context.js';
import { writeResult } from './lib/report.js';
import { baseline } from './scenarios/baseline.js';
import { calls } from './scenarios/calls.js';
import { compare } from './scenarios/compare.js';
import { direct } from './scenarios/direct.js';
import { group } from './scenarios/group.js';
import { history } from './scenarios/history.js';
import { idle } from './scenarios/idle.js';
import { push } from './scenarios/push.js';
import { resume } from './scenarios/resume.js';
import { search } from './scenarios/search.js';
import { upload } from './scenarios/upload.js';

const SCENARIOS: Record<string, (ctx: Context) => Promise<Record<string, unknown>>> = { direct, group, idle, history, resume, search, upload, push, calls, baseline, compare };

const USAGE = `usage: npm run bench -- <scenario> [options]
       npm run bench -- chart <results.json> [--out file.svg]

scenarios: ${Object.keys(SCENARIOS).join(', ')}

server:    --spawn (start natter: scratch database from DATABASE_URL/--database-url, else PGlite)
           --target URL (default http://127.0.0.1:8080)  --server-pid PID (CPU/RSS with --target)
           --database-url URL  --bus memory|redis|nats  --keep (keep scratch database/dir)
           --cpu-prof (with --spawn or baseline: the server writes a V8 profile to bench/results/profiles/)
load:      --workers N (generator processes, default ${defaultWorkers()})
direct:    --users 1000  --rates 500,1000,…  | --start 250 --factor 2 --max-steps 8
           --step-seconds 10  --drain-seconds 10  --p99-limit 100
           --metrics off|on|both (with --spawn): natter with METRICS=false, or metrics on and /metrics scraped
           every 5 s; both: each in turn, every rate on both, on/off ratios of throughput and p99
group:     --members 500  --senders 1  (+ the rate options; default --start 5)
idle:      --connections 10000  --idle-users 500  --steps 4  --hold-seconds 5 (per step)
history:   --messages 100000  --concurrency 32  --seconds 10  --limit 50  --seed-rest
           --bare (with --spawn: then the same reads against the bare history route, and the ratio)
resume:    --missed 5000  --peers 5  --repeat 3
search:    (--spawn on PostgreSQL) --messages 1000000  --conversations 50  --vocabulary 20000  --queries 20 (per kind)
           --concurrency 8  --seconds 10 (per kind, natter then the raw statement)  --limit 20
upload:    --uploads 100  --size 10mb  --concurrency 8  --big 1gb  --skip-big  --rounds 3  --upload-dir DIR (default: OS temp dir)
           a discarding server (generator ceiling), then the bare pipeline-to-file server and natter (--spawn:
           STORAGE=local, DATA_DIR under DIR; or --target + --server-pid) in alternating rounds: MB/s,
           natter/bare, server RSS growth during the big upload. --bare-only: no natter
push:      (--spawn) --parts fanout,send  --push-concurrency N (PUSH_CONCURRENCY; default the server's)
           fanout: --recipients 10000 (offline, one FCM device each, one group)  --push-delay 1s
                   --fanout-timeout 120  --settle-seconds 3  --seed-rest (recipients over REST even on PostgreSQL)
                   --skip-analyze (PostgreSQL: no ANALYZE after the group is built: planner statistics as stale as they come)
           send:   the direct ladder at fixed rates, push off then on: --push-users 1000  --push-rates 500,1000
                   --send-push-delay 200ms  --send-acks delivered|none  --step-seconds  --drain-seconds
calls:     (--spawn) --pairs 50  --calls 20 (per pair, one after another)  --candidates 4 (per batch)  --rounds 3
           natter and the bare server relaying the same frames, in alternating rounds: calls/s, ring/answer/setup/
           hang-up latency, server CPU per call, natter/bare
baseline:  --parts ws,db (ws = ws-direct,ws-group)  --users/--members as above  --clients 4  --seconds 10
compare:   natter (spawned), the bare servers and, with --target URL, a seed-compatible server, one
           after another on the same workload: max rate at p99 < --p99-limit (50 here) and CPU per
           message of each, their ratios and the goals. --scenarios direct,direct100,group,history,idle
           direct: --users 1000 --rates …   direct100: --small-users 100 (same rates)
           group: --members 500 --senders 10 --group-rates … (default 5, 10, 20, …)
           history and idle: their options above; --server-pid PID of the target (CPU, and idle at all)
           the target's users are registered once (--setup-concurrency at a time) and reused`;

const STRING_OPTIONS = [
  'target', 'server-pid', 'database-url', 'bus', 'workers', 'out',
  'users', 'rates', 'start', 'factor', 'max-steps', 'step-seconds', 'drain-seconds', 'p99-limit', 'setup-concurrency',
  'members', 'senders', 'connections', 'idle-users', 'steps', 'hold-seconds', 'concurrency',
  'messages', 'seconds', 'limit', 'missed', 'peers', 'repeat', 'parts', 'clients',
  'scenarios', 'small-users', 'group-rates',
  'uploads', 'size', 'big', 'upload-dir', 'rounds',
  'conversations', 'vocabulary', 'queries',
  'metrics',
  'recipients', 'push-delay', 'push-concurrency', 'fanout-timeout', 'settle-seconds', 'push-users', 'push-rates', 'send-push-delay', 'send-acks',
  'pairs', 'calls', 'candidates',
];

function defaultWorkers(): number {
  return Math.max(1, Math.min(2, os.cpus().length - 1));
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      spawn: { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
      'seed-rest': { type: 'boolean' },
      bare: { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      'skip-big': { type: 'boolean' },
      'bare-only': { type: 'boolean' },
      'skip-analyze': { type: 'boolean' },
      ...Object.fromEntries(STRING_OPTIONS.map((name) => [name, { type: 'string' as const }])),
    },
  });
  const opts = values as Options;
  const [scenario, file] = positionals;
  if (!scenario || opts.help) {
    console.log(USAGE);
    return scenario ? 0 : 2;
  }
  if (scenario === 'chart') {
    if (!file) throw new Error('chart needs a results file: npm run bench -- chart bench/results/direct-….json');
    console.log(`wrote ${writeChart(file, opts.out as string | undefined)}`);
    return 0;
  }
  const fn = SCENARIOS[scenario];
  if (!fn) {
    console.error(`unknown scenario "${scenario}"\n\n${USAGE}`);
    return 2;
  }
  // The baseline and the comparison bring their own servers; --spawn does not apply to them.
  // upload starts its own too: natter with upload settings (--spawn), and its bare servers.
  // push starts its own too: one natter per part and side, each with its own push settings.
  // direct --metrics starts its own too: one natter per side (METRICS=false, metrics on).
  const own =
    scenario === 'baseline' || scenario === 'compare' || scenario === 'upload' || scenario === 'push' || (scenario === 'direct' && opts.metrics !== undefined);
  const started = new Date().toISOString();
  const ctx = own ? await poolContext(scenario, opts) : await createContext(opts, num(opts, 'workers', defaultWorkers()));
  const result = await fn(ctx);
  const environment = await ctx.environment();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
  const out = writeResult(scenario, { command, started_at: started, environment, ...result });
  console.log(`\nresults: ${out}`);
  return 0;
}

/**
 * For the scenarios that start their servers themselves: only the generators. (The
 * baseline's --target would be meaningless; compare's names the external server.)
 */
async function poolContext(scenario: string, opts: Options): Promise<Context> {
  const { WorkerPool } = await import('./lib/workers.js');
  const { randomTag } = await import('./lib/api.js');
  const { describeEnvironment } = await import('./lib/env.js');
  const workers = num(opts, 'workers', defaultWorkers());
  const pool = await WorkerPool.start(workers);
  const dbUrl = adminDatabaseUrl(opts);
  if (scenario === 'upload') return uploadContext(opts, pool, workers, dbUrl);
  if (scenario === 'push') return pushContext(opts, pool, workers, dbUrl);
  if (scenario === 'direct') return metricsContext(opts, pool, workers, dbUrl);
  const comparing = scenario === 'compare';
  const target = comparing
    ? ['natter (spawned)', 'bare ws and bare history servers (spawned)', ...(typeof opts.target === 'string' ? [opts.target] : [])].join(', ')
    : 'bare ws server (spawned)';
  return {
    opts: comparing ? { ...opts, spawn: false } : { ...opts, spawn: false, target: undefined },
    target: '',
    pool,
    run: randomTag(),
    environment: () =>
      describeEnvironment({
        databaseKind: dbUrl ? 'postgresql' : comparing ? 'pglite' : 'none',
        databaseUrl: dbUrl,
        bus: comparing ? busOf(opts) : undefined,
        server: {},
        target,
        spawned: true,
        generators: workers,
      }),
  };
}

/** upload: the generators, and the options as given (it spawns natter itself with --spawn, or uses --target). */
async function uploadContext(opts: Options, pool: Context['pool'], workers: number, dbUrl: string | undefined): Promise<Context> {
  const { randomTag } = await import('./lib/api.js');
  const { describeEnvironment } = await import('./lib/env.js');
  const natter = opts['bare-only'] ? null : opts.spawn ? 'natter (spawned)' : ((opts.target as string | undefined) ?? 'http://127.0.0.1:8080');
  return {
    opts,
    target: '',
    pool,
    run: randomTag(),
    environment: () =>
      describeEnvironment({
        databaseKind: !natter ? 'none' : opts.spawn ? (dbUrl ? 'postgresql' : 'pglite') : 'unknown (--target)',
        databaseUrl: opts.spawn && !opts['bare-only'] ? dbUrl : undefined,
        bus: natter && opts.spawn ? busOf(opts) : undefined,
        server: {},
        target: ['bare upload servers (spawned)', ...(natter ? [natter] : [])].join(', '),
        spawned: true,
        generators: workers,
      }),
  };
}

/** push: the generators and the options; it spawns natter itself (fan-out, push off, push on), so --spawn is required. */
async function pushContext(opts: Options, pool: Context['pool'], workers: number, dbUrl: string | undefined): Promise<Context> {
  if (!opts.spawn) throw new Error('push needs --spawn: it starts natter with its own PUSH_DELAY, FCM settings and GROUP_MAX_MEMBERS');
  const { randomTag } = await import('./lib/api.js');
  const { describeEnvironment } = await import('./lib/env.js');
  return {
    opts,
    target: '',
    pool,
    run: randomTag(),
    environment: () =>
      describeEnvironment({
        databaseKind: dbUrl ? 'postgresql' : 'pglite',
        databaseUrl: dbUrl,
        bus: busOf(opts),
        server: {},
        target: 'natter (spawned, one per part and side; settings in each part\'s server_config), FCM receiver (spawned)',
        spawned: true,
        generators: workers,
      }),
  };
}

/** direct --metrics: the generators and the options; it spawns natter itself, once per side, so --spawn is required. */
async function metricsContext(opts: Options, pool: Context['pool'], workers: number, dbUrl: string | undefined): Promise<Context> {
  if (!opts.spawn) throw new Error('direct --metrics needs --spawn: it starts natter with METRICS=false and with metrics on');
  const { randomTag } = await import('./lib/api.js');
  const { describeEnvironment } = await import('./lib/env.js');
  return {
    opts,
    target: '',
    pool,
    run: randomTag(),
    environment: () =>
      describeEnvironment({
        databaseKind: dbUrl ? 'postgresql' : 'pglite',
        databaseUrl: dbUrl,
        bus: busOf(opts),
        server: {},
        target: "natter (spawned, one per side; settings in each side's server_config), /metrics scraper (in the coordinator)",
        spawned: true,
        generators: workers,
      }),
  };
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    console.error(err instanceof TargetError || err instanceof Error ? `error: ${err.message}` : err);
    if (process.env.BENCH_DEBUG && err instanceof Error) console.error(err.stack);
    await cleanup();
    process.exit(1);
  });
