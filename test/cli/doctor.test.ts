import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freePort, ROOT, TSX_IMPORT } from '../../support/processes.js';
import { testDatabaseUrl, urlForDatabase, withAdmin } from '../harness/postgres.js';

/**
 * `natter doctor` as an operator runs it, on the run's database kind: a scratch
 * PostgreSQL database with TEST_DATABASE_URL, else PGlite in a temp DATA_DIR. Redis is the
 * one the test suite uses (127.0.0.1:6379).
 */

const SLOW = 300_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function natter(args: string[], env: Record<string, string>): Promise<Run> {
  const base = { ...process.env };
  delete base.DATABASE_URL;
  delete base.TEST_DATABASE_URL;
  delete base.NODE_OPTIONS;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX_IMPORT, 'src/main.ts', ...args],
      { cwd: ROOT, env: { ...base, NODE_ENV: 'test', ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

const report = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
/** The report's line for one check. */
const line = (r: Run, name: string) => r.stdout.split('\n').find((l) => new RegExp(`^ {2}\\S+ +${name} `).test(l)) ?? '';

let dir: string;
let env: Record<string, string>;
let dropDatabase: (() => Promise<unknown>) | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'natter-doctor-'));
  const server = testDatabaseUrl();
  if (server) {
    const name = `natter_doctor_${randomBytes(4).toString('hex')}`;
    await withAdmin(server, (admin) => admin.query(`create database ${name}`));
    dropDatabase = () => withAdmin(server, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    env = { DATABASE_URL: urlForDatabase(server, name), DATA_DIR: dir };
  } else {
    env = { DATABASE_URL: '', DATA_DIR: dir };
  }
  // PORT=0: nothing to find running, so an embedded database is opened and checked.
  env = { ...env, PORT: '0', BUS: 'redis', REDIS_URL: 'redis://127.0.0.1:6379', MIGRATE_ON_START: 'false' };
  const migrated = await natter(['migrate', 'up'], env);
  expect(migrated.code, report(migrated)).toBe(0);
}, SLOW);

afterAll(async () => {
  await dropDatabase?.();
  rmSync(dir, { recursive: true, force: true });
});

test('a healthy setup exits 0 and lists every check', async () => {
  const r = await natter(['doctor'], env);
  expect(r.code, report(r)).toBe(0);
  expect(r.stdout).toMatch(/^natter doctor\n/);
  expect(line(r, 'configuration')).toMatch(/^ {2}ok +configuration +valid/);
  expect(line(r, 'database')).toMatch(testDatabaseUrl() ? /ok +database +.*PostgreSQL \d+/ : /ok +database +embedded PGlite .*embedded \(PostgreSQL \d+/);
  expect(line(r, 'migrations')).toMatch(/ok +migrations +up to date \(version \d+\)/);
  expect(line(r, 'clock')).toMatch(/ok +clock /);
  expect(line(r, 'redis')).toMatch(/ok +redis +redis:\/\/127\.0\.0\.1:6379\/?: Redis \d/);
  expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^Everything natter needs is in order/);
}, SLOW);

test('an unreachable Redis exits 1 and says so', async () => {
  const port = await freePort();
  const r = await natter(['doctor'], { ...env, REDIS_URL: `redis://127.0.0.1:${port}` });
  expect(r.code, report(r)).toBe(1);
  expect(line(r, 'redis')).toMatch(new RegExp(`FAIL +redis +redis://127\\.0\\.0\\.1:${port}/? is not reachable \\(needed for BUS=redis\\)`));
  expect(line(r, 'database')).toMatch(/ok +database/);
  expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 problem found.');
}, SLOW);

test('a database that does not answer exits 1 naming it', async () => {
  const port = await freePort();
  const r = await natter(['doctor'], { ...env, DATABASE_URL: `postgres://natter:secret@127.0.0.1:${port}/natter` });
  expect(r.code, report(r)).toBe(1);
  expect(line(r, 'database')).toMatch(new RegExp(`FAIL +database +postgres://natter:\\*\\*\\*@127\\.0\\.0\\.1:${port}/natter is not reachable: .*ECONNREFUSED`));
  expect(r.stdout).not.toContain('secret');
}, SLOW);

test('a bad configuration is listed key by key, in plain words, and exits 1', async () => {
  const r = await natter(['doctor'], { ...env, DATABASE_URL: 'mysql://db/natter', PORT: 'eighty' });
  expect(r.code, report(r)).toBe(1);
  expect(r.stdout).toMatch(/FAIL +configuration +DATABASE_URL must use the postgres:\/\/ scheme/);
  expect(r.stdout).toMatch(/FAIL +configuration +PORT must be an integer, got "eighty"/);
  expect(r.stdout).toMatch(/skip +everything else +not checked until the configuration is valid/);
  expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('2 problems found.');
}, SLOW);
