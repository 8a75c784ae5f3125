import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { envConfig, registerUser, startApp, type Reply, type TestApp } from '../harness/app.js';
import { expectError as expectCode, ISO } from '../harness/expect.js';

let t: TestApp;

beforeAll(async () => {
  t = await startApp(envConfig({ WEBPUSH_ENDPOINTS: 'https://push.example.net,https://fcm.googleapis.com' }));
});
afterAll(() => t?.close());

interface Session {
  token: string;
  refresh_token: string;
  user: { id: number; email: string };
}

const sessionId = (s: Session) => s.refresh_token.split('.')[0]!;
const register = (s: Session, body: unknown) => t.request('POST', '/api/v1/devices', { token: s.token, body });
const list = (s: Session) => t.request('GET', '/api/v1/devices', { token: s.token });
const remove = (s: Session, id: number | string) => t.request('DELETE', `/api/v1/devices/${id}`, { token: s.token });
const logout = (s: Session) => t.request('POST', '/api/v1/auth/logout', { token: s.token });

/** A second session of the same account (another phone or browser). */
async function loginAgain(s: Session): Promise<Session> {
  const res = await t.request('POST', '/api/v1/auth/login', { body: { email: s.user.email, password: 'password123' } });
  expect(res.status).toBe(200);
  return res.body;
}

const fcmToken = () => `fcm:${randomBytes(24).toString('base64url')}`;
const webhookToken = () => `hook-${randomBytes(16).toString('hex')}`;
/** A subscription shaped as browsers make them: a 65-byte P-256 key and a 16-byte secret. */
const subscription = () => ({
  endpoint: `https://push.example.net/send/${randomBytes(12).toString('hex')}`,
  keys: { p256dh: randomBytes(65).toString('base64url'), auth: randomBytes(16).toString('base64url') },
});

async function rowsOfUser(userId: number) {
  return t.app.database.db
    .selectFrom('push_devices')
    .select(['id', 'user_id', 'session_id', 'platform', 'token', 'subscription', 'address', 'locale', 'app_version'])
    .where('user_id', '=', userId)
    .orderBy('id')
    .execute();
}
async function rowsOfSession(s: Session) {
  return t.app.database.db.selectFrom('push_devices').select(['id', 'platform', 'address']).where('session_id', '=', sessionId(s)).orderBy('id').execute();
}
async function allRows(): Promise<number> {
  const row = await t.app.database.db.selectFrom('push_devices').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

function expectError(res: Reply, status: number, code: string, field?: string): void {
  expectCode(res, status, code);
  if (field !== undefined) expect(res.body.field).toBe(field);
}

const DEVICE_KEYS = ['app_version', 'created_at', 'current', 'id', 'locale', 'platform', 'subscription_endpoint', 'token', 'updated_at'];

describe('registering a device', () => {
  test('each platform answers 201 with the device of this session; the rows hold what a sender needs', async () => {
    const a: Session = await registerUser(t);
    const fcm = fcmToken();
    const hook = webhookToken();
    const sub = subscription();

    const one = await register(a, { platform: 'fcm', token: fcm, locale: 'pt-BR', app_version: '2.4.1 (310)' });
    expect(one.status, JSON.stringify(one.body)).toBe(201);
    expect(Object.keys(one.body.device).sort()).toEqual(DEVICE_KEYS);
    expect(one.body.device).toEqual({
      id: expect.any(Number),
      platform: 'fcm',
      token: fcm,
      subscription_endpoint: null,
      locale: 'pt-BR',
      app_version: '2.4.1 (310)',
      current: true,
      created_at: expect.stringMatching(ISO),
      updated_at: expect.stringMatching(ISO),
    });

    const two = await register(a, { platform: 'webhook', token: hook });
    expect(two.status).toBe(201);
    expect(two.body.device).toMatchObject({ platform: 'webhook', token: hook, subscription_endpoint: null, locale: null, app_version: null, current: true });

    const three = await register(a, { platform: 'webpush', subscription: sub, locale: 'en' });
    expect(three.status).toBe(201);
    expect(three.body.device).toMatchObject({ platform: 'webpush', token: null, subscription_endpoint: sub.endpoint, locale: 'en', current: true });
    // The keys are for encrypting, never shown back.
    expect(JSON.stringify(three.body)).not.toContain(sub.keys.p256dh);
    expect(JSON.stringify(three.body)).not.toContain(sub.keys.auth);
    expect(JSON.stringify(three.body)).not.toContain(sessionId(a));

    expect(await rowsOfUser(a.user.id)).toEqual([
      { id: one.body.device.id, user_id: a.user.id, session_id: sessionId(a), platform: 'fcm', token: fcm, subscription: null, address: fcm, locale: 'pt-BR', app_version: '2.4.1 (310)' },
      { id: two.body.device.id, user_id: a.user.id, session_id: sessionId(a), platform: 'webhook', token: hook, subscription: null, address: hook, locale: null, app_version: null },
      { id: three.body.device.id, user_id: a.user.id, session_id: sessionId(a), platform: 'webpush', token: null, subscription: sub, address: sub.endpoint, locale: 'en', app_version: null },
    ]);

    const listed = await list(a);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ devices: [three.body.device, two.body.device, one.body.device] });
  });

  test('the same token again answers 200 with the same device, updated; so does a webpush endpoint with new keys', async () => {
    const a: Session = await registerUser(t);
    const fcm = fcmToken();
    const first = await register(a, { platform: 'fcm', token: fcm, locale: 'en', app_version: '1.0' });
    expect(first.status).toBe(201);
    const again = await register(a, { platform: 'fcm', token: fcm, locale: 'de-AT', app_version: '1.1' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.device).toMatchObject({ id: first.body.device.id, locale: 'de-AT', app_version: '1.1', created_at: first.body.device.created_at, current: true });
    expect(Date.parse(again.body.device.updated_at)).toBeGreaterThanOrEqual(Date.parse(first.body.device.updated_at));

    const sub = subscription();
    const web = await register(a, { platform: 'webpush', subscription: sub });
    const rotated = { ...sub, keys: subscription().keys };
    const webAgain = await register(a, { platform: 'webpush', subscription: rotated });
    expect(webAgain.status).toBe(200);
    expect(webAgain.body.device.id).toBe(web.body.device.id);

    const rows = await rowsOfUser(a.user.id);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ token: fcm, locale: 'de-AT', app_version: '1.1' });
    expect(rows[1]!.subscription).toEqual(rotated);
    // One platform's address does not collide with another's.
    const sameTextOtherPlatform = await register(a, { platform: 'webhook', token: fcm });
    expect(sameTextOtherPlatform.status).toBe(201);
  });

  test('a token registered by another account moves to the session registering it; the old owner no longer has it', async () => {
    const a: Session = await registerUser(t);
    const b: Session = await registerUser(t);
    const fcm = fcmToken();
    const mine = await register(a, { platform: 'fcm', token: fcm, locale: 'en' });
    expect(mine.status).toBe(201);

    // b logs in on the same phone, which hands the app the same token.
    const moved = await register(b, { platform: 'fcm', token: fcm, locale: 'fr' });
    expect(moved.status).toBe(200);
    expect(moved.body.device).toMatchObject({ id: mine.body.device.id, token: fcm, locale: 'fr', current: true });
    expect((await list(a)).body).toEqual({ devices: [] });
    expect((await list(b)).body.devices.map((d: any) => d.id)).toEqual([mine.body.device.id]);
    expect(await rowsOfUser(a.user.id)).toEqual([]);
    expect(await rowsOfUser(b.user.id)).toEqual([expect.objectContaining({ user_id: b.user.id, session_id: sessionId(b), locale: 'fr' })]);
  });

  test('a token moves to the same user\'s new session too, which becomes the current one', async () => {
    const a: Session = await registerUser(t);
    const fcm = fcmToken();
    const first = await register(a, { platform: 'fcm', token: fcm });
    const a2 = await loginAgain(a);
    const moved = await register(a2, { platform: 'fcm', token: fcm });
    expect(moved.status).toBe(200);
    expect(moved.body.device).toMatchObject({ id: first.body.device.id, current: true });
    expect((await list(a)).body.devices).toEqual([{ ...moved.body.device, current: false }]);
    expect(await rowsOfSession(a)).toEqual([]);
    expect(await rowsOfSession(a2)).toEqual([expect.objectContaining({ id: first.body.device.id })]);
  });

  test('a session registers at most 20 devices; the 21st is refused and nothing is stored; re-registering one still works', async () => {
    const a: Session = await registerUser(t);
    const tokens = Array.from({ length: 20 }, fcmToken);
    for (const token of tokens) expect((await register(a, { platform: 'fcm', token })).status).toBe(201);

    const extra = fcmToken();
    expectError(await register(a, { platform: 'fcm', token: extra }), 422, 'too_many_devices');
    expectError(await register(a, { platform: 'webpush', subscription: subscription() }), 422, 'too_many_devices');
    expect(await rowsOfSession(a)).toHaveLength(20);
    expect((await rowsOfSession(a)).map((r) => r.address)).not.toContain(extra);

    // Updating one it has is not a new device.
    expect((await register(a, { platform: 'fcm', token: tokens[3], locale: 'en' })).status).toBe(200);
    // Another session of the same user has its own 20.
    const a2 = await loginAgain(a);
    expect((await register(a2, { platform: 'fcm', token: extra })).status).toBe(201);
    // A token moving in from elsewhere counts as new for this session.
    expectError(await register(a, { platform: 'fcm', token: extra }), 422, 'too_many_devices');
    expect(await rowsOfSession(a2)).toHaveLength(1);

    const first = (await list(a)).body.devices.find((d: any) => d.token === tokens[0]);
    expect((await remove(a, first.id)).status).toBe(204);
    expect((await register(a, { platform: 'fcm', token: extra })).status).toBe(200);
    expect(await rowsOfSession(a)).toHaveLength(20);
  });

  test('registrations racing each other still stop at 20 for the session', async () => {
    const a: Session = await registerUser(t);
    const replies = await Promise.all(Array.from({ length: 25 }, () => register(a, { platform: 'fcm', token: fcmToken() })));
    expect(replies.filter((r) => r.status === 201)).toHaveLength(20);
    for (const r of replies.filter((r) => r.status !== 201)) expectError(r, 422, 'too_many_devices');
    expect(await rowsOfSession(a)).toHaveLength(20);
  });

  test('without a live session: 401 and nothing stored', async () => {
    const before = await allRows();
    expectError(await t.request('POST', '/api/v1/devices', { body: { platform: 'fcm', token: fcmToken() } }), 401, 'unauthorized');
    expectError(await t.request('GET', '/api/v1/devices'), 401, 'unauthorized');
    const a: Session = await registerUser(t);
    expect((await logout(a)).status).toBe(200);
    expectError(await register(a, { platform: 'fcm', token: fcmToken() }), 401, 'unauthorized');
    expect(await allRows()).toBe(before);
  });
});

describe('bad input', () => {
  const long = (n: number) => 'a'.repeat(n);
  const sub = subscription();
  const cases: [string, unknown, string?][] = [
    ['no platform', { token: fcmToken() }, 'platform'],
    ['an unknown platform', { platform: 'apns', token: fcmToken() }, 'platform'],
    ['a platform in capitals', { platform: 'FCM', token: fcmToken() }, 'platform'],
    ['fcm without a token', { platform: 'fcm' }, 'token'],
    ['webhook without a token', { platform: 'webhook' }, 'token'],
    ['fcm with a subscription', { platform: 'fcm', token: fcmToken(), subscription: sub }, 'subscription'],
    ['an empty token', { platform: 'fcm', token: '' }, 'token'],
    ['a token with a space', { platform: 'fcm', token: 'abc def' }, 'token'],
    ['a token with a newline', { platform: 'webhook', token: 'abc\ndef' }, 'token'],
    ['a token of 4097 characters', { platform: 'fcm', token: long(4097) }, 'token'],
    ['a token that is a number', { platform: 'fcm', token: 12345 }, 'token'],
    ['a null token', { platform: 'fcm', token: null }, 'token'],
    ['webpush with a token', { platform: 'webpush', token: fcmToken(), subscription: sub }, 'token'],
    ['webpush without a subscription', { platform: 'webpush' }, 'subscription'],
    ['a subscription that is a string', { platform: 'webpush', subscription: JSON.stringify(sub) }, 'subscription'],
    ['an http endpoint', { platform: 'webpush', subscription: { ...sub, endpoint: 'http://push.example.net/x' } }, 'subscription.endpoint'],
    ['an endpoint on a host WEBPUSH_ENDPOINTS does not list', { platform: 'webpush', subscription: { ...sub, endpoint: 'https://10.0.0.7/internal/admin' } }, 'subscription.endpoint'],
    ['an endpoint on a listed host but another port', { platform: 'webpush', subscription: { ...sub, endpoint: 'https://push.example.net:8443/x' } }, 'subscription.endpoint'],
    ['an endpoint on a subdomain of a listed host', { platform: 'webpush', subscription: { ...sub, endpoint: 'https://evil.push.example.net/x' } }, 'subscription.endpoint'],
    ['an endpoint that is no URL', { platform: 'webpush', subscription: { ...sub, endpoint: 'https://' } }, 'subscription.endpoint'],
    ['an endpoint over 2048 characters', { platform: 'webpush', subscription: { ...sub, endpoint: `https://push.example.net/${long(2030)}` } }, 'subscription.endpoint'],
    ['no keys', { platform: 'webpush', subscription: { endpoint: sub.endpoint } }, 'subscription.keys'],
    ['no auth key', { platform: 'webpush', subscription: { ...sub, keys: { p256dh: sub.keys.p256dh } } }, 'subscription.keys.auth'],
    ['a short p256dh', { platform: 'webpush', subscription: { ...sub, keys: { ...sub.keys, p256dh: long(79) } } }, 'subscription.keys.p256dh'],
    ['a long p256dh', { platform: 'webpush', subscription: { ...sub, keys: { ...sub.keys, p256dh: long(101) } } }, 'subscription.keys.p256dh'],
    ['a p256dh in standard base64', { platform: 'webpush', subscription: { ...sub, keys: { ...sub.keys, p256dh: `${long(86)}+` } } }, 'subscription.keys.p256dh'],
    ['a short auth', { platform: 'webpush', subscription: { ...sub, keys: { ...sub.keys, auth: long(15) } } }, 'subscription.keys.auth'],
    ['an auth with padding', { platform: 'webpush', subscription: { ...sub, keys: { ...sub.keys, auth: `${long(22)}==` } } }, 'subscription.keys.auth'],
    ['an extra key', { platform: 'webpush', subscription: { ...sub, keys: { ...sub.keys, extra: 'x' } } }, 'subscription.keys.extra'],
    ['a locale that is no language tag', { platform: 'fcm', token: fcmToken(), locale: 'en_US' }, 'locale'],
    ['a locale of 36 characters', { platform: 'fcm', token: fcmToken(), locale: `en-${'abcdefgh-'.repeat(3)}abcdefg` }, 'locale'],
    ['a locale that is a number', { platform: 'fcm', token: fcmToken(), locale: 1 }, 'locale'],
    ['an app_version of 65 characters', { platform: 'fcm', token: fcmToken(), app_version: long(65) }, 'app_version'],
    ['an empty app_version', { platform: 'fcm', token: fcmToken(), app_version: '' }, 'app_version'],
    ['an app_version with a control character', { platform: 'fcm', token: fcmToken(), app_version: '1.0\u0000' }, 'app_version'],
    ['an app_version that is a number', { platform: 'fcm', token: fcmToken(), app_version: 2 }, 'app_version'],
    ['an unknown field', { platform: 'fcm', token: fcmToken(), session_id: 'x' }, 'session_id'],
    ['a list', [{ platform: 'fcm', token: fcmToken() }]],
    ['a string', 'fcm'],
  ];

  test.each(cases)('%s: 400 validation_failed, nothing stored', async (_name, body, field) => {
    const a: Session = await registerUser(t);
    const res = await register(a, body);
    expectError(res, 400, 'validation_failed', field);
    expect(await rowsOfUser(a.user.id)).toEqual([]);
  });

  test('no body at all is refused too', async () => {
    const a: Session = await registerUser(t);
    expectError(await t.request('POST', '/api/v1/devices', { token: a.token }), 400, 'validation_failed');
    expect(await rowsOfUser(a.user.id)).toEqual([]);
  });
});

describe('listing and removing', () => {
  test('the list holds the user\'s devices of every live session, newest first, with `current` for the caller\'s', async () => {
    const a: Session = await registerUser(t);
    const a2 = await loginAgain(a);
    const a3 = await loginAgain(a);
    const b: Session = await registerUser(t);
    const d1 = (await register(a, { platform: 'fcm', token: fcmToken() })).body.device;
    const d2 = (await register(a2, { platform: 'webpush', subscription: subscription() })).body.device;
    const d3 = (await register(a3, { platform: 'webhook', token: webhookToken() })).body.device;
    await register(b, { platform: 'fcm', token: fcmToken() });

    const seen = await list(a2);
    expect(seen.body.devices.map((d: any) => [d.id, d.current])).toEqual([[d3.id, false], [d2.id, true], [d1.id, false]]);
    expect((await list(b)).body.devices).toHaveLength(1);

    // A session past its expiry: its devices are not listed (it cannot be notified).
    await t.app.database.db.updateTable('sessions').set({ expires_at: sql<Date>`now() - interval '1 minute'` }).where('id', '=', sessionId(a3)).execute();
    expect((await list(a2)).body.devices.map((d: any) => d.id)).toEqual([d2.id, d1.id]);
  });

  test('delete removes one\'s own device (204); another user\'s or an unknown id is 404 and stays', async () => {
    const a: Session = await registerUser(t);
    const b: Session = await registerUser(t);
    const mine = (await register(a, { platform: 'fcm', token: fcmToken() })).body.device;
    const theirs = (await register(b, { platform: 'fcm', token: fcmToken() })).body.device;

    expectError(await remove(a, theirs.id), 404, 'not_found');
    expect(await rowsOfUser(b.user.id)).toHaveLength(1);
    expectError(await remove(a, 9_000_000_000), 404, 'not_found');
    expectError(await remove(a, 'abc'), 400, 'validation_failed');
    expectError(await remove(a, 0), 400, 'validation_failed');

    // A device of the user's other session is theirs to remove too.
    const a2 = await loginAgain(a);
    const res = await remove(a2, mine.id);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expect(await rowsOfUser(a.user.id)).toEqual([]);
    expectError(await remove(a, mine.id), 404, 'not_found');
    expect((await list(b)).body.devices.map((d: any) => d.id)).toEqual([theirs.id]);
  });
});

describe('a session that ends takes its devices with it', () => {
  test('logout removes the session\'s devices, not those of the user\'s other sessions', async () => {
    const a: Session = await registerUser(t);
    const a2 = await loginAgain(a);
    await register(a, { platform: 'fcm', token: fcmToken() });
    await register(a, { platform: 'webpush', subscription: subscription() });
    const kept = (await register(a2, { platform: 'fcm', token: fcmToken() })).body.device;

    expect((await logout(a)).status).toBe(200);
    expect(await rowsOfSession(a)).toEqual([]);
    expect((await list(a2)).body.devices).toEqual([kept]);
    expect(await rowsOfUser(a.user.id)).toEqual([expect.objectContaining({ id: kept.id })]);
  });

  test('reusing a rotated refresh token revokes the session and removes its devices', async () => {
    const a: Session = await registerUser(t);
    const a2 = await loginAgain(a);
    await register(a, { platform: 'fcm', token: fcmToken() });
    const kept = (await register(a2, { platform: 'webhook', token: webhookToken() })).body.device;

    const rotated = await t.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: a.refresh_token } });
    expect(rotated.status).toBe(200);
    expect(await rowsOfSession(a)).toHaveLength(1);
    const replay = await t.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: a.refresh_token } });
    expectError(replay, 401, 'invalid_refresh_token');
    expect(await rowsOfSession(a)).toEqual([]);
    expectError(await list({ ...a, token: rotated.body.token }), 401, 'unauthorized');
    expect((await list(a2)).body.devices).toEqual([kept]);
  });
});

describe('GET /push/webpush-key', () => {
  test('without VAPID keys: 404 not_found saying so', async () => {
    const a: Session = await registerUser(t);
    const res = await t.request('GET', '/api/v1/push/webpush-key', { token: a.token });
    expectError(res, 404, 'not_found');
    expect(res.body.error).toMatch(/Web Push is not configured/);
    expectError(await t.request('GET', '/api/v1/push/webpush-key'), 401, 'unauthorized');
  });

  test('with VAPID keys: the public key', async () => {
    const { publicKey, privateKey } = webpush.generateVAPIDKeys();
    const other = await startApp({ vapidPublicKey: publicKey, vapidPrivateKey: privateKey, vapidSubject: 'mailto:ops@example.com' });
    try {
      const a: Session = await registerUser(other);
      const res = await other.request('GET', '/api/v1/push/webpush-key', { token: a.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ public_key: publicKey });
      expect(JSON.stringify(res.body)).not.toContain(privateKey);
    } finally {
      await other.close();
    }
  });
});

test('the OpenAPI document lists the device routes under the devices tag, with the three body shapes', async () => {
  const doc = (await t.request('GET', '/docs/json')).body;
  const routes: [string, string][] = [
    ['/api/v1/devices', 'post'],
    ['/api/v1/devices', 'get'],
    ['/api/v1/devices/{id}', 'delete'],
    ['/api/v1/push/webpush-key', 'get'],
  ];
  for (const [route, method] of routes) expect(doc.paths[route]?.[method]?.tags, `${method} ${route}`).toEqual(['devices']);
  const body = doc.paths['/api/v1/devices'].post.requestBody.content['application/json'].schema;
  expect(body.oneOf.map((s: any) => s.properties.platform.const ?? s.properties.platform.enum?.[0]).sort()).toEqual(['fcm', 'webhook', 'webpush']);
  const device = doc.paths['/api/v1/devices'].post.responses['201'].content['application/json'].schema.properties.device;
  expect(Object.keys(device.properties).sort()).toEqual(DEVICE_KEYS);
});
