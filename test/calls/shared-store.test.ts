import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import type { CallsOptions } from '../../src/services/calls.js';
import type { Database } from '../../src/store/database.js';
import { envConfig, registerUser, startApp, testDatabase, type TestApp } from '../harness/app.js';
import { startPushPeers, type PushPeers } from '../harness/push-peers.js';
import { direct, Sockets, type User } from '../realtime/fixtures.js';

// Nodes of one process that share their calls in Redis, their bus and one database,
// as a cluster's nodes do: what two nodes handling one call at the same moment must get
// right. A call rings the callee's devices that do not show it by a push of its own,
// sent by the node that placed the call after the grace — or, when that node stopped
// first, by another node: once, whichever (the callee's devices are webhook devices,
// received by a peer that checks signatures). Keepalives from both ends of a call,
// through two nodes at once, both count.

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'webhook-secret-for-ring-pushes-0123456789';
const busPrefix = `sharedcalls${randomBytes(4).toString('hex')}`;

const sockets = new Sockets();
const apps: TestApp[] = [];
let peers: PushPeers;
let database: Database;

beforeAll(async () => {
  peers = await startPushPeers({ projectId: 'natter-ring-push', webhookSecret: SECRET });
  database = await testDatabase();
});
afterEach(async () => {
  await sockets.closeAll();
  for (const t of apps.splice(0).reverse()) await t.close();
});
afterAll(async () => {
  await peers?.close();
  await database?.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${busPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** A node of the deployment: calls and bus in Redis, the shared database, the push peers. */
async function node(tuning: Partial<CallsOptions> = {}): Promise<TestApp> {
  const t = await startApp(
    { ...envConfig(peers.env), bus: 'redis', redisUrl: REDIS_URL, busPrefix, callRingTimeout: 20 },
    { callTuning: { pollMs: 50, ...tuning }, database: { ...database, close: async () => {} } },
  );
  apps.push(t);
  return t;
}

/** A session of `user` with a webhook push device; its token. */
async function phone(t: TestApp, user: User): Promise<{ token: string; pushToken: string }> {
  const login = await t.request('POST', '/api/v1/auth/login', { body: { email: user.user.email, password: 'password123' } });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  const pushToken = `voip-${randomBytes(16).toString('hex')}`;
  const res = await t.request('POST', '/api/v1/devices', { token: login.body.token, body: { platform: 'webhook', token: pushToken } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { token: login.body.token, pushToken };
}

/** The ring pushes a device got (the peer keeps only bodies whose signature it verified). */
const rings = (pushToken: string) => peers.hook.received.filter((r) => r.body.token === pushToken && r.body.kind === 'call').map((r) => r.body);

async function invite(t: TestApp, caller: User, conv: number): Promise<string> {
  const ws = await sockets.connect(t, caller);
  const id = randomUUID();
  ws.send({ type: 'call_invite', conversation_id: conv, call_id: id, sdp: 'v=0', video: false });
  await ws.next((f) => f.type === 'new_message' && f.message.call?.call_id === id);
  return id;
}

test('an invite rings by push the callee devices that did not show it; a device that said call_ringing is not pushed', async () => {
  const t = await node();
  const [alice, bob] = [await registerUser(t), await registerUser(t)];
  const conv = await direct(t, alice, bob);
  const [inPocket, onDesk] = [await phone(t, bob), await phone(t, bob)];
  const desk = await sockets.connect(t, onDesk);

  const id = await invite(t, alice, conv);
  expect((await desk.nextOfType('call_invite')).call_id).toBe(id);
  desk.send({ type: 'call_ringing', call_id: id });

  await expect.poll(() => rings(inPocket.pushToken).length, { timeout: 5000 }).toBe(1);
  expect(rings(inPocket.pushToken)[0]).toMatchObject({ notification: { data: { kind: 'call', call_id: id, conversation_id: String(conv) } } });
  expect(rings(onDesk.pushToken)).toEqual([]);
});

test('the node that placed a call stopped before its ring push: another node sends it, once', async () => {
  // The first node's grace outlasts it: it stops with the push unsent, as a node that dies
  // in the second between placing a call and ringing by push.
  const first = await node({ pushGraceMs: 60_000 });
  const [alice, bob] = [await registerUser(first), await registerUser(first)];
  const conv = await direct(first, alice, bob);
  const pocket = await phone(first, bob);
  const id = await invite(first, alice, conv);
  await sockets.closeAll();
  await apps.pop()!.close();
  expect(rings(pocket.pushToken)).toEqual([]);

  await node({ pushGraceMs: 100, pushTakeoverMs: 100 });
  await expect.poll(() => rings(pocket.pushToken).length, { timeout: 5000 }).toBe(1);
  expect(rings(pocket.pushToken)[0]).toMatchObject({ notification: { data: { kind: 'call', call_id: id } } });
  // Late, but inside the ring window: the push says how long it still rings.
  expect(rings(pocket.pushToken)[0]!.ttl_seconds).toBeGreaterThan(0);
  await new Promise((r) => setTimeout(r, 500));
  expect(rings(pocket.pushToken)).toHaveLength(1);
});

test('with every node up, the ring push goes once, though each could send it', async () => {
  // No takeover wait: both nodes go for the push at the same moment.
  const [first] = [await node({ pushGraceMs: 200, pushTakeoverMs: 0 }), await node({ pushGraceMs: 200, pushTakeoverMs: 0 })];
  const [alice, bob] = [await registerUser(first!), await registerUser(first!)];
  const conv = await direct(first!, alice, bob);
  const pocket = await phone(first!, bob);
  const id = await invite(first!, alice, conv);
  await expect.poll(() => rings(pocket.pushToken).length, { timeout: 5000 }).toBe(1);
  await new Promise((r) => setTimeout(r, 800));
  expect(rings(pocket.pushToken).map((r) => r.notification.data.call_id)).toEqual([id]);
});

test('keepalives from both ends through two nodes at the same moment both count: the call goes on', async () => {
  const [one, two] = [await node({ deviceGraceMs: 400 }), await node({ deviceGraceMs: 400 })];
  const [alice, bob] = [await registerUser(one), await registerUser(one)];
  const conv = await direct(one, alice, bob);
  const [a, b] = [await sockets.connect(one, alice), await sockets.connect(two, bob)];
  const id = randomUUID();
  a.send({ type: 'call_invite', conversation_id: conv, call_id: id, sdp: 'v=0', video: false });
  await b.next((f) => f.type === 'call_invite' && f.call_id === id);
  b.send({ type: 'call_answer', call_id: id, sdp: 'v=0 answer' });
  await a.next((f) => f.type === 'call_selected' && f.call_id === id);
  const alive = (ws: typeof a) => ws.send({ type: 'call_connected', call_id: id });
  alive(b);
  await a.next((f) => f.type === 'message_updated' && f.message.call?.call_id === id && f.message.call.outcome === 'active');
  // Each end repeats it every 100 ms (15 s in an app), in the same tick, for five graces.
  const both = setInterval(() => [a, b].forEach(alive), 100);
  await a.expectNone((f) => f.type === 'call_ended', 2000).finally(() => clearInterval(both));
  expect((await one.app.callStore.get(id))?.state).toBe('active');
});
