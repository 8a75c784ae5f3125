/**
 * Starts the server under test as a separate process: natter (src/main.ts through
 * `--import tsx`) on a scratch PostgreSQL database or a temp PGlite directory, or the bare ws
 * baseline server. Everything started here is registered for cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONFIG_SCHEMA } from '../../src/config/config.js';
import { urlForDatabase, withPg } from '../../support/postgres.js';
import { freePort, ROOT, tsArgs } from '../../support/processes.js';
import { onCleanup } from './cleanup.js';

export { ROOT, withPg };

export interface ServerHandle {
  url: string;
  pid: number;
  /** Settings the run was made with (for the results file). */
  config: Record<string, string>;
  database: { kind: 'postgresql' | 'pglite' | 'none'; url?: string; name?: string };
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

function killOnCleanup(child: ChildProcess, name: string): () => Promise<void> {
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const remove = onCleanup(stop);
  // A synchronous last resort if the parent dies without running cleanup.
  process.once('exit', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  child.once('exit', (code, signal) => {
    remove();
    if (code && code !== 0) console.error(`${name} (pid ${child.pid}) exited with ${code ?? signal}`);
  });
  return stop;
}

async function waitForOutput(child: ChildProcess, out: () => string, marker: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!out().includes(marker)) {
    if (child.exitCode !== null) throw new Error(`${name} exited during start-up:\n${out().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${name} did not start within ${timeoutMs / 1000}s:\n${out().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** LOG_LEVEL=warn hides the "ready" line, so readiness is asked over HTTP. */
async function waitForHttp(child: ChildProcess, url: string, out: () => string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited during start-up:\n${out().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${name} did not become ready within ${timeoutMs / 1000}s:\n${out().slice(-2000)}`);
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
}

export async function spawnNatter(opts: NatterSpawnOptions): Promise<ServerHandle> {
  const port = await freePort();
  let database: ServerHandle['database'];
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    AUTH_RATE_LIMIT: '0',
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
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'natter-bench-'));
    env.DATA_DIR = path.join(dir, 'data');
    env.DATABASE_URL = '';
    database = { kind: 'pglite' };
    if (!opts.keep) onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  }
  const childEnv = { ...process.env, ...env };
  const profile = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
  const child = spawn(process.execPath, [...profile, ...tsArgs('src/main.ts')], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keepTail = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', keepTail);
  child.stderr.on('data', keepTail);
  const stop = killOnCleanup(child, 'natter');
  await waitForHttp(child, `http://127.0.0.1:${port}/ready`, () => output, 'natter', 120_000);
  // The results file records every natter setting the server ran with, including those
  // inherited from the environment (WRITE_CONCURRENCY=4 npm run bench -- …), never secrets.
  const inherited = Object.fromEntries(
    Object.values(CONFIG_SCHEMA)
      .map((k) => k.env)
      .filter((name) => process.env[name] !== undefined && !(name in env) && !/SECRET|PASSWORD|URL/.test(name))
      .map((name) => [name, process.env[name]!]),
  );
  const { DATABASE_URL: _hidden, ...own } = env;
  const shown = { ...inherited, ...own };
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    config: shown,
    database,
    stop,
  };
}

/** The bare ws echo + broadcast server (bench/baseline/bare-server.ts) in its own process. */
export async function spawnBare(cpuProfDir?: string): Promise<ServerHandle> {
  const port = await freePort();
  const profile = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  const child = spawn(process.execPath, [...profile, ...tsArgs('bench/baseline/bare-server.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const stop = killOnCleanup(child, 'bare server');
  await waitForOutput(child, () => output, 'bare server ready', 'bare server', 30_000);
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, config: { server: 'bare ws (bench/baseline/bare-server.ts)' }, database: { kind: 'none' }, stop };
}
