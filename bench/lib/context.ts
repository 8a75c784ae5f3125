/**
 * What every scenario starts from: the options, the server under test (given with
 * --target or started with --spawn), the generator processes, and the environment record.
 */
import { execFileSync } from 'node:child_process';
import { randomTag, registerMany, waitReachable, type BenchUser, type UserPool } from './api.js';
import { describeEnvironment } from './env.js';
import path from 'node:path';
import { ROOT, spawnNatter, type ServerHandle } from './spawn.js';
import { WorkerPool } from './workers.js';

export type Options = Record<string, string | boolean | undefined>;

export interface Context {
  opts: Options;
  target: string;
  server?: ServerHandle;
  serverPid?: number;
  pool: WorkerPool;
  /** Unique per run: user names and message tags. */
  run: string;
  /** Users to reuse across scenarios on this server (compare --target), instead of registering each time. */
  users?: UserPool;
  environment(): Promise<Record<string, unknown>>;
}

export function num(opts: Options, name: string, fallback: number): number {
  const raw = opts[name];
  if (raw === undefined || raw === false) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, got "${String(raw)}"`);
  return n;
}

export function list(opts: Options, name: string): number[] | undefined {
  const raw = opts[name];
  if (typeof raw !== 'string') return undefined;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isFinite(v) || v <= 0)) throw new Error(`--${name} must be a comma-separated list of positive numbers`);
  return values;
}

/** A scenario's users: from the context's pool when it has one, else registered now (`--setup-concurrency` at a time). */
export function benchUsers(ctx: Context, count: number, prefix: string): Promise<BenchUser[]> {
  return ctx.users ? ctx.users.take(count) : registerMany(ctx.target, count, prefix, num(ctx.opts, 'setup-concurrency', 8));
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function checkLoopback(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--target must be a URL like http://127.0.0.1:8080, got "${url}"`);
  }
  if (!LOOPBACK.has(u.hostname)) throw new Error(`--target must be a loopback address (127.0.0.1, localhost, ::1), got ${u.hostname}`);
  return u.origin;
}

/** The generator's soft open-files limit (what `ulimit -n` says for child processes). */
export function openFilesLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024;
  } catch {
    return 1024;
  }
}

/** The PostgreSQL server natter runs on (--database-url, else DATABASE_URL); undefined means PGlite. */
export function adminDatabaseUrl(opts: Options): string | undefined {
  return (opts['database-url'] as string | undefined) ?? (process.env.DATABASE_URL || undefined);
}

export function busOf(opts: Options): string {
  return (opts.bus as string | undefined) ?? process.env.BUS ?? 'memory';
}

/** natter in its own process, as --spawn starts it: a scratch database (or PGlite dir) of its own. */
export async function startNatter(opts: Options, extraEnv?: Record<string, string>): Promise<ServerHandle> {
  const databaseUrl = adminDatabaseUrl(opts);
  const bus = busOf(opts);
  console.log(`starting natter (${databaseUrl ? 'scratch PostgreSQL database' : 'PGlite in a temp dir'}, BUS=${bus})…`);
  const cpuProfDir = opts['cpu-prof'] ? path.join(ROOT, 'bench/results/profiles') : undefined;
  const server = await spawnNatter({ databaseUrl, keep: Boolean(opts.keep), bus, cpuProfDir, extraEnv });
  if (cpuProfDir) console.log(`the server writes a CPU profile into ${cpuProfDir} when it stops`);
  console.log(`natter pid ${server.pid} at ${server.url}`);
  return server;
}

export async function createContext(opts: Options, workers: number): Promise<Context> {
  let server: ServerHandle | undefined;
  let target: string;
  const databaseUrl = adminDatabaseUrl(opts);
  const bus = busOf(opts);
  if (opts.spawn) {
    server = await startNatter(opts);
    target = server.url;
  } else {
    target = checkLoopback((opts.target as string | undefined) ?? 'http://127.0.0.1:8080');
    await waitReachable(target);
  }
  const serverPid = server?.pid ?? (opts['server-pid'] ? num(opts, 'server-pid', 0) : undefined);
  const pool = await WorkerPool.start(workers);
  return {
    opts,
    target,
    server,
    serverPid,
    pool,
    run: randomTag(),
    environment: () =>
      describeEnvironment({
        databaseKind: server ? server.database.kind : 'unknown (--target)',
        databaseUrl: server?.database.url ?? (server ? undefined : databaseUrl),
        bus: server ? bus : undefined,
        server: server?.config ?? {},
        target,
        spawned: Boolean(server),
        generators: workers,
      }),
  };
}
