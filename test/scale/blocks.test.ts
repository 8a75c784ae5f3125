import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testDatabaseUrl } from '../harness/postgres.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { Cluster, findBinary, register, sleep, type NatterNode, type User } from './cluster-harness.js';

/**
 * A block made through one node holds on the other: refusals read the database, so the
 * very next send through the other node is refused; the frames the other node fans out
 * (typing) stop as soon as the cache channel has told it.
 */

const skipReason = !testDatabaseUrl()
  ? 'needs PostgreSQL (set TEST_DATABASE_URL)'
  : !findBinary('redis-server')
    ? 'needs redis-server on PATH'
    : undefined;

describe.skipIf(skipReason !== undefined)(skipReason ? `blocking across nodes: ${skipReason}` : 'blocking across two nodes (BUS=redis)', () => {
  let cluster: Cluster;
  let n1: NatterNode, n2: NatterNode;
  let a: User, b: User, c: User;
  let wa: WsClient, wb: WsClient, wc: WsClient;
  let dm: number, grp: number;

  const typingFrom = (user: User, conv: number) => (f: Frame) =>
    f.type === 'typing' && f.user_id === user.user.id && f.conversation_id === conv && f.is_typing === true;

  /** b types once in the group; which of a and c were told (within 400 ms). */
  async function whoHearsBTyping(): Promise<{ a: boolean; c: boolean }> {
    const [ma, mc] = [wa.frames.length, wc.frames.length];
    wb.send({ type: 'typing', conversation_id: grp, is_typing: true });
    await sleep(400);
    return {
      a: wa.frames.slice(ma).some(typingFrom(b, grp)),
      c: wc.frames.slice(mc).some(typingFrom(b, grp)),
    };
  }

  beforeAll(async () => {
    cluster = await Cluster.start({ bus: 'redis', nodes: 2 });
    [n1, n2] = cluster.nodes as [NatterNode, NatterNode];
    [a, b, c] = await Promise.all([register(n1, 'alice'), register(n2, 'bob'), register(n1, 'carol')]);
    const create = async (token: string, body: object) => {
      const res = await n1.request('POST', '/api/v1/conversations', { token, body });
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      return res.body.conversation.id as number;
    };
    dm = await create(a.token, { type: 'direct', participant_id: b.user.id });
    grp = await create(c.token, { type: 'group', name: 'three', participant_ids: [a.user.id, b.user.id] });
    [wa, wb, wc] = await Promise.all([n1.connect(a.token), n2.connect(b.token), n1.connect(c.token)]);
  }, 150_000);

  afterAll(async () => {
    for (const ws of [wa, wb, wc]) ws?.socket.terminate();
    await cluster?.close();
  }, 60_000);

  test('blocking on node 1 refuses the next send through node 2, and typing from node 2 stops reaching the blocker', async () => {
    // Warm node 2's caches: b's sends and typing go through there.
    wb.send({ type: 'message', conversation_id: dm, content: 'before', client_id: 'before-1' });
    await wa.next((f) => f.type === 'new_message' && f.message.client_id === 'before-1', 10_000);
    await expect.poll(whoHearsBTyping, { timeout: 10_000, interval: 0 }).toEqual({ a: true, c: true });

    const res = await n1.request('POST', `/api/v1/users/${b.user.id}/block`, { token: a.token });
    expect(res.status, JSON.stringify(res.body)).toBe(201);

    wb.send({ type: 'message', conversation_id: dm, content: 'refused', client_id: 'after-1' });
    expect(await wb.next((f) => f.type === 'error' && f.client_id === 'after-1', 10_000)).toMatchObject({ code: 'blocked' });
    const rest = await n2.request('POST', `/api/v1/conversations/${dm}/messages`, { token: b.token, body: { content: 'refused too' } });
    expect(rest.status).toBe(403);
    expect(rest.body.code).toBe('blocked');
    const history = await n2.request('GET', `/api/v1/conversations/${dm}/messages`, { token: a.token });
    expect(history.body.messages.map((m: any) => m.content)).toEqual(['before']);

    // Node 2 learns of the block on the cache channel: well within a second.
    await expect.poll(whoHearsBTyping, { timeout: 2000, interval: 0 }).toEqual({ a: false, c: true });
    expect(await whoHearsBTyping()).toEqual({ a: false, c: true });

    const lifted = await n1.request('DELETE', `/api/v1/users/${b.user.id}/block`, { token: a.token });
    expect(lifted.status).toBe(204);
    await expect.poll(whoHearsBTyping, { timeout: 2000, interval: 0 }).toEqual({ a: true, c: true });
    wb.send({ type: 'message', conversation_id: dm, content: 'after', client_id: 'after-2' });
    await wa.next((f) => f.type === 'new_message' && f.message.client_id === 'after-2', 10_000);
  });
});
