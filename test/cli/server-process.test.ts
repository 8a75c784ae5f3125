import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { testDatabaseUrl, urlForDatabase, withAdmin } from '../harness/postgres.js';

/**
 * The server as an operator runs it: a separate process configured through .env, logging
 * JSON to stdout, stopped with SIGTERM.
 */

const root = path.resolve(import.meta.dirname, '../..');
let dir: string;
let child: ChildProcess;
let stdout = '';
let base: string;
let dbName: string | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'natter-proc-'));
  const port = await freePort();
  const env: string[] = [`PORT=${port}`, 'HOST=127.0.0.1', 'LOG_LEVEL=info', `DATA_DIR=${path.join(dir, 'data')}`];
  const pgUrl = testDatabaseUrl();
  if (pgUrl) {
    dbName = `natter_proc_${randomBytes(4).toString('hex')}`;
    await withAdmin(pgUrl, (admin) => admin.query(`create database ${dbName}`));
    env.push(`DATABASE_URL=${urlForDatabase(pgUrl, dbName)}`);
  }
  // Configuration comes from .env in the working directory.
  writeFileSync(path.join(dir, '.env'), `${env.join('\n')}\n`);
  const childEnv = { ...process.env };
  delete childEnv.DATABASE_URL;
  delete childEnv.TEST_DATABASE_URL;
  child = spawn(process.execPath, ['--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href, path.join(root, 'src/main.ts')], {
    cwd: dir,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stdout += d));
  base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!stdout.includes('natter is ready')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${stdout}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  const pgUrl = testDatabaseUrl();
  if (pgUrl && dbName) await withAdmin(pgUrl, (admin) => admin.query(`drop database if exists ${dbName} with (force)`));
});

test('serves the API with settings from .env, logs JSON without secrets, and stops cleanly on SIGTERM', async () => {
  expect((await fetch(`${base}/ready`)).status).toBe(200);

  const password = 'correct-horse-battery-staple';
  const reg = await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'opsuser', email: 'ops@example.com', password }),
  });
  expect(reg.status).toBe(201);
  const { token, refresh_token } = (await reg.json()) as { token: string; refresh_token: string };

  await fetch(`${base}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
  await fetch(`${base}/api/v1/auth/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token }),
  });
  // A socket open at shutdown is closed with 1001 ("going away").
  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/ws?token=${token}`);
  const closeCode = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve) => ws.on('message', () => resolve()));

  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(await closeCode).toBe(1001);

  const lines = stdout.trim().split('\n');
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(records.some((r) => (r.req as { url?: string } | undefined)?.url === '/api/v1/users/me')).toBe(true);
  expect(records.some((r) => (r.req as { url?: string } | undefined)?.url?.startsWith('/api/v1/ws?token=[redacted]'))).toBe(
    true,
  );
  expect(stdout).not.toContain(token);
  expect(stdout).not.toContain(password);
  expect(stdout).not.toContain(refresh_token.split('.')[1]);
  expect(records.some((r) => r.msg === 'shutting down')).toBe(true);
}, 60_000);
