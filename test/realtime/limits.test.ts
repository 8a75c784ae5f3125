import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { direct, group, messageRows, newMessageIn, Sockets, type User } from './fixtures.js';

const sockets = new Sockets();
afterEach(() => sockets.closeAll());

/** Stops reading: the kernel buffers fill and then the server's send buffer grows. */
const pause = (ws: WsClient) => (ws.socket as any)._socket.pause();
const resume = (ws: WsClient) => (ws.socket as any)._socket.resume();

/**
 * 16 KiB of control characters: within MESSAGE_MAX_BYTES, but JSON writes each as
 * \u0001, so its new_message frame is about 98 KB. Few sends fill a socket's buffers.
 */
const BULKY = '\u0001'.repeat(16 * 1024);

describe('send buffer (WS_SEND_BUFFER = 64 KiB)', () => {
  let t: TestApp;
  let a: User, b: User, c: User;
  let conv: number;
  beforeAll(async () => {
    t = await startApp({ wsSendBuffer: 64 * 1024, wsRateLimit: 10_000 });
    [a, b, c] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    conv = await group(t, a, [b, c]);
  });
  afterAll(() => t?.close());

  test('a frame bigger than the whole buffer still reaches a client that keeps up', async () => {
    const [wa, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, c)]);
    wa.send({ type: 'message', conversation_id: conv, content: BULKY, client_id: 'bulky-1' });
    const got = await wc.next(newMessageIn(conv, BULKY));
    expect(got.message.client_id).toBe('bulky-1');
    await wa.next(newMessageIn(conv, BULKY));
    expect(wc.closeCode).toBeUndefined();
    expect(wa.closeCode).toBeUndefined();
  });

  test('a client that stops reading is closed with 4008 while the others get every message', async () => {
    const [wa, wb, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, c)]);
    const before = t.app.gateway.connectionCount;
    pause(wb);

    // ~8 MB towards b: more than loopback's kernel buffers and b's 64 KiB together.
    // Sent four at a time, each four once the last ones are echoed (as a client with a
    // small window of unacknowledged sends would). a and c share this process with the
    // server, so they read only between its bursts: dozens of these frames at once would
    // be more than the kernel's buffers and their 64 KiB hold, and close them too.
    const n = 80;
    const echoed = () => wa.all('new_message').filter((f) => f.message.client_id?.startsWith('flood-')).length;
    for (let i = 0; i < n; i += 4) {
      for (let k = i; k < i + 4; k++) wa.send({ type: 'message', conversation_id: conv, content: BULKY, client_id: `flood-${k}` });
      await expect.poll(echoed, { timeout: 10_000, interval: 5 }).toBeGreaterThanOrEqual(i + 4);
    }
    for (const w of [wa, wc]) {
      const ids = [];
      for (let i = 0; i < n; i++) ids.push((await w.next(newMessageIn(conv), 30_000)).message.client_id);
      expect(ids).toEqual(Array.from({ length: n }, (_, i) => `flood-${i}`));
    }
    expect(await messageRows(t, conv).then((rows) => rows.filter((r) => r.client_id?.startsWith('flood-')))).toHaveLength(n);

    // b can still write while it does not read; the server, having closed it, ignores that.
    wb.send({ type: 'message', conversation_id: conv, content: 'from a closed socket' });

    // b comes back a few seconds later, as a phone leaving a tunnel would: it reads what
    // was already on its way, then the close frame.
    await new Promise((r) => setTimeout(r, 3000));
    resume(wb);
    expect(await wb.closed).toBe(4008);
    const received = wb.all('new_message').length;
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(n);
    await expect.poll(() => t.app.gateway.connectionCount, { timeout: 5000 }).toBe(before - 1);
    expect((await messageRows(t, conv)).filter((r) => r.content === 'from a closed socket')).toEqual([]);

    // The others were never held up and are still live.
    wc.send({ type: 'ping' });
    await wc.nextOfType('pong');
    expect(wa.closeCode).toBeUndefined();

    // b reconnects and catches up from history.
    const again = await sockets.connect(t, b);
    expect(again.all('connected')).toHaveLength(1);
    const history = await t.request('GET', `/api/v1/conversations/${conv}/messages?limit=100`, { token: b.token });
    expect(history.status).toBe(200);
    expect(history.body.messages.filter((m: any) => m.client_id?.startsWith('flood-'))).toHaveLength(n);
  });
});

describe('heartbeat and rate limit (WS_PING_INTERVAL = 0.3 s, WS_RATE_LIMIT = 5)', () => {
  const PING_MS = 300;
  let t: TestApp;
  let a: User, b: User, c: User;
  beforeAll(async () => {
    t = await startApp({ wsPingInterval: PING_MS / 1000, wsRateLimit: 5 });
    [a, b, c] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    await direct(t, a, b);
  });
  afterAll(() => t?.close());

  const statusOf = (userId: number, status: string) => (f: Frame) =>
    f.type === 'status_change' && f.user_id === userId && f.status === status;

  test('a client that answers pings stays connected', async () => {
    const wc = await sockets.connect(t, c);
    await wc.expectNone(() => true, PING_MS * 5);
    expect(wc.closeCode).toBeUndefined();
    wc.send({ type: 'ping' });
    await wc.nextOfType('pong');
  });

  test('a client that stops answering pings is dropped and goes offline', async () => {
    const wa = await sockets.connect(t, a);
    const wb = await sockets.connect(t, b);
    await wa.next(statusOf(b.user.id, 'online'));
    const onlineSince = Date.now();
    pause(wb);

    const offline = await wa.next(statusOf(b.user.id, 'offline'), 5000);
    // Dropped within two rounds of pings (plus scheduling slack), not at once.
    expect(Date.now() - onlineSince).toBeGreaterThanOrEqual(PING_MS - 50);
    const row = await t.app.database.db
      .selectFrom('users')
      .select(['status', 'last_seen'])
      .where('id', '=', b.user.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('offline');
    expect(row.last_seen.toISOString()).toBe(offline.last_seen);
    expect(row.last_seen.getTime()).toBeGreaterThanOrEqual(onlineSince - 1000);

    resume(wb);
    expect(await wb.closed).toBe(1006);
    expect(wa.closeCode).toBeUndefined();
  });

  test('frames beyond the rate are slowed, not refused: every one is answered, and pings wait without the socket counting as dead', async () => {
    const wc = await sockets.connect(t, c);
    const started = Date.now();
    // A burst of 30 at once: the bucket holds 10, the rest come in at 5 a second — longer
    // than several ping rounds, while the server is not reading this socket.
    for (let i = 0; i < 30; i++) wc.send({ type: 'ping' });
    await expect.poll(() => wc.all('pong').length, { timeout: 10_000 }).toBe(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
    expect(wc.all('error')).toEqual([]);
    expect(wc.closeCode).toBeUndefined();

    // Messages too: all stored, in the order sent, each echoed.
    const conv = await direct(t, c, a);
    for (let i = 0; i < 10; i++) wc.send({ type: "message", conversation_id: conv, content: `burst ${i}`, client_id: `rl-${i}` });
    const echoes = [];
    for (let i = 0; i < 10; i++) echoes.push((await wc.next(newMessageIn(conv), 10_000)).message.client_id);
    expect(echoes).toEqual(Array.from({ length: 10 }, (_, i) => `rl-${i}`));
    expect((await messageRows(t, conv)).map((r) => r.client_id)).toEqual(echoes);
    expect(wc.all('error')).toEqual([]);
    wc.send({ type: 'ping' });
    await wc.next((f) => f.type === 'pong', 5000);
    expect(wc.closeCode).toBeUndefined();
  });

});

describe('a phone flushing its offline outbox (WS_RATE_LIMIT = 1000)', () => {
  let t: TestApp;
  let a: User, b: User;
  let conv: number;
  beforeAll(async () => {
    t = await startApp({ wsRateLimit: 1000 });
    [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
    conv = await direct(t, a, b);
  });
  afterAll(() => t?.close());

  test('300 messages in one burst: more than may wait at once, yet all stored in order, each echoed, the socket open', async () => {
    const [wa, wb] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b)]);
    const n = 300;
    // Sent in one go, as a reconnecting client replays what it queued offline.
    for (let i = 0; i < n; i++) wa.send({ type: 'message', conversation_id: conv, content: `o${i}`, client_id: `out-${i}` });
    for (const w of [wa, wb]) {
      const ids = [];
      for (let i = 0; i < n; i++) ids.push((await w.next(newMessageIn(conv), 15_000)).message.client_id);
      expect(ids).toEqual(Array.from({ length: n }, (_, i) => `out-${i}`));
    }
    expect((await messageRows(t, conv)).map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(wa.all('error')).toEqual([]);
    expect(wa.closeCode).toBeUndefined();
  });
});

test('a client slowed down and then closed as a slow consumer, which never reads again, is cut off by the heartbeat', async () => {
  const t = await startApp({ wsPingInterval: 0.3, wsRateLimit: 5, wsSendBuffer: 64 * 1024 });
  const local = new Sockets();
  try {
    const [a, c] = await Promise.all([registerUser(t), registerUser(t)]);
    const conv = await group(t, a, [c]);
    const [wa, wc] = await Promise.all([local.connect(t, a), local.connect(t, c)]);
    const before = t.app.gateway.connectionCount;
    // c floods (its reads are paused for seconds of rate debt) and stops reading.
    for (let i = 0; i < 150; i++) wc.send({ type: 'ping' });
    pause(wc);
    // Enough towards c to fill the kernel's buffers and its 64 KiB: closed with 4008.
    for (let i = 0; i < 80; i++) wa.send({ type: 'message', conversation_id: conv, content: BULKY, client_id: `hb-${i}` });
    // Cut off a few ping rounds after its 4008 (a's sends, at 5 a second, take some
    // seconds to get there), long before c's 28 s of rate debt are over.
    await expect.poll(() => t.app.gateway.connectionCount, { timeout: 15_000 }).toBe(before - 1);
    expect(wa.closeCode).toBeUndefined();
  } finally {
    await local.closeAll();
    await t.close();
  }
});
