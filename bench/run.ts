/**
 * natter's benchmark suite.
 *
 *   npm run bench -- <scenario> [--spawn | --target http://127.0.0.1:8080] [options]
 *   npm run bench -- chart bench/results/direct-….json [--out file.svg]
 *
 * Scenarios: direct, group, idle, history, resume, baseline. See bench/README.md.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { TargetError } from './lib/api.js';
import { writeChart } from './lib/chart.js';
import { cleanup } from './lib/cleanup.js';
import { createContext, num, type Context, type Options } from './lib/context.js';
import { writeResult } from './lib/report.js';
import { baseline } from './scenarios/baseline.js';
import { direct } from './scenarios/direct.js';
import { group } from './scenarios/group.js';
import { history } from './scenarios/history.js';
import { idle } from './scenarios/idle.js';
import { resume } from './scenarios/resume.js';

const SCENARIOS: Record<string, (ctx: Context) => Promise<Record<string, unknown>>> = { direct, group, idle, history, resume, baseline };

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
group:     --members 500  --senders 1  (+ the rate options; default --start 5)
idle:      --connections 10000  --idle-users 500  --steps 4  --hold-seconds 5 (per step)
history:   --messages 100000  --concurrency 32  --seconds 10  --limit 50  --seed-rest
           --bare (with --spawn: then the same reads against the bare history route, and the ratio)
resume:    --missed 5000  --peers 5  --repeat 3
baseline:  --parts ws,db (ws = ws-direct,ws-group)  --users/--members as above  --clients 4  --seconds 10`;

const STRING_OPTIONS = [
  'target', 'server-pid', 'database-url', 'bus', 'workers', 'out',
  'users', 'rates', 'start', 'factor', 'max-steps', 'step-seconds', 'drain-seconds', 'p99-limit', 'setup-concurrency',
  'members', 'senders', 'connections', 'idle-users', 'steps', 'hold-seconds', 'concurrency',
  'messages', 'seconds', 'limit', 'missed', 'peers', 'repeat', 'parts', 'clients',
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
  // The baseline brings its own servers; --spawn does not apply to it.
  const ctxOpts = scenario === 'baseline' ? { ...opts, spawn: false, target: undefined } : opts;
  const started = new Date().toISOString();
  const ctx = scenario === 'baseline' ? await baselineContext(ctxOpts) : await createContext(ctxOpts, num(opts, 'workers', defaultWorkers()));
  const result = await fn(ctx);
  const environment = await ctx.environment();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
  const out = writeResult(scenario, { command, started_at: started, environment, ...result });
  console.log(`\nresults: ${out}`);
  return 0;
}

/** The baseline has no natter server: only the generators (its servers are started by the scenario). */
async function baselineContext(opts: Options): Promise<Context> {
  const { WorkerPool } = await import('./lib/workers.js');
  const { randomTag } = await import('./lib/api.js');
  const { describeEnvironment } = await import('./lib/env.js');
  const workers = num(opts, 'workers', defaultWorkers());
  const pool = await WorkerPool.start(workers);
  const dbUrl = (opts['database-url'] as string | undefined) ?? process.env.DATABASE_URL;
  return {
    opts,
    target: '',
    pool,
    run: randomTag(),
    environment: () =>
      describeEnvironment({ databaseKind: dbUrl ? 'postgresql' : 'none', databaseUrl: dbUrl, server: {}, target: 'bare ws server (spawned)', spawned: true, generators: workers }),
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
