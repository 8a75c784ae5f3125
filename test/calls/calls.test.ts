import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { startApp, type TestApp } from '../harness/app.js';
import { ISO } from '../harness/expect.js';
import { testDatabaseUrl } from '../harness/postgres.js';
import { Cluster, findBinary, type NatterNode } from '../scale/cluster-harness.js';
import {
  type Account,
  callRecord,
  type Device,
  Devices,
  directConversation,
  exchange,
  groupConversation,
  isCallMessage,
  listed,
  login,
  openSocket,
  orderedCallIds,
  registerAccount,
} from './peer.js';

/**
 * Calls as users live them (docs/protocol.md "Calls"): devices with real WebRTC peers
 * (werift) over real WebSockets against a real natter. natter rings every device of the
 * callee, tells the caller which one answered, carries SDP and ICE candidates between the
 * two, and keeps the call's record (a message of type call) up to date; ICE and DTLS then
 * connect the peers directly and a data channel carries messages both ways.
 */

const devices = new Devices();
afterEach(() => devices.closeAll());

/** A started app, per describe block, with config overrides. */
function appWith(overrides: Partial<Config> = {}): () => TestApp {
  let t: TestApp | undefined;
  beforeAll(async () => {
    t = await startApp(overrides);
  });
  afterAll(async () => {
    await t?.close();
  });
  return () => t!;
}

interface Cast {
  alice: Account;
  bob: Account;
  conv: number;
  a: Device;
  /** Bob's devices, as many as asked. */
  b: Device[];
}

/** Alice with one device, Bob with `bobDevices`, a direct conversation between them. */
async function cast(t: TestApp, bobDevices = 1): Promise<Cast> {
  const [alice, bob] = await Promise.all([registerAccount(t, 'alice'), registerAccount(t, 'bob')]);
  const conv = await directConversation(t, alice.first, bob);
  const a = await devices.open1(t, alice.first, 'A');
  const b: Device[] = [await devices.open1(t, bob.first, 'B1')];
  for (let i = 2; i <= bobDevices; i++) b.push(await devices.open1(t, await login(t, bob), `B${i}`));
  return { alice, bob, conv, a, b };
}

describe('calls (CALL_RING_TIMEOUT and CALL_CONNECT_TIMEOUT at their defaults)', () => {
  const app = appWith();

  test('Alice calls Bob on two devices: both ring, one answers, the peers connect, Alice hangs up; the record follows', async () => {
    const t = app();
    const { alice, bob, conv, a, b } = await cast(t, 2);
    const [b1, b2] = b as [Device, Device];

    const call = await a.invite(conv);
    const id = call.callId;

    // Both of Bob's devices ring; the invite carries the offer and the record's message.
    const invites = await Promise.all([b1.callFrame('call_invite', id), b2.callFrame('call_invite', id)]);
    for (const invite of invites) {
      expect(invite).toMatchObject({
        conversation_id: conv,
        sdp: call.sentSdp,
        video: false,
        from_user_id: alice.id,
        from_device: a.id,
        ring_timeout_ms: 45_000,
      });
      expect(invite.started_at).toMatch(ISO);
      expect(Number.isInteger(invite.message_id)).toBe(true);
      expect(Number.isInteger(invite.seq)).toBe(true);
    }
    expect(invites[1]!.message_id).toBe(invites[0]!.message_id);
    const messageId = invites[0]!.message_id as number;

    // Each of Bob's devices said it rings; Alice hears both, from each device.
    const ringing = await Promise.all([a.callFrame('call_ringing', id), a.callFrame('call_ringing', id)]);
    expect(ringing.map((f) => f.from_device).sort()).toEqual([b1.id, b2.id].sort());
    for (const f of ringing) expect(f.from_user_id).toBe(bob.id);

    // The record arrived as a new message of type call, ringing, at every device.
    for (const d of [a, b1, b2]) {
      const created = await d.frame('new_message', isCallMessage(id));
      expect(created.message).toMatchObject({
        id: messageId,
        seq: invites[0]!.seq,
        conversation_id: conv,
        type: 'call',
        content: '',
        sender_id: alice.id,
        call: { call_id: id, video: false, caller_id: alice.id, outcome: 'ringing', reason: null, duration_ms: null },
      });
    }

    // B1 answers: Alice gets its answer and learns which device it is; B2 stops ringing.
    const answered = await b1.answer(id);
    const answer = await a.callFrame('call_answer', id);
    expect(answer).toMatchObject({ sdp: answered.sentSdp, from_user_id: bob.id, from_device: b1.id });
    expect(await a.callFrame('call_selected', id)).toMatchObject({ device_id: b1.id });
    expect(await b2.ended(id)).toMatchObject({ reason: 'answered_elsewhere' });
    expect(b2.all('call_ended', id)[0]!.glare).toBeUndefined();
    // A late call_ringing from the device that lost is ignored: no error, nothing to Alice.
    const ringsBefore = a.all('call_ringing', id).length;
    b2.send({ type: 'call_ringing', call_id: id });
    await b2.ws.expectNone((f) => f.type === 'error', 300);
    expect(a.all('call_ringing', id)).toHaveLength(ringsBefore);
    // (The record may skip `connecting` when call_connected is handled first.)

    // ICE and DTLS connect the two peers; the data channel carries a message each way.
    await Promise.all([call.waitConnected(), answered.waitConnected()]);
    await exchange(call, answered);
    await a.frame('message_updated', isCallMessage(id, 'active'));

    // The candidates went trickled: Alice's (held until she knew B1) to B1 alone, B1's to
    // Alice, each side's ending with the end-of-candidates marker.
    const fromAlice = b1.all('call_candidates', id);
    const fromB1 = a.all('call_candidates', id);
    for (const [got, sender] of [[fromAlice, a], [fromB1, b1]] as const) {
      expect(got.length, `candidates from ${sender.label}`).toBeGreaterThan(0);
      for (const f of got) expect(f).toMatchObject({ from_user_id: sender.userId, from_device: sender.id });
      expect(got.flatMap((f) => f.candidates).at(-1)).toEqual({ candidate: '' });
    }
    expect(b2.all('call_candidates', id)).toEqual([]);

    // Renegotiation goes between the two connected devices only.
    a.send({ type: 'call_negotiate', call_id: id, sdp: call.sentSdp });
    expect(await b1.callFrame('call_negotiate', id)).toMatchObject({ sdp: call.sentSdp, sdp_type: 'offer', from_device: a.id, from_user_id: alice.id });
    b1.send({ type: 'call_negotiate', call_id: id, sdp: answered.sentSdp, sdp_type: 'answer' });
    expect(await a.callFrame('call_negotiate', id)).toMatchObject({ sdp: answered.sentSdp, sdp_type: 'answer', from_device: b1.id });
    b2.send({ type: 'call_negotiate', call_id: id, sdp: answered.sentSdp });
    expect(await b2.error()).toMatchObject({ code: 'not_found' });
    expect(b2.all('call_negotiate', id)).toEqual([]);

    a.hangup(id);
    for (const d of [a, b1]) expect(await d.ended(id), d.label).toMatchObject({ reason: 'hangup' });
    // Every reason but answered_elsewhere goes to all sockets of both users.
    expect(await b2.ended(id)).toMatchObject({ reason: 'hangup' });

    const updates = await Promise.all([a, b1].map((d) => d.frame('message_updated', isCallMessage(id, 'finished'))));
    const record = await callRecord(t, bob.first.token, conv, id);
    expect(record).toMatchObject({ id: messageId, type: 'call', call: { outcome: 'finished', reason: 'hangup', caller_id: alice.id } });
    expect(record.call.duration_ms).toBeGreaterThan(0);
    for (const at of ['started_at', 'answered_at', 'connected_at', 'ended_at']) expect(record.call[at], at).toMatch(ISO);
    for (const u of updates) {
      expect(u.message.call).toEqual(record.call);
      expect(u.message.mod_seq).toBe(record.mod_seq);
    }
    const created = a.all('new_message').find(isCallMessage(id))!;
    expect(record.mod_seq).toBeGreaterThan(created.message.mod_seq);

    // Answering read the call for Bob: it does not stay unread.
    expect((await listed(t, bob.first.token, conv)).unread_count).toBe(0);
  });

  test('a callee device rejects: the call ends declined for everyone; the record says declined and stays as natter wrote it', async () => {
    const t = app();
    const { alice, bob, conv, a, b } = await cast(t, 2);
    const [b1, b2] = b as [Device, Device];
    const { callId: id } = await a.invite(conv);
    await Promise.all([b1.callFrame('call_invite', id), b2.callFrame('call_invite', id)]);

    // While it rings, the caller's candidates without to_device reach every callee device.
    const early = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    a.send({ type: 'call_candidates', call_id: id, candidates: [early] });
    for (const d of [b1, b2]) expect(await d.callFrame('call_candidates', id), d.label).toMatchObject({ candidates: [early], from_device: a.id });

    b2.reject(id);
    for (const d of [a, b1, b2]) expect(await d.ended(id), d.label).toMatchObject({ reason: 'declined' });
    await a.frame('message_updated', isCallMessage(id, 'declined'));
    const record = await callRecord(t, bob.first.token, conv, id);
    expect(record.call).toMatchObject({ outcome: 'declined', reason: 'declined', duration_ms: null });
    expect((await listed(t, bob.first.token, conv)).unread_count).toBeGreaterThanOrEqual(1);

    // The record is natter's: nobody edits it, reacts to it or deletes it for everyone;
    // hiding it for oneself is allowed.
    const path = `/api/v1/conversations/${conv}/messages/${record.id}`;
    expect((await t.request('PATCH', path, { token: alice.first.token, body: { content: 'edited' } })).body).toMatchObject({ code: 'forbidden' });
    expect((await t.request('PUT', `${path}/reactions/${encodeURIComponent('👍')}`, { token: bob.first.token })).body).toMatchObject({ code: 'forbidden' });
    expect((await t.request('DELETE', path, { token: alice.first.token })).body).toMatchObject({ code: 'forbidden' });
    expect((await t.request('DELETE', `${path}?for=me`, { token: bob.first.token })).status).toBe(200);

    // An ended call's id is not taken again; a new call rings as before.
    a.send({ type: 'call_invite', conversation_id: conv, call_id: id, sdp: 'v=0', video: false });
    expect(await a.error('call_in_progress')).toMatchObject({ code: 'call_in_progress' });
    const again = await a.invite(conv);
    await Promise.all([b1.callFrame('call_invite', again.callId), b2.callFrame('call_invite', again.callId)]);
    a.hangup(again.callId);
    await b1.ended(again.callId);
  });

  test('a callee device says it is busy: only it drops out; once every device did, the call ends busy', async () => {
    const t = app();
    const { bob, conv, a, b } = await cast(t, 2);
    const [b1, b2] = b as [Device, Device];
    const { callId: id } = await a.invite(conv);
    await Promise.all([b1.callFrame('call_invite', id), b2.callFrame('call_invite', id)]);
    await Promise.all([a.callFrame('call_ringing', id), a.callFrame('call_ringing', id)]);

    b1.reject(id, 'busy');
    await a.ws.expectNone((f) => f.type === 'call_ended' && f.call_id === id, 500);
    expect((await callRecord(t, bob.first.token, conv, id)).call.outcome).toBe('ringing');

    b2.reject(id, 'busy');
    for (const d of [a, b1, b2]) expect(await d.ended(id), d.label).toMatchObject({ reason: 'busy' });
    await a.record(id, 'busy');
    expect((await callRecord(t, bob.first.token, conv, id)).call).toMatchObject({ outcome: 'busy', reason: 'busy' });
  });

  test('a connected call that fails: call_ended failed, the record failed with its duration; no second call meanwhile', async () => {
    const t = app();
    const { alice, conv, a, b } = await cast(t, 1);
    const b1 = b[0]!;
    const call = await a.invite(conv);
    await b1.callFrame('call_invite', call.callId);
    const answered = await b1.answer(call.callId);
    await Promise.all([call.waitConnected(), answered.waitConnected()]);
    await exchange(call, answered);
    await a.record(call.callId, 'active');

    // The conversation has a live call (answered, so no glare): Bob cannot place another.
    b1.send({ type: 'call_invite', conversation_id: conv, call_id: randomUUID(), sdp: answered.sentSdp, video: false });
    expect(await b1.error()).toMatchObject({ code: 'call_in_progress' });

    b1.hangup(call.callId, 'failed');
    for (const d of [a, b1]) expect(await d.ended(call.callId), d.label).toMatchObject({ reason: 'failed' });
    await a.record(call.callId, 'failed');
    const record = await callRecord(t, alice.first.token, conv, call.callId);
    expect(record.call).toMatchObject({ outcome: 'failed', reason: 'failed' });
    expect(record.call.connected_at).toMatch(ISO);
    expect(record.call.duration_ms).toBeGreaterThan(0);
  });

  test('a hangup while the answered call still connects ends it hangup; the record says failed', async () => {
    const t = app();
    const { bob, conv, a, b } = await cast(t, 1);
    const b1 = b[0]!;
    const call = await a.invite(conv);
    await b1.callFrame('call_invite', call.callId);
    await b1.answer(call.callId, { connect: false });
    await a.callFrame('call_selected', call.callId);

    a.hangup(call.callId);
    for (const d of [a, b1]) expect(await d.ended(call.callId), d.label).toMatchObject({ reason: 'hangup' });
    await b1.record(call.callId, 'failed');
    const record = await callRecord(t, bob.first.token, conv, call.callId);
    expect(record.call).toMatchObject({ outcome: 'failed', reason: 'hangup', connected_at: null, duration_ms: null });
    expect(record.call.answered_at).toMatch(ISO);
  });

  test('Alice hangs up while it rings: Bob\'s devices see cancelled, the record says missed', async () => {
    const t = app();
    const { bob, conv, a, b } = await cast(t, 2);
    const [b1, b2] = b as [Device, Device];
    const { callId: id } = await a.invite(conv);
    await Promise.all([b1.callFrame('call_invite', id), b2.callFrame('call_invite', id)]);

    a.hangup(id);
    for (const d of [a, b1, b2]) expect(await d.ended(id), d.label).toMatchObject({ reason: 'cancelled' });
    expect(b1.all('call_ended', id)[0]!.glare).toBeUndefined();
    await b1.frame('message_updated', isCallMessage(id, 'missed'));
    expect((await callRecord(t, bob.first.token, conv, id)).call).toMatchObject({ outcome: 'missed', reason: 'cancelled' });
    expect((await listed(t, bob.first.token, conv)).unread_count).toBeGreaterThanOrEqual(1);
  });

  test('Bob\'s only device is in a call with Carol: Alice\'s call ends busy', async () => {
    const t = app();
    const { bob, conv, a, b } = await cast(t, 1);
    const b1 = b[0]!;
    const carol = await registerAccount(t, 'carol');
    const c = await devices.open1(t, carol.first, 'C');
    const convCB = await directConversation(t, carol.first, bob);

    const first = await c.invite(convCB);
    await b1.callFrame('call_invite', first.callId);
    const bobSide = await b1.answer(first.callId);
    await Promise.all([first.waitConnected(), bobSide.waitConnected()]);

    const { callId: id } = await a.invite(conv);
    expect(await a.ended(id)).toMatchObject({ reason: 'busy' });
    await a.record(id, 'busy');
    expect((await callRecord(t, bob.first.token, conv, id)).call).toMatchObject({ outcome: 'busy', reason: 'busy' });
    expect(b1.all('call_invite', id)).toEqual([]);

    // Carol's call goes on undisturbed.
    await exchange(first, bobSide, 'still there');
    expect(c.all('call_ended', first.callId)).toEqual([]);
    c.hangup(first.callId);
    await b1.ended(first.callId);
  });

  test('one of Bob\'s two devices is busy: the other rings and the call does not end busy', async () => {
    const t = app();
    const { bob, conv, a, b } = await cast(t, 2);
    const [b1, b2] = b as [Device, Device];
    const carol = await registerAccount(t, 'carol');
    const c = await devices.open1(t, carol.first, 'C');
    const convCB = await directConversation(t, carol.first, bob);

    const first = await c.invite(convCB);
    await Promise.all([b1.callFrame('call_invite', first.callId), b2.callFrame('call_invite', first.callId)]);
    const bobSide = await b1.answer(first.callId);
    await Promise.all([first.waitConnected(), bobSide.waitConnected()]);

    const { callId: id } = await a.invite(conv);
    await b2.callFrame('call_invite', id);
    expect(await a.callFrame('call_ringing', id)).toMatchObject({ from_device: b2.id });
    await a.ws.expectNone((f) => f.type === 'call_ended' && f.call_id === id, 500);
    expect(b1.all('call_invite', id)).toEqual([]);
    expect((await callRecord(t, bob.first.token, conv, id)).call.outcome).toBe('ringing');

    a.hangup(id);
    expect(await b2.ended(id)).toMatchObject({ reason: 'cancelled' });
    c.hangup(first.callId);
    await b1.ended(first.callId);
  });

  describe.each([
    { lesser: 'Bob' as const },
    { lesser: 'Alice' as const },
  ])('glare: both call at once, the lesser call id ($lesser\'s) survives', ({ lesser }) => {
    test('on both sides; the other ends cancelled with glare, its record cancelled', async () => {
      const t = app();
      const { alice, bob, conv, a, b } = await cast(t, 1);
      const b1 = b[0]!;
      const [low, high] = orderedCallIds();
      const aliceId = lesser === 'Alice' ? low : high;
      const bobId = lesser === 'Alice' ? high : low;
      // Both invites go out before either side hears of the other.
      const [aCall, bCall] = await Promise.all([a.invite(conv, { callId: aliceId }), b1.invite(conv, { callId: bobId })]);
      const [winner, loser] = lesser === 'Alice' ? [aCall, bCall] : [bCall, aCall];
      const callee = winner === aCall ? b1 : a;

      for (const d of [a, b1]) {
        expect(await d.ended(loser.callId), d.label).toMatchObject({ reason: 'cancelled', glare: true });
        await d.record(loser.callId, 'cancelled');
      }
      const lost = await callRecord(t, alice.first.token, conv, loser.callId);
      expect(lost.call).toMatchObject({ outcome: 'cancelled', reason: 'cancelled' });

      // The winning call rings the other side, which answers it; it connects.
      const invite = await callee.callFrame('call_invite', winner.callId);
      expect(invite.from_device).toBe(winner.device.id);
      await winner.device.callFrame('call_ringing', winner.callId);
      const answered = await callee.answer(winner.callId);
      await Promise.all([winner.waitConnected(), answered.waitConnected()]);
      await exchange(winner, answered);
      for (const d of [a, b1]) expect(d.all('call_ended', winner.callId), d.label).toEqual([]);

      callee.hangup(winner.callId);
      for (const d of [a, b1]) expect(await d.ended(winner.callId), d.label).toMatchObject({ reason: 'hangup' });
      await winner.device.frame('message_updated', isCallMessage(winner.callId, 'finished'));
      expect((await callRecord(t, bob.first.token, conv, winner.callId)).call.outcome).toBe('finished');
      expect((await callRecord(t, bob.first.token, conv, loser.callId)).call.outcome).toBe('cancelled');
    });
  });

  test('refusals: strangers, unknown calls, groups, bad frames; none of them changes the ringing call', async () => {
    const t = app();
    const { alice, bob, conv, a, b } = await cast(t, 1);
    const b1 = b[0]!;
    const carol = await registerAccount(t, 'carol');
    const c = await devices.open1(t, carol.first, 'C');

    // Candidates for a call natter does not know yet are refused; the invite after them works.
    const id = randomUUID();
    a.send({ type: 'call_candidates', call_id: id, candidates: [{ candidate: '' }] });
    expect(await a.error()).toMatchObject({ code: 'not_found' });
    const call = await a.invite(conv, { callId: id });
    await b1.callFrame('call_invite', id);
    await a.callFrame('call_ringing', id);

    // Carol is no party of it: every frame about it is answered as if it did not exist.
    const sdp = call.sentSdp;
    for (const frame of [
      { type: 'call_ringing', call_id: id },
      { type: 'call_answer', call_id: id, sdp },
      { type: 'call_candidates', call_id: id, candidates: [{ candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0' }] },
      { type: 'call_candidates', call_id: id, to_device: a.id, candidates: [{ candidate: '' }] },
      { type: 'call_negotiate', call_id: id, sdp },
      { type: 'call_connected', call_id: id },
      { type: 'call_reject', call_id: id },
      { type: 'call_hangup', call_id: id },
    ]) {
      c.send(frame);
      expect(await c.error(), frame.type).toMatchObject({ code: 'not_found', call_id: id });
    }

    // Bob about a call that does not exist.
    for (const frame of [
      { type: 'call_ringing', call_id: randomUUID() },
      { type: 'call_answer', call_id: randomUUID(), sdp },
      { type: 'call_candidates', call_id: randomUUID(), candidates: [{ candidate: '' }] },
      { type: 'call_hangup', call_id: randomUUID() },
    ]) {
      b1.send(frame);
      expect(await b1.error(), frame.type).toMatchObject({ code: 'not_found', call_id: frame.call_id });
    }

    // A group cannot be called.
    const grp = await groupConversation(t, alice.first, [bob, carol]);
    a.send({ type: 'call_invite', conversation_id: grp, call_id: randomUUID(), sdp, video: false });
    expect(await a.error()).toMatchObject({ code: 'validation_failed', field: 'conversation_id' });

    // A second call while this one rings, and the same call id again.
    a.send({ type: 'call_invite', conversation_id: conv, call_id: randomUUID(), sdp, video: true });
    expect(await a.error()).toMatchObject({ code: 'call_in_progress' });
    a.send({ type: 'call_invite', conversation_id: conv, call_id: id, sdp, video: false });
    expect(await a.error()).toMatchObject({ code: 'call_in_progress' });

    // Frames that break the schema.
    const candidate = { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    for (const [frame, field] of [
      [{ type: 'call_invite', conversation_id: conv, call_id: randomUUID(), sdp: 'v'.repeat(32_769), video: false }, 'sdp'],
      [{ type: 'call_answer', call_id: id, sdp: 'v'.repeat(32_769) }, 'sdp'],
      [{ type: 'call_ringing', call_id: 'not-a-uuid' }, 'call_id'],
      [{ type: 'call_invite', conversation_id: conv, call_id: `${randomUUID()}0`, sdp, video: false }, 'call_id'],
      [{ type: 'call_candidates', call_id: id, candidates: Array.from({ length: 65 }, () => candidate) }, 'candidates'],
      [{ type: 'call_candidates', call_id: id, candidates: [] }, 'candidates'],
    ] as const) {
      b1.send(frame);
      const error = await b1.error();
      expect(error, `${frame.type} ${field}`).toMatchObject({ code: 'validation_failed' });
      expect(String(error.field), `${frame.type} ${field}`).toMatch(new RegExp(`^${field}`));
    }

    // The call rings on as it was: nobody heard of an end, Bob's answer goes through.
    for (const d of [a, b1]) expect(d.all('call_ended', id), d.label).toEqual([]);
    expect((await callRecord(t, alice.first.token, conv, id)).call.outcome).toBe('ringing');
    const answered = await b1.answer(id);
    expect(await a.callFrame('call_answer', id)).toMatchObject({ from_device: b1.id });
    await Promise.all([call.waitConnected(), answered.waitConnected()]);
    a.hangup(id);
    await b1.ended(id);
    expect(c.all('call_ended')).toEqual([]);
  });

  test('a device that connects while the call rings gets the invite', async () => {
    const t = app();
    const { alice, bob, conv, a, b } = await cast(t, 1);
    const b1 = b[0]!;
    const a2 = await devices.open1(t, await login(t, alice), 'A2');
    const call = await a.invite(conv, { video: true });
    await b1.callFrame('call_invite', call.callId);
    await a.callFrame('call_ringing', call.callId, (f) => f.from_device === b1.id);

    const late = await devices.open1(t, await login(t, bob), 'B2');
    const invite = await late.callFrame('call_invite', call.callId);
    expect(invite).toMatchObject({ conversation_id: conv, from_user_id: alice.id, from_device: a.id, video: true, sdp: call.sentSdp });
    expect(await a.callFrame('call_ringing', call.callId)).toMatchObject({ from_device: late.id });

    // And it can take the call.
    const answered = await late.answer(call.callId);
    expect(await a.callFrame('call_selected', call.callId)).toMatchObject({ device_id: late.id });
    expect(await b1.ended(call.callId)).toMatchObject({ reason: 'answered_elsewhere' });
    await Promise.all([call.waitConnected(), answered.waitConnected()]);
    await exchange(call, answered);
    late.hangup(call.callId);
    for (const d of [a, a2]) expect(await d.ended(call.callId), d.label).toMatchObject({ reason: 'hangup' });

    // Alice's other device heard which device answered, and nothing meant for the calling one.
    expect(a2.all('call_selected', call.callId)).toMatchObject([{ device_id: late.id }]);
    for (const type of ['call_invite', 'call_ringing', 'call_answer', 'call_candidates']) expect(a2.all(type, call.callId), type).toEqual([]);
  });
});

describe('calls nobody answers (CALL_RING_TIMEOUT=1s)', () => {
  const app = appWith({ callRingTimeout: 1 });

  test('the call ends missed for both; the record says missed and stays unread for Bob', async () => {
    const t = app();
    const { alice, bob, conv, a, b } = await cast(t, 1);
    const b1 = b[0]!;
    const { callId: id } = await a.invite(conv);
    const invite = await b1.callFrame('call_invite', id);
    expect(invite.ring_timeout_ms).toBe(1000);
    // Every socket learns the timeouts on connecting, the caller's too (before it places a call).
    const fresh = await openSocket(t, alice.first.token);
    expect(fresh.all('connected')[0]!.calls).toEqual({ ring_timeout_ms: 1000, connect_timeout_ms: 30_000 });
    await fresh.close();

    for (const d of [a, b1]) expect(await d.ended(id), d.label).toMatchObject({ reason: 'missed' });
    await b1.frame('message_updated', isCallMessage(id, 'missed'));
    const record = await callRecord(t, bob.first.token, conv, id);
    expect(record.call).toMatchObject({ outcome: 'missed', reason: 'missed', answered_at: null, duration_ms: null });
    expect(record.call.ended_at).toMatch(ISO);
    expect((await listed(t, bob.first.token, conv)).unread_count).toBeGreaterThanOrEqual(1);
    expect((await listed(t, alice.first.token, conv)).unread_count).toBe(0);

    // A device that held the ringing record catches up on its change with sync.
    const created = b1.all('new_message').find(isCallMessage(id, 'ringing'))!;
    const later = await devices.open1(t, await login(t, bob), 'B1 again');
    later.send({ type: 'sync', since: { [conv]: created.message.seq }, changes_since: { [conv]: created.message.mod_seq } });
    const synced = await later.record(id, 'missed');
    expect(synced.type).toBe('message_updated');
    expect(synced.message.call).toEqual(record.call);
    await later.frame('synced');

    // Too late to answer.
    b1.send({ type: 'call_answer', call_id: id, sdp: invite.sdp });
    expect(await b1.error()).toMatchObject({ code: 'not_found' });
  });
});

describe('calls that never connect (CALL_CONNECT_TIMEOUT=1s)', () => {
  const app = appWith({ callConnectTimeout: 1 });

  test('Bob answers but no ICE ever connects: connect_timeout, the record says failed', async () => {
    const t = app();
    const { alice, bob, conv, a, b } = await cast(t, 1);
    const b1 = b[0]!;
    const fresh = await openSocket(t, alice.first.token);
    expect(fresh.all('connected')[0]!.calls).toEqual({ ring_timeout_ms: 45_000, connect_timeout_ms: 1000 });
    await fresh.close();
    const call = await a.invite(conv);
    await b1.callFrame('call_invite', call.callId);
    // A real answer, but Bob's peer is gone at once: no candidates, no call_connected.
    await b1.answer(call.callId, { connect: false });
    await a.callFrame('call_answer', call.callId);

    for (const d of [a, b1]) expect(await d.ended(call.callId), d.label).toMatchObject({ reason: 'connect_timeout' });
    await a.frame('message_updated', isCallMessage(call.callId, 'failed'));
    const record = await callRecord(t, bob.first.token, conv, call.callId);
    expect(record.call).toMatchObject({ outcome: 'failed', reason: 'connect_timeout', connected_at: null, duration_ms: null });
    expect(record.call.answered_at).toMatch(ISO);
  });
});

const clusterSkip = !testDatabaseUrl() ? 'needs PostgreSQL (set TEST_DATABASE_URL)' : !findBinary('redis-server') ? 'needs redis-server' : undefined;

describe.skipIf(clusterSkip !== undefined)(clusterSkip ? `calls across two nodes: ${clusterSkip}` : 'calls across two natter processes (BUS=redis)', () => {
  let cluster: Cluster;
  let n1: NatterNode;
  let n2: NatterNode;
  beforeAll(async () => {
    cluster = await Cluster.start({ bus: 'redis', nodes: 2 });
    [n1, n2] = cluster.nodes as [NatterNode, NatterNode];
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  });

  test('invited through node 1, answered by Bob\'s device on node 2, connected, hung up through node 2', async () => {
    const [alice, bob] = await Promise.all([registerAccount(n1, 'alice'), registerAccount(n2, 'bob')]);
    const conv = await directConversation(n1, alice.first, bob);
    const a = await devices.open1(n1, alice.first, 'A@node1');
    const b1 = await devices.open1(n2, bob.first, 'B@node2');

    const call = await a.invite(conv);
    const id = call.callId;
    expect(await b1.callFrame('call_invite', id)).toMatchObject({ from_device: a.id, from_user_id: alice.id, conversation_id: conv });
    expect(await a.callFrame('call_ringing', id)).toMatchObject({ from_device: b1.id });

    const answered = await b1.answer(id);
    expect(await a.callFrame('call_answer', id)).toMatchObject({ from_device: b1.id, sdp: answered.sentSdp });
    expect(await a.callFrame('call_selected', id)).toMatchObject({ device_id: b1.id });
    await Promise.all([call.waitConnected(), answered.waitConnected()]);
    await exchange(call, answered);
    await b1.frame('message_updated', isCallMessage(id, 'active'));
    expect((await callRecord(n1, alice.first.token, conv, id)).call.outcome).toBe('active');

    b1.hangup(id);
    for (const d of [a, b1]) expect(await d.ended(id), d.label).toMatchObject({ reason: 'hangup' });
    await a.frame('message_updated', isCallMessage(id, 'finished'));
    const record = await callRecord(n1, alice.first.token, conv, id);
    expect(record.call).toMatchObject({ outcome: 'finished', reason: 'hangup' });
    expect(record.call.duration_ms).toBeGreaterThan(0);
  });
});
