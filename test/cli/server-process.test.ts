import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { freePort, Proc } from '../../support/processes.js';
import { testDatabaseUrl, urlForDatabase, withAdmin } from '../harness/postgres.js';

/**
 * The server as an operator runs it: a separate process configured through .env, logging
 * JSON to stdout, stopped with SIGTERM.
 */

let dir: string;
let server: Proc;
let base: string;
let dbName: string | undefined;

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
  server = Proc.natter('natter', [], { cwd: dir, env: childEnv });
  base = `http://127.0.0.1:${port}`;
  await server.waitFor(/natter is ready/, 60_000);
}, 90_000);

afterAll(async () => {
  await server?.stop('SIGKILL');
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

  const exited = server.exited;
  server.child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(await closeCode).toBe(1001);

  const lines = server.output.trim().split('\n');
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(records.some((r) => (r.req as { url?: string } | undefined)?.url === '/api/v1/users/me')).toBe(true);
  expect(records.some((r) => (r.req as { url?: string } | undefined)?.url?.startsWith('/api/v1/ws?token=[redacted]'))).toBe(
    true,
  );
  expect(server.output).not.toContain(token);
  expect(server.output).not.toContain(password);
  expect(server.output).not.toContain(refresh_token.split('.')[1]);
  expect(records.some((r) => r.msg === 'shutting down')).toBe(true);
}, 60_000);
