import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MUTED_FOREVER } from '../../src/domain/member-settings.js';
import type { RingCall } from '../../src/services/push.js';
import { envConfig, registerUser, startApp, type TestApp } from '../harness/app.js';
import { fcmError, startPushPeers, type FcmServer, type PushPeers, type WebhookReceiver, WebPushReceiver } from '../harness/push-peers.js';
import { direct, type User } from '../realtime/fixtures.js';

/**
 * A call's ring push: PushService.ringDevices, sent at once (no outbox) to the callee's
 * devices through the real providers, received by the loopback peers that check what the
 * platforms check (FCM's OAuth2 and message shape, Web Push's VAPID and encryption, the
 * webhook's HMAC). ringDevices resolves once every device's ring has settled, so what a
 * peer has received then is all it will receive.
 */

const SECRET = 'webhook-secret-for-calls-0123456789';
const RING_MS = 45_000;

let peers: PushPeers;
let fcm: FcmServer;
let webPush: WebPushReceiver;
let hook: WebhookReceiver;
let t: TestApp;

beforeAll(async () => {
  peers = await startPushPeers({ projectId: 'natter-calls', webhookSecret: SECRET });
  ({ fcm, webPush, hook } = peers);
  // Quick retries, so the retry test does not sit out a second of backoff.
  t = await startApp(envConfig(peers.env), { pushTuning: { retryBaseMs: 50 } });
});

afterAll(async () => {
  await t?.close();
  await peers?.close();
});

const fcmToken = () => `fcm-${randomBytes(16).toString('hex')}`;
const fcmFor = (token: string) => fcm.received.filter((r) => r.message.token === token);

async function withDevice(user: { token: string }, body: Record<string, unknown>): Promise<number> {
  const res = await t.request('POST', '/api/v1/devices', { token: user.token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.device.id as number;
}

/** Another session (a second phone) of `user`, with its public device id. */
async function login(user: User): Promise<{ token: string; device_id: string }> {
  const res = await t.request('POST', '/api/v1/auth/login', { body: { email: user.user.email, password: 'password123' } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

function call(caller: User, conversationId: number, over: Partial<RingCall> = {}): RingCall {
  return {
    call_id: randomUUID(),
    conversation_id: conversationId,
    caller_id: caller.user.id,
    caller_name: caller.user.username,
    video: false,
    sent_at: Date.now(),
    ring_timeout_ms: RING_MS,
    ...over,
  };
}

/** Alice calls Bob, who has one FCM phone. */
async function callee(): Promise<{ alice: User; bob: User; token: string; conv: number }> {
  const alice = await registerUser(t);
  const bob = await registerUser(t);
  const token = fcmToken();
  await withDevice(bob, { platform: 'fcm', token });
  const conv = await direct(t, alice, bob);
  return { alice, bob, token, conv };
}

describe('what each platform gets', () => {
  test('FCM: data-only on Android with priority HIGH and a ttl within the ring window; an alert on iOS that expires with it', async () => {
    const { alice, bob, token, conv } = await callee();
    const c = call(alice, conv, { video: true, sent_at: Date.now() - 2000 });
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: c });

    const got = fcmFor(token);
    expect(got).toHaveLength(1);
    const m = got[0]!.message;
    expect(m.data).toMatchObject({
      kind: 'call',
      call_id: c.call_id,
      conversation_id: String(conv),
      caller_id: String(alice.user.id),
      caller_name: alice.user.username,
      video: 'true',
      sent_at: new Date(c.sent_at).toISOString(),
      ring_timeout_ms: String(RING_MS),
    });
    // How late the push left: at least the 2 s the call had been ringing, less than its window.
    expect(Number(m.data.age_ms)).toBeGreaterThanOrEqual(2000);
    expect(Number(m.data.age_ms)).toBeLessThan(RING_MS);
    // Data-only: the app's own service shows the incoming call.
    expect(m.notification).toBeUndefined();
    expect(m.android.notification).toBeUndefined();
    expect(m.android.priority).toBe('HIGH');
    const ttl = /^(\d+)s$/.exec(m.android.ttl)?.[1];
    expect(Number(ttl)).toBeGreaterThan(0);
    expect(Number(ttl)).toBeLessThanOrEqual(43);
    expect(m.android.collapse_key).toBe(`call-${c.call_id}`);
    expect(m.apns.headers).toMatchObject({ 'apns-priority': '10', 'apns-push-type': 'alert' });
    const expiresAt = Number(m.apns.headers['apns-expiration']) * 1000;
    expect(expiresAt).toBeGreaterThan(Date.now());
    expect(expiresAt).toBeLessThanOrEqual(c.sent_at + RING_MS + 1000);
    expect(m.apns.payload.aps.alert).toEqual({ body: `Incoming video call from ${alice.user.username}` });
    // The call's record is an unread message from the caller.
    expect(m.apns.payload.aps.badge).toBeTypeOf('number');
  });

  test('Web Push: the browser decrypts the call; Urgency high, TTL what is left of the ring window', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    const subscription = webPush.subscribe();
    await withDevice(bob, { platform: 'webpush', subscription });
    const conv = await direct(t, alice, bob);
    const c = call(alice, conv);
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: c });

    const got = webPush.received.filter((r) => r.subscriptionId === WebPushReceiver.idOf(subscription));
    expect(got).toHaveLength(1);
    expect(got[0]!.headers.urgency).toBe('high');
    expect(Number(got[0]!.headers.ttl)).toBeGreaterThan(0);
    expect(Number(got[0]!.headers.ttl)).toBeLessThanOrEqual(RING_MS / 1000);
    expect(got[0]!.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(got[0]!.payload).toMatchObject({
      title: null,
      body: `Incoming call from ${alice.user.username}`,
      data: {
        kind: 'call',
        call_id: c.call_id,
        conversation_id: String(conv),
        caller_id: String(alice.user.id),
        video: 'false',
        sent_at: new Date(c.sent_at).toISOString(),
        ring_timeout_ms: String(RING_MS),
      },
    });
    expect(Number(got[0]!.payload.data.age_ms)).toBeGreaterThanOrEqual(0);
  });

  test('webhook: a signed body with kind "call", the ring\'s ttl and the call\'s fields', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    const token = `voip-${randomBytes(16).toString('hex')}`;
    const deviceId = await withDevice(bob, { platform: 'webhook', token });
    const conv = await direct(t, alice, bob);
    const c = call(alice, conv, { video: true });
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: c });

    // The receiver takes only bodies whose HMAC and timestamp it verified.
    const got = hook.received.filter((r) => r.body.token === token);
    expect(got).toHaveLength(1);
    expect(got[0]!.body).toMatchObject({
      device_id: deviceId,
      token,
      kind: 'call',
      notification: {
        body: `Incoming video call from ${alice.user.username}`,
        collapse_key: `call-${c.call_id}`,
        data: { kind: 'call', call_id: c.call_id, conversation_id: String(conv), caller_id: String(alice.user.id), video: 'true' },
      },
    });
    expect(got[0]!.body.ttl_seconds).toBeGreaterThan(0);
    expect(got[0]!.body.ttl_seconds).toBeLessThanOrEqual(RING_MS / 1000);
  });
});

describe('which devices ring', () => {
  test('every device of the callee rings but the excluded ones (they showed the call, or are busy)', async () => {
    const { alice, bob, token, conv } = await callee();
    const tablet = await login(bob);
    const tabletToken = fcmToken();
    await withDevice(tablet, { platform: 'fcm', token: tabletToken });
    const laptop = await login(bob);
    const subscription = webPush.subscribe();
    await withDevice(laptop, { platform: 'webpush', subscription });

    const c = call(alice, conv);
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [tablet.device_id, laptop.device_id], call: c });
    expect(fcmFor(token).map((r) => r.message.data.call_id)).toEqual([c.call_id]);
    expect(fcmFor(tabletToken)).toEqual([]);
    expect(webPush.received.filter((r) => r.subscriptionId === WebPushReceiver.idOf(subscription))).toEqual([]);
  });

  test('a device whose session ended (expired or revoked, its row still there) does not ring', async () => {
    const { alice, bob, token, conv } = await callee();
    const old = await login(bob);
    const oldToken = fcmToken();
    await withDevice(old, { platform: 'fcm', token: oldToken });
    const revoked = await login(bob);
    const revokedToken = fcmToken();
    await withDevice(revoked, { platform: 'fcm', token: revokedToken });
    const db = t.app.database.db;
    await db.updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000) }).where('device_id', '=', old.device_id).execute();
    await db.updateTable('sessions').set({ revoked_at: new Date() }).where('device_id', '=', revoked.device_id).execute();

    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: call(alice, conv) });
    expect(fcmFor(token)).toHaveLength(1);
    expect(fcmFor(oldToken)).toEqual([]);
    expect(fcmFor(revokedToken)).toEqual([]);
  });

  test('a callee who blocks the caller is rung on no device', async () => {
    const { alice, bob, token, conv } = await callee();
    const subscription = webPush.subscribe();
    await withDevice(bob, { platform: 'webpush', subscription });
    expect((await t.request('POST', `/api/v1/users/${alice.user.id}/block`, { token: bob.token })).status).toBeLessThan(300);

    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: call(alice, conv) });
    expect(fcmFor(token)).toEqual([]);
    expect(webPush.received.filter((r) => r.subscriptionId === WebPushReceiver.idOf(subscription))).toEqual([]);
    // Someone else Bob does not block still rings him.
    const carol = await registerUser(t);
    const other = await direct(t, carol, bob);
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: call(carol, other) });
    expect(fcmFor(token).map((r) => r.message.data.caller_id)).toEqual([String(carol.user.id)]);
  });

  test('a muted conversation still rings', async () => {
    const { alice, bob, token, conv } = await callee();
    const mute = await t.request('PATCH', `/api/v1/conversations/${conv}/settings`, { token: bob.token, body: { muted_until: MUTED_FOREVER } });
    expect(mute.status, JSON.stringify(mute.body)).toBe(200);
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: call(alice, conv) });
    expect(fcmFor(token)).toHaveLength(1);
  });

  test('a ring whose window is over sends nothing', async () => {
    const { alice, bob, token, conv } = await callee();
    await t.app.push.ringDevices({
      userId: bob.user.id,
      excludeDevices: [],
      call: call(alice, conv, { sent_at: Date.now() - RING_MS - 1, ring_timeout_ms: RING_MS }),
    });
    expect(fcmFor(token)).toEqual([]);
  });
});

describe('failures', () => {
  test('a provider 500 inside the ring window: sent again, delivered once', async () => {
    const { alice, bob, token, conv } = await callee();
    const before = { ...t.app.push.ringStats };
    fcm.respondNext(500, fcmError(500, 'INTERNAL'));
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: call(alice, conv) });
    expect(fcmFor(token)).toHaveLength(1);
    expect(t.app.push.ringStats.retried - before.retried).toBe(1);
    expect(t.app.push.ringStats.sent - before.sent).toBe(1);
  });

  test('a retry that would come after the ring window is not made', async () => {
    const { alice, bob, token, conv } = await callee();
    const before = { ...t.app.push.ringStats };
    const attempts = fcm.attempts;
    // Retry-After 60 s, with 2 s of the window left.
    fcm.respondNext(503, fcmError(503, 'UNAVAILABLE'), { 'retry-after': '60' });
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: call(alice, conv, { ring_timeout_ms: 2000 }) });
    expect(fcm.attempts - attempts).toBe(1);
    expect(fcmFor(token)).toEqual([]);
    expect(t.app.push.ringStats.givenUp - before.givenUp).toBe(1);
  });

  test('FCM UNREGISTERED and Web Push 410 remove the devices', async () => {
    const { alice, bob, token, conv } = await callee();
    const subscription = webPush.subscribe();
    await withDevice(bob, { platform: 'webpush', subscription });
    fcm.unregister(token);
    webPush.expire(subscription);
    await t.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: call(alice, conv) });
    expect((await t.request('GET', '/api/v1/devices', { token: bob.token })).body.devices).toEqual([]);
  });
});

describe('PUSH_PREVIEW none', () => {
  test('the ring names nobody: "Incoming call", no caller in the data', async () => {
    const app = await startApp(
      envConfig({ PUSH_PREVIEW: 'none', FCM_SERVICE_ACCOUNT_FILE: peers.serviceAccountFile, FCM_ENDPOINT: fcm.endpoint, FCM_TOKEN_URL: fcm.tokenUrl }),
    );
    try {
      const alice = await registerUser(app);
      const bob = await registerUser(app);
      const token = fcmToken();
      const res = await app.request('POST', '/api/v1/devices', { token: bob.token, body: { platform: 'fcm', token } });
      expect(res.status).toBe(201);
      const conv = await direct(app, alice, bob);
      const c = call(alice, conv);
      await app.app.push.ringDevices({ userId: bob.user.id, excludeDevices: [], call: c });
      const [got] = fcmFor(token);
      expect(got!.message.apns.payload.aps.alert).toEqual({ body: 'Incoming call' });
      expect(got!.message.data).toMatchObject({ kind: 'call', call_id: c.call_id, conversation_id: String(conv) });
      expect('caller_id' in got!.message.data).toBe(false);
      expect(JSON.stringify(got!.message)).not.toContain(alice.user.username);
    } finally {
      await app.close();
    }
  });
});
