import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { createApp, type App, type AppOptions } from '../../src/app.js';
import { CONFIG_SCHEMA, loadConfig, type Config } from '../../src/config/config.js';
import type { Clock } from '../../src/domain/clock.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { testDatabaseUrl, urlForDatabase, withAdmin } from './postgres.js';

/**
 * A fresh database for one test file, cloned from the run's template: fully migrated by
 * default, or `empty` (nothing applied) for migration tests. Closing it drops it.
 */
export async function testDatabase(which: 'migrated' | 'empty' = 'migrated'): Promise<Database> {
  const templates = inject('dbTemplates');
  const template = templates[which];
  if (templates.kind === 'pglite') {
    return openDatabase({
      databaseUrl: undefined,
      dataDir: 'memory://',
      poolSize: 1,
      pgliteTemplate: new Blob([readFileSync(template)]),
    });
  }
  const url = testDatabaseUrl()!;
  const suffix = templates.migrated.replace('natter_tpl_', '');
  const name = `natter_t${randomBytes(4).toString('hex')}_${suffix}`;
  await withAdmin(url, (admin) => admin.query(`create database ${name} template ${template}`));
  // As the server runs by default: hot queries as named prepared statements.
  const database = await openDatabase({
    databaseUrl: urlForDatabase(url, name),
    dataDir: '',
    poolSize: 5,
    preparedStatements: true,
  });
  return {
    ...database,
    close: async () => {
      await database.close();
      await withAdmin(url, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    },
  };
}

export const testConfig = (overrides: Partial<Config> = {}): Config =>
  loadConfig(
    {},
    {
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      migrateOnStart: false,
      authRateLimit: 0,
      // Test files send far more than a person does; the limits' own tests turn them on.
      rateLimitUser: 0,
      rateLimitIp: 0,
      // Offline shows after the grace period; tests that do not study flapping want it quick.
      presenceGrace: 0.05,
      jwtSecret: 'test-secret-that-is-long-enough-for-hs256!',
      // Off unless a test asks (webApp: true): else every test app would serve this
      // checkout's web/dist, which the browser tests' build rewrites while they run.
      webApp: false,
      ...overrides,
    },
  );

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  /** Sent as-is instead of JSON-encoding `body`. */
  raw?: string;
  headers?: Record<string, string>;
}

export interface TestApp {
  app: App;
  url: string;
  /** The app's DATA_DIR. */
  dataDir: string;
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<Reply<T>>;
  close(): Promise<void>;
}

/**
 * A clock a test moves forward, for token and session lifetimes: the app reads the time
 * from it, so a test sees a token expire without sleeping through its lifetime.
 */
export class TestClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/**
 * Starts the real app on an ephemeral port over a fresh database (or `opts.database`, as
 * a restarted node would find it); talk to it over HTTP.
 */
export async function startApp(overrides: Partial<Config> = {}, opts: AppOptions = {}): Promise<TestApp> {
  const database = opts.database ?? (await testDatabase());
  // Each app its own DATA_DIR (uploads land there), removed when it closes.
  const dataDir = overrides.dataDir ?? mkdtempSync(path.join(tmpdir(), 'natter-data-'));
  const app = await createApp(testConfig({ dataDir, ...overrides }), { ...opts, database });
  const url = await app.listen();
  return {
    app,
    dataDir,
    url,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const res = await fetch(`${url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, headers: res.headers, body: parsed as any };
    },
    close: async () => {
      await app.close();
      if (overrides.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let counter = 0;

/** Registers a user with unique name and email; returns the auth reply. */
export async function registerUser(
  t: TestApp,
  fields: Partial<{ username: string; email: string; password: string; phone: string }> = {},
) {
  const n = `${process.pid}${++counter}${randomBytes(2).toString('hex')}`;
  const body = { username: `user${n}`, email: `user${n}@example.com`, password: 'password123', ...fields };
  const res = await t.request('POST', '/api/v1/auth/register', { body });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { token: string; refresh_token: string; device_id: string; user: { id: number; username: string; email: string } };
}

/**
 * Config overrides written as the operator writes them (`{ MESSAGE_EDIT_WINDOW: '10m' }`),
 * parsed by the config schema, for `startApp`. A name the schema does not know throws.
 */
export function envConfig(env: Record<string, string>): Partial<Config> {
  const out: Record<string, unknown> = {};
  for (const [envName, raw] of Object.entries(env)) {
    const entry = Object.entries(CONFIG_SCHEMA).find(([, spec]) => spec.env === envName);
    if (!entry) throw new Error(`the config has no key ${envName}`);
    const [name, spec] = entry;
    out[name] = (spec.parse as (raw: string) => unknown)(raw);
  }
  return out as Partial<Config>;
}
