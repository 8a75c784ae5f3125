import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { ISO } from '../harness/expect.js';
import type { Frame } from '../harness/ws.js';
import { direct, errorFrame, group, messageRows, newMessageIn, restSend, Sockets, type User } from './fixtures.js';

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp({ typingTimeout: 5 });
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

const block = async (who: User, target: User) =>
  expect((await t.request('POST', `/api/v1/users/${target.user.id}/block`, { token: who.token })).status).toBeLessThan(300);
const unblock = async (who: User, target: User) =>
  expect((await t.request('DELETE', `/api/v1/users/${target.user.id}/block`, { token: who.token })).status).toBe(204);
const users = () => Promise.all([registerUser(t), registerUser(t), registerUser(t)]);

const typingOf = (user: User, conv: number) => (f: Frame) =>
  f.type === 'typing' && f.user_id === user.user.id && f.conversation_id === conv;
const statusOf = (user: User, status?: string) => (f: Frame) =>
  f.type === 'status_change' && f.user_id === user.user.id && (status === undefined || f.status === status);
const receiptOf = (user: User, conv: number) => (f: Frame) =>
  f.type === 'receipt' && f.user_id === user.user.id && f.conversation_id === conv;

async function statusIs(user: User, status: 'online' | 'offline') {
  await expect
    .poll(async () => (await t.app.database.db.selectFrom('users').select('status').where('id', '=', user.user.id).executeTakeFirstOrThrow()).status, { timeout: 5000 })
    .toBe(status);
}

describe('a message frame into a direct conversation with someone who blocks you', () => {
  test('is an error frame `blocked` with its client_id; nothing is stored or delivered; after unblocking it goes through', async () => {
    const [a, b] = await users();
    const conv = await direct(t, a, b);
    const [wa, wb] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b)]);
    await block(a, b);
    const rows = await messageRows(t, conv);

    wb.send({ type: 'message', conversation_id: conv, content: 'let me in', client_id: 'wb-1' });
    const refused = await wb.next(errorFrame('blocked'));
    expect(refused).toMatchObject({ type: 'error', code: 'blocked', client_id: 'wb-1' });
    await wa.expectNone(newMessageIn(conv));
    await wb.expectNone(newMessageIn(conv), 0);
    expect(await messageRows(t, conv)).toEqual(rows);
    // The socket stays usable.
    wb.send({ type: 'ping' });
    await wb.nextOfType('pong');

    await unblock(a, b);
    wb.send({ type: 'message', conversation_id: conv, content: 'hello again', client_id: 'wb-2' });
    const got = await wa.next(newMessageIn(conv));
    expect(got.message).toMatchObject({ content: 'hello again', seq: 1, client_id: 'wb-2' });
    expect((await messageRows(t, conv)).map((m) => m.content)).toEqual(['hello again']);
  });
});

describe('typing', () => {
  test('stops both ways between them in a shared group, reaches the others, and comes back after unblocking', async () => {
    const [a, b, c] = await users();
    const g = await group(t, c, [a, b]);
    const [wa, wb, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, c)]);
    await block(a, b);

    wb.send({ type: 'typing', conversation_id: g });
    await wc.next(typingOf(b, g));
    wa.send({ type: 'typing', conversation_id: g });
    await wc.next(typingOf(a, g));
    await wa.expectNone(typingOf(b, g));
    await wb.expectNone(typingOf(a, g), 0);

    await unblock(a, b);
    wa.send({ type: 'typing', conversation_id: g, is_typing: false });
    expect(await wb.next(typingOf(a, g))).toMatchObject({ is_typing: false });
    wb.send({ type: 'typing', conversation_id: g });
    await wa.next(typingOf(b, g));
  });
});

describe('presence frames', () => {
  test('stop both ways between them; others still get them; unblocking restores them', async () => {
    const [a, b, c] = await users();
    await group(t, c, [a, b]);
    await direct(t, a, b);
    await block(a, b);
    const wc = await sockets.connect(t, c);

    const wa = await sockets.connect(t, a);
    await wc.next(statusOf(a, 'online'));
    const wb = await sockets.connect(t, b);
    await wc.next(statusOf(b, 'online'));
    await wa.expectNone(statusOf(b));

    await wa.close();
    await wc.next(statusOf(a, 'offline'));
    await wb.expectNone(statusOf(a), 0);
    expect(wb.all('status_change').filter((f) => f.user_id === a.user.id)).toEqual([]);

    await unblock(a, b);
    await statusIs(a, 'offline');
    await sockets.connect(t, a);
    expect(await wb.next(statusOf(a, 'online'))).toMatchObject({ last_seen: expect.stringMatching(ISO) });
  });
});

describe('read receipt frames', () => {
  test('the blocked one gets the blocker\'s read as delivered; the others get read', async () => {
    const [a, b, c] = await users();
    const g = await group(t, c, [a, b]);
    const m = await restSend(t, b, g, 'read me');
    const [wa, wb, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, c)]);
    await block(a, b);

    wa.send({ type: 'read', conversation_id: g, seq: m.seq });
    expect(await wc.next(receiptOf(a, g))).toMatchObject({ status: 'read', seq: m.seq });
    expect(await wa.next(receiptOf(a, g))).toMatchObject({ status: 'read', seq: m.seq });
    expect(await wb.next(receiptOf(a, g))).toMatchObject({ status: 'delivered', seq: m.seq });
    await wb.expectNone((f) => receiptOf(a, g)(f) && f.status === 'read');

    await unblock(a, b);
    const m2 = await restSend(t, b, g, 'and me');
    wa.send({ type: 'read', conversation_id: g, seq: m2.seq });
    expect(await wb.next(receiptOf(a, g))).toMatchObject({ status: 'read', seq: m2.seq });
  });
});

describe('senders in live frames', () => {
  test('the blocked one sees the blocker offline with no last_seen in new_message; others see them online', async () => {
    const [a, b, c] = await users();
    const g = await group(t, c, [a, b]);
    const [wa, wb, wc] = await Promise.all([sockets.connect(t, a), sockets.connect(t, b), sockets.connect(t, c)]);
    await statusIs(a, 'online');
    await block(a, b);

    wa.send({ type: 'message', conversation_id: g, content: 'from a', client_id: 'a-1' });
    const [atA, atB, atC] = await Promise.all([wa, wb, wc].map((w) => w.next(newMessageIn(g, 'from a'))));
    expect(atB!.message.sender).toMatchObject({ id: a.user.id, status: 'offline', last_seen: null });
    for (const f of [atA!, atC!]) expect(f.message.sender).toMatchObject({ id: a.user.id, status: 'online', last_seen: expect.stringMatching(ISO) });
    // Otherwise the same message, in the same place.
    expect({ ...atB!.message, sender: null }).toEqual({ ...atC!.message, sender: null });

    // An edit's message_updated too.
    wa.send({ type: 'edit', conversation_id: g, message_id: atA!.message.id, content: 'from a, edited' });
    const updated = (f: Frame) => f.type === 'message_updated' && f.message.id === atA!.message.id;
    expect((await wb.next(updated)).message.sender).toMatchObject({ status: 'offline', last_seen: null });
    expect((await wc.next(updated)).message.sender).toMatchObject({ status: 'online' });

    // b's own messages in the group still reach a.
    wb.send({ type: 'message', conversation_id: g, content: 'from b' });
    await wa.next(newMessageIn(g, 'from b'));
  });
});
