import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testDatabaseUrl } from '../harness/postgres.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { Cluster, findBinary, register, type NatterNode, type User } from './cluster-harness.js';

/**
 * Edits, deletes and reactions across two natter processes on one PostgreSQL database and
 * Redis: a member connected to node 2 hears of changes made on node 1 as they happen, and
 * a device that was offline meanwhile gets them by syncing on node 2.
 */

const pgUrl = testDatabaseUrl();
const redisBin = findBinary('redis-server');
const skipReason = !pgUrl ? 'needs PostgreSQL (set TEST_DATABASE_URL)' : !redisBin ? 'needs redis-server on PATH' : undefined;

const updatedOf = (id: number) => (f: Frame) => f.type === 'message_updated' && f.message.id === id;
const reactionOf = (id: number) => (f: Frame) => f.type === 'reaction' && f.message_id === id;
const isChange = (f: Frame) => f.type === 'message_updated' || f.type === 'reaction';

describe.skipIf(skipReason !== undefined)(skipReason ? `changes across nodes: ${skipReason}` : 'changes across two nodes on Redis', () => {
  let cluster: Cluster;
  let n1: NatterNode;
  let n2: NatterNode;
  let alice: User, bob: User, carol: User;
  let conv: number;
  const open: WsClient[] = [];

  const connect = async (node: NatterNode, user: User) => {
    const ws = await node.connect(user.token);
    open.push(ws);
    return ws;
  };
  const msgPath = (id: number) => `/api/v1/conversations/${conv}/messages/${id}`;
  const send = async (node: NatterNode, from: User, content: string) => {
    const res = await node.request('POST', `/api/v1/conversations/${conv}/messages`, { token: from.token, body: { content } });
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(201);
    return res.body.message;
  };
  const modSeq = async (node: NatterNode, who: User) => {
    const res = await node.request('GET', `/api/v1/conversations/${conv}`, { token: who.token });
    expect(res.status).toBe(200);
    return res.body.conversation.mod_seq as number;
  };
  const syncOn = async (ws: WsClient, frame: Record<string, unknown>) => {
    const start = ws.frames.length;
    ws.send({ type: 'sync', ...frame });
    const synced = await ws.nextOfType('synced', 15_000);
    const window = ws.frames.slice(start, ws.frames.indexOf(synced));
    return { synced, window, updated: window.filter((f) => f.type === 'message_updated') };
  };

  beforeAll(async () => {
    cluster = await Cluster.start({ bus: 'redis', nodes: 2 });
    [n1, n2] = cluster.nodes as [NatterNode, NatterNode];
    [alice, bob, carol] = await Promise.all([register(n1, 'alice'), register(n2, 'bob'), register(n1, 'carol')]);
    const res = await n1.request('POST', '/api/v1/conversations', {
      token: alice.token,
      body: { type: 'group', name: 'two nodes', participant_ids: [bob.user.id, carol.user.id] },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    conv = res.body.conversation.id;
  }, 150_000);

  afterAll(async () => {
    for (const ws of open) ws.socket.terminate();
    await cluster?.close();
  }, 60_000);

  test('a member on node 2 receives message_updated and reaction frames for changes made on node 1', async () => {
    const aliceN1 = await connect(n1, alice);
    const aliceN2 = await connect(n2, alice);
    const bobN2 = await connect(n2, bob);
    const m = await send(n1, alice, 'made on node 1');
    await bobN2.next((f) => f.type === 'new_message' && f.message.id === m.id, 10_000);

    const edit = await n1.request('PATCH', msgPath(m.id), { token: alice.token, body: { content: 'edited on node 1' } });
    expect(edit.status, JSON.stringify(edit.body)).toBe(200);
    for (const ws of [bobN2, aliceN2]) {
      const f = await ws.next(updatedOf(m.id), 10_000);
      expect(f.message).toMatchObject({ content: 'edited on node 1', mod_seq: edit.body.message.mod_seq });
    }

    aliceN1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '👍', on: true });
    const first = await bobN2.next(reactionOf(m.id), 10_000);
    expect(first).toMatchObject({ conversation_id: conv, user_id: alice.user.id, emoji: '👍', on: true, count: 1 });
    const put = await n1.request('PUT', `${msgPath(m.id)}/reactions/${encodeURIComponent('👍')}`, { token: carol.token });
    expect(put.status).toBe(200);
    const second = await bobN2.next(reactionOf(m.id), 10_000);
    expect(second).toMatchObject({ user_id: carol.user.id, emoji: '👍', on: true, count: 2, mod_seq: put.body.message.mod_seq });
    expect(second.mod_seq).toBeGreaterThan(first.mod_seq);

    // message_updated on node 2 is as each recipient sees it: alice reacted, bob did not.
    aliceN1.send({ type: 'edit', conversation_id: conv, message_id: m.id, content: 'edited again' });
    const again = await bobN2.next(updatedOf(m.id), 10_000);
    expect(again.message.reactions).toEqual([{ emoji: '👍', count: 2, me: false }]);
    const atAlice = await aliceN2.next(updatedOf(m.id), 10_000);
    expect(atAlice.message.reactions).toEqual([{ emoji: '👍', count: 2, me: true }]);

    aliceN1.send({ type: 'delete', conversation_id: conv, message_id: m.id });
    const tomb = await bobN2.next(updatedOf(m.id), 10_000);
    expect(tomb.message).toMatchObject({ content: '', deleted_for: 'everyone', reactions: [] });
    expect(tomb.message.mod_seq).toBe(await modSeq(n2, bob));

    // A hide on node 1 reaches alice's socket on node 2, and not bob's.
    const hidden = await send(n1, bob, 'alice hides this');
    await bobN2.next((f) => f.type === 'new_message' && f.message.id === hidden.id, 10_000);
    const mark = bobN2.frames.length;
    aliceN1.send({ type: 'delete', conversation_id: conv, message_id: hidden.id, for: 'me' });
    expect((await aliceN2.next(updatedOf(hidden.id), 10_000)).message).toMatchObject({ deleted_for: 'me', content: '' });
    const sentinel = await send(n1, alice, 'sentinel');
    const seen = await bobN2.next((f) => f.type === 'new_message' && f.message.id === sentinel.id, 10_000);
    expect(bobN2.frames.slice(mark, bobN2.frames.indexOf(seen)).filter(isChange)).toEqual([]);
  });

  test('a device offline during changes made through node 1 gets them by syncing on node 2', async () => {
    const m1 = await send(n1, alice, 'sync me 1');
    const m2 = await send(n1, alice, 'sync me 2');
    const m3 = await send(n1, carol, 'sync me 3');

    const device = await connect(n2, bob);
    const first = await syncOn(device, { since: { [conv]: m1.seq - 1 } });
    expect(first.window.filter((f) => f.type === 'new_message').map((f) => f.message.id)).toEqual([m1.id, m2.id, m3.id]);
    const held = { seq: m3.seq, mod_seq: first.synced.mod_seqs[String(conv)] as number };
    expect(held.mod_seq).toBe(await modSeq(n1, bob));
    device.socket.terminate();
    await device.closed;

    const aliceN1 = await connect(n1, alice);
    expect((await n1.request('PATCH', msgPath(m1.id), { token: alice.token, body: { content: 'sync me 1, edited' } })).status).toBe(200);
    aliceN1.send({ type: 'delete', conversation_id: conv, message_id: m2.id });
    await aliceN1.next(updatedOf(m2.id), 10_000);
    aliceN1.send({ type: 'react', conversation_id: conv, message_id: m3.id, emoji: '🎉', on: true });
    await aliceN1.next(reactionOf(m3.id), 10_000);
    expect((await n1.request('PUT', `${msgPath(m3.id)}/reactions/${encodeURIComponent('🎉')}`, { token: carol.token })).status).toBe(200);
    expect((await n1.request('PUT', `${msgPath(m3.id)}/reactions/${encodeURIComponent('❤️')}`, { token: carol.token })).status).toBe(200);

    const back = await connect(n2, bob);
    const res = await syncOn(back, { since: { [conv]: held.seq }, changes_since: { [conv]: held.mod_seq } });
    expect(res.window.filter((f) => f.type === 'new_message')).toEqual([]);
    expect(res.updated.map((f) => f.message.id).sort((x, y) => x - y)).toEqual([m1.id, m2.id, m3.id].sort((x, y) => x - y));
    const byId = new Map(res.updated.map((f) => [f.message.id, f.message]));
    expect(byId.get(m1.id)).toMatchObject({ content: 'sync me 1, edited', deleted_for: null });
    expect(byId.get(m2.id)).toMatchObject({ content: '', deleted_for: 'everyone' });
    expect(byId.get(m3.id).reactions).toEqual([
      { emoji: '🎉', count: 2, me: false },
      { emoji: '❤️', count: 1, me: false },
    ]);
    expect(res.synced.mod_seqs[String(conv)]).toBe(await modSeq(n2, bob));
    expect(res.synced.conversations[String(conv)]).toBe(held.seq);

    const again = await syncOn(back, { since: { [conv]: held.seq }, changes_since: { [conv]: res.synced.mod_seqs[String(conv)] } });
    expect(again.updated).toEqual([]);
  });
});
