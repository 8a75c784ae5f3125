import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { MUTED_FOREVER } from '../../src/domain/member-settings.js';
import { envConfig, registerUser, startApp, type TestApp } from '../harness/app.js';
import { fcmError, startPushPeers, type FcmServer, type PushPeers, type WebhookReceiver, WebPushReceiver } from '../harness/push-peers.js';
import { direct, group, restSend, Sockets, type User } from '../realtime/fixtures.js';

/**
 * Push notifications end to end: the real app, its outbox and worker, and real protocol
 * peers on loopback (FCM v1 with its OAuth2 token endpoint, a Web Push service that
 * decrypts, a webhook receiver that checks the HMAC). Time is real: PUSH_DELAY is short.
 */

const DELAY_MS = 300;
/** Long enough for a push that should not come to have come. */
const QUIET_MS = DELAY_MS * 4 + 400;
const SECRET = 'webhook-secret-for-tests-0123456789';

let peers: PushPeers;
let fcm: FcmServer;
let webPush: WebPushReceiver;
let hook: WebhookReceiver;
let t: TestApp;
const sockets = new Sockets();

async function pushApp(env: Record<string, string> = {}, opts: Parameters<typeof startApp>[1] = {}): Promise<TestApp> {
  return startApp(envConfig({ PUSH_DELAY: `${DELAY_MS}ms`, ...peers.env, ...env }), opts);
}

beforeAll(async () => {
  peers = await startPushPeers({ projectId: 'natter-test', webhookSecret: SECRET });
  ({ fcm, webPush, hook } = peers);
  t = await pushApp();
});

afterEach(() => sockets.closeAll());

afterAll(async () => {
  await t?.close();
  await peers?.close();
});

const fcmToken = () => `fcm-${randomBytes(16).toString('hex')}`;

async function withDevice(t: TestApp, user: User, body: Record<string, unknown>): Promise<number> {
  const res = await t.request('POST', '/api/v1/devices', { token: user.token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.device.id as number;
}

/** A user with one FCM phone; returns the user and the phone's token. */
async function phoneUser(t: TestApp): Promise<{ user: User; token: string }> {
  const user = await registerUser(t);
  const token = fcmToken();
  await withDevice(t, user, { platform: 'fcm', token });
  return { user, token };
}

const fcmFor = (token: string) => fcm.received.filter((r) => r.message.token === token);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `n` FCM pushes reached `token` (and fails after timeoutMs). */
async function fcmPushes(token: string, n: number, timeoutMs = 8000) {
  const until = Date.now() + timeoutMs;
  while (fcmFor(token).length < n) {
    if (Date.now() > until) throw new Error(`waited for ${n} pushes to ${token}, got ${fcmFor(token).length}`);
    await sleep(25);
  }
  return fcmFor(token);
}

async function outboxRows(t: TestApp) {
  return t.app.database.db.selectFrom('push_outbox').selectAll().execute();
}

describe('who is pushed', () => {
  test('an offline recipient gets one notification for messages sent within PUSH_DELAY: latest text, count, badge, collapse key', async () => {
    // A delay of its own, long enough that the three sends fall inside it on a loaded machine.
    const t = await pushApp({ PUSH_DELAY: '1500ms' });
    try {
      const alice = await registerUser(t);
      const bob = await phoneUser(t);
      const conv = await direct(t, alice, bob.user);
      await restSend(t, alice, conv, 'first');
      await restSend(t, alice, conv, 'second');
      const last = await restSend(t, alice, conv, 'see you at 8');

      const [push] = await fcmPushes(bob.token, 1);
      await sleep(QUIET_MS);
      expect(fcmFor(bob.token)).toHaveLength(1);
      const m = push!.message;
      expect(m.notification).toEqual({ title: alice.user.username, body: 'see you at 8' });
      expect(m.data).toMatchObject({
        kind: 'message',
        conversation_id: String(conv),
        seq: String(last.seq),
        message_id: String(last.id),
        count: '3',
        sender_id: String(alice.user.id),
      });
      expect(m.apns.payload.aps.badge).toBe(3);
      expect(m.android.collapse_key).toBe(`conversation-${conv}`);
      expect(m.android.priority).toBe('high');
      // The sender's own devices are not pushed for their own message.
      expect(await outboxRows(t)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  test('a later message in the same conversation, after the first was pushed, is pushed again (replacing it on the device)', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const conv = await direct(t, alice, bob.user);
    await restSend(t, alice, conv, 'one');
    await fcmPushes(bob.token, 1);
    await restSend(t, alice, conv, 'two');
    const pushes = await fcmPushes(bob.token, 2);
    expect(pushes[1]!.message.notification.body).toBe('two');
    expect(pushes[1]!.message.data.count).toBe('2');
    expect(pushes[1]!.message.android.collapse_key).toBe(pushes[0]!.message.android.collapse_key);
  });

  test('a recipient whose socket got the message and said delivered within PUSH_DELAY is not pushed', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const conv = await direct(t, alice, bob.user);
    const ws = await sockets.connect(t, bob.user);
    await restSend(t, alice, conv, 'are you there?');
    const frame = await ws.next((f) => f.type === 'new_message');
    ws.send({ type: 'delivered', conversation_id: conv, seq: frame.message.seq });
    await sleep(QUIET_MS);
    expect(fcmFor(bob.token)).toEqual([]);
    expect(await outboxRows(t)).toEqual([]);
  });

  test('a muted conversation pushes nothing, also when muted after the message was sent', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const carol = await phoneUser(t);
    const conv = await group(t, alice, [bob.user, carol.user], 'Hikers');
    const mute = await t.request('PATCH', `/api/v1/conversations/${conv}/settings`, {
      token: bob.user.token,
      body: { muted_until: MUTED_FOREVER },
    });
    expect(mute.status, JSON.stringify(mute.body)).toBe(200);
    await restSend(t, alice, conv, 'trail is open');
    // Carol mutes right after the message committed, before it is due.
    const late = await t.request('PATCH', `/api/v1/conversations/${conv}/settings`, {
      token: carol.user.token,
      body: { muted_until: MUTED_FOREVER },
    });
    expect(late.status).toBe(200);
    await sleep(QUIET_MS);
    expect(fcmFor(bob.token)).toEqual([]);
    expect(fcmFor(carol.token)).toEqual([]);
  });

  test('in a group, a member who blocks the sender is not pushed; the others are, with the group as title', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const carol = await phoneUser(t);
    const conv = await group(t, alice, [bob.user, carol.user], 'Hikers');
    expect((await t.request('POST', `/api/v1/users/${alice.user.id}/block`, { token: bob.user.token })).status).toBeLessThan(300);
    await restSend(t, alice, conv, 'summit at noon');
    const [push] = await fcmPushes(carol.token, 1);
    expect(push!.message.notification).toEqual({ title: 'Hikers', body: `${alice.user.username}: summit at noon` });
    await sleep(QUIET_MS);
    expect(fcmFor(bob.token)).toEqual([]);
  });

  test('a recipient who acks each message within a moment is not pushed for one that joined a waiting notification late', async () => {
    // Rounds by hand, so that the one deciding comes after the first message's delay and
    // before the second's, whatever the machine's load.
    const app = await pushApp({ PUSH_DELAY: '2s' }, { pushTuning: { worker: false } });
    try {
      const alice = await registerUser(app);
      const bob = await phoneUser(app);
      const conv = await direct(app, alice, bob.user);
      const ws = await sockets.connect(app, bob.user);
      const deliver = async (content: string) => {
        const f = await ws.next((x) => x.type === 'new_message' && x.message.content === content);
        ws.send({ type: 'delivered', conversation_id: conv, seq: f.message.seq });
        await ws.next((x) => x.type === 'receipt' && x.seq === f.message.seq);
      };
      await restSend(app, alice, conv, 'first');
      // Its row is due at most 2 s from now.
      const t0 = Date.now();
      await deliver('first');
      // Late in the first one's delay: its own is not over when the first one's is.
      await sleep(Math.max(0, t0 + 1000 - Date.now()));
      await restSend(app, alice, conv, 'second');
      expect(Date.now() - t0, 'the second message must commit inside the first one\'s delay').toBeLessThan(1800);
      await sleep(Math.max(0, t0 + 2100 - Date.now()));
      // "first" is past its delay and delivered; "second" is not delivered yet, but its own
      // delay is not over: no push now.
      await app.app.push.runOnce();
      await deliver('second');
      await sleep(2100);
      await app.app.push.runOnce();
      await sleep(200);
      expect(fcmFor(bob.token).map((r) => r.message.notification)).toEqual([]);
      expect(fcmFor(bob.token)).toEqual([]);
    } finally {
      await app.close();
    }
  });

  test('a phone another account takes over gets nothing that was waiting for the previous one', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const carol = await registerUser(t);
    const conv = await direct(t, alice, bob.user);
    await restSend(t, alice, conv, 'the vault code is 4711');
    // Within PUSH_DELAY Carol logs in on the same phone and registers its token.
    const taken = await t.request('POST', '/api/v1/devices', { token: carol.token, body: { platform: 'fcm', token: bob.token } });
    expect(taken.status).toBe(200);
    await sleep(QUIET_MS);
    expect(fcmFor(bob.token)).toEqual([]);
    expect(await outboxRows(t)).toEqual([]);
  });

  test('after logout the session\'s devices are gone and get nothing', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const conv = await direct(t, alice, bob.user);
    expect((await t.request('POST', '/api/v1/auth/logout', { token: bob.user.token })).status).toBeLessThan(300);
    await restSend(t, alice, conv, 'hello?');
    await sleep(QUIET_MS);
    expect(fcmFor(bob.token)).toEqual([]);
  });

  test('system messages (a rename) push nothing; photos show as "📷 Photo"', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const conv = await group(t, alice, [bob.user], 'Old name');
    const rename = await t.request('PATCH', `/api/v1/conversations/${conv}`, { token: alice.token, body: { name: 'New name' } });
    expect(rename.status, JSON.stringify(rename.body)).toBe(200);
    await sleep(QUIET_MS);
    expect(fcmFor(bob.token)).toEqual([]);
    const res = await t.request('POST', `/api/v1/conversations/${conv}/messages`, {
      token: alice.token,
      body: { content: 'https://example.com/cat.jpg', type: 'image', media_url: 'https://example.com/cat.jpg' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [push] = await fcmPushes(bob.token, 1);
    expect(push!.message.notification.body).toBe(`${alice.user.username}: 📷 Photo`);
  });
});

describe('providers', () => {
  test('Web Push: the browser decrypts title, body, badge and data; the topic collapses per conversation', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    const subscription = webPush.subscribe();
    await withDevice(t, bob, { platform: 'webpush', subscription });
    const conv = await direct(t, alice, bob);
    const sent = await restSend(t, alice, conv, 'hi from the web');
    const id = WebPushReceiver.idOf(subscription);
    const until = Date.now() + 8000;
    while (!webPush.received.some((r) => r.subscriptionId === id) && Date.now() < until) await sleep(25);
    const got = webPush.received.filter((r) => r.subscriptionId === id);
    expect(got).toHaveLength(1);
    expect(got[0]!.payload).toMatchObject({
      title: alice.user.username,
      body: 'hi from the web',
      badge: 1,
      data: { conversation_id: String(conv), message_id: String(sent.id) },
    });
    expect(got[0]!.headers.topic).toBeTruthy();
    expect(got[0]!.headers.urgency).toBe('high');
    expect(got[0]!.vapid.sub).toBe('mailto:ops@example.com');
  });

  test('webhook: a signed JSON body with the device token reaches the operator\'s gateway', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    const token = `apns-${randomBytes(16).toString('hex')}`;
    const deviceId = await withDevice(t, bob, { platform: 'webhook', token });
    const conv = await direct(t, alice, bob);
    await restSend(t, alice, conv, 'bridged');
    const until = Date.now() + 8000;
    while (!hook.received.some((r) => r.body.token === token) && Date.now() < until) await sleep(25);
    const got = hook.received.filter((r) => r.body.token === token);
    expect(got).toHaveLength(1);
    expect(got[0]!.body).toMatchObject({
      device_id: deviceId,
      token,
      notification: { title: alice.user.username, body: 'bridged', badge: 1, collapse_key: `conversation-${conv}` },
    });
  });
});

describe('failures', () => {
  test('a provider 500 then 200: delivered once, after a retry', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const conv = await direct(t, alice, bob.user);
    const attemptsBefore = fcm.attempts;
    fcm.respondNext(500, fcmError(500, 'INTERNAL'));
    await restSend(t, alice, conv, 'retry me');
    const [push] = await fcmPushes(bob.token, 1, 10_000);
    expect(push!.message.notification.body).toBe('retry me');
    expect(fcm.attempts - attemptsBefore).toBeGreaterThanOrEqual(2);
    await sleep(QUIET_MS);
    expect(fcmFor(bob.token)).toHaveLength(1);
    expect(await outboxRows(t)).toEqual([]);
  });

  test('FCM UNREGISTERED removes the device; Web Push 410 removes the subscription', async () => {
    const alice = await registerUser(t);
    const bob = await phoneUser(t);
    const subscription = webPush.subscribe();
    await withDevice(t, bob.user, { platform: 'webpush', subscription });
    fcm.unregister(bob.token);
    webPush.expire(subscription);
    const conv = await direct(t, alice, bob.user);
    await restSend(t, alice, conv, 'anyone?');
    const until = Date.now() + 8000;
    let devices: unknown[] = [];
    while (Date.now() < until) {
      devices = (await t.request('GET', '/api/v1/devices', { token: bob.user.token })).body.devices;
      if (devices.length === 0) break;
      await sleep(50);
    }
    expect(devices).toEqual([]);
    expect(await outboxRows(t)).toEqual([]);
  });

  test('a stored Web Push subscription outside WEBPUSH_ENDPOINTS is not sent to, and goes', async () => {
    const app = await pushApp({ WEBPUSH_ENDPOINTS: 'https://fcm.googleapis.com' });
    try {
      const alice = await registerUser(app);
      const bob = await registerUser(app);
      const subscription = webPush.subscribe();
      // Registered when the list allowed it (or before the list existed).
      const [session] = await app.app.database.db.selectFrom('sessions').select('id').where('user_id', '=', bob.user.id).execute();
      await app.app.database.db
        .insertInto('push_devices')
        .values({ user_id: bob.user.id, session_id: session!.id, platform: 'webpush', token: null, subscription: JSON.stringify(subscription), address: subscription.endpoint })
        .execute();
      const before = webPush.attempts;
      const conv = await direct(app, alice, bob);
      await restSend(app, alice, conv, 'not for you');
      const until = Date.now() + 8000;
      while ((await app.app.database.db.selectFrom('push_devices').select('id').where('user_id', '=', bob.user.id).execute()).length > 0 && Date.now() < until) await sleep(25);
      expect(await app.app.database.db.selectFrom('push_devices').select('id').where('user_id', '=', bob.user.id).execute()).toEqual([]);
      expect(webPush.attempts).toBe(before);
    } finally {
      await app.close();
    }
  });

  test('gives up after PUSH_MAX_ATTEMPTS and leaves nothing waiting', async () => {
    const app = await pushApp({ PUSH_MAX_ATTEMPTS: '1' });
    try {
      const alice = await registerUser(app);
      const bob = await phoneUser(app);
      const conv = await direct(app, alice, bob.user);
      fcm.respondNext(503, fcmError(503, 'UNAVAILABLE'));
      await restSend(app, alice, conv, 'lost cause');
      const until = Date.now() + 8000;
      while ((app.app.push.stats.givenUp === 0 || (await outboxRows(app)).length > 0) && Date.now() < until) await sleep(25);
      expect(app.app.push.stats.givenUp).toBe(1);
      expect(await outboxRows(app)).toEqual([]);
      expect(fcmFor(bob.token)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('PUSH_PREVIEW', () => {
  test('sender shows only who wrote; none shows nothing identifying', async () => {
    for (const [preview, expected] of [
      ['sender', (name: string) => ({ notification: { body: `New message from ${name}` }, hasSender: true })],
      ['none', () => ({ notification: { body: 'New message' }, hasSender: false })],
    ] as const) {
      const app = await pushApp({ PUSH_PREVIEW: preview });
      try {
        const alice = await registerUser(app);
        const bob = await phoneUser(app);
        const conv = await direct(app, alice, bob.user);
        await restSend(app, alice, conv, 'the secret plan');
        const [push] = await fcmPushes(bob.token, 1);
        const want = expected(alice.user.username);
        expect(push!.message.notification, preview).toEqual(want.notification);
        expect(JSON.stringify(push!.message), preview).not.toContain('the secret plan');
        expect('sender_id' in push!.message.data, preview).toBe(want.hasSender);
        if (!want.hasSender) expect(JSON.stringify(push!.message)).not.toContain(alice.user.username);
      } finally {
        await app.close();
      }
    }
  }, 90_000);
});
