import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { NatterClient, NatterClientOptions, ServerFrame } from '../../client/src/index.js';
import { envConfig, startApp, type TestApp } from '../harness/app.js';
import { Clients, directBetween, eventually, recordingWebSocket } from './fixtures.js';

/**
 * The SDK's calls against a real natter: Alice calls Bob, who is signed in on two
 * devices; one answers, the other stops ringing; candidates reach the right device; the
 * call's record in the conversation tells how it went.
 */

let t: TestApp;
const clients = new Clients();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => clients.closeAll());
afterAll(() => t?.close());

const OFFER = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n';
const ANSWER = OFFER.replace('o=- 1 2', 'o=- 3 4');
const candidate = (n: number) => ({ candidate: `candidate:${n} 1 udp 2122260223 127.0.0.1 ${50000 + n} typ host`, sdpMid: '0', sdpMLineIndex: 0 });

/** Every frame a client receives, kept to wait on. */
function inbox(c: NatterClient) {
  const frames: ServerFrame[] = [];
  c.onFrame((f) => frames.push(f));
  const of = <T extends ServerFrame['type']>(type: T) => frames.filter((f): f is Extract<ServerFrame, { type: T }> => f.type === type);
  return {
    frames,
    of,
    /** Waits for a frame of `type` (and `match`), answering it. */
    next: <T extends ServerFrame['type']>(type: T, match: (f: Extract<ServerFrame, { type: T }>) => boolean = () => true) =>
      eventually(() => {
        const f = of(type).find(match);
        expect(f, `a ${type} frame`).toBeDefined();
        return f!;
      }, 10_000),
  };
}

/** Alice, and Bob on two devices (two sessions of one account), all online, with their direct conversation. */
async function people(aliceOpts: Partial<NatterClientOptions> = {}) {
  const aliceSent: Record<string, any>[] = [];
  const alice = await clients.signedUp(t.url, { WebSocket: recordingWebSocket(aliceSent), ...aliceOpts });
  const bob1 = await clients.signedUp(t.url);
  const bob2 = clients.make(t.url);
  await bob2.login({ email: bob1.user!.email, password: 'password123' });
  const c = await directBetween(alice, bob1);
  await Promise.all([alice.connect(), bob1.connect(), bob2.connect()]);
  return { alice, aliceSent, bob1, bob2, c };
}

async function callRecord(c: NatterClient, conversationId: number, callId: string) {
  const messages = await c.history(conversationId);
  const m = messages.find((x) => x.type === 'call' && x.call?.call_id === callId);
  expect(m, 'the call message').toBeDefined();
  return m!;
}

describe('calls through the SDK', () => {
  test('each session has its own device id, from sign-in and from connected', async () => {
    const { alice, bob1, bob2 } = await people();
    for (const c of [alice, bob1, bob2]) expect(c.deviceId).toMatch(/^[0-9a-f]{32}$/);
    expect(bob1.deviceId).not.toBe(bob2.deviceId);
  });

  test('Bob rings on both devices; one answers, the other stops; candidates go to the answering device; hangup ends it for both', async () => {
    const { alice, aliceSent, bob1, bob2, c } = await people();
    const [a, b1, b2] = [inbox(alice), inbox(bob1), inbox(bob2)];

    const callId = alice.calls.invite(c, { video: true, sdp: OFFER });
    expect(callId).toMatch(/^[0-9a-f-]{36}$/);
    // Alice's candidates, gathered while it rings, wait for an answering device.
    alice.calls.sendCandidates(callId, [candidate(1), candidate(2)]);

    const inv1 = await b1.next('call_invite');
    const inv2 = await b2.next('call_invite');
    for (const inv of [inv1, inv2]) {
      expect(inv).toMatchObject({ call_id: callId, conversation_id: c, sdp: OFFER, video: true, from_user_id: alice.user!.id, from_device: alice.deviceId });
    }
    bob1.calls.ringing(callId);
    bob2.calls.ringing(callId);
    const ringing = await a.next('call_ringing');
    expect(ringing.from_user_id).toBe(bob1.user!.id);

    // The record is in the conversation from the start: a call message, ringing.
    expect((await callRecord(alice, c, callId)).call).toMatchObject({ call_id: callId, video: true, caller_id: alice.user!.id, outcome: 'ringing' });

    bob2.calls.answer(callId, ANSWER);
    const answer = await a.next('call_answer');
    expect(answer).toMatchObject({ call_id: callId, sdp: ANSWER, from_user_id: bob2.user!.id, from_device: bob2.deviceId });
    const selected = await a.next('call_selected');
    expect(selected.device_id).toBe(bob2.deviceId);
    expect(alice.calls.selectedDevice(callId)).toBe(bob2.deviceId);
    const elsewhere = await b1.next('call_ended');
    expect(elsewhere).toMatchObject({ call_id: callId, reason: 'answered_elsewhere' });

    // Alice's early candidates went out once the answering device was known, to it alone, in one frame.
    const got = await b2.next('call_candidates');
    expect(got).toMatchObject({ call_id: callId, from_user_id: alice.user!.id, from_device: alice.deviceId, candidates: [candidate(1), candidate(2)] });
    const sentCandidates = aliceSent.filter((f) => f.type === 'call_candidates');
    expect(sentCandidates).toEqual([{ type: 'call_candidates', call_id: callId, to_device: bob2.deviceId, candidates: [candidate(1), candidate(2)] }]);
    expect(b1.of('call_candidates')).toEqual([]);

    // Bob's reach Alice; the end-of-candidates marker passes through.
    bob2.calls.sendCandidates(callId, [candidate(3)]);
    bob2.calls.sendCandidates(callId, [{ candidate: '' }]);
    const back = await a.next('call_candidates');
    expect(back.from_device).toBe(bob2.deviceId);
    await eventually(() => expect(a.of('call_candidates').flatMap((f) => f.candidates.map((x) => x.candidate))).toEqual([candidate(3).candidate, '']));

    // Renegotiation between the two connected devices.
    alice.calls.negotiate(callId, OFFER, 'offer');
    const offer = await b2.next('call_negotiate');
    expect(offer).toMatchObject({ call_id: callId, sdp: OFFER, sdp_type: 'offer', from_device: alice.deviceId });
    bob2.calls.negotiate(callId, ANSWER, 'answer');
    expect(await a.next('call_negotiate')).toMatchObject({ sdp: ANSWER, sdp_type: 'answer', from_device: bob2.deviceId });

    alice.calls.connected(callId);
    bob2.calls.connected(callId);
    await eventually(async () => expect((await callRecord(bob2, c, callId)).call?.outcome).toBe('active'), 10_000);

    bob2.calls.hangup(callId);
    expect(await a.next('call_ended')).toMatchObject({ call_id: callId, reason: 'hangup' });
    expect(await b2.next('call_ended', (f) => f.reason === 'hangup')).toMatchObject({ call_id: callId });

    const record = await eventually(async () => {
      const m = await callRecord(alice, c, callId);
      expect(m.call?.outcome).toBe('finished');
      return m;
    }, 10_000);
    expect(record.type).toBe('call');
    expect(record.sender_id).toBe(alice.user!.id);
    expect(record.call).toMatchObject({ reason: 'hangup', video: true });
    expect(record.call!.duration_ms).toBeGreaterThan(0);
    expect(record.call!.connected_at).not.toBeNull();
    // Both sides saw the record change live.
    await eventually(() => expect(b1.of('message_updated').some((f) => f.message.call?.outcome === 'finished')).toBe(true));
  });

  test('declined: every device stops ringing and the record says declined', async () => {
    const { alice, bob1, bob2, c } = await people();
    const [a, b1, b2] = [inbox(alice), inbox(bob1), inbox(bob2)];
    const callId = alice.calls.invite(c, { video: false, sdp: OFFER });
    await b1.next('call_invite');
    await b2.next('call_invite');
    bob1.calls.reject(callId);
    for (const box of [a, b1, b2]) expect(await box.next('call_ended')).toMatchObject({ call_id: callId, reason: 'declined' });
    await eventually(async () => expect((await callRecord(alice, c, callId)).call).toMatchObject({ outcome: 'declined', video: false, duration_ms: null }), 10_000);
  });

  test('unread: a ringing call counts on every callee device until one answers; the messages before it stay unread', async () => {
    const { alice, bob1, bob2, c } = await people();
    alice.send(c, { content: 'before the call' });
    for (const bob of [bob1, bob2]) await eventually(() => expect(bob.unread.get(c)).toBe(1), 10_000);
    const callId = alice.calls.invite(c, { video: false, sdp: OFFER });
    for (const bob of [bob1, bob2]) await eventually(() => expect(bob.unread.get(c)).toBe(2), 10_000);
    bob2.calls.answer(callId, ANSWER);
    for (const bob of [bob1, bob2]) await eventually(() => expect(bob.unread.get(c)).toBe(1), 10_000);
    alice.calls.hangup(callId);
  });

  test('the caller hangs up while it rings: cancelled for everyone, a missed call in the record', async () => {
    const { alice, bob1, c } = await people();
    const [a, b1] = [inbox(alice), inbox(bob1)];
    const callId = alice.calls.invite(c, { video: false, sdp: OFFER });
    await b1.next('call_invite');
    alice.calls.hangup(callId);
    expect(await b1.next('call_ended')).toMatchObject({ call_id: callId, reason: 'cancelled' });
    expect(await a.next('call_ended')).toMatchObject({ call_id: callId, reason: 'cancelled' });
    await eventually(async () => expect((await callRecord(bob1, c, callId)).call?.outcome).toBe('missed'), 10_000);
  });

  test('many candidates before the answer go out in frames of at most 64, in order, once a device answered', async () => {
    const { alice, aliceSent, bob1, c } = await people();
    const b1 = inbox(bob1);
    const callId = alice.calls.invite(c, { video: false, sdp: OFFER });
    const many = Array.from({ length: 70 }, (_, i) => candidate(i));
    for (const x of many) alice.calls.sendCandidates(callId, [x]);
    await b1.next('call_invite');
    expect(aliceSent.filter((f) => f.type === 'call_candidates')).toEqual([]);
    bob1.calls.answer(callId, ANSWER);
    await eventually(() => expect(b1.of('call_candidates').flatMap((f) => f.candidates)).toEqual(many), 10_000);
    expect(aliceSent.filter((f) => f.type === 'call_candidates').map((f) => f.candidates.length)).toEqual([64, 6]);
    alice.calls.hangup(callId);
    await b1.next('call_ended');
  });

  test('an active call repeats call_connected as its keepalive until it ends', async () => {
    const { alice, aliceSent, bob1, c } = await people({ calls: { keepaliveMs: 50 } });
    const b1 = inbox(bob1);
    const callId = alice.calls.invite(c, { video: false, sdp: OFFER });
    await b1.next('call_invite');
    bob1.calls.answer(callId, ANSWER);
    await eventually(() => expect(alice.calls.selectedDevice(callId)).toBe(bob1.deviceId), 10_000);
    expect(alice.calls.connected(callId)).toBe(true);
    const keepalives = () => aliceSent.filter((f) => f.type === 'call_connected' && f.call_id === callId).length;
    await eventually(() => expect(keepalives()).toBeGreaterThanOrEqual(3), 10_000);
    alice.calls.hangup(callId);
    expect(await b1.next('call_ended')).toMatchObject({ call_id: callId, reason: 'hangup' });
  });

  test('offline: candidates and the hangup wait for the reconnect; call_connected goes again at once after it', async () => {
    const { alice, aliceSent, bob1, c } = await people();
    const b1 = inbox(bob1);
    const callId = alice.calls.invite(c, { video: false, sdp: OFFER });
    await b1.next('call_invite');
    bob1.calls.answer(callId, ANSWER);
    await eventually(() => expect(alice.calls.selectedDevice(callId)).toBe(bob1.deviceId), 10_000);
    alice.calls.connected(callId);
    const keepalives = () => aliceSent.filter((f) => f.type === 'call_connected' && f.call_id === callId).length;
    expect(keepalives()).toBe(1);

    alice.disconnect();
    expect(alice.calls.sendCandidates(callId, [candidate(9)])).toBe(false);
    // An unknown call keeps nothing; a candidate without a candidate string is skipped.
    expect(alice.calls.sendCandidates(crypto.randomUUID(), [candidate(10)])).toBe(false);
    alice.calls.sendCandidates(callId, [{ sdpMid: '0', sdpMLineIndex: 0 }]);
    await alice.connect();
    await eventually(() => expect(keepalives()).toBeGreaterThanOrEqual(2), 10_000);
    const got = await b1.next('call_candidates');
    expect(got.candidates).toEqual([candidate(9)]);

    alice.disconnect();
    expect(alice.calls.hangup(callId)).toBe(false);
    await alice.connect();
    expect(await b1.next('call_ended')).toMatchObject({ call_id: callId, reason: 'hangup' });
    await eventually(async () => expect((await callRecord(bob1, c, callId)).call?.outcome).toBe('finished'), 10_000);
  });

  test('a refusal naming a call forgets it: no candidates kept for it', async () => {
    const { alice, c } = await people();
    const a = inbox(alice);
    const callId = alice.calls.invite(c, { video: false, sdp: OFFER });
    alice.calls.hangup(callId);
    await a.next('call_ended');
    // An answer for the ended call: natter answers not_found naming it.
    alice.calls.answer(callId, ANSWER);
    expect(await a.next('error', (f) => f.call_id === callId)).toMatchObject({ code: 'not_found' });
    expect(alice.calls.sendCandidates(callId, [candidate(1)])).toBe(false);
  });

  test("calls.timeouts: the server's ring and connect timeouts, known once connected", async () => {
    // Durations in ms are whole milliseconds on the wire (2300 ms is 2.3000000000000003 s once parsed).
    const tuned = await startApp(envConfig({ CALL_RING_TIMEOUT: '2300ms', CALL_CONNECT_TIMEOUT: '4350ms' }));
    try {
      const alice = await clients.signedUp(tuned.url);
      expect(alice.calls.timeouts).toBeNull();
      await alice.connect();
      expect(alice.calls.timeouts).toEqual({ ringTimeoutMs: 2300, connectTimeoutMs: 4350 });
    } finally {
      clients.closeAll();
      await tuned.close();
    }
  });

  test('TURN: iceServers from GET /calls/turn carry the STUN URIs and signed TURN credentials', async () => {
    const secret = 'a-turn-secret-long-enough';
    const turnApp = await startApp({ turnUris: ['stun:stun.example.org:3478', 'turn:turn.example.org:3478?transport=udp'], turnSecret: secret });
    try {
      const alice = await clients.signedUp(turnApp.url);
      const turn = await alice.calls.turn();
      expect(turn.ttl).toBeGreaterThan(0);
      const servers = await alice.calls.iceServers();
      expect(servers).toEqual([
        { urls: ['stun:stun.example.org:3478'] },
        { urls: ['turn:turn.example.org:3478?transport=udp'], username: expect.stringMatching(new RegExp(`^\\d+:${alice.user!.id}$`)), credential: expect.any(String) },
      ]);
      const relay = servers[1]!;
      expect(relay.credential).toBe(createHmac('sha1', secret).update(relay.username!).digest('base64'));
      expect(Number(relay.username!.split(':')[0])).toBeGreaterThan(Date.now() / 1000);
    } finally {
      clients.closeAll();
      await turnApp.close();
    }
  });

  test('TURN not configured: STUN only, no credentials', async () => {
    const { alice } = await people();
    const turn = await alice.calls.turn();
    expect(turn).toMatchObject({ username: null, password: null });
    const servers = await alice.calls.iceServers();
    for (const s of servers) expect(s).not.toHaveProperty('username');
  });
});
