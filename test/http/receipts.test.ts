import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { connect } from '../harness/ws.js';

type Auth = Awaited<ReturnType<typeof registerUser>>;

let t: TestApp;
let alice: Auth;
let bob: Auth;
let carol: Auth;

beforeAll(async () => {
  t = await startApp();
  [alice, bob, carol] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
});
afterAll(() => t?.close());

async function direct(a: Auth, b: Auth): Promise<number> {
  const res = await t.request('POST', '/api/v1/conversations', { token: a.token, body: { type: 'direct', participant_id: b.user.id } });
  return res.body.conversation.id;
}

async function group(owner: Auth, members: Auth[]): Promise<number> {
  const res = await t.request('POST', '/api/v1/conversations', {
    token: owner.token,
    body: { type: 'group', name: `g${Math.random()}`, participant_ids: members.map((m) => m.user.id) },
  });
  expect(res.status).toBe(201);
  return res.body.conversation.id;
}

async function send(from: Auth, conversationId: number, content: string) {
  const res = await t.request('POST', `/api/v1/conversations/${conversationId}/messages`, { token: from.token, body: { content } });
  expect(res.status).toBe(201);
  return res.body.message as { id: number; seq: number };
}

const mark = (who: Auth, conversationId: number, kind: 'read' | 'delivered', seq?: number) =>
  t.request('POST', `/api/v1/conversations/${conversationId}/${kind}`, { token: who.token, body: seq === undefined ? {} : { seq } });

async function statuses(who: Auth, conversationId: number): Promise<Record<number, string>> {
  const res = await t.request('GET', `/api/v1/conversations/${conversationId}/messages`, { token: who.token });
  return Object.fromEntries(res.body.messages.map((m: { seq: number; status: string }) => [m.seq, m.status]));
}

async function pointers(conversationId: number, userId: number) {
  return t.app.database.db
    .selectFrom('conversation_participants')
    .select(['last_read_seq', 'last_delivered_seq'])
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
}

describe('pointers', () => {
  test('move forward only, are capped at last_seq, and reading implies delivered', async () => {
    const c = await direct(alice, bob);
    for (let i = 0; i < 5; i++) await send(alice, c, `m${i}`);

    let res = await mark(bob, c, 'delivered', 3);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ conversation_id: c, last_delivered_seq: 3, last_read_seq: 0, unread_count: 5 });

    res = await mark(bob, c, 'read', 2);
    expect(res.body).toMatchObject({ last_delivered_seq: 3, last_read_seq: 2, unread_count: 3 });

    // An older value is ignored, not an error.
    res = await mark(bob, c, 'read', 1);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ last_delivered_seq: 3, last_read_seq: 2 });
    res = await mark(bob, c, 'delivered', 1);
    expect(res.body).toMatchObject({ last_delivered_seq: 3, last_read_seq: 2 });

    // Beyond the end: capped at last_seq; reading moves delivered along.
    res = await mark(bob, c, 'read', 999);
    expect(res.body).toMatchObject({ last_delivered_seq: 5, last_read_seq: 5, unread_count: 0 });
    expect(await pointers(c, bob.user.id)).toEqual({ last_read_seq: 5, last_delivered_seq: 5 });

    // No seq: up to the latest message.
    await send(alice, c, 'later');
    res = await mark(bob, c, 'read');
    expect(res.body).toMatchObject({ last_read_seq: 6 });

    // seq null (how some clients write "none") means the same.
    await send(alice, c, 'later still');
    res = await t.request('POST', `/api/v1/conversations/${c}/read`, { token: bob.token, body: { seq: null } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ last_read_seq: 7, unread_count: 0 });
  });

  test('non-members get 404 and change nothing; bad seq is a validation error', async () => {
    const [gina, hank] = await Promise.all([registerUser(t), registerUser(t)]);
    const c = await direct(gina, hank);
    await send(gina, c, 'hi');
    const res = await mark(carol, c, 'read', 1);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('not_found');
    const bad = await t.request('POST', `/api/v1/conversations/${c}/read`, { token: hank.token, body: { seq: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');
    expect(await pointers(c, hank.user.id)).toEqual({ last_read_seq: 0, last_delivered_seq: 0 });
  });
});

describe('derived status and receipt frames', () => {
  test('direct: sender sees sent → delivered → read, live and over REST', async () => {
    const c = await direct(alice, bob);
    const m = await send(alice, c, 'hello');
    const aliceWs = await connect(t, alice.token);
    expect((await statuses(alice, c))[m.seq]).toBe('sent');

    await mark(bob, c, 'delivered', m.seq);
    expect(await aliceWs.next((f) => f.type === 'receipt' && f.status === 'delivered')).toEqual({
      type: 'receipt',
      conversation_id: c,
      user_id: bob.user.id,
      status: 'delivered',
      seq: m.seq,
    });
    expect((await statuses(alice, c))[m.seq]).toBe('delivered');

    await mark(bob, c, 'read', m.seq);
    expect(await aliceWs.next((f) => f.type === 'receipt' && f.status === 'read')).toMatchObject({ user_id: bob.user.id, seq: m.seq });
    expect((await statuses(alice, c))[m.seq]).toBe('read');
    // Bob's view of Alice's message: read by him.
    expect((await statuses(bob, c))[m.seq]).toBe('read');
    await aliceWs.close();
  });

  test('group: read only when every other member has read; per-member detail', async () => {
    const c = await group(alice, [bob, carol]);
    const m = await send(alice, c, 'team');
    await mark(bob, c, 'read', m.seq);
    expect((await statuses(alice, c))[m.seq]).toBe('sent');
    await mark(carol, c, 'delivered', m.seq);
    expect((await statuses(alice, c))[m.seq]).toBe('delivered');

    const detail = await t.request('GET', `/api/v1/conversations/${c}/messages/${m.id}/receipts`, { token: alice.token });
    expect(detail.status).toBe(200);
    expect(detail.body.seq).toBe(m.seq);
    expect(detail.body.receipts).toEqual(
      expect.arrayContaining([
        { user_id: bob.user.id, status: 'read' },
        { user_id: carol.user.id, status: 'delivered' },
      ]),
    );
    expect(detail.body.receipts).toHaveLength(2);

    await mark(carol, c, 'read', m.seq);
    expect((await statuses(alice, c))[m.seq]).toBe('read');

    const outsider = await registerUser(t);
    const hidden = await t.request('GET', `/api/v1/conversations/${c}/messages/${m.id}/receipts`, { token: outsider.token });
    expect(hidden.status).toBe(404);
  });

  test('private read receipts: others get delivered, never read; own devices still see read', async () => {
    const dave = await registerUser(t);
    const c = await direct(alice, dave);
    const m = await send(alice, c, 'psst');
    const patch = await t.request('PATCH', '/api/v1/users/me', { token: dave.token, body: { share_read_receipts: false } });
    expect(patch.status).toBe(200);

    const aliceWs = await connect(t, alice.token);
    const daveWs = await connect(t, dave.token);
    await mark(dave, c, 'read', m.seq);

    expect(await daveWs.next((f) => f.type === 'receipt')).toMatchObject({ status: 'read', user_id: dave.user.id });
    expect(await aliceWs.next((f) => f.type === 'receipt')).toMatchObject({ status: 'delivered', user_id: dave.user.id, seq: m.seq });
    await aliceWs.expectNone((f) => f.type === 'receipt' && f.status === 'read');
    expect((await statuses(alice, c))[m.seq]).toBe('delivered');
    const detail = await t.request('GET', `/api/v1/conversations/${c}/messages/${m.id}/receipts`, { token: alice.token });
    expect(detail.body.receipts).toEqual([{ user_id: dave.user.id, status: 'delivered' }]);
    // Dave's own unread count still works.
    const unread = await t.request('GET', '/api/v1/users/me/unread', { token: dave.token });
    expect(unread.body.conversations.find((x: { conversation_id: number }) => x.conversation_id === c)).toBeUndefined();
    await Promise.all([aliceWs.close(), daveWs.close()]);
  });
});

test('unread counts stay exact with interleaved sends and reads from two devices', async () => {
  const erin = await registerUser(t);
  const frank = await registerUser(t);
  const c1 = await direct(erin, frank);
  const c2 = await group(frank, [erin, alice]);

  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    sends.push(send(frank, c1, `a${i}`), send(alice, c2, `b${i}`));
    if (i % 3 === 0) sends.push(send(erin, c1, `own${i}`)); // her own messages never count
  }
  await Promise.all(sends);

  let unread = await t.request('GET', '/api/v1/users/me/unread', { token: erin.token });
  expect(unread.body).toEqual({
    total: 20,
    conversations: [
      { conversation_id: c1, unread_count: 10 },
      { conversation_id: c2, unread_count: 10 },
    ].sort((a, b) => a.conversation_id - b.conversation_id),
  });

  // Two devices of Erin's (two sessions) read concurrently, to different points, while more arrive.
  const login = await t.request('POST', '/api/v1/auth/login', { body: { email: erin.user.email, password: 'password123' } });
  const phone = login.body.token as string;
  const c1Messages = await t.request('GET', `/api/v1/conversations/${c1}/messages`, { token: erin.token });
  const seqs = c1Messages.body.messages.map((m: { seq: number }) => m.seq);
  const middle = seqs[Math.floor(seqs.length / 2)];
  await Promise.all([
    t.request('POST', `/api/v1/conversations/${c1}/read`, { token: phone, body: { seq: middle } }),
    mark(erin, c1, 'read', seqs.at(-1)),
    send(frank, c1, 'late'),
  ]);
  const ptr = await pointers(c1, erin.user.id);
  expect(ptr.last_read_seq).toBe(seqs.at(-1));

  unread = await t.request('GET', '/api/v1/users/me/unread', { token: erin.token });
  const list = await t.request('GET', '/api/v1/conversations', { token: erin.token });
  const byId = Object.fromEntries(list.body.conversations.map((x: { id: number; unread_count: number }) => [x.id, x.unread_count]));
  // Only "late" is unread in c1 (if it committed after the read), or nothing.
  const lateAfterRead = (await t.app.database.db
    .selectFrom('messages')
    .select('seq')
    .where('conversation_id', '=', c1)
    .where('content', '=', 'late')
    .executeTakeFirstOrThrow()).seq > ptr.last_read_seq;
  const expectedC1 = lateAfterRead ? 1 : 0;
  expect(byId[c1]).toBe(expectedC1);
  expect(byId[c2]).toBe(10);
  expect(unread.body.total).toBe(expectedC1 + 10);
});
