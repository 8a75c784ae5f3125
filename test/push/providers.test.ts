import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import webpush from 'web-push';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { FcmProvider, loadServiceAccount } from '../../src/push/fcm.js';
import { parseRetryAfter, type PushNotification, type PushTarget } from '../../src/push/provider.js';
import { verifyWebhookSignature, WebhookProvider } from '../../src/push/webhook.js';
import { WEBPUSH_MAX_PLAINTEXT, WebPushProvider } from '../../src/push/webpush.js';
import { closedPort, FcmServer, fcmError, makeServiceAccount, WebhookReceiver, WebPushReceiver } from '../harness/push-peers.js';

function notification(over: Partial<PushNotification> = {}): PushNotification {
  return {
    conversationId: 42,
    collapseKey: 'conversation-42',
    title: 'Ada Lovelace',
    body: 'Lunch at noon?',
    badge: 3,
    count: 2,
    data: { conversation_id: '42', seq: '17', message_id: '901', kind: 'message' },
    ...over,
  };
}

const fcmTarget = (token: string): PushTarget => ({ deviceId: 7, platform: 'fcm', token, subscription: null });

/** Closed after each test, so a failing test leaks no sockets into the next. */
const toClose: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((c) => c.close()));
});
function closing<T extends { close(): Promise<void> }>(thing: T): T {
  toClose.push(thing);
  return thing;
}

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-12-03T10:00:00Z');
  test.each([
    ['7', 7000],
    ['0', 0],
    ['Thu, 03 Dec 2026 10:00:30 GMT', 30_000],
    ['Thu, 03 Dec 2026 09:59:00 GMT', 0],
  ])('%s → %s ms', (header, ms) => {
    expect(parseRetryAfter(header, now)).toBe(ms);
  });
  test.each([null, '', 'soon', '-1', '1.5', '12 apples'])('%s → undefined', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
});

describe('FcmProvider against a loopback FCM', () => {
  const { serviceAccount, publicKey } = makeServiceAccount('natter-test');
  let clock = Date.now();
  let fcm: FcmServer;
  beforeAll(async () => {
    fcm = await FcmServer.start({ projectId: 'natter-test', clientEmail: serviceAccount.client_email, publicKey, now: () => clock });
  });
  afterAll(() => fcm.close());

  function provider(over: Partial<ConstructorParameters<typeof FcmProvider>[0]> = {}): FcmProvider {
    return closing(
      new FcmProvider({ serviceAccount, endpoint: fcm.endpoint, tokenUrl: fcm.tokenUrl, timeoutMs: 2000, now: () => clock, ...over }),
    );
  }

  test('a notification arrives with its text, badge, collapse key and data for Android and iOS', async () => {
    const before = fcm.received.length;
    expect(await provider().send(fcmTarget('device-a'), notification())).toEqual({ kind: 'sent' });
    const { message } = fcm.received[before]!;
    expect(message.token).toBe('device-a');
    expect(message.notification).toEqual({ title: 'Ada Lovelace', body: 'Lunch at noon?' });
    expect(message.data).toEqual({ conversation_id: '42', seq: '17', message_id: '901', kind: 'message' });
    expect(message.android).toEqual({
      priority: 'high',
      collapse_key: 'conversation-42',
      notification: { tag: 'conversation-42', notification_count: 2, sound: 'default' },
    });
    expect(message.apns).toEqual({
      headers: { 'apns-collapse-id': 'conversation-42', 'apns-priority': '10' },
      payload: { aps: { badge: 3, sound: 'default', 'mutable-content': 1 } },
    });
  });

  test('with the preview hidden it is data-only, and the iOS badge is still set', async () => {
    const before = fcm.received.length;
    expect(await provider().send(fcmTarget('device-a'), notification({ title: null, body: null }))).toEqual({ kind: 'sent' });
    const { message } = fcm.received[before]!;
    expect(message.notification).toBeUndefined();
    expect(message.android).toEqual({ priority: 'high', collapse_key: 'conversation-42' });
    expect(message.apns.payload).toEqual({ aps: { badge: 3 } });
    expect(message.data.message_id).toBe('901');
  });

  test('one access token serves concurrent and later sends', async () => {
    const p = provider();
    const tokensBefore = fcm.tokenRequests;
    const before = fcm.received.length;
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => p.send(fcmTarget(`burst-${i}`), notification())));
    expect(results.every((r) => r.kind === 'sent')).toBe(true);
    expect(await p.send(fcmTarget('later'), notification())).toEqual({ kind: 'sent' });
    expect(fcm.tokenRequests - tokensBefore).toBe(1);
    const bearers = new Set(fcm.received.slice(before).map((r) => r.accessToken));
    expect(bearers.size).toBe(1);
  });

  test('the token is replaced a minute before it expires, not sooner', async () => {
    const p = provider();
    const start = clock;
    const tokensBefore = fcm.tokenRequests;
    const before = fcm.received.length;
    try {
      await p.send(fcmTarget('clocked'), notification());
      clock = start + (3600 - 61) * 1000;
      await p.send(fcmTarget('clocked'), notification());
      expect(fcm.tokenRequests - tokensBefore).toBe(1);
      clock = start + (3600 - 59) * 1000;
      expect(await p.send(fcmTarget('clocked'), notification())).toEqual({ kind: 'sent' });
      expect(fcm.tokenRequests - tokensBefore).toBe(2);
      const [first, second, third] = fcm.received.slice(before).map((r) => r.accessToken);
      expect(second).toBe(first);
      expect(third).not.toBe(first);
    } finally {
      clock = Date.now();
    }
  });

  test('a revoked token (401) is replaced and the message resent once', async () => {
    const p = provider();
    await p.send(fcmTarget('revoked'), notification());
    const tokensBefore = fcm.tokenRequests;
    const before = fcm.received.length;
    fcm.revokeTokens();
    expect(await p.send(fcmTarget('revoked'), notification())).toEqual({ kind: 'sent' });
    expect(fcm.tokenRequests - tokensBefore).toBe(1);
    expect(fcm.received.length - before).toBe(1);
    expect(fcm.refusals.at(-1)).toMatch(/bearer/);
  });

  test('500 is retry, and the next send gets through', async () => {
    const p = provider();
    const before = fcm.received.length;
    fcm.respondNext(500, fcmError(500, 'INTERNAL'));
    const first = await p.send(fcmTarget('flaky'), notification());
    expect(first).toMatchObject({ kind: 'retry', reason: expect.stringContaining('500') });
    expect(first).not.toHaveProperty('retryAfterMs');
    expect(await p.send(fcmTarget('flaky'), notification())).toEqual({ kind: 'sent' });
    expect(fcm.received.length - before).toBe(1);
  });

  test('429 with Retry-After: 7 is retry in 7000 ms', async () => {
    fcm.respondNext(429, fcmError(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'), { 'retry-after': '7' });
    expect(await provider().send(fcmTarget('busy'), notification())).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
  });

  test('an UNREGISTERED token is gone', async () => {
    fcm.unregister('uninstalled');
    expect(await provider().send(fcmTarget('uninstalled'), notification())).toEqual({ kind: 'gone' });
    // The errorCode decides, whatever the status.
    fcm.respondNext(400, fcmError(400, 'INVALID_ARGUMENT', 'UNREGISTERED'));
    expect(await provider().send(fcmTarget('device-a'), notification())).toEqual({ kind: 'gone' });
  });

  test('400 INVALID_ARGUMENT is failed, not gone', async () => {
    fcm.respondNext(400, fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'));
    expect(await provider().send(fcmTarget('device-a'), notification())).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('INVALID_ARGUMENT'),
    });
  });

  test('an unreachable FCM or token endpoint is retry', async () => {
    const port = await closedPort();
    expect(await provider({ endpoint: `http://127.0.0.1:${port}` }).send(fcmTarget('device-a'), notification())).toMatchObject({
      kind: 'retry',
      reason: expect.stringContaining('ECONNREFUSED'),
    });
    expect(await provider({ tokenUrl: `http://127.0.0.1:${port}/token` }).send(fcmTarget('device-a'), notification())).toMatchObject({
      kind: 'retry',
      reason: expect.stringContaining('access token'),
    });
  });

  test('a token endpoint that is down is retry; one that refuses the key is failed', async () => {
    fcm.respondNextToken(503, { error: 'backendError' }, { 'retry-after': '3' });
    expect(await provider().send(fcmTarget('device-a'), notification())).toMatchObject({ kind: 'retry', retryAfterMs: 3000 });

    const impostor = makeServiceAccount('natter-test').serviceAccount;
    const refused = await provider({ serviceAccount: { ...impostor, client_email: serviceAccount.client_email } }).send(
      fcmTarget('device-a'),
      notification(),
    );
    expect(refused).toMatchObject({ kind: 'failed', reason: expect.stringContaining('invalid_grant') });
    expect(fcm.refusals.at(-1)).toMatch(/signature/);
  });

  test('loadServiceAccount reads a key file and names what is wrong with a bad one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'natter-fcm-'));
    try {
      const good = path.join(dir, 'good.json');
      await writeFile(good, JSON.stringify(serviceAccount));
      expect(await loadServiceAccount(good)).toEqual({
        project_id: 'natter-test',
        client_email: serviceAccount.client_email,
        private_key: serviceAccount.private_key,
        token_uri: serviceAccount.token_uri,
      });
      const noEmail = path.join(dir, 'no-email.json');
      await writeFile(noEmail, JSON.stringify({ ...serviceAccount, client_email: '' }));
      await expect(loadServiceAccount(noEmail)).rejects.toThrow(/no-email\.json.*"client_email" is missing/);
      const notJson = path.join(dir, 'not.json');
      await writeFile(notJson, 'project_id=x');
      await expect(loadServiceAccount(notJson)).rejects.toThrow(/not\.json: not JSON/);
      await expect(loadServiceAccount(path.join(dir, 'absent.json'))).rejects.toThrow(/absent\.json: cannot read/);
      const badKey = path.join(dir, 'bad-key.json');
      await writeFile(badKey, JSON.stringify({ ...serviceAccount, private_key: 'hunter2' }));
      await expect(loadServiceAccount(badKey)).rejects.toThrow(/"private_key" is not a PKCS#8 PEM key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('WebPushProvider against a loopback push service', () => {
  const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:push@natter.test' };
  let service: WebPushReceiver;
  beforeAll(async () => {
    service = await WebPushReceiver.start({ applicationServerKey: vapid.publicKey });
  });
  afterAll(() => service.close());

  const provider = (over: { vapid?: typeof vapid; timeoutMs?: number } = {}) =>
    closing(new WebPushProvider({ vapid, ttlSeconds: 600, timeoutMs: 2000, ...over }));
  const target = (subscription = service.subscribe()): PushTarget => ({ deviceId: 9, platform: 'webpush', token: null, subscription });

  test('the browser decrypts the notification, with TTL, high urgency, the collapse key as Topic, and VAPID', async () => {
    const subscription = service.subscribe();
    const before = service.received.length;
    expect(await provider().send(target(subscription), notification())).toEqual({ kind: 'sent' });
    const got = service.received[before]!;
    expect(got.subscriptionId).toBe(WebPushReceiver.idOf(subscription));
    expect(got.payload).toEqual({
      title: 'Ada Lovelace',
      body: 'Lunch at noon?',
      badge: 3,
      count: 2,
      data: { conversation_id: '42', seq: '17', message_id: '901', kind: 'message' },
      collapse_key: 'conversation-42',
    });
    expect(got.headers).toEqual({ ttl: '600', topic: 'conversation-42', urgency: 'high' });
    expect(got.vapid).toMatchObject({ aud: service.origin, sub: 'mailto:push@natter.test' });
  });

  test('a hidden preview arrives as nulls with the badge', async () => {
    const before = service.received.length;
    await provider().send(target(), notification({ title: null, body: null }));
    expect(service.received[before]!.payload).toMatchObject({ title: null, body: null, badge: 3, count: 2 });
  });

  test('a collapse key that is not a valid Topic becomes a stable, distinct one', async () => {
    const before = service.received.length;
    const p = provider();
    await p.send(target(), notification({ collapseKey: 'conv:42/a' }));
    await p.send(target(), notification({ collapseKey: 'conv:42/a' }));
    await p.send(target(), notification({ collapseKey: 'conv.42/a' }));
    const [a, again, other] = service.received.slice(before).map((r) => r.headers.topic);
    expect(a).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(again).toBe(a);
    expect(other).not.toBe(a);
    // The app still gets the real key to replace notifications by.
    expect(service.received[before]!.payload.collapse_key).toBe('conv:42/a');
  });

  test.each([
    ['ASCII', 'x'.repeat(10_000)],
    ['emoji', '🦜'.repeat(3000)],
    ['quotes', '"\\'.repeat(3000)],
  ])('a long body (%s) is cut to fit 4 KB and still arrives', async (_name, body) => {
    const before = service.received.length;
    expect(await provider().send(target(), notification({ body }))).toEqual({ kind: 'sent' });
    const got = service.received[before]!;
    expect(got.bodyBytes).toBeLessThanOrEqual(4096);
    expect(got.payload.body.endsWith('…')).toBe(true);
    expect(body.startsWith(got.payload.body.slice(0, -1))).toBe(true);
    expect(got.payload.body.length).toBeGreaterThan(WEBPUSH_MAX_PLAINTEXT / 8);
    expect(got.payload.title).toBe('Ada Lovelace');
  });

  test('data too big to fit is failed', async () => {
    const data = { blob: 'x'.repeat(5000) };
    expect(await provider().send(target(), notification({ data }))).toMatchObject({ kind: 'failed' });
  });

  test('500 is retry, then 201 is sent', async () => {
    const p = provider();
    const t = target();
    const before = service.received.length;
    service.respondNext(500);
    expect(await p.send(t, notification())).toMatchObject({ kind: 'retry', reason: expect.stringContaining('500') });
    expect(await p.send(t, notification())).toEqual({ kind: 'sent' });
    expect(service.received.length - before).toBe(1);
  });

  test('429 with Retry-After: 7 is retry in 7000 ms', async () => {
    service.respondNext(429, undefined, { 'retry-after': '7' });
    expect(await provider().send(target(), notification())).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
  });

  test('an expired subscription (410) or an unknown one (404) is gone', async () => {
    const subscription = service.subscribe();
    service.expire(subscription);
    expect(await provider().send(target(subscription), notification())).toEqual({ kind: 'gone' });
    const unknown = { ...subscription, endpoint: `${service.origin}/push/never-made` };
    expect(await provider().send(target(unknown), notification())).toEqual({ kind: 'gone' });
  });

  test('400 is failed; a VAPID key the subscription is not bound to is failed (403)', async () => {
    service.respondNext(400, 'bad request');
    expect(await provider().send(target(), notification())).toMatchObject({ kind: 'failed', reason: 'HTTP 400: bad request' });
    const stranger = { ...webpush.generateVAPIDKeys(), subject: 'mailto:push@natter.test' };
    expect(await provider({ vapid: stranger }).send(target(), notification())).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('403'),
    });
    expect(service.refusals.at(-1)).toMatch(/applicationServerKey/);
  });

  test('a subscription whose keys are not a P-256 key and auth secret is failed, without a request', async () => {
    const attempts = service.attempts;
    const broken = { ...service.subscribe(), keys: { p256dh: 'AAAA', auth: 'AAAA' } };
    expect(await provider().send(target(broken), notification())).toMatchObject({ kind: 'failed', reason: expect.stringContaining('p256dh') });
    expect(service.attempts).toBe(attempts);
  });

  test('an unreachable push service is retry', async () => {
    const port = await closedPort();
    const subscription = { ...service.subscribe(), endpoint: `http://127.0.0.1:${port}/push/x` };
    expect(await provider().send(target(subscription), notification())).toMatchObject({ kind: 'retry' });
  });
});

describe('WebhookProvider against a loopback receiver', () => {
  const secret = 'whsec_test_0123456789';
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await WebhookReceiver.start({ secret });
  });
  afterAll(() => receiver.close());

  const provider = (over: { secret?: string; timeoutMs?: number; now?: () => number; url?: string } = {}) =>
    closing(new WebhookProvider({ url: receiver.url, secret, timeoutMs: 2000, ...over }));
  const target: PushTarget = { deviceId: 11, platform: 'webhook', token: 'pager:ops-team', subscription: null };

  test('the receiver verifies the signature and gets the notification', async () => {
    const before = receiver.received.length;
    expect(await provider().send(target, notification())).toEqual({ kind: 'sent' });
    const got = receiver.received[before]!;
    expect(got.body).toEqual({
      device_id: 11,
      token: 'pager:ops-team',
      notification: {
        title: 'Ada Lovelace',
        body: 'Lunch at noon?',
        badge: 3,
        count: 2,
        collapse_key: 'conversation-42',
        data: { conversation_id: '42', seq: '17', message_id: '901', kind: 'message' },
      },
    });
    expect(Math.abs(Number(got.timestamp) - Date.now() / 1000)).toBeLessThan(5);
  });

  test('a request signed with another secret, or with a body changed after signing, is refused', async () => {
    const before = receiver.received.length;
    expect(await provider({ secret: 'not-the-secret' }).send(target, notification())).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('401'),
    });
    expect(receiver.refusals.at(-1)).toBe('bad signature');

    const timestamp = String(Math.floor(Date.now() / 1000));
    const signed = JSON.stringify({ device_id: 11, token: 'pager:ops-team', notification: { badge: 1 } });
    const signature = createHmac('sha256', secret).update(`${timestamp}.${signed}`).digest('hex');
    const tampered = signed.replace('"badge":1', '"badge":99');
    const reply = await fetch(receiver.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'natter-timestamp': timestamp, 'natter-signature': `v1=${signature}` },
      body: tampered,
    });
    expect(reply.status).toBe(401);
    expect(receiver.received.length).toBe(before);
  });

  test('a request stamped six minutes ago is refused as stale', async () => {
    const result = await provider({ now: () => Date.now() - 6 * 60_000 }).send(target, notification());
    expect(result).toMatchObject({ kind: 'failed' });
    expect(receiver.refusals.at(-1)).toMatch(/^stale/);
  });

  test('500 is retry, then the next send gets through', async () => {
    const p = provider();
    const before = receiver.received.length;
    receiver.respondNext(500, { error: 'down' });
    expect(await p.send(target, notification())).toMatchObject({ kind: 'retry', reason: expect.stringContaining('500') });
    expect(await p.send(target, notification())).toEqual({ kind: 'sent' });
    expect(receiver.received.length - before).toBe(1);
  });

  test('429 with Retry-After (seconds or a date) is retry after that long', async () => {
    receiver.respondNext(429, undefined, { 'retry-after': '7' });
    expect(await provider().send(target, notification())).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
    // An HTTP date has whole seconds, so two minutes ahead is a little under 120 s away.
    receiver.respondNext(503, undefined, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() });
    const result = await provider().send(target, notification());
    expect(result).toMatchObject({ kind: 'retry', reason: 'HTTP 503' });
    const wait = result.kind === 'retry' ? result.retryAfterMs : undefined;
    expect(wait).toBeGreaterThan(118_000);
    expect(wait).toBeLessThanOrEqual(120_000);
  });

  test('410 is gone; 400 and a redirect are failed', async () => {
    receiver.respondNext(410);
    expect(await provider().send(target, notification())).toEqual({ kind: 'gone' });
    receiver.respondNext(400, { error: 'unknown token' });
    expect(await provider().send(target, notification())).toMatchObject({ kind: 'failed', reason: 'HTTP 400: {"error":"unknown token"}' });
    receiver.respondNext(307, undefined, { location: 'http://127.0.0.1:1/elsewhere' });
    expect(await provider().send(target, notification())).toMatchObject({ kind: 'failed', reason: 'HTTP 307' });
  });

  test('an unreachable receiver, or one that does not answer in time, is retry', async () => {
    const port = await closedPort();
    expect(await provider({ url: `http://127.0.0.1:${port}/hooks/push` }).send(target, notification())).toMatchObject({
      kind: 'retry',
      reason: expect.stringContaining('ECONNREFUSED'),
    });
    receiver.respondNext(204, undefined, undefined, 3000);
    const started = Date.now();
    expect(await provider({ timeoutMs: 200 }).send(target, notification())).toEqual({ kind: 'retry', reason: 'no reply within 200 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('close() ends a send in flight as retry and refuses later ones without a request', async () => {
    const p = new WebhookProvider({ url: receiver.url, secret, timeoutMs: 10_000 });
    receiver.respondNext(204, undefined, undefined, 5000);
    const inFlight = p.send(target, notification());
    await new Promise((resolve) => setTimeout(resolve, 100));
    await p.close();
    expect(await inFlight).toEqual({ kind: 'retry', reason: 'provider closed' });
    const attempts = receiver.attempts;
    expect(await p.send(target, notification())).toEqual({ kind: 'retry', reason: 'provider closed' });
    expect(receiver.attempts).toBe(attempts);
  });
});

describe('verifyWebhookSignature', () => {
  const secret = 'whsec_verify';
  const now = Date.parse('2026-12-03T10:00:00Z');
  const ts = String(now / 1000);
  const body = '{"device_id":1}';
  const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');

  test('accepts the signature of the raw body, also among several (a rotation)', () => {
    expect(verifyWebhookSignature(secret, ts, body, `v1=${sig}`, now)).toBe(true);
    expect(verifyWebhookSignature(secret, ts, Buffer.from(body), `v1=${'0'.repeat(64)}, v1=${sig}`, now)).toBe(true);
  });

  test('refuses a timestamp older (or newer) than the tolerance', () => {
    expect(verifyWebhookSignature(secret, ts, body, `v1=${sig}`, now + 300_000)).toBe(true);
    expect(verifyWebhookSignature(secret, ts, body, `v1=${sig}`, now + 301_000)).toBe(false);
    expect(verifyWebhookSignature(secret, ts, body, `v1=${sig}`, now - 301_000)).toBe(false);
    expect(verifyWebhookSignature(secret, ts, body, `v1=${sig}`, now + 30_000, 10)).toBe(false);
  });

  test('refuses another body, secret, timestamp or a malformed header', () => {
    expect(verifyWebhookSignature(secret, ts, '{"device_id":2}', `v1=${sig}`, now)).toBe(false);
    expect(verifyWebhookSignature('other', ts, body, `v1=${sig}`, now)).toBe(false);
    expect(verifyWebhookSignature(secret, String(now / 1000 + 1), body, `v1=${sig}`, now)).toBe(false);
    expect(verifyWebhookSignature(secret, `${ts}.0`, body, `v1=${sig}`, now)).toBe(false);
    expect(verifyWebhookSignature(secret, ts, body, sig, now)).toBe(false);
    expect(verifyWebhookSignature(secret, ts, body, `v1=${sig.slice(0, 63)}`, now)).toBe(false);
    expect(verifyWebhookSignature(secret, ts, body, `v0=${sig}`, now)).toBe(false);
  });
});
