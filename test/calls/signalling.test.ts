import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { envConfig, registerUser, startApp, type TestApp } from '../harness/app.js';
import { parseProm, value } from '../metrics/prom-text.js';
import type { WsClient } from '../harness/ws.js';
import { direct, restSend, Sockets, type User } from '../realtime/fixtures.js';

let t: TestApp;
const sockets = new Sockets();
beforeAll(async () => {
  t = await startApp({ ...envConfig({ METRICS_PORT: '0' }), callRingTimeout: 1 }, { callTuning: { pollMs: 50, pushGraceMs: 50, deviceGraceMs: 300 } });
});
afterEach(() => sockets.closeAll());
afterAll(() => t.close());

async function login(u: User) {
  const res = await t.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'password123' } });
  return res.body as User & { device_id: string };
}

/** Alice and Bob, their direct conversation, and a socket each. */
async function pair() {
  const alice = await registerUser(t);
  const bob = await registerUser(t);
  const conv = await direct(t, alice, bob);
  return { alice, bob, conv, a: await sockets.connect(t, alice), b: await sockets.connect(t, bob) };
}

/** `from` invites the other member of `conv`; resolves to the call id. */
function invite(from: WsClient, conv: number, callId: string = randomUUID(), fields: { sdp?: string; video?: boolean } = {}): string {
  from.send({ type: 'call_invite', conversation_id: conv, call_id: callId, sdp: fields.sdp ?? 'v=0', video: fields.video ?? false });
  return callId;
}

test('invite rings both callee devices, one answers, the other hears answered_elsewhere, hangup finishes the record', async () => {
  const alice = await registerUser(t);
  const bob = await registerUser(t);
  const bob2 = await login(bob);
  const conv = await direct(t, alice, bob);
  const a = await sockets.connect(t, alice);
  const b1 = await sockets.connect(t, bob);
  const b2 = await sockets.connect(t, bob2);
  const [c1, c2] = [b1.all('connected')[0]!, b2.all('connected')[0]!];
  const callId = randomUUID();
  a.send({ type: 'call_invite', conversation_id: conv, call_id: callId, sdp: 'v=0 offer', video: false });
  const [i1, i2] = await Promise.all([b1.nextOfType('call_invite'), b2.nextOfType('call_invite')]);
  expect(i1).toMatchObject({ call_id: callId, sdp: 'v=0 offer', from_user_id: alice.user.id, video: false });
  expect(i2.call_id).toBe(callId);
  b1.send({ type: 'call_ringing', call_id: callId });
  expect((await a.nextOfType('call_ringing')).from_device).toBe(c1.device_id);
  b2.send({ type: 'call_answer', call_id: callId, sdp: 'v=0 answer' });
  const answer = await a.nextOfType('call_answer');
  expect(answer).toMatchObject({ sdp: 'v=0 answer', from_device: c2.device_id });
  expect((await a.nextOfType('call_selected')).device_id).toBe(c2.device_id);
  expect((await b1.nextOfType('call_ended')).reason).toBe('answered_elsewhere');
  b2.send({ type: 'call_connected', call_id: callId });
  await a.next((f) => f.type === 'message_updated' && f.message.call?.outcome === 'active');
  await new Promise((r) => setTimeout(r, 20));
  a.send({ type: 'call_hangup', call_id: callId });
  expect((await b2.nextOfType('call_ended')).reason).toBe('hangup');
  const done = await b2.next((f) => f.type === 'message_updated' && f.message.call?.outcome === 'finished');
  expect(done.message.call.duration_ms).toBeGreaterThan(0);
  // A frame for the ended call is refused.
  b2.send({ type: 'call_candidates', call_id: callId, candidates: [{ candidate: '' }] });
  expect((await b2.nextOfType('error')).code).toBe('not_found');
});

test('an unanswered call ends missed and stays unread', async () => {
  const alice = await registerUser(t);
  const bob = await registerUser(t);
  const conv = await direct(t, alice, bob);
  const a = await sockets.connect(t, alice);
  const callId = randomUUID();
  a.send({ type: 'call_invite', conversation_id: conv, call_id: callId, sdp: 'v=0', video: true });
  expect((await a.nextOfType('call_ended', 5000)).reason).toBe('missed');
  await a.next((f) => f.type === 'message_updated' && f.message.call?.outcome === 'missed');
  const list = await t.request('GET', '/api/v1/conversations', { token: bob.token });
  expect(list.body.conversations.find((c: any) => c.id === conv).unread_count).toBe(1);
});

test('calls placed and ended are counted by reason on /metrics', async () => {
  const scrape = async () => parseProm(await (await fetch(`${t.app.metricsUrl!}/metrics`)).text());
  const before = await scrape();
  const { a, b, conv } = await pair();
  const callId = invite(a, conv);
  await b.nextOfType('call_invite');
  b.send({ type: 'call_reject', call_id: callId });
  expect((await a.nextOfType('call_ended')).reason).toBe('declined');
  const after = await scrape();
  expect(value(after, 'natter_calls_started_total') - value(before, 'natter_calls_started_total')).toBe(1);
  const ended = (s: typeof after, reason: string) => value(s, 'natter_calls_ended_total', { reason });
  expect(ended(after, 'declined') - ended(before, 'declined')).toBe(1);
  expect(ended(after, 'missed') - ended(before, 'missed')).toBe(0);
});

test('a refused call frame names its call, and changes nothing', async () => {
  const { a, b, conv } = await pair();
  const callId = invite(a, conv, randomUUID(), { sdp: 'x'.repeat(32_769) });
  expect(await a.nextOfType('error')).toMatchObject({ code: 'validation_failed', field: 'sdp', call_id: callId });
  invite(a, conv, callId);
  await b.nextOfType('call_invite');
  // 65 candidates in one frame are refused; the call still rings and Bob's answer wins after.
  b.send({ type: 'call_candidates', call_id: callId, candidates: Array.from({ length: 65 }, () => ({ candidate: '' })) });
  expect(await b.nextOfType('error')).toMatchObject({ code: 'validation_failed', call_id: callId });
  b.send({ type: 'call_answer', call_id: callId, sdp: 'v=0 answer' });
  expect((await a.nextOfType('call_selected')).call_id).toBe(callId);
  a.send({ type: 'call_hangup', call_id: callId });
  expect((await b.nextOfType('call_ended')).reason).toBe('hangup');
});

const unread = async (u: User, conv: number) =>
  (await t.request('GET', '/api/v1/conversations', { token: u.token })).body.conversations.find((c: any) => c.id === conv).unread_count;
/** A call id that sorts before (`0…`) or after (`f…`) any random one. */
const lowId = () => `00000000${randomUUID().slice(8)}`;
const highId = () => `ffffffff${randomUUID().slice(8)}`;

test('a busy device that has no socket does not make the call busy while another device of the callee rings', async () => {
  const [alice, bob, carol] = [await registerUser(t), await registerUser(t), await registerUser(t)];
  const bob2 = await login(bob);
  const withCarol = await direct(t, carol, bob);
  const withAlice = await direct(t, alice, bob);
  const c = await sockets.connect(t, carol);
  const b1 = await sockets.connect(t, bob);
  const first = invite(c, withCarol);
  await b1.nextOfType('call_invite');
  b1.send({ type: 'call_answer', call_id: first, sdp: 'v=0 answer' });
  await c.nextOfType('call_selected');
  await b1.close();
  // Bob's first device is busy with Carol, and gone; his laptop is free.
  const b2 = await sockets.connect(t, bob2);
  const a = await sockets.connect(t, alice);
  const second = invite(a, withAlice);
  expect((await b2.nextOfType('call_invite')).call_id).toBe(second);
  b2.send({ type: 'call_ringing', call_id: second });
  await a.nextOfType('call_ringing');
  await a.expectNone((f) => f.type === 'call_ended', 400);
  b2.send({ type: 'call_answer', call_id: second, sdp: 'v=0 answer' });
  expect((await a.nextOfType('call_selected')).call_id).toBe(second);
});

test('an invite refused because its device is in another call does not end, by glare, the call ringing from the other member', async () => {
  const [alice, bob, carol] = [await registerUser(t), await registerUser(t), await registerUser(t)];
  const alice2 = await login(alice);
  const aliceToCarol = await direct(t, alice, carol);
  const withBob = await direct(t, bob, alice);
  const a1 = await sockets.connect(t, alice);
  const a2 = await sockets.connect(t, alice2);
  const b = await sockets.connect(t, bob);
  invite(a1, aliceToCarol);
  await a1.next((f) => f.type === 'new_message' && f.message.type === 'call');
  // Bob's call rings Alice's second device; her first, busy calling Carol, calls Bob with a lesser id.
  const bobs = invite(b, withBob, highId());
  await a2.next((f) => f.type === 'call_invite' && f.call_id === bobs);
  a2.send({ type: 'call_ringing', call_id: bobs });
  await b.nextOfType('call_ringing');
  invite(a1, withBob, lowId());
  expect(await a1.nextOfType('error')).toMatchObject({ code: 'call_in_progress' });
  await b.expectNone((f) => f.type === 'call_ended', 300);
  a2.send({ type: 'call_answer', call_id: bobs, sdp: 'v=0 answer' });
  expect((await b.nextOfType('call_selected')).call_id).toBe(bobs);
});

test('a device that is one end of a call cannot answer another', async () => {
  const [alice, bob, carol] = [await registerUser(t), await registerUser(t), await registerUser(t)];
  const withAlice = await direct(t, alice, bob);
  const withCarol = await direct(t, carol, bob);
  const a = await sockets.connect(t, alice);
  const c = await sockets.connect(t, carol);
  const b = await sockets.connect(t, bob);
  const first = invite(a, withAlice);
  await b.next((f) => f.type === 'call_invite' && f.call_id === first);
  b.send({ type: 'call_answer', call_id: first, sdp: 'v=0 answer' });
  await a.nextOfType('call_selected');
  const second = invite(c, withCarol);
  await c.next((f) => f.type === 'new_message' && f.message.type === 'call');
  b.send({ type: 'call_answer', call_id: second, sdp: 'v=0 answer' });
  expect(await b.next((f) => f.type === 'error' && f.call_id === second)).toMatchObject({ code: 'call_in_progress' });
  await c.expectNone((f) => f.type === 'call_selected', 300);
});

test('an active call ends failed once one end stops saying it is connected for the grace; repeats from both keep it going', async () => {
  const { conv, a, b } = await pair();
  const callId = invite(a, conv);
  await b.nextOfType('call_invite');
  b.send({ type: 'call_answer', call_id: callId, sdp: 'v=0 answer' });
  await a.nextOfType('call_selected');
  const alive = (ws: WsClient) => ws.send({ type: 'call_connected', call_id: callId });
  alive(b);
  await a.next((f) => f.type === 'message_updated' && f.message.call?.outcome === 'active');
  // Both repeat it (every 100 ms here; 15 s in an app): the call goes on past the 300 ms grace.
  const both = setInterval(() => [a, b].forEach(alive), 100);
  await a.expectNone((f) => f.type === 'call_ended', 700).finally(() => clearInterval(both));
  // Bob's device falls silent; Alice's goes on.
  const aliceOnly = setInterval(() => alive(a), 100);
  const ended = await a.nextOfType('call_ended', 5000).finally(() => clearInterval(aliceOnly));
  expect(ended.reason).toBe('failed');
  const done = await a.next((f) => f.type === 'message_updated' && f.message.call?.outcome === 'failed');
  expect(done.message.call.duration_ms).toBeGreaterThan(0);
});

test('a call that lost by glare is not left unread, whichever invite came first', async () => {
  // The earlier invite loses: its caller's call ends cancelled, the later one rings.
  const first = await pair();
  const early = invite(first.a, first.conv, highId());
  await first.b.next((f) => f.type === 'call_invite' && f.call_id === early);
  const late = invite(first.b, first.conv, lowId());
  expect(await first.a.next((f) => f.type === 'call_ended' && f.call_id === early)).toMatchObject({ reason: 'cancelled', glare: true });
  await first.b.next((f) => f.type === 'message_updated' && f.message.call?.call_id === early && f.message.call.outcome === 'cancelled');
  expect(await unread(first.bob, first.conv)).toBe(0);
  expect(await unread(first.alice, first.conv)).toBe(1); // the winning call, ringing for her
  first.a.send({ type: 'call_answer', call_id: late, sdp: 'v=0 answer' });
  await first.b.nextOfType('call_selected');
  expect(await unread(first.alice, first.conv)).toBe(0);

  // The later invite loses: it is recorded cancelled and never rings.
  const second = await pair();
  const winner = invite(second.a, second.conv, lowId());
  await second.b.next((f) => f.type === 'call_invite' && f.call_id === winner);
  const loser = invite(second.b, second.conv, highId());
  expect(await second.b.next((f) => f.type === 'call_ended' && f.call_id === loser)).toMatchObject({ reason: 'cancelled', glare: true });
  await second.a.next((f) => f.type === 'new_message' && f.message.call?.call_id === loser);
  expect(await unread(second.alice, second.conv)).toBe(0);
});

test('a caller device offline when its call was answered gets the answer and call_selected when it is back', async () => {
  const { alice, conv, a, b } = await pair();
  const callId = invite(a, conv);
  await b.nextOfType('call_invite');
  a.socket.terminate();
  await a.closed;
  b.send({ type: 'call_answer', call_id: callId, sdp: 'v=0 answer while away' });
  await b.next((f) => f.type === 'call_selected' && f.call_id === callId);
  const back = await sockets.connect(t, alice);
  expect(await back.next((f) => f.type === 'call_answer' && f.call_id === callId)).toMatchObject({ sdp: 'v=0 answer while away', from_user_id: expect.any(Number) });
  expect(await back.next((f) => f.type === 'call_selected' && f.call_id === callId)).toMatchObject({ device_id: expect.any(String) });
  // The call goes on from there.
  back.send({ type: 'call_connected', call_id: callId });
  await back.next((f) => f.type === 'message_updated' && f.message.call?.call_id === callId && f.message.call.outcome === 'active');
});

test('a caller back online asks by call_ringing whether its call lives: a live one ignores it, one declined meanwhile is refused', async () => {
  const { alice, conv, a, b } = await pair();
  const callId = invite(a, conv);
  await b.nextOfType('call_invite');
  a.send({ type: 'call_ringing', call_id: callId });
  await a.expectNone((f) => f.type === 'error' || f.type === 'call_ringing');
  await b.expectNone((f) => f.type === 'call_ringing', 50);
  a.socket.terminate();
  await a.closed;
  b.send({ type: 'call_reject', call_id: callId });
  await b.next((f) => f.type === 'message_updated' && f.message.call?.call_id === callId && f.message.call.outcome === 'declined');
  const back = await sockets.connect(t, alice);
  back.send({ type: 'call_ringing', call_id: callId });
  expect(await back.nextOfType('error')).toMatchObject({ code: 'not_found', call_id: callId });
});

test('answering a call leaves the messages before it unread, and tells the caller nothing was read; the answered call itself is not unread', async () => {
  const { alice, bob, conv, a, b } = await pair();
  await restSend(t, alice, conv, 'are you there?');
  await restSend(t, alice, conv, 'urgent, read this first');
  const unread = async () => (await t.request('GET', '/api/v1/users/me/unread', { token: bob.token })).body.total;
  expect(await unread()).toBe(2);
  const callId = invite(a, conv);
  await b.nextOfType('call_invite');
  expect(await unread()).toBe(3);
  b.send({ type: 'call_answer', call_id: callId, sdp: 'v=0 answer' });
  await a.nextOfType('call_selected');
  expect(await unread()).toBe(2);
  await a.expectNone((f) => f.type === 'receipt' && f.status === 'read', 300);
});
