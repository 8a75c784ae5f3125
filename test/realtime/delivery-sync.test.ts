import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { direct, errorFrame, group, restSend, Sockets, type User } from './fixtures.js';

/** Resuming after a reconnect with `sync`, while live messages keep arriving. */

const sockets = new Sockets();
afterEach(() => sockets.closeAll());

interface World {
  t: TestApp;
  me: User;
  others: [User, User, User];
  convs: [number, number, number];
  /** A conversation `me` is not in. */
  foreign: number;
}

async function world(t: TestApp): Promise<World> {
  const [me, s1, s2, s3] = await Promise.all([registerUser(t), registerUser(t), registerUser(t), registerUser(t)]);
  const convs: [number, number, number] = [await direct(t, me, s1), await group(t, s2, [me, s3]), await direct(t, s3, me)];
  const foreign = await direct(t, s1, s2);
  return { t, me, others: [s1, s2, s3], convs, foreign };
}

/** Who may send into each of the world's conversations. */
const senderOf = (w: World, i: number): User => [w.others[0], i % 2 ? w.others[1] : w.others[2], w.others[2]][i % 3]!;

/** Sends `n` messages spread over the conversations, `parallel` requests at a time. */
async function flood(w: World, n: number, parallel: number, content: (i: number) => string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        const c = i % 3;
        await restSend(w.t, senderOf(w, c), w.convs[c]!, content(i));
      }
    }),
  );
}

async function lastSeqs(w: World): Promise<Record<number, number>> {
  const rows = await w.t.app.database.db.selectFrom('conversations').select(['id', 'last_seq']).where('id', 'in', [...w.convs, w.foreign]).execute();
  return Object.fromEntries(rows.map((r) => [r.id, r.last_seq]));
}

/** A sender sending into every conversation one message at a time until stopped. */
function liveSender(w: World, content: (i: number) => string = (i) => `live ${i}`) {
  let stop = false;
  let sent = 0;
  // One sequential sender per conversation: each conversation's messages are published
  // in seq order, as the socket must see them.
  const done = Promise.all(
    w.convs.map(async (conv, c) => {
      for (let i = c; !stop; i += 3) {
        await restSend(w.t, senderOf(w, c), conv, content(i));
        sent++;
      }
    }),
  );
  return {
    get sent() {
      return sent;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

const newMessageSeqs = (frames: Frame[], conv: number) =>
  frames.filter((f) => f.type === 'new_message' && f.message.conversation_id === conv).map((f) => f.message.seq as number);

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * Disconnects `me`, floods `gap` messages, reconnects and syncs with a sender running
 * throughout; checks every conversation's seqs on the socket are exactly held+1..last.
 */
async function resume(
  w: World,
  gap: number,
  content: (i: number) => string,
  opts: { during?: (ws: WsClient) => Promise<void>; live?: (i: number) => string } = {},
) {
  const first = await sockets.connect(w.t, w.me);
  await flood(w, 9, 3, (i) => `before ${i}`);
  await expect.poll(() => first.all('new_message').length, { timeout: 5000 }).toBe(9);
  const held = Object.fromEntries(w.convs.map((c) => [c, Math.max(...newMessageSeqs(first.frames, c))]));
  await first.close();

  await flood(w, gap, 8, content);

  const ws = await sockets.connect(w.t, w.me);
  const since = { ...Object.fromEntries(w.convs.map((c) => [String(c), held[c]!])), [String(w.foreign)]: 0 };
  ws.send({ type: 'sync', since });
  const sender = liveSender(w, opts.live);
  let synced: Frame;
  try {
    if (opts.during) await opts.during(ws);
    synced = await ws.nextOfType('synced', 60_000);
    // Keep sending a while after the sync too.
    const after = sender.sent;
    await expect.poll(() => sender.sent >= after + 12, { timeout: 20_000 }).toBe(true);
  } finally {
    await sender.stop();
  }

  const final = await lastSeqs(w);
  await expect.poll(() => w.convs.every((c) => newMessageSeqs(ws.frames, c).includes(final[c]!)), { timeout: 20_000 }).toBe(true);
  // Nothing more is on its way: a ping is answered after everything published before it.
  ws.send({ type: 'ping' });
  await ws.nextOfType('pong');

  const syncedAt = ws.frames.indexOf(synced);
  expect(synced).toEqual({ type: 'synced', conversations: expect.any(Object), mod_seqs: expect.any(Object) });
  expect(synced.conversations[String(w.foreign)]).toBeUndefined();
  for (const c of w.convs) {
    const seqs = newMessageSeqs(ws.frames, c);
    expect(seqs, `conversation ${c}`).toEqual(range(held[c]! + 1, final[c]!));
    // Everything up to what synced reports came before it; the rest after it.
    const upTo = synced.conversations[String(c)] as number;
    expect(upTo).toBeGreaterThanOrEqual(held[c]!);
    const before = newMessageSeqs(ws.frames.slice(0, syncedAt), c);
    expect(before).toEqual(range(held[c]! + 1, upTo));
  }
  expect(ws.frames.some((f) => f.type === 'new_message' && f.message.conversation_id === w.foreign)).toBe(false);
  expect(ws.all('synced')).toHaveLength(1);
  expect(ws.all('error')).toEqual([]);
  expect(ws.closeCode).toBeUndefined();
  return { ws, held, synced, final };
}

describe('sync', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(() => t?.close());

  test('500 missed messages in 3 conversations come once, in seq order, then synced, then the live ones', async () => {
    const w = await world(t);
    const { final, held } = await resume(w, 500, (i) => `missed ${i}`);
    const total = w.convs.reduce((n, c) => n + final[c]! - held[c]!, 0);
    expect(total).toBeGreaterThan(500);
  });

  test('without since: only synced, with each conversation\'s last_seq', async () => {
    const w = await world(t);
    await flood(w, 7, 2, (i) => `m${i}`);
    const ws = await sockets.connect(t, w.me);
    ws.send({ type: 'sync' });
    const synced = await ws.nextOfType('synced');
    const seqs = await lastSeqs(w);
    expect(synced.conversations).toEqual(Object.fromEntries(w.convs.map((c) => [String(c), seqs[c]])));
    expect(ws.all('new_message')).toEqual([]);

    ws.send({ type: 'sync', since: {} });
    expect((await ws.nextOfType('synced')).conversations).toEqual(synced.conversations);
    expect(ws.all('new_message')).toEqual([]);
  });

  test('a conversation the user is not in, named in since, is ignored', async () => {
    const w = await world(t);
    await restSend(t, w.others[0], w.foreign, 'not for me');
    await restSend(t, w.others[0], w.convs[0], 'for me');
    const ws = await sockets.connect(t, w.me);
    ws.send({ type: 'sync', since: { [w.foreign]: 0, [w.convs[0]]: 0, 999999: 0 } });
    const synced = await ws.nextOfType('synced');
    expect(Object.keys(synced.conversations).sort()).toEqual(w.convs.map(String).sort());
    expect(ws.all('new_message').map((f) => f.message.content)).toEqual(['for me']);
  });

  test.each([
    ['a negative seq', { '1': -1 }],
    ['a fractional seq', { '1': 1.5 }],
    ['a non-integer id', { abc: 1 }],
    ['a fractional id', { '1.5': 1 }],
    ['a zero id', { '0': 1 }],
    ['a zero-padded id', { '01': 1 }],
    ['an exponent id', { '1e1': 1 }],
    ['an array', [1, 2]],
    ['a number', 5],
    ['a string', 'all'],
    ['null', null],
  ])('since as %s is validation_failed, and the socket stays usable', async (_name, since) => {
    const w = await world(t);
    await restSend(t, w.others[0], w.convs[0], 'x');
    const ws = await sockets.connect(t, w.me);
    ws.send({ type: 'sync', since });
    expect(await ws.next(errorFrame('validation_failed'))).toMatchObject({ type: 'error', code: 'validation_failed' });
    expect(ws.all('synced')).toEqual([]);
    expect(ws.all('new_message')).toEqual([]);
    ws.send({ type: 'sync', since: { [w.convs[0]]: 0 } });
    await ws.nextOfType('synced');
    expect(ws.all('new_message')).toHaveLength(1);
    // Live messages still flow.
    await restSend(t, w.others[0], w.convs[0], 'y');
    await ws.next((f) => f.type === 'new_message' && f.message.content === 'y');
  });
});

describe('sync with a small send buffer', () => {
  let t: TestApp;
  const BUFFER = 64 * 1024;
  beforeAll(async () => {
    t = await startApp({ wsSendBuffer: BUFFER });
  });
  afterAll(() => t?.close());

  test('a gap many times the buffer streams in bounded batches, even past a pause in reading, without a cut-off', async () => {
    const w = await world(t);
    const body = 'x'.repeat(8000);
    const { final, held } = await resume(w, 600, (i) => `${i} ${body}`, { live: (i) => `live ${i} ${'y'.repeat(1000)}`, during: async (ws) => {
      // Stop reading for a while in the middle of the replay: the server must wait, not drop us.
      await ws.next((f) => f.type === 'new_message', 20_000);
      const raw = (ws.socket as any)._socket;
      raw.pause();
      await new Promise((r) => setTimeout(r, 800));
      raw.resume();
    } });
    const bytes = w.convs.reduce((n, c) => n + (final[c]! - held[c]!), 0) * body.length;
    expect(bytes).toBeGreaterThan(10 * BUFFER);
  });
});
