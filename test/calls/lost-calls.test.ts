import { randomUUID } from 'node:crypto';
import { afterEach, expect, test } from 'vitest';
import { registerUser, startApp, testDatabase, type TestApp } from '../harness/app.js';
import { isCallIdConflict } from '../../src/store/calls.repository.js';
import { inTransaction, type Database } from '../../src/store/database.js';
import { insertOwnMessages } from '../../src/store/messages.repository.js';
import type { WsClient } from '../harness/ws.js';
import { direct, Sockets, type User } from '../realtime/fixtures.js';
import { callRecord } from './peer.js';

// A lone node keeps its calls in memory: when it restarts mid-call, the state is gone
// but the records in the database still say the calls ring or last. The node that comes
// back settles them, and their call_ids stay taken.

const sockets = new Sockets();
const apps: TestApp[] = [];
let database: Database | undefined;
afterEach(async () => {
  await sockets.closeAll();
  for (const t of apps.splice(0).reverse()) await t.close();
  await database?.close();
  database = undefined;
});

const TUNING = { pollMs: 50, pushGraceMs: 50, settleMs: 400 };

/** A lone node over the test's database, which outlives it as it outlives a restart. */
async function node(): Promise<TestApp> {
  database ??= await testDatabase();
  const t = await startApp({ callRingTimeout: 30 }, { callTuning: TUNING, database: { ...database, close: async () => {} } });
  apps.push(t);
  return t;
}

async function pair(t: TestApp): Promise<{ caller: User; callee: User; conv: number }> {
  const caller = await registerUser(t);
  const callee = await registerUser(t);
  return { caller, callee, conv: await direct(t, caller, callee) };
}

/** Rings `callee` from `caller` and answers, until the call is active: the record says so. */
async function talking(caller: WsClient, callee: WsClient, conv: number, id: string, video = false): Promise<void> {
  caller.send({ type: 'call_invite', conversation_id: conv, call_id: id, sdp: 'v=0', video });
  await callee.next((f) => f.type === 'call_invite' && f.call_id === id);
  callee.send({ type: 'call_answer', call_id: id, sdp: 'v=0 answer' });
  await caller.next((f) => f.type === 'call_selected' && f.call_id === id);
  callee.send({ type: 'call_connected', call_id: id });
  await caller.next((f) => f.type === 'message_updated' && f.message.call?.call_id === id && f.message.call.outcome === 'active');
}

test('a node restarted mid-call: the ringing call is recorded missed, the active one failed; their call_ids stay taken', async () => {
  const first = await node();
  const talk = await pair(first);
  const ring = await pair(first);
  const [a, b] = [await sockets.connect(first, talk.caller), await sockets.connect(first, talk.callee)];
  const c = await sockets.connect(first, ring.caller);
  const [activeId, ringingId] = [randomUUID(), randomUUID()];

  await talking(a, b, talk.conv, activeId, true);
  c.send({ type: 'call_invite', conversation_id: ring.conv, call_id: ringingId, sdp: 'v=0', video: false });
  await c.next((f) => f.type === 'new_message' && f.message.call?.call_id === ringingId);
  expect((await callRecord(first, talk.callee.token, talk.conv, activeId)).call.outcome).toBe('active');
  expect((await callRecord(first, ring.callee.token, ring.conv, ringingId)).call.outcome).toBe('ringing');
  await sockets.closeAll();
  await apps.pop()!.close();

  const second = await node();
  // Settled soon after it starts (its sockets were gone: the change reaches them by sync, as any).
  await expect
    .poll(async () => (await callRecord(second, ring.callee.token, ring.conv, ringingId)).call, { timeout: 5000 })
    .toMatchObject({ outcome: 'missed', reason: 'missed', duration_ms: null, ended_at: expect.any(String) });
  await expect
    .poll(async () => (await callRecord(second, talk.caller.token, talk.conv, activeId)).call, { timeout: 5000 })
    .toMatchObject({ outcome: 'failed', reason: 'failed', duration_ms: null, connected_at: expect.any(String) });
  // The missed call counts as unread for its callee, as any missed call.
  const list = await second.request('GET', '/api/v1/conversations', { token: ring.callee.token });
  expect(list.body.conversations.find((x: any) => x.id === ring.conv).unread_count).toBe(1);

  // The restarted node's store never saw these calls; the database still knows their ids.
  const again = await sockets.connect(second, talk.caller);
  again.send({ type: 'call_invite', conversation_id: talk.conv, call_id: activeId, sdp: 'v=0', video: false });
  expect(await again.nextOfType('error')).toMatchObject({ code: 'call_in_progress', call_id: activeId });
  // Upper case is the same id.
  again.send({ type: 'call_invite', conversation_id: talk.conv, call_id: ringingId.toUpperCase(), sdp: 'v=0', video: false });
  expect((await again.nextOfType('error')).code).toBe('call_in_progress');
  // A new id rings as ever.
  const fresh = randomUUID();
  const b2 = await sockets.connect(second, talk.callee);
  again.send({ type: 'call_invite', conversation_id: talk.conv, call_id: fresh, sdp: 'v=0', video: false });
  expect((await b2.nextOfType('call_invite')).call_id).toBe(fresh);
});

test('a call that lasts is never settled, however long it rings or talks', async () => {
  const t = await node();
  const talk = await pair(t);
  const ring = await pair(t);
  const [a, b, c] = [await sockets.connect(t, talk.caller), await sockets.connect(t, talk.callee), await sockets.connect(t, ring.caller)];
  const [activeId, ringingId] = [randomUUID(), randomUUID()];
  await talking(a, b, talk.conv, activeId);
  c.send({ type: 'call_invite', conversation_id: ring.conv, call_id: ringingId, sdp: 'v=0', video: false });
  await c.next((f) => f.type === 'new_message' && f.message.call?.call_id === ringingId);

  // Several settling rounds pass over records older than settleMs.
  await new Promise((r) => setTimeout(r, TUNING.settleMs * 4));
  expect((await callRecord(t, talk.caller.token, talk.conv, activeId)).call.outcome).toBe('active');
  expect((await callRecord(t, ring.caller.token, ring.conv, ringingId)).call.outcome).toBe('ringing');
  expect(a.all('call_ended')).toEqual([]);
  expect(c.all('call_ended')).toEqual([]);
  // And they end as calls do.
  a.send({ type: 'call_hangup', call_id: activeId });
  expect((await b.nextOfType('call_ended')).reason).toBe('hangup');
  await expect.poll(async () => (await callRecord(t, talk.caller.token, talk.conv, activeId)).call.outcome).toBe('finished');
});

test('the database itself refuses a second record with a call_id, and natter knows the refusal for what it is', async () => {
  const t = await node();
  const { caller, callee, conv } = await pair(t);
  const a = await sockets.connect(t, caller);
  await sockets.connect(t, callee);
  const id = randomUUID();
  a.send({ type: 'call_invite', conversation_id: conv, call_id: id, sdp: 'v=0', video: false });
  const record = (await a.next((f) => f.type === 'new_message' && f.message.call?.call_id === id)).message;
  const again = inTransaction(t.app.database.db, (trx) =>
    insertOwnMessages(trx, conv, caller.user.id, [{ type: 'call', content: '', call: { ...record.call, outcome: 'missed' } }]),
  );
  const err = await again.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCallIdConflict(err), String(err)).toBe(true);
  // Another unique violation is not this one.
  expect(isCallIdConflict({ code: '23505', constraint: 'messages_sender_id_client_id_key', message: 'duplicate key value violates unique constraint' })).toBe(false);
});

test('a record left behind by its ended call (its update failed) gets the outcome the call had, from the state it ended in', async () => {
  const t = await node();
  const { caller, callee, conv } = await pair(t);
  const [a, b] = [await sockets.connect(t, caller), await sockets.connect(t, callee)];
  const id = randomUUID();
  await talking(a, b, conv, id);
  a.send({ type: 'call_hangup', call_id: id });
  const finished = (await a.next((f) => f.type === 'message_updated' && f.message.call?.outcome === 'finished')).message;
  // As if the updates to active and to finished had not gone through: the record says connecting.
  const behind = { ...finished.call, outcome: 'connecting', reason: null, connected_at: null, ended_at: null, duration_ms: null };
  await t.app.database.db.updateTable('messages').set({ call: JSON.stringify(behind) }).where('id', '=', finished.id).execute();

  const settled = await a.next((f) => f.type === 'message_updated' && f.message.id === finished.id && f.message.mod_seq > finished.mod_seq, 5000);
  expect(settled.message.call).toMatchObject({ outcome: 'finished', reason: 'hangup', connected_at: finished.call.connected_at, ended_at: finished.call.ended_at });
  expect(settled.message.call.duration_ms).toBe(finished.call.duration_ms);
});
