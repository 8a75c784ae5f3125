import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testDatabaseUrl } from '../harness/postgres.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { Cluster, findBinary, register, sleep, type NatterNode, type User } from './cluster-harness.js';

/**
 * Group changes made through one node hold at once on the other: a member removed
 * through node 1 cannot post through node 2 (whose cached roster still lists them), and
 * gets no frame of the group on node 2's socket after the removal, while the members
 * still there do; a member added through node 1 posts through node 2 and hears from it.
 */

const skipReason = !testDatabaseUrl()
  ? 'needs PostgreSQL (set TEST_DATABASE_URL)'
  : !findBinary('redis-server')
    ? 'needs redis-server on PATH'
    : undefined;

describe.skipIf(skipReason !== undefined)(skipReason ? `groups across nodes: ${skipReason}` : 'group membership across two nodes (BUS=redis)', () => {
  let cluster: Cluster;
  let n1: NatterNode, n2: NatterNode;
  let owner: User, bob: User, carol: User, dave: User;
  let wBob: WsClient, wCarol: WsClient;
  let grp: number;

  const inGroup = (content?: string) => (f: Frame) =>
    f.type === 'new_message' && f.message.conversation_id === grp && (content === undefined || f.message.content === content);

  beforeAll(async () => {
    cluster = await Cluster.start({ bus: 'redis', nodes: 2 });
    [n1, n2] = cluster.nodes as [NatterNode, NatterNode];
    [owner, bob, carol, dave] = await Promise.all([register(n1, 'owner'), register(n2, 'bob'), register(n2, 'carol'), register(n2, 'dave')]);
    const res = await n1.request('POST', '/api/v1/conversations', {
      token: owner.token,
      body: { type: 'group', name: 'g', participant_ids: [bob.user.id, carol.user.id] },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    grp = res.body.conversation.id;
    [wBob, wCarol] = await Promise.all([n2.connect(bob.token), n2.connect(carol.token)]);
  }, 150_000);

  afterAll(async () => {
    for (const ws of [wBob, wCarol]) ws?.socket.terminate();
    await cluster?.close();
  }, 60_000);

  test('removed through node 1: at once refused through node 2, and no more frames of the group there', async () => {
    // Node 2's cache holds the roster with bob in it.
    wBob.send({ type: 'message', conversation_id: grp, content: 'warm', client_id: 'warm-1' });
    await wCarol.next(inGroup('warm'));
    await wBob.next(inGroup('warm'));

    const removed = await n1.request('DELETE', `/api/v1/conversations/${grp}/participants/${bob.user.id}`, { token: owner.token });
    expect(removed.status).toBe(204);
    // No waiting for the cache channel: the very next send through node 2 is refused.
    const refused = await n2.request('POST', `/api/v1/conversations/${grp}/messages`, { token: bob.token, body: { content: 'still here?' } });
    expect(refused.status).toBe(404);
    wBob.send({ type: 'message', conversation_id: grp, content: 'ws still here?', client_id: 'late-1' });
    await wBob.next((f) => f.type === 'error' && f.code === 'not_found');

    // Carol, through node 2 at once, after the removal: she hears it, bob does not.
    const sent = await n2.request('POST', `/api/v1/conversations/${grp}/messages`, { token: carol.token, body: { content: 'after' } });
    expect(sent.status).toBe(201);
    await wCarol.next(inGroup('after'));
    await sleep(300);
    expect(wBob.frames.filter(inGroup('after'))).toEqual([]);
    expect(wBob.frames.filter(inGroup()).map((f) => f.message.system?.event ?? f.message.content)).toEqual(['warm', 'member_removed']);
    const rows = await n1.request('GET', `/api/v1/conversations/${grp}/messages?limit=50`, { token: owner.token });
    expect(rows.body.messages.map((m: any) => m.content)).not.toContain('still here?');
    expect(rows.body.messages.map((m: any) => m.content)).not.toContain('ws still here?');
  });

  test('added through node 1: posts through node 2 at once, and hears the group there', async () => {
    const wDave = await n2.connect(dave.token);
    try {
      const added = await n1.request('POST', `/api/v1/conversations/${grp}/participants`, { token: owner.token, body: { user_ids: [dave.user.id] } });
      expect(added.status).toBe(200);
      await wDave.next(inGroup());
      const sent = await n2.request('POST', `/api/v1/conversations/${grp}/messages`, { token: dave.token, body: { content: 'hi all' } });
      expect(sent.status, JSON.stringify(sent.body)).toBe(201);
      await wCarol.next(inGroup('hi all'));
      const back = await n2.request('POST', `/api/v1/conversations/${grp}/messages`, { token: carol.token, body: { content: 'welcome' } });
      expect(back.status).toBe(201);
      await wDave.next(inGroup('welcome'));
    } finally {
      wDave.socket.terminate();
    }
  });
});
