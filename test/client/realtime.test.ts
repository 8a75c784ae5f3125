import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { NatterClient, ServerFrame, WebSocketConstructor } from '../../client/src/index.js';
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
    expect(connected).toEqual([
      { type: 'connected', user_id: a.user!.id, device_id: expect.stringMatching(/^[0-9a-f]{32}$/), calls: { ring_timeout_ms: 45_000, connect_timeout_ms: 30_000 } },
    ]);
    expect(a.deviceId).toBe((connected[0] as { device_id: string }).device_id);
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

describe('closing', () => {
  test('disconnect() while the socket is still connecting: rejects connect, no uncaught error in Node', async () => {
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', record);
    try {
      const made: { client?: NatterClient } = {};
      class ClosedAtOnce extends WebSocket {
        constructor(url: string) {
          super(url);
          queueMicrotask(() => made.client?.disconnect()); // the socket is the client's now, not open yet
        }
      }
      const a = (made.client = await clients.signedUp(t.url, { WebSocket: ClosedAtOnce as unknown as WebSocketConstructor }));
      await expect(a.connect()).rejects.toThrow('disconnected');
      await sleep(300);
      expect(uncaught).toEqual([]);
      expect(a.state).toBe('idle');
    } finally {
      process.off('uncaughtException', record);
    }
  });
});

describe('refusals', () => {
  test('a refused sync (a bad id given to hold) is reported and the sync sent again without it', async () => {
    const { a, b, c, aSent } = await pair();
    await b.connect();
    await sendAndAck(b, c, 'one');
    await sendAndAck(b, c, 'two');
    const errors: unknown[] = [];
    a.onError((e) => errors.push(e));
    a.hold(0, 5);
    await a.connect();
    await eventually(() => expect(a.heldSeq(c)).toBe(2));
    expect(errors).toEqual([expect.objectContaining({ code: 'validation_failed', field: 'since.0' })]);
    expect(aSent.filter((f) => f.type === 'sync').map((f) => f.since)).toEqual([{ 0: 5 }, {}]);
  });
});

describe('lost frames', () => {
  test('an echo lost on the way: the message is sent again with its client_id after echoTimeoutMs, stored once', async () => {
    const { a, b, c } = await pair({ echoTimeoutMs: 500 });
    await Promise.all([a.connect(), b.connect()]);
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
      const entry = a.send(c, { content: 'echo lost' });
      await eventually(() => expect(dropped).toBe(true));
      await sleep(200);
      expect(a.outbox.entries().map((e) => e.client_id)).toEqual([entry.client_id]);
      await eventually(() => expect(a.outbox.entries()).toEqual([]), 3000);
    } finally {
      bus.publishMany = publishMany;
    }
    expect(a.state).toBe('online');
    expect((await b.history(c)).map((m) => m.content)).toEqual(['echo lost']);
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
    // b's own messages are never unread for b; a's are.
    await sendAndAck(a, c, 'from a');
    await eventually(() => expect(b.unread.get(c)).toBe(1));
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

  test('presence after a reconnect: unknown while away, then filled in from the participants, not left stale', async () => {
    const { a, b, c } = await pair();
    await a.connect();
    await b.connect();
    await eventually(() => expect(a.presence.get(b.user!.id)).toMatchObject({ online: true }));
    a.disconnect();
    expect(a.presence.get(b.user!.id)).toBeUndefined();
    b.disconnect(); // while a is away: a gets no status_change for it
    await eventually(async () => {
      const { data } = await a.api.GET('/api/v1/conversations/{id}', { params: { path: { id: c } } });
      expect(data?.conversation.participants.find((p) => p.id === b.user!.id)?.status).toBe('offline');
    });
    await a.connect();
    await eventually(() => expect(a.presence.get(b.user!.id)).toMatchObject({ online: false, last_seen: expect.any(String) }));
  });

  test('unread counts drop a message deleted for everyone or hidden for the reader', async () => {
    const { a, b, c } = await pair();
    await Promise.all([a.connect(), b.connect()]);
    const first = await sendAndAck(b, c, 'first');
    const second = await sendAndAck(b, c, 'second');
    await eventually(() => expect(a.unread.get(c)).toBe(2));
    await b.delete(c, first.id, true);
    await eventually(() => expect(a.unread.get(c)).toBe(1));
    await a.delete(c, second.id);
    await eventually(() => expect(a.unread.get(c)).toBe(0));
  });

  test('after a reload, hold and holdModSeq bring the edits and deletes made while the app was closed', async () => {
    const { a, b, c } = await pair();
    await Promise.all([a.connect(), b.connect()]);
    const kept = await sendAndAck(b, c, 'as first written');
    const gone = await sendAndAck(b, c, 'to be deleted');
    await eventually(() => expect(a.heldSeq(c)).toBe(2));
    // What the app keeps in its cache: the seq it holds and the mod_seq of its copies.
    const cache = { seq: a.heldSeq(c)!, modSeq: Math.max(kept.mod_seq, gone.mod_seq) };
    const email = a.user!.email;
    a.close();
    await b.edit(c, kept.id, 'edited while a was away');
    await b.delete(c, gone.id, true);

    const reloaded = clients.make(t.url);
    await reloaded.login({ email, password: 'password123' });
    reloaded.hold(c, cache.seq);
    reloaded.holdModSeq(c, cache.modSeq);
    expect(reloaded.heldModSeq(c)).toBe(cache.modSeq);
    const updates: any[] = [];
    reloaded.on('message_updated', (f) => updates.push(f.message));
    const fresh: number[] = [];
    reloaded.on('new_message', (f) => fresh.push(f.message.seq));
    await reloaded.connect();
    await eventually(() =>
      expect(updates.map((m) => [m.id, m.content, m.deleted_for])).toEqual([
        [kept.id, 'edited while a was away', null],
        [gone.id, '', 'everyone'],
      ]),
    );
    expect(fresh).toEqual([]);
  });

  /** Two connected clients; b begins a direct conversation after a's sync (which gave it no mod_seq), and writes its first message. */
  async function begunLive() {
    const a = await clients.signedUp(t.url);
    const b = await clients.signedUp(t.url);
    await Promise.all([a.connect(), b.connect()]);
    const c = await directBetween(b, a);
    const kept = await sendAndAck(b, c, 'as first written');
    return { a, b, c, kept };
  }

  test('a conversation begun after the last sync: its edits, deletes and reactions made while away come with the next', async () => {
    const { a, b, c, kept } = await begunLive();
    const gone = await sendAndAck(b, c, 'to be deleted');
    await eventually(() => expect(a.heldSeq(c)).toBe(2));
    // Its first message came live: every change of it is wanted (and told, for an app's cache).
    expect(a.heldModSeq(c)).toBe(0);
    a.disconnect();
    await b.edit(c, kept.id, 'edited while a was away');
    await b.delete(c, gone.id, true);
    await b.react(c, kept.id, '👍', true);
    const updates: any[] = [];
    a.on('message_updated', (f) => updates.push(f.message));
    await a.connect();
    await eventually(() =>
      // In the order of their latest change (the reaction came after the delete).
      expect(updates.map((m) => [m.id, m.content, m.deleted_for, m.reactions?.length ?? 0])).toEqual([
        [gone.id, '', 'everyone', 0],
        [kept.id, 'edited while a was away', null, 1],
      ]),
    );
    // From then on the sync's baseline counts: a later reconnect asks from it, and gets nothing again.
    const baseline = a.heldModSeq(c);
    expect(baseline).toBeGreaterThan(kept.mod_seq);
    a.disconnect();
    updates.length = 0;
    const synced = new Promise<any>((resolve) => a.on('synced', resolve));
    await a.connect();
    expect((await synced).mod_seqs[String(c)]).toBe(baseline);
    expect(updates).toEqual([]);
  });

  test('a conversation begun live, kept across a reload: its heldModSeq (0) given back brings the edits made while closed', async () => {
    const { a, b, c, kept } = await begunLive();
    await eventually(() => expect(a.heldSeq(c)).toBe(1));
    const cache = { seq: a.heldSeq(c)!, modSeq: a.heldModSeq(c)! };
    expect(cache.modSeq).toBe(0);
    const email = a.user!.email;
    a.close();
    await b.edit(c, kept.id, 'edited while a was closed');

    const reloaded = clients.make(t.url);
    await reloaded.login({ email, password: 'password123' });
    reloaded.hold(c, cache.seq);
    reloaded.holdModSeq(c, cache.modSeq);
    expect(reloaded.heldModSeq(c)).toBe(0);
    const updates: any[] = [];
    reloaded.on('message_updated', (f) => updates.push(f.message));
    await reloaded.connect();
    await eventually(() => expect(updates.map((m) => [m.id, m.content])).toEqual([[kept.id, 'edited while a was closed']]));
  });

  test('a group joined after the last sync: an edit made while away comes with the next', async () => {
    const [a, b, d] = await Promise.all([clients.signedUp(t.url), clients.signedUp(t.url), clients.signedUp(t.url)]);
    await Promise.all([a.connect(), b.connect()]);
    const created = await b.api.POST('/api/v1/conversations', { body: { type: 'group', name: 'Later', participant_ids: [d.user!.id] } });
    const g = created.data!.conversation.id;
    await sendAndAck(b, g, 'before a joined');
    await b.api.POST('/api/v1/conversations/{id}/participants', { params: { path: { id: g } }, body: { user_ids: [a.user!.id] } });
    const after = await sendAndAck(b, g, 'after a joined');
    await eventually(() => expect(a.heldSeq(g)).toBe(after.seq));
    // Its first message was not live: asked from one below the lowest change seen.
    expect(a.heldModSeq(g)).toBeGreaterThan(0);
    expect(a.heldModSeq(g)).toBeLessThan(after.mod_seq);
    a.disconnect();
    await b.edit(g, after.id, 'edited while a was away');
    const updates: any[] = [];
    a.on('message_updated', (f) => updates.push(f.message));
    await a.connect();
    // (The first change seen may come again: the app applies by mod_seq.)
    await eventually(() => expect(updates.find((m) => m.id === after.id)?.content).toBe('edited while a was away'));
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
    // historyPage says when to stop paging back.
    await sendAndAck(a, c, 'second');
    const latest = await b.historyPage(c, { limit: 1 });
    expect([latest.messages.map((m) => m.seq), latest.has_more]).toEqual([[2], true]);
    const older = await b.historyPage(c, { before_seq: 2, limit: 1 });
    expect([older.messages.map((m) => m.seq), older.has_more]).toEqual([[1], false]);
    await expect(b.edit(c, sent.id, 'not mine')).rejects.toMatchObject({ status: expect.any(Number), code: expect.any(String) });
  });
});
