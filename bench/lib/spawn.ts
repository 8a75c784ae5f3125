/**
 * Starts the server under test as a separate process (support/processes.ts): natter
 * (src/main.ts through tsx) on a scratch PostgreSQL database or a temp PGlite directory, or the bare ws
 * baseline server. Everything started here is registered for cleanup.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONFIG_SCHEMA } from '../../src/config/config.js';
import { urlForDatabase, withPg } from '../../support/postgres.js';
import { freePort, Proc, ROOT, tsArgs } from '../../support/processes.js';
import { onCleanup } from './cleanup.js';

export { ROOT, withPg };

export interface ServerHandle {
  url: string;
  pid: number;
  /** Settings the run was made with (for the results file). */
  config: Record<string, string>;
  /** Where the data is: the scratch database's URL, or PGlite's DATA_DIR (the bare history route opens the same). */
  database: { kind: 'postgresql' | 'pglite' | 'none'; url?: string; name?: string; dataDir?: string };
  stop(): Promise<void>;
}

/** Creates a scratch database next to `adminUrl`'s and returns its URL; dropped at cleanup unless keep. */
export async function scratchDatabase(adminUrl: string, prefix: string, keep: boolean): Promise<{ url: string; name: string }> {
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  await withPg(adminUrl, (c) => c.query(`create database ${name}`));
  if (!keep) onCleanup(() => withPg(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => {}));
  else console.log(`keeping scratch database ${name}`);
  return { url: urlForDatabase(adminUrl, name), name };
}

/** Stops the child (SIGTERM, then SIGKILL after 10 s) at cleanup; reports an exit with an error. */
function stopOnCleanup(proc: Proc): () => Promise<void> {
  const stop = () => proc.stop('SIGTERM', 10_000);
  const remove = onCleanup(stop);
  proc.child.once('exit', (code, signal) => {
    remove();
    if (code && code !== 0) console.error(`${proc.name} (pid ${proc.child.pid}) exited with ${code ?? signal}`);
  });
  return stop;
}

/** LOG_LEVEL=warn hides the "ready" line, so readiness is asked over HTTP (a retry, not a poll of state). */
async function waitForHttp(proc: Proc, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running) throw new Error(`${proc.name} exited during start-up:\n${proc.tail(2000)}`);
    if (Date.now() > deadline) throw new Error(`${proc.name} did not become ready within ${timeoutMs / 1000}s:\n${proc.tail(2000)}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface NatterSpawnOptions {
  databaseUrl?: string;
  keep: boolean;
  bus: string;
  extraEnv?: Record<string, string>;
  /** Write a V8 CPU profile of the server into this directory when it stops. */
  cpuProfDir?: string;
  /**
   * natter's DATA_DIR (PGlite's directory, local files), which the caller creates and
   * removes. Unset: a temp directory of its own on PGlite, natter's default on PostgreSQL.
   */
  dataDir?: string;
}

export async function spawnNatter(opts: NatterSpawnOptions): Promise<ServerHandle> {
  const port = await freePort();
  let database: ServerHandle['database'];
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    AUTH_RATE_LIMIT: '0',
    RATE_LIMIT_USER: '0',
    RATE_LIMIT_IP: '0',
    WS_RATE_LIMIT: '100000',
    ACCESS_TOKEN_TTL: '1h',
    BUS: opts.bus,
    NODE_ENV: 'development',
    ...opts.extraEnv,
  };
  if (opts.databaseUrl) {
    const db = await scratchDatabase(opts.databaseUrl, 'natter_bench', opts.keep);
    env.DATABASE_URL = db.url;
    database = { kind: 'postgresql', url: db.url, name: db.name };
    if (opts.dataDir) env.DATA_DIR = opts.dataDir;
  } else if (opts.dataDir) {
    env.DATA_DIR = opts.dataDir;
    env.DATABASE_URL = '';
    database = { kind: 'pglite', dataDir: env.DATA_DIR };
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'natter-bench-'));
    env.DATA_DIR = path.join(dir, 'data');
    env.DATABASE_URL = '';
    database = { kind: 'pglite', dataDir: env.DATA_DIR };
    if (!opts.keep) onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  }
  const profile = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
  const proc = Proc.natter('natter', [], { env: { ...process.env, ...env }, nodeArgs: profile });
  const stop = stopOnCleanup(proc);
  await waitForHttp(proc, `http://127.0.0.1:${port}/ready`, 120_000);
  // The results file records every natter setting the server ran with, including those
  // inherited from the environment (WRITE_CONCURRENCY=4 npm run bench -- …), never secrets.
  const inherited = Object.fromEntries(
    Object.values(CONFIG_SCHEMA)
      .map((k) => k.env)
      .filter((name) => process.env[name] !== undefined && !(name in env) && !/SECRET|PASSWORD|URL/.test(name))
      .map((name) => [name, process.env[name]!]),
  );
  const { DATABASE_URL: _hidden, ...own } = env;
  // A token the run set (METRICS_TOKEN) is recorded as set, not spelled out.
  const shown = Object.fromEntries(
    Object.entries({ ...inherited, ...own }).map(([k, v]) => [k, /_TOKEN$|SECRET|PASSWORD/.test(k) && v !== '' ? '(set)' : v]),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.child.pid!,
    config: shown,
    database,
    stop,
  };
}

/** The bare ws echo + broadcast server (bench/baseline/bare-server.ts) in its own process. */
export async function spawnBare(cpuProfDir?: string): Promise<ServerHandle> {
  const port = await freePort();
  const profile = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  const proc = new Proc('bare server', process.execPath, [...profile, ...tsArgs('bench/baseline/bare-server.ts')], {
    env: { ...process.env, PORT: String(port) },
  });
  const stop = stopOnCleanup(proc);
  await proc.waitFor(/bare server ready/, 30_000);
  return { url: `http://127.0.0.1:${port}`, pid: proc.child.pid!, config: { server: 'bare ws (bench/baseline/bare-server.ts)' }, database: { kind: 'none' }, stop };
}

/**
 * The bare history route (bench/baseline/bare-history.ts) on the database natter used. On
 * PGlite natter must have stopped first: one process at a time opens a PGlite directory.
 */
export async function spawnBareHistory(database: ServerHandle['database'], readerId: number, participantIds: number[]): Promise<ServerHandle> {
  if (database.kind === 'none') throw new Error('the bare history route needs the database natter was seeded on');
  const port = await freePort();
  const env: Record<string, string> = {
    PORT: String(port),
    READER_ID: String(readerId),
    PARTICIPANT_IDS: participantIds.join(','),
    DATABASE_URL: database.url ?? '',
    ...(database.dataDir ? { DATA_DIR: database.dataDir } : {}),
  };
  const proc = new Proc('bare history', process.execPath, tsArgs('bench/baseline/bare-history.ts'), { env: { ...process.env, ...env } });
  const stop = stopOnCleanup(proc);
  await proc.waitFor(/bare history ready/, 60_000);
  return { url: `http://127.0.0.1:${port}`, pid: proc.child.pid!, config: { server: 'bare history route (bench/baseline/bare-history.ts)' }, database, stop };
}

/**
 * The bare upload server (bench/baseline/bare-upload.ts): every POST body piped into a
 * file in `dir`; with `dir` null it reads and drops the bodies (the generator's ceiling).
 */
export async function spawnBareUpload(dir: string | null): Promise<ServerHandle> {
  const port = await freePort();
  const env = { PORT: String(port), ...(dir ? { UPLOAD_DIR: dir } : { SINK: 'discard' }) };
  const name = dir ? 'bare upload' : 'bare upload (discard)';
  const proc = new Proc(name, process.execPath, tsArgs('bench/baseline/bare-upload.ts'), { env: { ...process.env, ...env } });
  const stop = stopOnCleanup(proc);
  await proc.waitFor(/bare upload ready/, 30_000);
  const server = dir ? 'bare upload: pipeline(req, createWriteStream) (bench/baseline/bare-upload.ts)' : 'bare upload, discarding bodies (bench/baseline/bare-upload.ts)';
  return { url: `http://127.0.0.1:${port}`, pid: proc.child.pid!, config: { server, ...(dir ? { UPLOAD_DIR: dir } : {}) }, database: { kind: 'none' }, stop };
}
