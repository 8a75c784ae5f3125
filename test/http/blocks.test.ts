import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { expectError as expectCode, ISO } from '../harness/expect.js';
import { BlocksService } from '../../src/services/blocks.js';
import type { Reply } from '../harness/app.js';
import { direct, group, messageRows, restSend, Sockets, type User } from '../realtime/fixtures.js';

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

const block = (who: User, target: number) => t.request('POST', `/api/v1/users/${target}/block`, { token: who.token });
const unblock = (who: User, target: number) => t.request('DELETE', `/api/v1/users/${target}/block`, { token: who.token });
const blocksOf = (who: User, query = '') => t.request('GET', `/api/v1/users/me/blocks${query}`, { token: who.token });

async function blockRows() {
  return t.app.database.db.selectFrom('user_blocks').select(['blocker_id', 'blocked_id']).orderBy('blocker_id').orderBy('blocked_id').execute();
}
async function conversationCount(): Promise<number> {
  const row = await t.app.database.db.selectFrom('conversations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}
/** The error reply, and the field it names when `field` is given. */
function expectError(res: Reply, status: number, code: string, field?: string): void {
  expectCode(res, status, code);
  if (field !== undefined) expect(res.body.field).toBe(field);
}
/** `n` new users (up to four), registered at once. */
const users = (n: 1 | 2 | 3 | 4) =>
  Promise.all(Array.from({ length: n }, () => registerUser(t))) as Promise<[User, User, User, User]>;

describe('the block routes', () => {
  test('block answers 201 with the user, again 200 with the same block; the list shows it; unblock answers 204 twice', async () => {
    const [a, b] = await users(2);
    const first = await block(a, b.user.id);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toEqual({ block: { user: expect.objectContaining({ id: b.user.id, username: b.user.username }), blocked_at: expect.stringMatching(ISO) } });
    expect((await blockRows()).filter((r) => r.blocker_id === a.user.id)).toEqual([{ blocker_id: a.user.id, blocked_id: b.user.id }]);

    const again = await block(a, b.user.id);
    expect(again.status).toBe(200);
    expect(again.body.block.blocked_at).toBe(first.body.block.blocked_at);

    const list = await blocksOf(a);
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ blocks: [first.body.block], next_cursor: null });
    // Blocking is one way: b blocks nobody.
    expect((await blocksOf(b)).body).toEqual({ blocks: [], next_cursor: null });

    const lifted = await unblock(a, b.user.id);
    expect(lifted.status).toBe(204);
    expect(lifted.body).toBeUndefined();
    expect((await unblock(a, b.user.id)).status).toBe(204);
    expect((await blockRows()).filter((r) => r.blocker_id === a.user.id)).toEqual([]);
    expect((await blocksOf(a)).body).toEqual({ blocks: [], next_cursor: null });
  });

  test('the list is paged by user id with an opaque cursor', async () => {
    const [a, ...others] = await users(4);
    for (const o of [...others].reverse()) expect((await block(a, o.user.id)).status).toBe(201);
    const ids: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await blocksOf(a, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.blocks.length).toBeLessThanOrEqual(2);
      ids.push(...res.body.blocks.map((x: any) => x.user.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(ids).toEqual(others.map((o) => o.user.id).sort((x, y) => x - y));
    expectError(await blocksOf(a, '?cursor=bm9wZQ'), 400, 'validation_failed', 'cursor');
    expectError(await blocksOf(a, '?limit=101'), 400, 'validation_failed');
  });

  test('blocking or unblocking yourself is 400, an unknown user 404, without a token 401; nothing is stored', async () => {
    const [a] = await users(1);
    const before = await blockRows();
    expectError(await block(a, a.user.id), 400, 'validation_failed', 'id');
    expectError(await unblock(a, a.user.id), 400, 'validation_failed', 'id');
    expectError(await block(a, 2 ** 52), 404, 'not_found');
    expectError(await unblock(a, 2 ** 52), 404, 'not_found');
    expectError(await block(a, 0), 400, 'validation_failed', 'id');
    expectError(await t.request('POST', `/api/v1/users/${a.user.id}/block`), 401, 'unauthorized');
    expectError(await t.request('GET', '/api/v1/users/me/blocks'), 401, 'unauthorized');
    expect(await blockRows()).toEqual(before);
  });
});

describe('direct conversations with someone who blocks you', () => {
  test('cannot be opened (403 blocked), new or existing; nothing is created', async () => {
    const [a, b, c] = await users(3);
    expect((await block(a, b.user.id)).status).toBe(201);
    const count = await conversationCount();
    const open = (who: User, other: User) =>
      t.request('POST', '/api/v1/conversations', { token: who.token, body: { type: 'direct', participant_id: other.user.id } });
    expectError(await open(b, a), 403, 'blocked', 'participant_id');
    expect(await conversationCount()).toBe(count);
    // The one who blocks may, and then the blocked one still may not reach it through POST.
    const existing = await direct(t, a, b);
    expectError(await open(b, a), 403, 'blocked', 'participant_id');
    // Others are not affected.
    expect((await open(c, a)).status).toBe(201);
    expect((await t.request('GET', `/api/v1/conversations/${existing}`, { token: b.token })).status).toBe(200);
  });

  test('refuse what the blocked one sends (403 blocked, nothing stored) until unblocked; nothing sent meanwhile appears', async () => {
    const [a, b] = await users(2);
    const conv = await direct(t, a, b);
    await restSend(t, b, conv, 'before');
    expect((await block(a, b.user.id)).status).toBe(201);
    const rows = await messageRows(t, conv);
    const res = await t.request('POST', `/api/v1/conversations/${conv}/messages`, {
      token: b.token,
      body: { content: 'while blocked', client_id: 'blocked-1' },
    });
    expectError(res, 403, 'blocked');
    expect(await messageRows(t, conv)).toEqual(rows);
    const lastSeq = await t.app.database.db.selectFrom('conversations').select('last_seq').where('id', '=', conv).executeTakeFirstOrThrow();
    expect(lastSeq.last_seq).toBe(1);

    // The one who blocks can still write.
    await restSend(t, a, conv, 'from the blocker');

    expect((await unblock(a, b.user.id)).status).toBe(204);
    // The same client_id is free: the refused send was never stored.
    const after = await t.request('POST', `/api/v1/conversations/${conv}/messages`, {
      token: b.token,
      body: { content: 'after', client_id: 'blocked-1' },
    });
    expect(after.status).toBe(201);
    const history = await t.request('GET', `/api/v1/conversations/${conv}/messages`, { token: a.token });
    expect(history.body.messages.map((m: any) => m.content)).toEqual(['before', 'from the blocker', 'after']);
  });
});

describe('groups', () => {
  test('creating one that includes someone who blocks the creator is 403 blocked; nothing is created', async () => {
    const [a, b, c] = await users(3);
    expect((await block(a, b.user.id)).status).toBe(201);
    const count = await conversationCount();
    const res = await t.request('POST', '/api/v1/conversations', {
      token: b.token,
      body: { type: 'group', name: 'with a', participant_ids: [c.user.id, a.user.id] },
    });
    expectError(res, 403, 'blocked', 'participant_ids');
    expect(await conversationCount()).toBe(count);
    // The blocker may put the blocked one in a group; a group without the blocker is fine.
    await group(t, a, [b, c]);
    await group(t, b, [c]);
    expect(await conversationCount()).toBe(count + 2);
  });

  test('assertNotBlockedBy, the check adding members uses, names those who block the actor', async () => {
    const [a, b, c, d] = await users(4);
    await block(a, d.user.id);
    await block(c, d.user.id);
    const blocks = new BlocksService(t.app.database.db, undefined, { ttlMs: 10_000, max: 100 });
    await expect(blocks.assertNotBlockedBy(d.user.id, [b.user.id])).resolves.toBeUndefined();
    await expect(blocks.assertNotBlockedBy(d.user.id, [])).resolves.toBeUndefined();
    await expect(blocks.assertNotBlockedBy(d.user.id, [b.user.id, a.user.id, c.user.id], 'user_ids')).rejects.toMatchObject({
      code: 'blocked',
      details: { field: 'user_ids' },
      // By id: the users were registered concurrently, so their ids are in no particular order.
      message: expect.stringContaining([a.user.id, c.user.id].sort((x, y) => x - y).join(', ')),
    });
    // One way only: d blocks nobody, so a may add d.
    await expect(blocks.assertNotBlockedBy(a.user.id, [d.user.id])).resolves.toBeUndefined();
  });

  test('in a shared group both stay members and messages flow both ways', async () => {
    const [a, b, c] = await users(3);
    const g = await group(t, c, [a, b]);
    await block(a, b.user.id);
    await restSend(t, b, g, 'from b');
    await restSend(t, a, g, 'from a');
    for (const who of [a, b, c]) {
      const res = await t.request('GET', `/api/v1/conversations/${g}/messages`, { token: who.token });
      expect(res.body.messages.map((m: any) => m.content)).toEqual(['from b', 'from a']);
    }
  });
});

describe('presence, as the blocked one sees the blocker', () => {
  test('offline with no last_seen in users routes, participants and senders; others and the blocker see as before', async () => {
    const [a, b, c] = await users(3);
    const g = await group(t, c, [a, b]);
    await restSend(t, a, g, 'a speaks');
    await sockets.connect(t, a);
    await expect.poll(async () => (await t.request('GET', `/api/v1/users/${a.user.id}`, { token: c.token })).body.user.status).toBe('online');
    await block(a, b.user.id);

    const seenBy = async (who: User) => {
      const [one, list, conv, history] = await Promise.all([
        t.request('GET', `/api/v1/users/${a.user.id}`, { token: who.token }),
        t.request('GET', `/api/v1/users?search=${encodeURIComponent(a.user.username)}`, { token: who.token }),
        t.request('GET', `/api/v1/conversations/${g}`, { token: who.token }),
        t.request('GET', `/api/v1/conversations/${g}/messages`, { token: who.token }),
      ]);
      const pick = (u: any) => ({ status: u.status, last_seen: u.last_seen });
      return [
        pick(one.body.user),
        pick(list.body.users.find((u: any) => u.id === a.user.id)),
        pick(conv.body.conversation.participants.find((p: any) => p.id === a.user.id)),
        pick(conv.body.conversation.messages[0].sender),
        pick(history.body.messages[0].sender),
      ];
    };
    expect(await seenBy(b)).toEqual(Array(5).fill({ status: 'offline', last_seen: null }));
    expect(await seenBy(c)).toEqual(Array(5).fill({ status: 'online', last_seen: expect.stringMatching(ISO) }));
    // The blocker still sees the blocked one's presence by the usual rules.
    expect((await t.request('GET', `/api/v1/users/${b.user.id}`, { token: a.token })).body.user.last_seen).toMatch(ISO);

    await unblock(a, b.user.id);
    expect(await seenBy(b)).toEqual(Array(5).fill({ status: 'online', last_seen: expect.stringMatching(ISO) }));
  });
});

describe('read receipts', () => {
  test('the blocked one sees the blocker\'s reads as delivered, everywhere; others see them; unblocking restores them', async () => {
    const [a, b, c] = await users(3);
    const d = await direct(t, a, b);
    const g = await group(t, c, [a, b]);
    const dm = await restSend(t, b, d, 'to a');
    const gm = await restSend(t, b, g, 'to the group');
    const cm = await restSend(t, c, g, 'from c');
    for (const [who, conv] of [[a, d], [a, g], [c, g]] as const) {
      expect((await t.request('POST', `/api/v1/conversations/${conv}/read`, { token: who.token, body: {} })).status).toBe(200);
    }
    const statusIn = async (who: User, conv: number, id: number) => {
      const history = await t.request('GET', `/api/v1/conversations/${conv}/messages`, { token: who.token });
      return history.body.messages.find((m: any) => m.id === id).status;
    };
    const receiptOf = async (who: User, conv: number, id: number, reader: User) => {
      const res = await t.request('GET', `/api/v1/conversations/${conv}/messages/${id}/receipts`, { token: who.token });
      return res.body.receipts.find((r: any) => r.user_id === reader.user.id).status;
    };
    const lastInList = async (who: User, conv: number) => {
      const res = await t.request('GET', `/api/v1/conversations/${conv}`, { token: who.token });
      return res.body.conversation.messages[0].status;
    };
    const seen = async () => [
      await statusIn(b, d, dm.id),
      await statusIn(b, g, gm.id),
      await lastInList(b, d),
      await receiptOf(b, d, dm.id, a),
      await receiptOf(b, g, gm.id, a),
      await receiptOf(b, g, cm.id, a),
    ];
    expect(await seen()).toEqual(['read', 'read', 'read', 'read', 'read', 'read']);

    await block(a, b.user.id);
    expect(await seen()).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered']);
    // c still sees a's reads; b still sees c's.
    expect(await receiptOf(c, g, gm.id, a)).toBe('read');
    expect(await receiptOf(b, g, gm.id, c)).toBe('read');
    // Nothing was changed: the pointers are where a left them.
    const pointer = await t.app.database.db
      .selectFrom('conversation_participants')
      .select('last_read_seq')
      .where('conversation_id', '=', d)
      .where('user_id', '=', a.user.id)
      .executeTakeFirstOrThrow();
    expect(pointer.last_read_seq).toBe(1);

    await unblock(a, b.user.id);
    expect(await seen()).toEqual(['read', 'read', 'read', 'read', 'read', 'read']);
  });
});
