import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, TestClock, type TestApp } from '../harness/app.js';
import { connect, refusedUpgrade, WsClient, wsUrl } from '../harness/ws.js';
import { direct, errorFrame, group, messageRows, newMessageIn, restSend, Sockets, type User } from './fixtures.js';

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

describe('upgrade and authentication', () => {
  test('a valid token in ?token= or Authorization: Bearer opens a live socket', async () => {
    const a = await registerUser(t);
    const byQuery = await sockets.connect(t, a);
    const byHeader = await sockets.connect(t, a, { header: true });
    // Both sockets are the one session, so the one device the auth reply named.
    // And the call timeouts this server runs by (the defaults here).
    const connected = { type: 'connected', user_id: a.user.id, device_id: a.device_id, calls: { ring_timeout_ms: 45_000, connect_timeout_ms: 30_000 } };
    expect(byQuery.all('connected')).toEqual([connected]);
    expect(byHeader.all('connected')).toEqual([connected]);
    byQuery.send({ type: 'ping' });
    expect(await byQuery.nextOfType('pong')).toEqual({ type: 'pong' });
  });

  test('a missing, malformed or forged token is refused with 401', async () => {
    expect(await refusedUpgrade(wsUrl(t))).toBe(401);
    expect(await refusedUpgrade(wsUrl(t, 'not-a-jwt'))).toBe(401);
    expect(await refusedUpgrade(wsUrl(t), { authorization: 'Bearer nope.nope.nope' })).toBe(401);
    const a = await registerUser(t);
    const [h, p, s] = a.token.split('.');
    const tampered = `${h}.${p}.${s!.slice(0, -4)}AAAA`;
    expect(await refusedUpgrade(wsUrl(t, tampered))).toBe(401);
  });

  test('a revoked token (after logout) is refused with 401', async () => {
    const a = await registerUser(t);
    const out = await t.request('POST', '/api/v1/auth/logout', { token: a.token, body: {} });
    expect(out.status).toBe(200);
    expect(await refusedUpgrade(wsUrl(t, a.token))).toBe(401);
    expect(await refusedUpgrade(wsUrl(t), { authorization: `Bearer ${a.token}` })).toBe(401);
  });

  test('logout closes that session\'s sockets with 4001, not the same user\'s other session', async () => {
    const a = await registerUser(t);
    const login = await t.request('POST', '/api/v1/auth/login', {
      body: { email: a.user.email, password: 'password123' },
    });
    expect(login.status).toBe(200);
    const other = { ...a, token: login.body.token as string };
    const s1 = await sockets.connect(t, a);
    const s1b = await sockets.connect(t, a, { header: true });
    const s2 = await sockets.connect(t, other);

    expect((await t.request('POST', '/api/v1/auth/logout', { token: a.token, body: {} })).status).toBe(200);
    expect(await s1.closed).toBe(4001);
    expect(await s1b.closed).toBe(4001);

    s2.send({ type: 'ping' });
    await s2.nextOfType('pong');
    expect(s2.closeCode).toBeUndefined();
  });
});

describe('expired tokens', () => {
  let short: TestApp;
  const clock = new TestClock();
  beforeAll(async () => {
    short = await startApp({ accessTokenTtl: 60 }, { clock });
  });
  afterAll(() => short?.close());

  test('an expired access token is refused with 401', async () => {
    const a = await registerUser(short);
    // The token is good now...
    const ws = sockets.track(await connect(short, a.token));
    await ws.close();
    // ...and not once its lifetime is over.
    clock.advance(61_000);
    expect(await refusedUpgrade(wsUrl(short, a.token))).toBe(401);
  });
});

describe('fanout', () => {
  let a: User, b: User, c: User, stranger: User;
  beforeAll(async () => {
    [a, b, c, stranger] = await Promise.all([registerUser(t), registerUser(t), registerUser(t), registerUser(t)]);
  });

  test('a direct message reaches both participants, the sender\'s echo carrying client_id', async () => {
    const conv = await direct(t, a, b);
    const [wa, wb, ws] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, stranger)]);

    wa.send({ type: 'message', conversation_id: conv, content: 'Hello', message_type: 'text', client_id: 'c-1' });
    const echo = await wa.next(newMessageIn(conv, 'Hello'));
    const got = await wb.next(newMessageIn(conv, 'Hello'));
    expect(echo.message).toEqual(got.message);
    expect(echo.message).toMatchObject({
      conversation_id: conv,
      sender_id: a.user.id,
      content: 'Hello',
      type: 'text',
      client_id: 'c-1',
      seq: 1,
      status: 'sent',
      media_url: null,
      reply_to_id: null,
    });
    expect(echo.message.sender.id).toBe(a.user.id);
    expect(Number.isInteger(echo.message.id)).toBe(true);
    await ws.expectNone((f) => f.type === 'new_message');

    const rows = await messageRows(t, conv);
    expect(rows.map((r) => [r.id, r.seq, r.content, r.client_id])).toEqual([[echo.message.id, 1, 'Hello', 'c-1']]);
  });

  test('a group message reaches every socket of every member and no outsider', async () => {
    const conv = await group(t, a, [b, c]);
    const [wa, wb1, wb2, wc, ws] = await Promise.all([
      sockets.connect(t, a),
      sockets.connect(t, b),
      sockets.connect(t, b, { header: true }),
      sockets.connect(t, c),
      sockets.connect(t, stranger),
    ]);
    wc.send({ type: 'message', conversation_id: conv, content: 'to the group' });
    const frames = await Promise.all([wa, wb1, wb2, wc].map((w) => w.next(newMessageIn(conv, 'to the group'))));
    for (const f of frames) expect(f.message).toEqual(frames[0]!.message);
    expect(frames[0]!.message.sender_id).toBe(c.user.id);

    // A REST send takes the same path.
    const sent = await restSend(t, a, conv, 'over rest');
    const viaRest = await Promise.all([wa, wb1, wb2, wc].map((w) => w.next(newMessageIn(conv, 'over rest'))));
    for (const f of viaRest) expect(f.message.id).toBe(sent.id);
    await ws.expectNone((f) => f.type === 'new_message');
  });

  test('messages from one socket arrive in the order sent, with increasing seq', async () => {
    const conv = await direct(t, a, c);
    const [wa, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, c)]);
    const n = 40;
    for (let i = 0; i < n; i++) wa.send({ type: 'message', conversation_id: conv, content: `m${i}`, client_id: `ord-${i}` });
    for (const w of [wa, wc]) {
      const got = [];
      for (let i = 0; i < n; i++) got.push((await w.next(newMessageIn(conv))).message);
      expect(got.map((m) => m.content)).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
      const seqs = got.map((m) => m.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(n);
    }
    expect(await messageRows(t, conv)).toHaveLength(n);
  });

  test('a repeated client_id returns the original message to that socket only, stored once', async () => {
    const conv = await direct(t, b, c);
    const [wb, wb2, wc] = await Promise.all([sockets.connect(t, b), sockets.connect(t, b), sockets.connect(t, c)]);
    const frame = { type: 'message', conversation_id: conv, content: 'once', client_id: 'dup-1' };
    wb.send(frame);
    const first = (await wb.next(newMessageIn(conv, 'once'))).message;
    await wc.next(newMessageIn(conv, 'once'));
    await wb2.next(newMessageIn(conv, 'once'));

    wb.send({ ...frame, content: 'retry with other text' });
    const again = await wb.next(newMessageIn(conv));
    expect(again.message.id).toBe(first.id);
    expect(again.message.content).toBe('once');
    expect(again.message.client_id).toBe('dup-1');
    await wc.expectNone((f) => f.type === 'new_message');
    await wb2.expectNone((f) => f.type === 'new_message', 0);
    expect(await messageRows(t, conv)).toHaveLength(1);
  });
});

describe('refused frames', () => {
  let a: User, b: User, outsider: User;
  let conv: number, foreign: number;
  beforeAll(async () => {
    [a, b, outsider] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    conv = await direct(t, a, b);
    foreign = await direct(t, b, outsider);
  });

  const bad: [string, unknown, string][] = [
    ['malformed JSON', '{"type":"message",', 'invalid_frame'],
    ['a JSON array', '[1,2]', 'invalid_frame'],
    ['a JSON string', '"message"', 'invalid_frame'],
    ['null', 'null', 'invalid_frame'],
    ['no type', { conversation_id: 1 }, 'invalid_frame'],
    ['an unknown type', { type: 'shout', conversation_id: 1 }, 'unknown_type'],
    ['a string conversation_id', { type: 'message', conversation_id: '1', content: 'x' }, 'validation_failed'],
    ['a missing conversation_id', { type: 'message', content: 'x' }, 'validation_failed'],
    ['a numeric content', { type: 'message', conversation_id: 1, content: 5 }, 'validation_failed'],
    ['a non-boolean is_typing', { type: 'typing', conversation_id: 1, is_typing: 'yes' }, 'validation_failed'],
    ['an unknown message_type', { type: 'message', conversation_id: 0, content: 'x', message_type: 'gif' }, 'validation_failed'],
  ];

  test.each(bad)('%s gets an error frame, stores nothing, and the socket stays usable', async (_name, frame, code) => {
    const wa = await sockets.connect(t, a);
    const before = (await messageRows(t)).length;
    // conversation_id 0 above is invalid on its own; use the real one where the frame is otherwise sound.
    const payload = typeof frame === 'string' ? frame : JSON.stringify(frame).replace('"conversation_id":0', `"conversation_id":${conv}`);
    wa.send(payload);
    const err = await wa.next((f) => f.type === 'error');
    expect(err.code).toBe(code);
    expect(typeof err.error).toBe('string');
    expect(err.error.length).toBeGreaterThan(0);
    expect((await messageRows(t)).length).toBe(before);

    wa.send({ type: 'message', conversation_id: conv, content: 'still works' });
    await wa.next(newMessageIn(conv, 'still works'));
  });

  test('an error echoes a client_id only when it is one a message could carry', async () => {
    const wa = await sockets.connect(t, a);
    wa.send({ type: 'shout', client_id: 'ok-1' });
    expect((await wa.next(errorFrame('unknown_type'))).client_id).toBe('ok-1');
    wa.send({ client_id: 'ok-2' });
    expect((await wa.next(errorFrame('invalid_frame'))).client_id).toBe('ok-2');
    // 10,000 characters are not an id the client could match; they are not sent back.
    wa.send({ type: 'shout', client_id: 'x'.repeat(10_000) });
    expect((await wa.next(errorFrame('unknown_type'))).client_id).toBeUndefined();
    wa.send({ client_id: '' });
    expect((await wa.next(errorFrame('invalid_frame'))).client_id).toBeUndefined();
  });

  test('a message to a conversation the sender is not in is not_found, with its client_id', async () => {
    const wa = await sockets.connect(t, a);
    const wo = await sockets.connect(t, outsider);
    const before = await messageRows(t, foreign);
    wa.send({ type: 'message', conversation_id: foreign, content: 'intrude', client_id: 'x-1' });
    const err = await wa.next(errorFrame('not_found'));
    expect(err.client_id).toBe('x-1');
    // A conversation that does not exist looks the same.
    wa.send({ type: 'message', conversation_id: 987654, content: 'nowhere' });
    await wa.next(errorFrame('not_found'));
    expect(await messageRows(t, foreign)).toEqual(before);
    await wo.expectNone((f) => f.type === 'new_message');
    wa.send({ type: 'message', conversation_id: conv, content: 'after not_found' });
    await wa.next(newMessageIn(conv, 'after not_found'));
  });

  test('content over 16 KiB is message_too_large; exactly 16 KiB is fine', async () => {
    const wa = await sockets.connect(t, a);
    const before = (await messageRows(t, conv)).length;
    wa.send({ type: 'message', conversation_id: conv, content: 'x'.repeat(16 * 1024 + 1), client_id: 'big' });
    const err = await wa.next(errorFrame('message_too_large'));
    expect(err.client_id).toBe('big');
    // Multi-byte characters count by their UTF-8 size.
    wa.send({ type: 'message', conversation_id: conv, content: 'é'.repeat(8 * 1024 + 1) });
    await wa.next(errorFrame('message_too_large'));
    expect((await messageRows(t, conv)).length).toBe(before);

    wa.send({ type: 'message', conversation_id: conv, content: 'y'.repeat(16 * 1024) });
    const ok = await wa.next(newMessageIn(conv, 'y'.repeat(16 * 1024)));
    expect(ok.message.content).toHaveLength(16 * 1024);
  });

  test('a text message without content, or media without media_url, is validation_failed', async () => {
    const wa = await sockets.connect(t, a);
    const before = (await messageRows(t, conv)).length;
    wa.send({ type: 'message', conversation_id: conv, content: '   ' });
    await wa.next(errorFrame('validation_failed'));
    wa.send({ type: 'message', conversation_id: conv, message_type: 'image' });
    await wa.next(errorFrame('validation_failed'));
    expect((await messageRows(t, conv)).length).toBe(before);
  });

  test('a binary frame closes the socket with 1003', async () => {
    const wa = await sockets.connect(t, a);
    wa.socket.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await wa.closed).toBe(1003);
  });
});

describe('payload limit', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await startApp({ wsMaxPayload: 4096 });
  });
  afterAll(() => small?.close());

  test('a frame over WS_MAX_PAYLOAD closes the socket with 1009; one under it is handled', async () => {
    const [a, b] = await Promise.all([registerUser(small), registerUser(small)]);
    const conv = await direct(small, a, b);
    const wa = sockets.track(await connect(small, a.token));
    wa.send({ type: 'message', conversation_id: conv, content: 'x'.repeat(3000) });
    await wa.next(newMessageIn(conv));
    wa.send({ type: 'message', conversation_id: conv, content: 'x'.repeat(5000) });
    expect(await wa.closed).toBe(1009);
    expect(await messageRows(small, conv)).toHaveLength(1);
  });
});

describe('shutdown', () => {
  test('app.close() closes open sockets with 1001 and refuses new ones', async () => {
    const own = await startApp();
    const [a, b] = await Promise.all([registerUser(own), registerUser(own)]);
    const wa = sockets.track(await connect(own, a.token));
    const wb = sockets.track(await connect(own, b.token, { header: true }));
    await own.close();
    expect(await wa.closed).toBe(1001);
    expect(await wb.closed).toBe(1001);
    expect(own.app.gateway.connectionCount).toBe(0);
    const late = new WsClient(new WebSocket(wsUrl(own, a.token)));
    late.socket.on('error', () => {});
    const code = await late.closed;
    expect(code).not.toBe(1000);
  });
});

test('the server counts open sockets and forgets closed ones', async () => {
  const a = await registerUser(t);
  const before = t.app.gateway.connectionCount;
  const w1 = await sockets.connect(t, a);
  const w2 = await sockets.connect(t, a);
  expect(t.app.gateway.connectionCount).toBe(before + 2);
  await w1.close();
  await w2.close();
  await expect.poll(() => t.app.gateway.connectionCount, { timeout: 5000 }).toBe(before);
});
