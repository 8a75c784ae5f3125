import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { ISO, MESSAGE_KEYS, expectError } from '../harness/expect.js';
import { connect, type WsClient } from '../harness/ws.js';

/** Messages over REST against the running app and a real database. */

type Account = Awaited<ReturnType<typeof registerUser>>;

function expectMessage(m: any): void {
  expect(Object.keys(m).sort()).toEqual(MESSAGE_KEYS);
  expect(Number.isInteger(m.id)).toBe(true);
  expect(Number.isInteger(m.seq)).toBe(true);
  expect(['text', 'image', 'video', 'audio', 'file']).toContain(m.type);
  expect(['sent', 'delivered', 'read']).toContain(m.status);
  expect(m.created_at).toMatch(ISO);
  expect(m.updated_at).toMatch(ISO);
  if (m.sender !== null) {
    expect(m.sender.id).toBe(m.sender_id);
    expect(typeof m.sender.username).toBe('string');
    expect(Object.keys(m.sender)).not.toContain('password_hash');
  }
}

let t: TestApp;
let a: Account, b: Account, c: Account, d: Account, e: Account, outsider: Account;
/** a ↔ b */
let direct: number;
/** a (owner), b, c, d, e */
let group: number;

beforeAll(async () => {
  t = await startApp();
  const users = await Promise.all(Array.from({ length: 6 }, () => registerUser(t)));
  [a, b, c, d, e, outsider] = users as [Account, Account, Account, Account, Account, Account];
  direct = (await createConversation(a, { type: 'direct', participant_id: b.user.id })).id;
  group = (await createConversation(a, { type: 'group', name: 'Team', participant_ids: [b, c, d, e].map((u) => u.user.id) })).id;
});
afterAll(() => t?.close());

const db = () => t.app.database.db;

async function createConversation(who: Account, body: unknown): Promise<any> {
  const res = await t.request('POST', '/api/v1/conversations', { token: who.token, body });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.conversation;
}

const post = (who: Account, conversationId: number, body: unknown) =>
  t.request('POST', `/api/v1/conversations/${conversationId}/messages`, { token: who.token, body });
const history = (who: Account, conversationId: number, query = '') =>
  t.request('GET', `/api/v1/conversations/${conversationId}/messages${query}`, { token: who.token });

async function rowsOf(conversationId: number) {
  return db()
    .selectFrom('messages')
    .select(['id', 'seq', 'sender_id', 'client_id', 'content', 'type'])
    .where('conversation_id', '=', conversationId)
    .orderBy('seq')
    .execute();
}

async function lastSeq(conversationId: number): Promise<number> {
  const row = await db().selectFrom('conversations').select('last_seq').where('id', '=', conversationId).executeTakeFirstOrThrow();
  return Number(row.last_seq);
}

async function countMessages(): Promise<number> {
  const row = await db().selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Sends `n` messages one after another; returns them. */
async function fill(who: Account, conversationId: number, n: number, prefix: string): Promise<any[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const res = await post(who, conversationId, { content: `${prefix} ${i}` });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    out.push(res.body.message);
  }
  return out;
}

describe('POST /conversations/:id/messages', () => {
  test('201 with the stored message; every field of the wire contract; the row and last_seq match', async () => {
    const before = await lastSeq(direct);
    const res = await post(a, direct, { content: 'Hello', client_id: 'first-hello' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(Object.keys(res.body)).toEqual(['message']);
    const m = res.body.message;
    expectMessage(m);
    expect(m).toMatchObject({
      conversation_id: direct,
      seq: before + 1,
      sender_id: a.user.id,
      content: 'Hello',
      type: 'text',
      status: 'sent',
      media_url: null,
      reply_to_id: null,
      client_id: 'first-hello',
      edited_at: null,
      deleted_at: null,
    });
    expect(m.sender).toMatchObject({ id: a.user.id, username: a.user.username });

    const row = await db().selectFrom('messages').selectAll().where('id', '=', m.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ conversation_id: direct, seq: m.seq, sender_id: a.user.id, content: 'Hello', client_id: 'first-hello' });
    expect(await lastSeq(direct)).toBe(m.seq);

    // The other participant reads it in history, with the same identity.
    const seen = await history(b, direct);
    expect(seen.body.messages.at(-1)).toMatchObject({ id: m.id, seq: m.seq, content: 'Hello', status: 'delivered' });
  });

  test('type and its alias message_type; media types need media_url', async () => {
    const image = await post(a, direct, { type: 'image', media_url: 'https://cdn.example.com/a.png' });
    expect(image.status, JSON.stringify(image.body)).toBe(201);
    expect(image.body.message).toMatchObject({ type: 'image', media_url: 'https://cdn.example.com/a.png', content: '' });

    const file = await post(a, direct, { message_type: 'file', media_url: 'https://cdn.example.com/a.pdf', content: 'spec' });
    expect(file.status).toBe(201);
    expect(file.body.message).toMatchObject({ type: 'file', content: 'spec' });

    const before = await countMessages();
    for (const type of ['image', 'video', 'audio', 'file']) {
      expectError(await post(a, direct, { type, content: 'no url' }), 400, 'validation_failed');
      expectError(await post(a, direct, { message_type: type, media_url: '  ' }), 400, 'validation_failed');
    }
    expectError(await post(a, direct, { type: 'sticker', content: 'x' }), 400, 'validation_failed');
    expectError(await post(a, direct, { message_type: 'TEXT', content: 'x' }), 400, 'validation_failed');
    expect(await countMessages()).toBe(before);
  });

  test('a text message needs non-blank content', async () => {
    const before = await countMessages();
    expectError(await post(a, direct, {}), 400, 'validation_failed');
    expectError(await post(a, direct, { content: '' }), 400, 'validation_failed');
    expectError(await post(a, direct, { content: ' \n\t ' }), 400, 'validation_failed');
    expectError(await post(a, direct, { content: null }), 400, 'validation_failed');
    expect(await countMessages()).toBe(before);
  });

  test('content is limited to 16 KiB of UTF-8: 413 message_too_large beyond, nothing stored', async () => {
    const limit = t.app.config.messageMaxBytes;
    expect(limit).toBe(16 * 1024);
    // Exactly at the limit, in ASCII and in two-byte characters.
    const ascii = await post(a, direct, { content: 'a'.repeat(limit) });
    expect(ascii.status).toBe(201);
    expect(ascii.body.message.content).toHaveLength(limit);
    const twoByte = await post(a, direct, { content: 'é'.repeat(limit / 2) });
    expect(twoByte.status).toBe(201);
    expect(twoByte.body.message.content).toBe('é'.repeat(limit / 2));

    const before = await countMessages();
    const seqBefore = await lastSeq(direct);
    for (const content of [
      'a'.repeat(limit + 1),
      'é'.repeat(limit / 2 + 1), // 8193 characters, 16386 bytes
      '€'.repeat(Math.floor(limit / 3) + 1), // 5462 characters, 16386 bytes
      '😀'.repeat(limit / 4 + 1), // 4097 code points (8194 UTF-16 units), 16388 bytes
    ]) {
      expect(content.length).toBeLessThan(limit + 2);
      const res = await post(a, direct, { content });
      expectError(res, 413, 'message_too_large');
    }
    expect(await countMessages()).toBe(before);
    expect(await lastSeq(direct)).toBe(seqBefore);
  });

  test('reply_to_id must be a message of the same conversation', async () => {
    const [target] = await fill(b, direct, 1, 'reply target');
    const reply = await post(a, direct, { content: 'answer', reply_to_id: target.id });
    expect(reply.status).toBe(201);
    expect(reply.body.message.reply_to_id).toBe(target.id);

    const [elsewhere] = await fill(a, group, 1, 'group message');
    const before = await countMessages();
    const res = await post(a, direct, { content: 'wrong place', reply_to_id: elsewhere.id });
    expectError(res, 400, 'validation_failed');
    expectError(await post(a, direct, { content: 'nothing', reply_to_id: 987654321 }), 400, 'validation_failed');
    expectError(await post(a, direct, { content: 'bad', reply_to_id: 'x' }), 400, 'validation_failed');
    expect(await countMessages()).toBe(before);
  });

  test('non-member or missing conversation → the same 404, nothing stored', async () => {
    const before = await countMessages();
    const seqBefore = await lastSeq(direct);
    const notMine = await post(outsider, direct, { content: 'let me in' });
    const missing = await post(outsider, 99999999, { content: 'anyone?' });
    expectError(notMine, 404, 'not_found');
    expectError(missing, 404, 'not_found');
    expect(notMine.body).toEqual(missing.body);
    // A reply pointing into the conversation does not reveal it either.
    const [target] = await fill(a, direct, 1, 'secret');
    const probe = await post(outsider, direct, { content: 'x', reply_to_id: target.id });
    expect(probe.body).toEqual(missing.body);
    expect(await countMessages()).toBe(before + 1);
    expect(await lastSeq(direct)).toBe(seqBefore + 1);
  });

  test('ids beyond any bigint → 400 validation_failed, not a server error', async () => {
    const huge = '100000000000000000000';
    const raw = (path: string, body: string) => t.request('POST', path, { token: a.token, raw: body });
    expectError(await raw(`/api/v1/conversations/${huge}/messages`, '{"content":"x"}'), 400, 'validation_failed');
    expectError(await raw(`/api/v1/conversations/${direct}/messages`, `{"content":"x","reply_to_id":${huge}}`), 400, 'validation_failed');
    expectError(await history(a, direct, `?before_seq=${huge}`), 400, 'validation_failed');
    expectError(await history(a, direct, `?after_seq=${huge}`), 400, 'validation_failed');
    expectError(await t.request('GET', `/api/v1/conversations/${huge}/messages`, { token: a.token }), 400, 'validation_failed');
    // The largest exact integer is still an ordinary (missing) id.
    expectError(await post(a, Number.MAX_SAFE_INTEGER, { content: 'x' }), 404, 'not_found');
  });

  test('malformed JSON → 400 invalid_json; no token → 401; bad id → 400', async () => {
    const res = await t.request('POST', `/api/v1/conversations/${direct}/messages`, { token: a.token, raw: '{"content": "hi"' });
    expectError(res, 400, 'invalid_json');
    expectError(await t.request('POST', `/api/v1/conversations/${direct}/messages`, { body: { content: 'hi' } }), 401, 'unauthorized');
    expectError(await post(a, 0, { content: 'hi' }), 400, 'validation_failed');
  });
});

describe('idempotent send (client_id)', () => {
  test('the same client_id from the same sender → 200 with the original, one row; from another sender → a new message', async () => {
    const first = await post(a, group, { content: 'once', client_id: 'cid-once' });
    expect(first.status).toBe(201);
    const again = await post(a, group, { content: 'once (retry)', client_id: 'cid-once' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expectMessage(again.body.message);
    expect(again.body.message).toMatchObject({ id: first.body.message.id, seq: first.body.message.seq, content: 'once' });

    const other = await post(b, group, { content: 'once', client_id: 'cid-once' });
    expect(other.status).toBe(201);
    expect(other.body.message.id).not.toBe(first.body.message.id);
    expect(other.body.message.seq).toBe(first.body.message.seq + 1);

    const rows = (await rowsOf(group)).filter((r) => r.client_id === 'cid-once');
    expect(rows.map((r) => r.sender_id).sort()).toEqual([a.user.id, b.user.id].sort());
    expect(await lastSeq(group)).toBe(other.body.message.seq);
  });

  test('20 concurrent sends with one client_id store one row; every answer carries its id; seq stays gapless', async () => {
    const seqBefore = await lastSeq(group);
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => post(c, group, { content: 'racing', client_id: 'cid-race' })),
    );
    for (const r of replies) expect([200, 201], JSON.stringify(r.body)).toContain(r.status);
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(replies.map((r) => r.body.message.id)).size).toBe(1);
    expect(new Set(replies.map((r) => r.body.message.seq))).toEqual(new Set([seqBefore + 1]));
    const rows = (await rowsOf(group)).filter((r) => r.client_id === 'cid-race');
    expect(rows).toHaveLength(1);
    expect(await lastSeq(group)).toBe(seqBefore + 1);

    const next = await post(c, group, { content: 'after the race' });
    expect(next.body.message.seq).toBe(seqBefore + 2);
  });

  test('a client_id the sender already used in another conversation → 400, nothing stored there', async () => {
    const first = await post(d, group, { content: 'for the group', client_id: 'cid-reused' });
    expect(first.status).toBe(201);
    const dm = (await createConversation(d, { type: 'direct', participant_id: e.user.id })).id;
    const before = await countMessages();
    const res = await post(d, dm, { content: 'for e only', client_id: 'cid-reused' });
    expectError(res, 400, 'validation_failed');
    expect(res.body.field).toBe('client_id');
    expect(await countMessages()).toBe(before);
    expect(await rowsOf(dm)).toEqual([]);
    // The original is still answered where it belongs.
    const again = await post(d, group, { content: 'for the group', client_id: 'cid-reused' });
    expect(again.status).toBe(200);
    expect(again.body.message.id).toBe(first.body.message.id);
  });

  test('client_id must be 1 to 128 characters', async () => {
    expectError(await post(a, direct, { content: 'x', client_id: '' }), 400, 'validation_failed');
    expectError(await post(a, direct, { content: 'x', client_id: 'x'.repeat(129) }), 400, 'validation_failed');
    expect((await post(a, direct, { content: 'x', client_id: 'x'.repeat(128) })).status).toBe(201);
  });
});

describe('seq under concurrency', () => {
  test('5 users × 40 concurrent sends into one group: seqs are exactly 1..200, each message once', async () => {
    const users = [a, b, c, d, e];
    const room = (await createConversation(a, { type: 'group', name: 'Busy', participant_ids: users.map((u) => u.user.id) })).id;
    const replies = await Promise.all(
      users.flatMap((u, ui) => Array.from({ length: 40 }, (_, i) => post(u, room, { content: `u${ui} m${i}` }))),
    );
    for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const seqs = replies.map((r) => r.body.message.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

    const rows = await rowsOf(room);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r.content)).size).toBe(200);
    expect(await lastSeq(room)).toBe(200);

    // Each sender's own messages come out in the order... of their seq, and all of them are there.
    for (const [ui, u] of users.entries()) {
      const mine = rows.filter((r) => r.sender_id === u.user.id);
      expect(mine.map((r) => r.content).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `u${ui} m${i}`).sort());
    }
  });
});

describe('GET /conversations/:id/messages', () => {
  let room: number;
  let sent: any[];

  beforeAll(async () => {
    room = (await createConversation(b, { type: 'group', name: 'History', participant_ids: [a.user.id, c.user.id] })).id;
    sent = [...(await fill(a, room, 70, 'a')), ...(await fill(b, room, 57, 'b'))];
  });

  test('oldest first; by default the latest 50 with has_more', async () => {
    const res = await history(c, room);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['has_more', 'messages']);
    expect(res.body.has_more).toBe(true);
    expect(res.body.messages.map((m: any) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 78 + i));
    for (const m of res.body.messages) expectMessage(m);
    expect(res.body.messages.at(-1)).toMatchObject({ id: sent.at(-1).id, content: 'b 56', sender_id: b.user.id });
    // As seen by b: b's own message is sent (nobody read it); a's is delivered to b.
    const forB = await history(b, room, '?limit=100');
    const mine = forB.body.messages.find((m: any) => m.sender_id === b.user.id);
    const theirs = forB.body.messages.find((m: any) => m.sender_id === a.user.id);
    expect(mine.status).toBe('sent');
    expect(theirs.status).toBe('delivered');
  });

  test('limit 1..100; 0, 101 and junk → 400', async () => {
    const hundred = await history(a, room, '?limit=100');
    expect(hundred.status).toBe(200);
    expect(hundred.body.messages).toHaveLength(100);
    expect(hundred.body.messages[0].seq).toBe(28);
    expectError(await history(a, room, '?limit=101'), 400, 'validation_failed');
    expectError(await history(a, room, '?limit=0'), 400, 'validation_failed');
    expectError(await history(a, room, '?limit=ten'), 400, 'validation_failed');
    expectError(await history(a, room, '?before_seq=0'), 400, 'validation_failed');
    expectError(await history(a, room, '?after_seq=-1'), 400, 'validation_failed');
  });

  test('walking back with before_seq from the latest page returns every message once, in seq order', async () => {
    for (const limit of [1, 7, 50, 100]) {
      let res = await history(a, room, `?limit=${limit}`);
      const seen: number[] = [...res.body.messages.map((m: any) => m.seq)];
      let pages = 1;
      while (res.body.has_more) {
        const oldest = res.body.messages[0].seq;
        res = await history(a, room, `?limit=${limit}&before_seq=${oldest}`);
        expect(res.status).toBe(200);
        expect(res.body.messages.length).toBeGreaterThan(0);
        expect(res.body.messages.length).toBeLessThanOrEqual(limit);
        seen.unshift(...res.body.messages.map((m: any) => m.seq));
        expect(++pages).toBeLessThanOrEqual(127);
      }
      expect(seen).toEqual(Array.from({ length: 127 }, (_, i) => i + 1));
      expect(pages).toBe(Math.ceil(127 / limit));
    }
  });

  test('walking forward with after_seq from 0 returns every message once, in seq order', async () => {
    for (const limit of [1, 10, 100]) {
      const seen: number[] = [];
      let after = 0;
      let pages = 0;
      for (;;) {
        const res = await history(a, room, `?limit=${limit}&after_seq=${after}`);
        expect(res.status).toBe(200);
        const seqs = res.body.messages.map((m: any) => m.seq);
        seen.push(...seqs);
        pages++;
        if (!res.body.has_more) break;
        after = seqs.at(-1);
      }
      expect(seen).toEqual(Array.from({ length: 127 }, (_, i) => i + 1));
      expect(pages).toBe(Math.ceil(127 / limit));
    }
    // Past the end: empty, nothing more.
    const end = await history(a, room, '?after_seq=127');
    expect(end.body).toEqual({ messages: [], has_more: false });
    const ids = (await history(a, room, '?after_seq=0&limit=100')).body.messages.map((m: any) => m.id);
    expect(ids).toEqual(sent.slice(0, 100).map((m) => m.id));
  });

  test('before_seq near the start; an empty conversation', async () => {
    const res = await history(a, room, '?before_seq=4&limit=10');
    expect(res.body.messages.map((m: any) => m.seq)).toEqual([1, 2, 3]);
    expect(res.body.has_more).toBe(false);
    const fresh = (await createConversation(c, { type: 'group', name: 'Quiet', participant_ids: [a.user.id] })).id;
    expect((await history(a, fresh)).body).toEqual({ messages: [], has_more: false });
  });

  test('non-member or missing → the same 404', async () => {
    const notMine = await history(outsider, room);
    const missing = await history(outsider, 99999999);
    expectError(notMine, 404, 'not_found');
    expectError(missing, 404, 'not_found');
    expect(notMine.body).toEqual(missing.body);
  });
});

describe('delivery over WebSocket', () => {
  test('a message sent over REST reaches every participant\'s socket, the sender\'s own included', async () => {
    const sockets: WsClient[] = [];
    try {
      const members = [a, b, c, d, e];
      for (const u of members) sockets.push(await connect(t, u.token));
      const secondOfA = await connect(t, a.token);
      sockets.push(secondOfA);
      const stranger = await connect(t, outsider.token);
      sockets.push(stranger);

      const res = await post(b, group, { content: 'to everyone', client_id: 'ws-fanout' });
      expect(res.status).toBe(201);
      for (const ws of [...sockets.slice(0, 5), secondOfA]) {
        const frame = await ws.next((f) => f.type === 'new_message' && f.message.id === res.body.message.id);
        expect(Object.keys(frame).sort()).toEqual(['message', 'type']);
        expectMessage(frame.message);
        expect(frame.message).toMatchObject({
          conversation_id: group,
          seq: res.body.message.seq,
          sender_id: b.user.id,
          content: 'to everyone',
          client_id: 'ws-fanout',
        });
      }
      await stranger.expectNone((f) => f.type === 'new_message', 200);

      // A retried client_id is answered over REST but not delivered again.
      const retry = await post(b, group, { content: 'to everyone', client_id: 'ws-fanout' });
      expect(retry.status).toBe(200);
      await sockets[2]!.expectNone((f) => f.type === 'new_message', 300);

      // Direct: only the two of them.
      const dm = await post(a, direct, { content: 'just us' });
      for (const ws of [sockets[0]!, sockets[1]!, secondOfA]) {
        await ws.next((f) => f.type === 'new_message' && f.message.id === dm.body.message.id);
      }
      await sockets[2]!.expectNone((f) => f.type === 'new_message' && f.message.id === dm.body.message.id, 200);
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
  });
});
