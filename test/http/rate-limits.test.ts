import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import type { Config } from '../../src/config/config.js';
import { registerUser, startApp, testConfig, testDatabase, type Reply, type TestApp } from '../harness/app.js';
import { expectError } from '../harness/expect.js';
import { connect } from '../harness/ws.js';
import { parseProm, value } from '../metrics/prom-text.js';

/** A 429 from the REST limit: the one error body, and when to come back. */
function expectLimited(res: Reply): void {
  expectError(res, 429, 'rate_limited');
  expect(Object.keys(res.body).sort()).toEqual(['code', 'error']);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

describe('per-user REST limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ rateLimitUser: 5, rateLimitIp: 100 });
  });
  afterAll(() => t?.close());

  test('the request past the budget is 429 rate_limited with Retry-After; another user is unaffected', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    for (let i = 0; i < 5; i++) {
      const res = await t.request('GET', '/api/v1/users/me', { token: alice.token });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-remaining')).toBe(String(4 - i));
    }
    expectLimited(await t.request('GET', '/api/v1/users/me', { token: alice.token }));
    // Any route of the API draws on the same budget; a browser app may read when to retry.
    const fromBrowser = await t.request('GET', '/api/v1/conversations', { token: alice.token, headers: { origin: 'https://app.example.com' } });
    expectLimited(fromBrowser);
    expect(fromBrowser.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('retry-after');

    expect((await t.request('GET', '/api/v1/users/me', { token: bob.token })).status).toBe(200);
    // Alice's budget is hers, not her address's: unauthenticated requests from it still answer.
    expectError(await t.request('GET', '/api/v1/users/me'), 401, 'unauthorized');
  });

  test('health, readiness, docs and the WebSocket are not counted', async () => {
    const carol = await registerUser(t);
    for (let i = 0; i < 6; i++) await t.request('GET', '/api/v1/users/me', { token: carol.token });
    expectLimited(await t.request('GET', '/api/v1/users/me', { token: carol.token }));
    for (let i = 0; i < 10; i++) {
      expect((await t.request('GET', '/health')).status).toBe(200);
      expect((await t.request('GET', '/ready')).status).toBe(200);
    }
    expect((await t.request('GET', '/docs/json')).status).toBe(200);
    const ws = await connect(t, carol.token);
    ws.socket.close();
  });
});

describe('per-IP REST limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ rateLimitUser: 100, rateLimitIp: 4 });
  });
  afterAll(() => t?.close());

  test('requests without a valid token count per address; a signed-in user keeps their own budget', async () => {
    const dave = await registerUser(t); // one request of the address's four
    expectError(await t.request('GET', '/api/v1/users/me'), 401, 'unauthorized');
    // A token that does not verify is no way around the limit.
    expectError(await t.request('GET', '/api/v1/users/me', { token: 'not-a-token' }), 401, 'unauthorized');
    expectError(await t.request('GET', '/api/v1/conversations'), 401, 'unauthorized');
    expectLimited(await t.request('GET', '/api/v1/users/me'));
    expectLimited(await t.request('GET', '/api/v1/users/me', { token: 'not-a-token' }));
    // Credential routes fall under the address's budget when AUTH_RATE_LIMIT is off.
    expectLimited(await t.request('POST', '/api/v1/auth/login', { body: { email: dave.user.email, password: 'password123' } }));

    expect((await t.request('GET', '/api/v1/users/me', { token: dave.token })).status).toBe(200);
    expect((await t.request('GET', '/health')).status).toBe(200);
  });
});

describe('refusals in metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ rateLimitUser: 3, rateLimitIp: 2, authRateLimit: 2, metricsPort: 0 });
  });
  afterAll(() => t?.close());

  test('natter_http_rate_limited_total counts every 429, by the limit that gave it', async () => {
    const scrape = async () => parseProm(await (await fetch(`${t.app.metricsUrl!}/metrics`)).text());
    const name = 'natter_http_rate_limited_total';
    const before = await scrape();
    // Every limit's series is there from the start, at 0, so rate() sees it before the first refusal.
    expect(before.filter((s) => s.name === name).map((s) => [s.labels.limit, s.value])).toEqual([['user', 0], ['ip', 0], ['auth', 0]]);

    const frank = await registerUser(t); // one of the register route's two
    const refused = { user: 0, ip: 0, auth: 0 };
    for (let i = 0; i < 5; i++) {
      const res = await t.request('GET', '/api/v1/users/me', { token: frank.token });
      if (i < 3) {
        expect(res.status).toBe(200);
      } else {
        expectLimited(res);
        refused.user++;
      }
    }
    for (let i = 0; i < 5; i++) {
      const res = await t.request('GET', '/api/v1/conversations');
      if (i < 2) {
        expectError(res, 401, 'unauthorized');
      } else {
        expectLimited(res);
        refused.ip++;
      }
    }
    const login = () => t.request('POST', '/api/v1/auth/login', { body: { email: frank.user.email, password: 'wrong-password' } });
    expectError(await login(), 401, 'invalid_credentials');
    expectError(await login(), 401, 'invalid_credentials');
    expectLimited(await login());
    refused.auth++;

    const after = await scrape();
    for (const limit of ['user', 'ip', 'auth'] as const) {
      expect(value(after, name, { limit }) - value(before, name, { limit }), limit).toBe(refused[limit]);
    }
    expect(refused).toEqual({ user: 2, ip: 3, auth: 1 });
  });
});

/**
 * Two nodes in this process with BUS=redis over one database: the budget is counted in
 * Redis, so requests split across them are refused after the shared max.
 */
describe('two nodes over Redis share one budget', () => {
  const nodes: TestApp[] = [];
  let close: () => Promise<void>;

  beforeAll(async () => {
    const database = await testDatabase();
    const shared = { ...database, close: async () => {} };
    const busPrefix = `rl${randomBytes(4).toString('hex')}`;
    const apps: App[] = [];
    const dirs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'natter-data-'));
      dirs.push(dataDir);
      const config: Config = testConfig({
        dataDir,
        bus: 'redis',
        busPrefix,
        rateLimitUser: 6,
        rateLimitIp: 100,
        authRateLimit: 3,
      });
      const app = await createApp(config, { database: shared });
      apps.push(app);
      nodes.push(nodeClient(app, await app.listen()));
    }
    close = async () => {
      for (const app of apps) await app.close();
      await database.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    };
  });
  afterAll(() => close?.());

  test('a user alternating between the nodes is refused after six requests in all', async () => {
    const [a, b] = nodes as [TestApp, TestApp];
    const erin = await registerUser(a);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const node = i % 2 === 0 ? a : b;
      statuses.push((await node.request('GET', '/api/v1/users/me', { token: erin.token })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    expectLimited(await a.request('GET', '/api/v1/users/me', { token: erin.token }));
    expectLimited(await b.request('GET', '/api/v1/users/me', { token: erin.token }));
  });

  test('the credential routes\' stricter limit is shared as well', async () => {
    const [a, b] = nodes as [TestApp, TestApp];
    // registerUser above spent one of the address's three register attempts, on node a;
    // logins have a budget of their own.
    const login = (node: TestApp) => node.request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'x' } });
    const statuses = [await login(a), await login(b), await login(a), await login(b)].map((r) => r.status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});

/** An app that someone else started, with the harness's request helper. */
function nodeClient(app: App, url: string): TestApp {
  return {
    app,
    url,
    dataDir: app.config.dataDir,
    async request(method, urlPath, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const res = await fetch(`${url}${urlPath}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON
      }
      return { status: res.status, headers: res.headers, body: parsed as any };
    },
    close: () => app.close(),
  };
}

describe('Redis unreachable', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Presence (and so the limits) in Redis at a port nothing listens on.
    t = await startApp({ presence: 'redis', redisUrl: 'redis://127.0.0.1:1', rateLimitUser: 2, rateLimitIp: 2 });
  });
  afterAll(() => t?.close());

  test('requests are let through uncounted rather than refused', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.request('GET', '/api/v1/users/me')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
  });
});
