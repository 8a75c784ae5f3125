import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type Reply, type TestApp } from '../harness/app.js';
import { ISO, USER_KEYS, expectError } from '../harness/expect.js';

/** Conversations over REST against the running app and a real database. */

type Account = Awaited<ReturnType<typeof registerUser>>;

const CONVERSATION_KEYS = [
  'avatar',
  'created_at',
  'created_by',
  'description',
  'id',
  'last_message_at',
  'last_seq',
  'messages',
  'mod_seq',
  'my_settings',
  'name',
  'participants',
  'settings',
  'type',
  'unread_count',
  'updated_at',
];


function expectConversation(c: any): void {
  expect(Object.keys(c).sort()).toEqual(CONVERSATION_KEYS);
  expect(Number.isInteger(c.id)).toBe(true);
  expect(['direct', 'group']).toContain(c.type);
  expect(Number.isInteger(c.last_seq)).toBe(true);
  expect(Number.isInteger(c.unread_count)).toBe(true);
  expect(c.created_at).toMatch(ISO);
  expect(c.updated_at).toMatch(ISO);
  expect(Array.isArray(c.messages)).toBe(true);
  expect(c.messages.length).toBeLessThanOrEqual(1);
  for (const p of c.participants) {
    expect(Object.keys(p).sort()).toEqual([...USER_KEYS, 'role'].sort());
    expect(['owner', 'admin', 'member']).toContain(p.role);
    expect(p.last_seen).toMatch(ISO);
  }
}

const roles = (c: any) =>
  Object.fromEntries(c.participants.map((p: any) => [p.id, p.role])) as Record<number, string>;

let t: TestApp;
let a: Account, b: Account, c: Account, d: Account, e: Account, outsider: Account;

beforeAll(async () => {
  t = await startApp();
  const users = await Promise.all(Array.from({ length: 6 }, () => registerUser(t)));
  [a, b, c, d, e, outsider] = users as [Account, Account, Account, Account, Account, Account];
});
afterAll(() => t?.close());

const db = () => t.app.database.db;
const create = (who: Account, body: unknown) => t.request('POST', '/api/v1/conversations', { token: who.token, body });
const send = (who: Account, conversationId: number, content: string) =>
  t.request('POST', `/api/v1/conversations/${conversationId}/messages`, { token: who.token, body: { content } });
const list = (who: Account, query = '') => t.request('GET', `/api/v1/conversations${query}`, { token: who.token });

async function countConversations(): Promise<number> {
  const row = await db().selectFrom('conversations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A fresh user's whole conversation list, walked page by page. */
async function walkList(who: Account, limit: number): Promise<{ ids: number[]; pages: number }> {
  const ids: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: Reply = await list(who, `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.conversations.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.conversations.map((x: any) => x.id));
    cursor = res.body.next_cursor;
    pages++;
    expect(pages).toBeLessThan(100);
  } while (cursor !== null);
  return { ids, pages };
}

describe('POST /conversations (direct)', () => {
  test('201 with a new conversation, 200 with the same one after, also when the other user starts it', async () => {
    const first = await create(a, { type: 'direct', participant_id: b.user.id });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(Object.keys(first.body)).toEqual(['conversation']);
    const conv = first.body.conversation;
    expectConversation(conv);
    expect(conv).toMatchObject({ type: 'direct', name: null, created_by: a.user.id, last_seq: 0, unread_count: 0, messages: [] });
    expect(roles(conv)).toEqual({ [a.user.id]: 'member', [b.user.id]: 'member' });
    expect(conv.participants.find((p: any) => p.id === b.user.id).username).toBe(b.user.username);

    const again = await create(a, { type: 'direct', participant_id: b.user.id });
    expect(again.status).toBe(200);
    expect(again.body.conversation.id).toBe(conv.id);

    const fromOther = await create(b, { type: 'direct', participant_id: a.user.id });
    expect(fromOther.status).toBe(200);
    expect(fromOther.body.conversation.id).toBe(conv.id);
    expect(roles(fromOther.body.conversation)).toEqual(roles(conv));

    const rows = await db()
      .selectFrom('conversation_participants')
      .select('user_id')
      .where('conversation_id', '=', conv.id)
      .orderBy('user_id')
      .execute();
    expect(rows.map((r) => r.user_id)).toEqual([a.user.id, b.user.id].sort((x, y) => x - y));
  });

  test('concurrent creation from both sides makes exactly one conversation', async () => {
    const before = await countConversations();
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0 ? create(c, { type: 'direct', participant_id: d.user.id }) : create(d, { type: 'direct', participant_id: c.user.id }),
      ),
    );
    for (const r of replies) expect([200, 201], JSON.stringify(r.body)).toContain(r.status);
    const ids = new Set(replies.map((r) => r.body.conversation.id));
    expect(ids.size).toBe(1);
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    expect(await countConversations()).toBe(before + 1);
    const [id] = [...ids];
    const members = await db().selectFrom('conversation_participants').select('user_id').where('conversation_id', '=', id).execute();
    expect(members.map((m) => m.user_id).sort()).toEqual([c.user.id, d.user.id].sort());
  });

  test('with yourself → 400, nothing created', async () => {
    const before = await countConversations();
    expectError(await create(a, { type: 'direct', participant_id: a.user.id }), 400, 'validation_failed');
    expect(await countConversations()).toBe(before);
  });

  test('missing participant_id → 400 validation_failed naming the field of the body\'s own kind', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'direct' }, 'participant_id'],
      [{ type: 'direct', participant_id: 'x' }, 'participant_id'],
      [{ type: 'chatroom', participant_id: b.user.id }, 'type'],
      [{ participant_id: b.user.id }, 'type'],
      [{ type: 'group', participant_ids: [b.user.id] }, 'name'],
      [{ type: 'group', name: 'G', participant_ids: [b.user.id, 'x'] }, 'participant_ids.1'],
    ];
    for (const [body, field] of cases) {
      const res = await create(a, body);
      expectError(res, 400, 'validation_failed');
      expect(res.body.field, JSON.stringify(body)).toBe(field);
      expect(res.body.error, JSON.stringify(body)).toMatch(new RegExp(`^${field.replace('.', '\\.')} `));
    }
  });

  test('a number sent as a string in a JSON body is refused, not coerced; nothing created', async () => {
    const before = await countConversations();
    for (const value of [String(b.user.id), '1e309', 'Infinity']) {
      const res = await create(a, { type: 'direct', participant_id: value });
      expectError(res, 400, 'validation_failed');
      expect(res.body.field).toBe('participant_id');
    }
    expectError(await create(a, { type: 'group', name: 'G', participant_ids: [String(b.user.id)] }), 400, 'validation_failed');
    expect(await countConversations()).toBe(before);
  });

  test('unknown user → 404 not_found naming the id, nothing created', async () => {
    const before = await countConversations();
    const res = await create(a, { type: 'direct', participant_id: 987654 });
    expectError(res, 404, 'not_found');
    expect(res.body.error).toContain('987654');
    expect(await countConversations()).toBe(before);
  });

  test('ids beyond any bigint → 400 validation_failed, not a server error', async () => {
    const huge = '100000000000000000000';
    const raw = (body: string) => t.request('POST', '/api/v1/conversations', { token: a.token, raw: body });
    expectError(await raw(`{"type":"direct","participant_id":${huge}}`), 400, 'validation_failed');
    expectError(await raw(`{"type":"group","name":"G","participant_ids":[${b.user.id},${huge}]}`), 400, 'validation_failed');
    expectError(await t.request('GET', `/api/v1/conversations/${huge}`, { token: a.token }), 400, 'validation_failed');
    const max = await create(a, { type: 'direct', participant_id: Number.MAX_SAFE_INTEGER });
    expectError(max, 404, 'not_found');
  });

  test('without a token → 401', async () => {
    const res = await t.request('POST', '/api/v1/conversations', { body: { type: 'direct', participant_id: b.user.id } });
    expectError(res, 401, 'unauthorized');
  });

  test('malformed JSON → 400 invalid_json', async () => {
    const res = await t.request('POST', '/api/v1/conversations', { token: a.token, raw: '{"type":"direct",' });
    expectError(res, 400, 'invalid_json');
  });
});

describe('POST /conversations (group)', () => {
  test('201; the creator is owner, every listed user a member, duplicates and the creator folded in', async () => {
    const res = await create(a, {
      type: 'group',
      name: 'My Group',
      participant_ids: [b.user.id, c.user.id, b.user.id, a.user.id, d.user.id],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const conv = res.body.conversation;
    expectConversation(conv);
    expect(conv).toMatchObject({ type: 'group', name: 'My Group', created_by: a.user.id, last_seq: 0, messages: [] });
    expect(roles(conv)).toEqual({
      [a.user.id]: 'owner',
      [b.user.id]: 'member',
      [c.user.id]: 'member',
      [d.user.id]: 'member',
    });
    const rows = await db()
      .selectFrom('conversation_participants')
      .select(['user_id', 'role'])
      .where('conversation_id', '=', conv.id)
      .execute();
    expect(rows).toHaveLength(4);
    expect(rows.find((r) => r.user_id === a.user.id)?.role).toBe('owner');

    // Every member sees it; a second create makes a second group (groups are not deduplicated).
    const seen = await t.request('GET', `/api/v1/conversations/${conv.id}`, { token: d.token });
    expect(seen.status).toBe(200);
    const second = await create(a, { type: 'group', name: 'My Group', participant_ids: [b.user.id] });
    expect(second.status).toBe(201);
    expect(second.body.conversation.id).not.toBe(conv.id);
  });

  test('unknown users → 404 naming every one of them, nothing created', async () => {
    const before = await countConversations();
    const participantsBefore = await db().selectFrom('conversation_participants').select('user_id').execute();
    const res = await create(a, { type: 'group', name: 'Ghosts', participant_ids: [b.user.id, 900001, 900002] });
    expectError(res, 404, 'not_found');
    expect(res.body.error).toContain('900001');
    expect(res.body.error).toContain('900002');
    expect(res.body.error.match(/\d+/g)).toEqual(['900001', '900002']);
    expect(await countConversations()).toBe(before);
    expect(await db().selectFrom('conversation_participants').select('user_id').execute()).toHaveLength(participantsBefore.length);
  });

  test('missing or blank name → 400 validation_failed, nothing created', async () => {
    const before = await countConversations();
    expectError(await create(a, { type: 'group', participant_ids: [b.user.id] }), 400, 'validation_failed');
    expectError(await create(a, { type: 'group', name: '   ', participant_ids: [b.user.id] }), 400, 'validation_failed');
    expectError(await create(a, { type: 'group', name: 'x'.repeat(101), participant_ids: [b.user.id] }), 400, 'validation_failed');
    expect(await countConversations()).toBe(before);
  });
});

describe('GET /conversations/:id', () => {
  test('a member gets it; non-member and missing get the same 404', async () => {
    const { body } = await create(a, { type: 'group', name: 'Private', participant_ids: [b.user.id] });
    const id = body.conversation.id;
    const mine = await t.request('GET', `/api/v1/conversations/${id}`, { token: b.token });
    expect(mine.status).toBe(200);
    expect(Object.keys(mine.body)).toEqual(['conversation']);
    expectConversation(mine.body.conversation);
    expect(mine.body.conversation.id).toBe(id);

    const notMine = await t.request('GET', `/api/v1/conversations/${id}`, { token: outsider.token });
    const missing = await t.request('GET', '/api/v1/conversations/99999999', { token: outsider.token });
    expectError(notMine, 404, 'not_found');
    expectError(missing, 404, 'not_found');
    expect(notMine.body).toEqual(missing.body);

    expectError(await t.request('GET', '/api/v1/conversations/abc', { token: a.token }), 400, 'validation_failed');
    expectError(await t.request('GET', `/api/v1/conversations/${id}`), 401, 'unauthorized');
  });
});

describe('GET /conversations', () => {
  test('most recent activity first, with participants, the latest message as a one-element list, last_seq and unread_count', async () => {
    const [x, y, z] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    const direct = (await create(x, { type: 'direct', participant_id: y.user.id })).body.conversation;
    const group = (await create(x, { type: 'group', name: 'XYZ', participant_ids: [y.user.id, z.user.id] })).body.conversation;
    const empty = (await create(y, { type: 'direct', participant_id: z.user.id })).body.conversation;

    // Activity: direct (older), then the group, so the group is first for x.
    expect((await send(x, direct.id, 'hi y')).status).toBe(201);
    expect((await send(y, direct.id, 'hi x')).status).toBe(201);
    expect((await send(y, direct.id, 'you there?')).status).toBe(201);
    await new Promise((r) => setTimeout(r, 5));
    expect((await send(z, group.id, 'hello group')).status).toBe(201);
    const last = await send(x, group.id, 'hello z');
    expect(last.status).toBe(201);

    const forX = await list(x);
    expect(forX.status).toBe(200);
    expect(Object.keys(forX.body).sort()).toEqual(['conversations', 'next_cursor']);
    expect(forX.body.next_cursor).toBeNull();
    expect(forX.body.conversations.map((k: any) => k.id)).toEqual([group.id, direct.id]);
    for (const k of forX.body.conversations) expectConversation(k);

    const [g, dm] = forX.body.conversations;
    expect(g).toMatchObject({ last_seq: 2, unread_count: 1, name: 'XYZ' });
    expect(g.messages).toHaveLength(1);
    expect(g.messages[0]).toMatchObject({ id: last.body.message.id, seq: 2, content: 'hello z', sender_id: x.user.id });
    expect(g.messages[0].sender.id).toBe(x.user.id);
    expect(roles(g)).toEqual({ [x.user.id]: 'owner', [y.user.id]: 'member', [z.user.id]: 'member' });
    expect(dm).toMatchObject({ last_seq: 3, unread_count: 2 });
    expect(dm.messages[0]).toMatchObject({ seq: 3, content: 'you there?', sender_id: y.user.id });

    // y: the direct with x (y sent the last two, x's one unread), the group, and the empty one.
    const forY = await list(y);
    const byId = new Map(forY.body.conversations.map((k: any) => [k.id, k]));
    expect(forY.body.conversations.map((k: any) => k.id)).toEqual([group.id, direct.id, empty.id]);
    expect(byId.get(direct.id)).toMatchObject({ unread_count: 1 });
    expect(byId.get(group.id)).toMatchObject({ unread_count: 2 });
    expect(byId.get(empty.id)).toMatchObject({ unread_count: 0, last_seq: 0, messages: [] });

    // New activity moves a conversation to the top.
    expect((await send(y, direct.id, 'ping')).status).toBe(201);
    expect((await list(x)).body.conversations.map((k: any) => k.id)).toEqual([direct.id, group.id]);

    // last_seq matches the stored rows.
    for (const k of [direct, group]) {
      const conv = await db().selectFrom('conversations').select('last_seq').where('id', '=', k.id).executeTakeFirstOrThrow();
      const max = await db()
        .selectFrom('messages')
        .select((eb) => eb.fn.max('seq').as('m'))
        .where('conversation_id', '=', k.id)
        .executeTakeFirstOrThrow();
      expect(Number(conv.last_seq)).toBe(Number(max.m));
    }
  });

  test('cursor paging with a limit covers every conversation exactly once, in list order', async () => {
    const owner = await registerUser(t);
    const made: number[] = [];
    for (let i = 0; i < 13; i++) {
      const res = await create(owner, { type: 'group', name: `G${i}`, participant_ids: [a.user.id] });
      made.push(res.body.conversation.id);
    }
    // Some activity reorders them.
    await send(owner, made[3]!, 'bump');
    await send(owner, made[0]!, 'bump');

    const full = await list(owner, '?limit=100');
    const expected = full.body.conversations.map((k: any) => k.id);
    expect(expected).toHaveLength(13);
    expect(expected.slice(0, 2)).toEqual([made[0], made[3]]);

    for (const limit of [1, 4, 5, 13]) {
      const { ids, pages } = await walkList(owner, limit);
      expect(ids).toEqual(expected);
      expect(pages).toBe(Math.ceil(13 / limit));
    }
  });

  test('paging keeps conversations whose activity falls in the same millisecond', async () => {
    // Busy servers stamp many conversations within one millisecond; PostgreSQL keeps
    // microseconds. Stamp them so directly, as concurrent sends would.
    const owner = await registerUser(t);
    const made: number[] = [];
    for (let i = 0; i < 8; i++) {
      made.push((await create(owner, { type: 'group', name: `S${i}`, participant_ids: [] })).body.conversation.id);
    }
    for (const [i, id] of made.entries()) {
      await db()
        .updateTable('conversations')
        .set({ last_message_at: sql`timestamptz '2031-05-01 12:00:00.123000+00' + ${i * 100} * interval '1 microsecond'` })
        .where('id', '=', id)
        .execute();
    }
    const expected = [...made].reverse();
    expect((await list(owner, '?limit=100')).body.conversations.map((k: any) => k.id)).toEqual(expected);
    for (const limit of [1, 3]) expect((await walkList(owner, limit)).ids).toEqual(expected);
  });

  test('limit bounds and bad cursors → 400', async () => {
    expectError(await list(a, '?limit=0'), 400, 'validation_failed');
    expectError(await list(a, '?limit=101'), 400, 'validation_failed');
    expectError(await list(a, '?cursor=not-a-cursor'), 400, 'validation_failed');
    expectError(await list(a, `?cursor=${Buffer.from('c:garbage:1').toString('base64url')}`), 400, 'validation_failed');
  });

  test('a user without conversations gets an empty list', async () => {
    const loner = await registerUser(t);
    const res = await list(loner);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ conversations: [], next_cursor: null });
  });
});

// e is registered to have a spare user with no conversations of a, used nowhere else.
test('users that share nothing do not see each other\'s conversations', async () => {
  const res = await list(e);
  expect(res.status).toBe(200);
  expect(res.body.conversations).toEqual([]);
});
