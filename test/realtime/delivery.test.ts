import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { direct, errorFrame, group, restSend, Sockets, type User } from './fixtures.js';

/** Receipts and unread counts driven by `delivered` / `read` frames over real sockets. */

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

const receiptOf = (userId: number, conv: number, status?: string) => (f: Frame) =>
  f.type === 'receipt' && f.user_id === userId && f.conversation_id === conv && (status === undefined || f.status === status);

async function statuses(who: User, conv: number): Promise<Record<number, string>> {
  const res = await t.request('GET', `/api/v1/conversations/${conv}/messages`, { token: who.token });
  expect(res.status).toBe(200);
  return Object.fromEntries(res.body.messages.map((m: { seq: number; status: string }) => [m.seq, m.status]));
}

async function pointers(conv: number, userId: number) {
  return t.app.database.db
    .selectFrom('conversation_participants')
    .select(['last_delivered_seq', 'last_read_seq'])
    .where('conversation_id', '=', conv)
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
}

/**
 * Sends a receipt frame and then a ping on the same socket: frames are handled in order,
 * so the pong says the receipt has been fully processed (and its frames published).
 */
async function mark(ws: WsClient, kind: 'delivered' | 'read', conv: number, seq: number): Promise<void> {
  ws.send({ type: kind, conversation_id: conv, seq });
  ws.send({ type: 'ping' });
  await ws.nextOfType('pong');
}

describe('receipt frames', () => {
  let a: User, b: User, outsider: User;
  beforeAll(async () => {
    [a, b, outsider] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
  });

  test('delivered then read reach the sender and the reader\'s other sockets; status goes sent → delivered → read', async () => {
    const conv = await direct(t, a, b);
    const m1 = await restSend(t, a, conv, 'one');
    const m2 = await restSend(t, a, conv, 'two');
    const [wa, wb1, wb2] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, b)]);
    expect(await statuses(a, conv)).toEqual({ [m1.seq]: 'sent', [m2.seq]: 'sent' });

    wb1.send({ type: 'delivered', conversation_id: conv, seq: m1.seq });
    const expected = { type: 'receipt', conversation_id: conv, user_id: b.user.id, status: 'delivered', seq: m1.seq };
    expect(await wa.next(receiptOf(b.user.id, conv))).toEqual(expected);
    expect(await wb2.next(receiptOf(b.user.id, conv))).toEqual(expected);
    expect(await wb1.next(receiptOf(b.user.id, conv))).toEqual(expected);
    expect(await statuses(a, conv)).toEqual({ [m1.seq]: 'delivered', [m2.seq]: 'sent' });

    wb2.send({ type: 'read', conversation_id: conv, seq: m2.seq });
    const read = { type: 'receipt', conversation_id: conv, user_id: b.user.id, status: 'read', seq: m2.seq };
    expect(await wa.next(receiptOf(b.user.id, conv))).toEqual(read);
    expect(await wb1.next(receiptOf(b.user.id, conv))).toEqual(read);
    expect(await wb2.next(receiptOf(b.user.id, conv))).toEqual(read);
    expect(await statuses(a, conv)).toEqual({ [m1.seq]: 'read', [m2.seq]: 'read' });
    // Reading implies delivered.
    expect(await pointers(conv, b.user.id)).toEqual({ last_delivered_seq: m2.seq, last_read_seq: m2.seq });
    // The reader's own view of the sender's messages: read by them.
    expect(await statuses(b, conv)).toEqual({ [m1.seq]: 'read', [m2.seq]: 'read' });
    for (const w of [wa, wb1, wb2]) await w.expectNone((f) => f.type === 'receipt' || f.type === 'error', 0);
  });

  test('an older seq is ignored without error or frame; a seq past the end is capped at last_seq', async () => {
    const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
    const conv = await direct(t, a, b);
    for (let i = 0; i < 5; i++) await restSend(t, a, conv, `m${i}`);
    const [wa, wb] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b)]);

    await mark(wb, 'delivered', conv, 4);
    for (const w of [wa, wb]) expect(await w.next(receiptOf(b.user.id, conv))).toMatchObject({ status: 'delivered', seq: 4 });
    await mark(wb, 'read', conv, 3);
    for (const w of [wa, wb]) expect(await w.next(receiptOf(b.user.id, conv))).toMatchObject({ status: 'read', seq: 3 });

    await mark(wb, 'delivered', conv, 2);
    await mark(wb, 'read', conv, 1);
    await mark(wb, 'read', conv, 3);
    await mark(wb, 'delivered', conv, 0);
    expect(await pointers(conv, b.user.id)).toEqual({ last_delivered_seq: 4, last_read_seq: 3 });
    for (const w of [wa, wb]) await w.expectNone((f) => f.type === 'receipt' || f.type === 'error', 100);

    await mark(wb, 'read', conv, 1_000_000);
    expect(await wa.next(receiptOf(b.user.id, conv))).toEqual({
      type: 'receipt',
      conversation_id: conv,
      user_id: b.user.id,
      status: 'read',
      seq: 5,
    });
    expect(await pointers(conv, b.user.id)).toEqual({ last_delivered_seq: 5, last_read_seq: 5 });
    await mark(wb, 'delivered', conv, 1_000_000);
    await wa.expectNone((f) => f.type === 'receipt', 100);
  });

  test('a non-member gets not_found and nothing changes or is sent', async () => {
    const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
    const conv = await direct(t, a, b);
    await restSend(t, a, conv, 'private');
    const [wa, wb, wo] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, outsider)]);
    for (const kind of ['delivered', 'read'] as const) {
      wo.send({ type: kind, conversation_id: conv, seq: 1 });
      expect(await wo.next(errorFrame('not_found'))).toMatchObject({ type: 'error', code: 'not_found' });
    }
    // A conversation that does not exist looks the same.
    wo.send({ type: 'read', conversation_id: 999_999, seq: 1 });
    await wo.next(errorFrame('not_found'));
    expect(await pointers(conv, a.user.id)).toEqual({ last_delivered_seq: 0, last_read_seq: 0 });
    expect(await pointers(conv, b.user.id)).toEqual({ last_delivered_seq: 0, last_read_seq: 0 });
    for (const w of [wa, wb, wo]) await w.expectNone((f) => f.type === 'receipt', 100);
    // Still usable.
    wo.send({ type: 'ping' });
    await wo.nextOfType('pong');
  });

  test.each([
    ['negative seq', { type: 'read', conversation_id: 1, seq: -1 }],
    ['fractional seq', { type: 'delivered', conversation_id: 1, seq: 1.5 }],
    ['missing seq', { type: 'read', conversation_id: 1 }],
    ['string conversation_id', { type: 'read', conversation_id: 'x', seq: 1 }],
  ])('%s is validation_failed and the socket stays usable', async (_name, frame) => {
    const wa = await sockets.connect(t, a);
    wa.send(frame);
    await wa.next(errorFrame('validation_failed'));
    wa.send({ type: 'ping' });
    await wa.nextOfType('pong');
  });

  test('group: the sender\'s status moves only when EVERY other member has delivered / read', async () => {
    const c = await registerUser(t);
    const conv = await group(t, a, [b, c]);
    const m = await restSend(t, a, conv, 'team');
    const [wa, wb, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, c)]);

    await mark(wb, 'read', conv, m.seq);
    // Every member hears about b, c included.
    await wc.next(receiptOf(b.user.id, conv, 'read'));
    await wa.next(receiptOf(b.user.id, conv, 'read'));
    expect((await statuses(a, conv))[m.seq]).toBe('sent');

    await mark(wc, 'delivered', conv, m.seq);
    await wa.next(receiptOf(c.user.id, conv, 'delivered'));
    await wb.next(receiptOf(c.user.id, conv, 'delivered'));
    expect((await statuses(a, conv))[m.seq]).toBe('delivered');

    await mark(wc, 'read', conv, m.seq);
    await wa.next(receiptOf(c.user.id, conv, 'read'));
    expect((await statuses(a, conv))[m.seq]).toBe('read');
  });

  test('share_read_receipts=false: others get delivered frames, never read; the reader\'s own sockets see read', async () => {
    const shy = await registerUser(t);
    const conv = await direct(t, a, shy);
    const m1 = await restSend(t, a, conv, 'one');
    const m2 = await restSend(t, a, conv, 'two');
    const patch = await t.request('PATCH', '/api/v1/users/me', { token: shy.token, body: { share_read_receipts: false } });
    expect(patch.status).toBe(200);
    const [wa, ws1, ws2] = await Promise.all([sockets.connect(t, a), sockets.connect(t, shy), sockets.connect(t, shy)]);

    // Read without a delivered first: others learn it was delivered.
    await mark(ws1, 'read', conv, m1.seq);
    expect(await wa.next(receiptOf(shy.user.id, conv))).toEqual({
      type: 'receipt',
      conversation_id: conv,
      user_id: shy.user.id,
      status: 'delivered',
      seq: m1.seq,
    });
    expect(await ws2.next(receiptOf(shy.user.id, conv))).toMatchObject({ status: 'read', seq: m1.seq });

    // Delivered already at m2, then read to m2: nothing new for others to know.
    await mark(ws1, 'delivered', conv, m2.seq);
    expect(await wa.next(receiptOf(shy.user.id, conv))).toMatchObject({ status: 'delivered', seq: m2.seq });
    await mark(ws1, 'read', conv, m2.seq);
    expect(await ws2.next(receiptOf(shy.user.id, conv, 'read'))).toMatchObject({ seq: m2.seq });
    await wa.expectNone((f) => f.type === 'receipt' && f.status === 'read', 200);
    expect(wa.all('receipt').filter((f) => f.status === 'read')).toEqual([]);
    expect(await statuses(a, conv)).toEqual({ [m1.seq]: 'delivered', [m2.seq]: 'delivered' });
    expect(await pointers(conv, shy.user.id)).toEqual({ last_delivered_seq: m2.seq, last_read_seq: m2.seq });
  });
});

describe('unread counts', () => {
  async function unread(who: User) {
    const [summary, list] = await Promise.all([
      t.request('GET', '/api/v1/users/me/unread', { token: who.token }),
      t.request('GET', '/api/v1/conversations', { token: who.token }),
    ]);
    expect(summary.status).toBe(200);
    expect(list.status).toBe(200);
    const fromList = Object.fromEntries(list.body.conversations.map((c: { id: number; unread_count: number }) => [c.id, c.unread_count]));
    return { summary: summary.body, fromList };
  }

  test('stay exact while sends and reads from two devices of the reader interleave over WS', async () => {
    const [reader, s1, s2] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    const login = await t.request('POST', '/api/v1/auth/login', { body: { email: reader.user.email, password: 'password123' } });
    expect(login.status).toBe(200);
    const phone = { ...reader, token: login.body.token as string };
    const c1 = await direct(t, s1, reader);
    const c2 = await group(t, s2, [reader, s1]);
    const [laptop, mobile] = await Promise.all([sockets.connect(t, reader), sockets.connect(t, phone)]);

    // Model: what the reader has read (max of both devices) and the messages that exist.
    const last: Record<number, number> = { [c1]: 0, [c2]: 0 };
    const own: Record<number, Set<number>> = { [c1]: new Set(), [c2]: new Set() };
    const readTo: Record<number, number> = { [c1]: 0, [c2]: 0 };
    const expectedUnread = (conv: number) => {
      let n = 0;
      for (let s = readTo[conv]! + 1; s <= last[conv]!; s++) if (!own[conv]!.has(s)) n++;
      return n;
    };

    for (let round = 0; round < 6; round++) {
      const sent = await Promise.all([
        restSend(t, s1, c1, `a${round}`),
        restSend(t, s2, c2, `b${round}`),
        restSend(t, s1, c2, `c${round}`),
        restSend(t, s1, c1, `d${round}`),
        ...(round % 2 === 0 ? [restSend(t, reader, c1, `own${round}`)] : []),
      ]);
      for (const m of sent) {
        last[m.conversation_id] = Math.max(last[m.conversation_id]!, m.seq);
        if (m.sender_id === reader.user.id) own[m.conversation_id]!.add(m.seq);
      }
      // The two devices read different points concurrently; one of them an older one.
      const laptopTo = { [c1]: last[c1]! - (round % 3), [c2]: Math.max(0, last[c2]! - 3) };
      const mobileTo = { [c1]: Math.max(0, last[c1]! - 2), [c2]: last[c2]! - (round % 2) };
      laptop.send({ type: 'read', conversation_id: c1, seq: laptopTo[c1] });
      mobile.send({ type: 'read', conversation_id: c1, seq: mobileTo[c1] });
      mobile.send({ type: 'read', conversation_id: c2, seq: mobileTo[c2] });
      laptop.send({ type: 'read', conversation_id: c2, seq: laptopTo[c2] });
      // A message that lands between the reads and the check.
      const late = await restSend(t, s2, c2, `late${round}`);
      last[c2] = late.seq;
      laptop.send({ type: 'ping' });
      mobile.send({ type: 'ping' });
      await Promise.all([laptop.nextOfType('pong'), mobile.nextOfType('pong')]);
      for (const conv of [c1, c2]) readTo[conv] = Math.max(readTo[conv]!, laptopTo[conv]!, mobileTo[conv]!);

      const { summary, fromList } = await unread(reader);
      const want = [c1, c2].map((conv) => ({ conversation_id: conv, unread_count: expectedUnread(conv) }));
      expect(summary, `round ${round}`).toEqual({
        total: want.reduce((s, w) => s + w.unread_count, 0),
        conversations: want.filter((w) => w.unread_count > 0).sort((x, y) => x.conversation_id - y.conversation_id),
      });
      expect(fromList[c1]).toBe(expectedUnread(c1));
      expect(fromList[c2]).toBe(expectedUnread(c2));
      expect((await pointers(c1, reader.user.id)).last_read_seq).toBe(readTo[c1]);
      expect((await pointers(c2, reader.user.id)).last_read_seq).toBe(readTo[c2]);
    }

    // Both devices hear every move of the shared pointer, and the receipts never go back.
    for (const ws of [laptop, mobile]) {
      for (const conv of [c1, c2]) {
        const seqs = ws.all('receipt').filter((f) => f.conversation_id === conv && f.user_id === reader.user.id && f.status === 'read').map((f) => f.seq);
        expect(seqs.at(-1)).toBe(readTo[conv]);
      }
    }

    // Reading everything clears it.
    laptop.send({ type: 'read', conversation_id: c1, seq: last[c1]! });
    mobile.send({ type: 'read', conversation_id: c2, seq: last[c2]! });
    laptop.send({ type: 'ping' });
    mobile.send({ type: 'ping' });
    await Promise.all([laptop.nextOfType('pong'), mobile.nextOfType('pong')]);
    const { summary, fromList } = await unread(reader);
    expect(summary).toEqual({ total: 0, conversations: [] });
    expect(fromList[c1]).toBe(0);
    expect(fromList[c2]).toBe(0);
  });
});
