import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import type { Frame } from '../harness/ws.js';
import { direct, errorFrame, group, Sockets, type User } from './fixtures.js';

const TYPING_TIMEOUT_S = 0.5;

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp({ typingTimeout: TYPING_TIMEOUT_S });
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const statusOf = (userId: number, status?: string) => (f: Frame) =>
  f.type === 'status_change' && f.user_id === userId && (status === undefined || f.status === status);
const typingOf = (userId: number, conv: number, isTyping?: boolean) => (f: Frame) =>
  f.type === 'typing' && f.user_id === userId && f.conversation_id === conv && (isTyping === undefined || f.is_typing === isTyping);

async function userRow(id: number) {
  return t.app.database.db.selectFrom('users').select(['status', 'last_seen']).where('id', '=', id).executeTakeFirstOrThrow();
}

describe('presence', () => {
  let a: User, b: User, stranger: User;
  beforeAll(async () => {
    [a, b, stranger] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    await direct(t, a, b);
  });

  test('contacts see a user go online with the first socket and offline with the last', async () => {
    const wa = await sockets.connect(t, a);
    const ws = await sockets.connect(t, stranger);
    const before = await userRow(b.user.id);

    const b1 = await sockets.connect(t, b);
    const online = await wa.next(statusOf(b.user.id));
    expect(online).toEqual({ type: 'status_change', user_id: b.user.id, status: 'online', last_seen: expect.stringMatching(ISO) });
    expect((await userRow(b.user.id)).status).toBe('online');

    // A second socket is not a transition; neither is closing one of two.
    const b2 = await sockets.connect(t, b, { header: true });
    await b2.close();
    await wa.expectNone(statusOf(b.user.id));

    await b1.close();
    const offline = await wa.next(statusOf(b.user.id));
    expect(offline).toMatchObject({ type: 'status_change', user_id: b.user.id, status: 'offline' });
    const row = await userRow(b.user.id);
    expect(row.status).toBe('offline');
    expect(offline.last_seen).toBe(row.last_seen.toISOString());
    expect(row.last_seen.getTime()).toBeGreaterThanOrEqual(before.last_seen.getTime());
    expect(new Date(offline.last_seen).getTime()).toBeGreaterThanOrEqual(new Date(online.last_seen).getTime());

    // Nobody who shares no conversation with b hears about it; b does not hear about themself.
    await ws.expectNone((f) => f.type === 'status_change', 0);
    expect(b1.all('status_change').filter((f) => f.user_id === b.user.id)).toEqual([]);
  });

  test('a user who opens a socket is told nothing about themself, but sees contacts come online', async () => {
    // An earlier test's socket may still be inside the offline grace period.
    await expect.poll(async () => (await userRow(a.user.id)).status, { timeout: 5000 }).toBe('offline');
    const wb = await sockets.connect(t, b);
    const wa = await sockets.connect(t, a);
    await wb.next(statusOf(a.user.id, 'online'));
    await wa.expectNone((f) => f.type === 'status_change' && f.user_id === a.user.id);
  });

  test('reconnecting after the grace period gives offline→online in that order, and the row says online', async () => {
    await expect.poll(async () => (await userRow(b.user.id)).status, { timeout: 5000 }).toBe('offline');
    const wa = await sockets.connect(t, a);
    // The row says offline a moment before the earlier test's `offline` frame goes out: if
    // that frame reaches this new socket, it is set aside, not taken for this test's.
    await wa.next(statusOf(b.user.id, 'offline'), 300).catch(() => {});
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const wb = await sockets.connect(t, b);
      seen.push((await wa.next(statusOf(b.user.id))).status);
      await wb.close();
      seen.push((await wa.next(statusOf(b.user.id))).status);
    }
    const wb = await sockets.connect(t, b);
    seen.push((await wa.next(statusOf(b.user.id))).status);
    expect(seen).toEqual(['online', 'offline', 'online', 'offline', 'online', 'offline', 'online']);
    expect((await userRow(b.user.id)).status).toBe('online');
    await wb.close();
    await wa.next(statusOf(b.user.id, 'offline'));
  });
});


describe('typing', () => {
  let a: User, b: User, c: User, outsider: User;
  let conv: number, grp: number;
  beforeAll(async () => {
    [a, b, c, outsider] = await Promise.all([registerUser(t), registerUser(t), registerUser(t), registerUser(t)]);
    conv = await direct(t, a, b);
    grp = await group(t, a, [b, c]);
  });

  test('goes to the other participants only, then expires to is_typing:false without a repeat', async () => {
    const [wa, wa2, wb, wo] = await Promise.all([
      sockets.connect(t, a),
      sockets.connect(t, a),
      sockets.connect(t, b),
      sockets.connect(t, outsider),
    ]);
    wa.send({ type: 'typing', conversation_id: conv });
    const on = await wb.next(typingOf(a.user.id, conv));
    expect(on).toEqual({ type: 'typing', conversation_id: conv, user_id: a.user.id, is_typing: true });
    const started = Date.now();
    const off = await wb.next(typingOf(a.user.id, conv), 5000);
    expect(off.is_typing).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TYPING_TIMEOUT_S * 1000 - 100);
    for (const w of [wa, wa2, wo]) await w.expectNone((f) => f.type === 'typing', 0);
  });

  test('a repeat keeps it alive; one expiry follows the last repeat', async () => {
    const [wa, wb] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b)]);
    const repeats = 4;
    for (let i = 0; i < repeats; i++) {
      wa.send({ type: 'typing', conversation_id: conv, is_typing: true });
      await wb.next(typingOf(a.user.id, conv, true));
      await new Promise((r) => setTimeout(r, (TYPING_TIMEOUT_S * 1000) / 2));
    }
    // Two seconds of typing with a half-second timeout and not one false in between.
    expect(wb.all('typing').filter((f) => !f.is_typing)).toEqual([]);
    await wb.next(typingOf(a.user.id, conv, false));
    await wb.expectNone((f) => f.type === 'typing', TYPING_TIMEOUT_S * 1000 + 200);
  });

  test('an explicit is_typing:false is sent at once and cancels the expiry', async () => {
    const [wa, wb] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b)]);
    wa.send({ type: 'typing', conversation_id: conv, is_typing: true });
    await wb.next(typingOf(a.user.id, conv, true));
    wa.send({ type: 'typing', conversation_id: conv, is_typing: false });
    await wb.next(typingOf(a.user.id, conv, false));
    await wb.expectNone((f) => f.type === 'typing', TYPING_TIMEOUT_S * 1000 + 300);
  });

  test('in a group every other member sees it', async () => {
    const [wa, wb, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, c)]);
    wc.send({ type: 'typing', conversation_id: grp });
    await wa.next(typingOf(c.user.id, grp, true));
    await wb.next(typingOf(c.user.id, grp, true));
    await wc.expectNone((f) => f.type === 'typing', 0);
  });

  test('closing the last socket while typing tells the others the user stopped', async () => {
    const [wa, wb] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b)]);
    wb.send({ type: 'typing', conversation_id: conv });
    await wa.next(typingOf(b.user.id, conv, true));
    await wb.close();
    await wa.next(typingOf(b.user.id, conv, false));
    // Stopped once: the expiry timer went with it.
    await wa.expectNone((f) => f.type === 'typing', TYPING_TIMEOUT_S * 1000 + 300);
  });

  test('typing in a conversation the user is not in is not_found, and nobody hears it', async () => {
    const [wo, wa] = await Promise.all([sockets.connect(t, outsider), sockets.connect(t, a)]);
    wo.send({ type: 'typing', conversation_id: conv });
    await wo.next(errorFrame('not_found'));
    wo.send({ type: 'typing', conversation_id: 999999 });
    await wo.next(errorFrame('not_found'));
    await wa.expectNone((f) => f.type === 'typing');
    wo.send({ type: 'ping' });
    await wo.nextOfType('pong');
  });
});
