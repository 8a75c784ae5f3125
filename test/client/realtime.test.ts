import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { ServerFrame } from '../../client/src/index.js';
import { startApp, type TestApp } from '../harness/app.js';
import { Clients, directBetween, eventually, recordingWebSocket, sleep } from './fixtures.js';

/** The SDK's real-time half against a real natter: connect and sync, reconnects, gaps, helpers. */

let t: TestApp;
const clients = new Clients();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => clients.closeAll());
afterAll(() => t?.close());

/** Two signed-up users with a direct conversation; `aSent` records the frames a's client sends. */
async function pair(aOpts: Parameters<Clients['make']>[1] = {}) {
  const aSent: Record<string, any>[] = [];
  const a = await clients.signedUp(t.url, { WebSocket: recordingWebSocket(aSent), ...aOpts });
  const b = await clients.signedUp(t.url);
  const c = await directBetween(a, b);
  return { a, b, c, aSent };
}

/** Sends through b's outbox and waits for the echo. */
async function sendAndAck(from: ReturnType<Clients['make']>, c: number, content: string) {
  const echo = new Promise<any>((resolve) => {
    const off = from.on('new_message', (f) => {
      if (f.message.content === content) {
        off();
        resolve(f.message);
      }
    });
  });
  from.send(c, { content });
  return echo;
}

describe('connect and sync', () => {
  test('connect resolves on connected, having sent a sync of what it holds; synced tells the conversations', async () => {
    const { a, b, c, aSent } = await pair();
    await b.connect();
    await sendAndAck(b, c, 'one');
    await sendAndAck(b, c, 'two');

    const connected: ServerFrame[] = [];
    a.on('connected', (f) => connected.push(f));
    const synced = new Promise<any>((resolve) => a.on('synced', resolve));
    const states: string[] = [];
    a.onState((s) => states.push(s));
    await a.connect();
    expect(a.state).toBe('online');
    expect(states).toEqual(['connecting', 'online']);
    expect(connected).toEqual([{ type: 'connected', user_id: a.user!.id }]);
    expect(aSent[0]).toEqual({ type: 'sync', since: {}, changes_since: {} });
    expect((await synced).conversations[String(c)]).toBe(2);
    expect(a.heldSeq(c)).toBe(2);
  });

  test('the server drops the socket: the client reconnects with backoff, syncs from what it held, gets the missed messages once', async () => {
    const { a, b, c, aSent } = await pair({ reconnect: { initialDelayMs: 400, maxDelayMs: 1000 } });
    await Promise.all([a.connect(), b.connect()]);
    const got: number[] = [];
    const order: string[] = [];
    a.onFrame((f) => order.push(f.type === 'new_message' ? `m${f.message.seq}` : f.type));
    a.on('new_message', (f) => got.push(f.message.seq));
    await sendAndAck(b, c, 'before');
    await eventually(() => expect(got).toEqual([1]));
    const states: string[] = [];
    a.onState((s) => states.push(s));

    // natter cuts a's socket without a close frame (as when a connection breaks); while a is away b posts over REST.
    const conns = [...(t.app.gateway as any).sockets.all()].filter((conn: any) => conn.userId === a.user!.id);
    expect(conns).toHaveLength(1);
    conns[0].socket.terminate();
    for (const content of ['m2', 'm3', 'm4']) {
      const res = await b.api.POST('/api/v1/conversations/{id}/messages', { params: { path: { id: c } }, body: { content } });
      expect(res.response.status).toBe(201);
    }

    await eventually(() => expect(a.heldSeq(c)).toBe(4), 8000);
    expect(states[0]).toBe('offline');
    expect(states.slice(-2)).toEqual(['connecting', 'online']);
    expect(got).toEqual([1, 2, 3, 4]);
    // The resync named what it held, and the missed messages came in it, before synced.
    const syncs = aSent.filter((f) => f.type === 'sync');
    expect(syncs.at(-1)!.since).toEqual({ [c]: 1 });
    await eventually(() => {
      const afterReconnect = order.slice(order.lastIndexOf('connected')).filter((f) => f !== 'message_updated');
      expect(afterReconnect.slice(0, 5)).toEqual(['connected', 'm2', 'm3', 'm4', 'synced']);
    });
  });

  test('gap detection: a new_message past a missing seq makes the client sync; the missing one arrives, nothing twice', async () => {
    const { a, b, c, aSent } = await pair();
    await Promise.all([a.connect(), b.connect()]);
    await eventually(() => expect(a.heldSeq(c)).toBe(0));
    const got: number[] = [];
    a.on('new_message', (f) => got.push(f.message.seq));

    // The bus between nodes is at most once: drop a's copy of the next message, as a lost frame would.
    const bus = t.app.bus;
    const publishMany = bus.publishMany.bind(bus);
    let dropped = false;
    bus.publishMany = async (channels, event) => {
      if (!dropped && event.kind === 'frame' && event.position?.conversation_id === c) {
        dropped = true;
        return publishMany(channels.filter((ch) => ch !== `user:${a.user!.id}`), event);
      }
      return publishMany(channels, event);
    };
    try {
      await sendAndAck(b, c, 'lost on the way');
      await sendAndAck(b, c, 'after the gap');
      await eventually(() => expect(a.heldSeq(c)).toBe(2));
    } finally {
      bus.publishMany = publishMany;
    }
    expect(dropped).toBe(true);
    expect(got).toEqual([2, 1]);
    expect(aSent.filter((f) => f.type === 'sync').at(-1)!.since).toEqual({ [c]: 0 });
  });
});

describe('helpers', () => {
  test('typing: one start frame however often it is called within the throttle; a stop after the quiet spell', async () => {
    const { a, b, c, aSent } = await pair({ typing: { throttleMs: 1000, idleMs: 300 } });
    await Promise.all([a.connect(), b.connect()]);
    const seen: boolean[] = [];
    b.on('typing', (f) => seen.push(f.is_typing));
    let lastCall = 0;
    for (let i = 0; i < 5; i++) {
      a.typing(c);
      lastCall = Date.now();
      await sleep(60);
    }
    await eventually(() => expect(seen).toEqual([true, false]));
    // The stop came after the quiet spell (300 ms after the last call), not before.
    expect(Date.now() - lastCall).toBeGreaterThanOrEqual(280);
    expect(aSent.filter((f) => f.type === 'typing')).toEqual([
      { type: 'typing', conversation_id: c, is_typing: true },
      { type: 'typing', conversation_id: c, is_typing: false },
    ]);
    // Sending a message ends the typing at once.
    a.typing(c);
    a.send(c, { content: 'done typing' });
    await eventually(() => expect(seen).toEqual([true, false, true, false]));
  });

  test('markRead and markDelivered are coalesced per conversation: one frame, the highest seq', async () => {
    const { a, b, c, aSent } = await pair();
    await Promise.all([a.connect(), b.connect()]);
    for (const content of ['1', '2', '3']) await sendAndAck(b, c, content);
    await eventually(() => expect(a.heldSeq(c)).toBe(3));
    const receipts: any[] = [];
    b.on('receipt', (f) => receipts.push(f));

    a.markDelivered(c, 1);
    a.markRead(c, 1);
    a.markRead(c, 2);
    a.markRead(c, 3);
    a.markDelivered(c, 3);
    await eventually(() => expect(receipts.filter((r) => r.user_id === a.user!.id && r.status === 'read')).toHaveLength(1));
    await sleep(100);
    expect(aSent.filter((f) => f.type === 'read' || f.type === 'delivered')).toEqual([{ type: 'read', conversation_id: c, seq: 3 }]);
    expect(receipts.filter((r) => r.user_id === a.user!.id)).toEqual([
      expect.objectContaining({ status: 'read', seq: 3 }),
    ]);
  });

  test('unread counts: from REST after connecting, then kept current from new_message and receipt frames', async () => {
    const { a, b, c } = await pair();
    await b.connect();
    await sendAndAck(b, c, 'first');
    await sendAndAck(b, c, 'second');
    const seen: number[] = [];
    a.onUnread((u) => seen.push(u.get(c) ?? 0));
    await a.connect();
    await eventually(() => expect(a.unread.get(c)).toBe(2));

    await sendAndAck(b, c, 'third');
    await eventually(() => expect(a.unread.get(c)).toBe(3));
    a.markRead(c, 2);
    await eventually(() => expect(a.unread.get(c)).toBe(1));
    const rest = await a.api.GET('/api/v1/users/me/unread');
    expect(rest.data?.conversations.find((x) => x.conversation_id === c)?.unread_count).toBe(1);
    a.markRead(c, 3);
    await eventually(() => expect(a.unread.get(c)).toBe(0));
    expect(seen).toContain(3);

    // While a is away, b writes and a reads on another device: the reconnect's sync and count catch up.
    a.disconnect();
    await sendAndAck(b, c, 'fourth');
    await sendAndAck(b, c, 'fifth');
    const phone = clients.make(t.url);
    await phone.login({ email: a.user!.email, password: 'password123' });
    const read = await phone.api.POST('/api/v1/conversations/{id}/read', { params: { path: { id: c } }, body: { seq: 4 } });
    expect(read.data?.unread_count).toBe(1);
    await a.connect();
    await eventually(() => expect(a.unread.get(c)).toBe(1));
    // b's own messages are never unread for b.
    expect(b.unread.get(c) ?? 0).toBe(0);
  });

  test('presence: status_change frames keep the map of who is online', async () => {
    const { a, b } = await pair();
    await a.connect();
    const changes: number[] = [];
    a.onPresence((p) => changes.push(p.size));
    await b.connect();
    await eventually(() => expect(a.presence.get(b.user!.id)).toMatchObject({ online: true }));
    b.disconnect();
    await eventually(() => expect(a.presence.get(b.user!.id)?.online).toBe(false));
    expect(a.presence.get(b.user!.id)?.last_seen).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(changes.length).toBeGreaterThanOrEqual(2);
  });

  test('edit, react and delete: REST calls whose changes reach every member as frames', async () => {
    const { a, b, c } = await pair();
    await Promise.all([a.connect(), b.connect()]);
    const updates: any[] = [];
    const reactions: any[] = [];
    b.on('message_updated', (f) => updates.push(f.message));
    a.on('reaction', (f) => reactions.push(f));
    const sent = await sendAndAck(a, c, 'hello');

    const edited = await a.edit(c, sent.id, 'hello, world');
    expect(edited).toMatchObject({ id: sent.id, content: 'hello, world', edited_at: expect.any(String) });
    await eventually(() => expect(updates.at(-1)).toMatchObject({ id: sent.id, content: 'hello, world' }));

    await b.react(c, sent.id, '👍', true);
    await eventually(() => expect(reactions.at(-1)).toMatchObject({ message_id: sent.id, emoji: '👍', on: true, count: 1 }));
    await b.react(c, sent.id, '👍', false);
    await eventually(() => expect(reactions.at(-1)).toMatchObject({ on: false, count: 0 }));

    await a.delete(c, sent.id, true);
    await eventually(() => expect(updates.at(-1)).toMatchObject({ id: sent.id, deleted_for: 'everyone', content: '' }));
    const history = await b.history(c);
    expect(history.map((m) => [m.seq, m.deleted_for])).toEqual([[1, 'everyone']]);
    await expect(b.edit(c, sent.id, 'not mine')).rejects.toMatchObject({ status: expect.any(Number), code: expect.any(String) });
  });
});
