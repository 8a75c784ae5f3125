import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Clock } from '../../src/domain/clock.js';
import { envConfig, registerUser, startApp, type TestApp } from '../harness/app.js';
import { expectError } from '../harness/expect.js';

const SECRET = 'turn-test-secret-0123456789';
const URIS = 'stun:turn.example.com:3478,turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349?transport=tcp';

/** A clock that stands still until the test moves it, so an expiry can be compared exactly. */
class StillClock implements Clock {
  ms = Date.now();
  now(): number {
    return this.ms;
  }
}

const hmac = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');

describe('GET /calls/turn with TURN configured', () => {
  let t: TestApp;
  const clock = new StillClock();
  beforeAll(async () => {
    t = await startApp(envConfig({ TURN_URIS: URIS, TURN_SECRET: SECRET, TURN_TTL: '2h' }), { clock });
  });
  afterAll(() => t?.close());

  test('answers every URI and coturn use-auth-secret credentials that expire TURN_TTL from now', async () => {
    const alice = await registerUser(t);
    const res = await t.request('GET', '/api/v1/calls/turn', { token: alice.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.body).sort()).toEqual(['password', 'ttl', 'uris', 'username']);
    expect(res.body.uris).toEqual(URIS.split(','));
    expect(res.body.ttl).toBe(7200);
    const expiry = Math.floor(clock.ms / 1000) + 7200;
    expect(res.body.username).toBe(`${expiry}:${alice.user.id}`);
    // What the TURN server recomputes from the shared secret.
    expect(res.body.password).toBe(hmac(SECRET, res.body.username));
    expect(Buffer.from(res.body.password, 'base64')).toHaveLength(20);
  });

  test('each request makes fresh credentials; each user gets their own', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    const first = (await t.request('GET', '/api/v1/calls/turn', { token: alice.token })).body;
    clock.ms += 10 * 60_000;
    const later = (await t.request('GET', '/api/v1/calls/turn', { token: alice.token })).body;
    expect(later.username).toBe(`${Math.floor(clock.ms / 1000) + 7200}:${alice.user.id}`);
    expect(Number(later.username.split(':')[0]) - Number(first.username.split(':')[0])).toBe(600);
    expect(later.password).toBe(hmac(SECRET, later.username));
    expect(later.password).not.toBe(first.password);

    const forBob = (await t.request('GET', '/api/v1/calls/turn', { token: bob.token })).body;
    expect(forBob.username).toBe(`${Math.floor(clock.ms / 1000) + 7200}:${bob.user.id}`);
    expect(forBob.password).toBe(hmac(SECRET, forBob.username));
    expect(forBob.password).not.toBe(later.password);
  });

  test('without a valid access token: 401, and no credentials', async () => {
    const none = await t.request('GET', '/api/v1/calls/turn');
    expectError(none, 401, 'unauthorized');
    expect(none.body.password).toBeUndefined();
    expectError(await t.request('GET', '/api/v1/calls/turn', { token: 'not-a-token' }), 401, 'unauthorized');
    // A logged-out session's token no longer gets any.
    const carol = await registerUser(t);
    expect((await t.request('POST', '/api/v1/auth/logout', { token: carol.token })).status).toBe(200);
    expectError(await t.request('GET', '/api/v1/calls/turn', { token: carol.token }), 401, 'unauthorized');
  });

  test('the route and its reply are in the OpenAPI document', async () => {
    const doc = (await t.request('GET', '/docs/json')).body;
    const op = doc.paths['/api/v1/calls/turn'].get;
    expect(op.security).toEqual([{ bearer: [] }]);
    const schema = op.responses['200'].content['application/json'].schema;
    expect(Object.keys(schema.properties).sort()).toEqual(['note', 'password', 'ttl', 'uris', 'username']);
  });
});

describe('GET /calls/turn without TURN_SECRET', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp(envConfig({ TURN_URIS: URIS }));
  });
  afterAll(() => t?.close());

  test('only the stun: URIs, no credentials, and a note saying TURN is not configured', async () => {
    const alice = await registerUser(t);
    const res = await t.request('GET', '/api/v1/calls/turn', { token: alice.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ username: null, password: null, ttl: 3600, uris: ['stun:turn.example.com:3478'] });
    expect(res.body.note).toMatch(/TURN is not configured/);
  });

  test('with no TURN_URIS at all: an empty list', async () => {
    const bare = await startApp();
    try {
      const alice = await registerUser(bare);
      const res = await bare.request('GET', '/api/v1/calls/turn', { token: alice.token });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ username: null, password: null, uris: [] });
      expect(res.body.note).toMatch(/TURN is not configured/);
    } finally {
      await bare.close();
    }
  });
});

describe('GET /calls/turn is rate-limited per user', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ ...envConfig({ TURN_URIS: URIS, TURN_SECRET: SECRET }), rateLimitUser: 3, rateLimitIp: 100 });
  });
  afterAll(() => t?.close());

  test('past RATE_LIMIT_USER: 429 rate_limited with Retry-After; another user still gets credentials', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    for (let i = 0; i < 3; i++) expect((await t.request('GET', '/api/v1/calls/turn', { token: alice.token })).status).toBe(200);
    const limited = await t.request('GET', '/api/v1/calls/turn', { token: alice.token });
    expectError(limited, 429, 'rate_limited');
    expect(limited.body.password).toBeUndefined();
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const forBob = await t.request('GET', '/api/v1/calls/turn', { token: bob.token });
    expect(forBob.status).toBe(200);
    expect(forBob.body.password).toBe(hmac(SECRET, forBob.body.username));
  });
});
