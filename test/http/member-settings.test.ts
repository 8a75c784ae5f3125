import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type Reply, type TestApp } from '../harness/app.js';
import { expectError, ISO } from '../harness/expect.js';
import { direct, group, restSend, Sockets, type User } from '../realtime/fixtures.js';

/** Each member's own mute, archive and pin: PATCH /conversations/:id/settings, my_settings, the list. */

const FOREVER = '9999-12-31T23:59:59.999Z';
const DEFAULTS = { muted_until: null, archived: false, pinned: false, pinned_at: null };

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

const db = () => t.app.database.db;
const users = (n: 1 | 2 | 3) => Promise.all(Array.from({ length: n }, () => registerUser(t))) as Promise<[User, User, User]>;
const patch = (who: User, conversationId: number | string, body: unknown) =>
  t.request('PATCH', `/api/v1/conversations/${conversationId}/settings`, { token: who.token, body });
const getOne = async (who: User, conversationId: number) => {
  const res = await t.request('GET', `/api/v1/conversations/${conversationId}`, { token: who.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.conversation;
};
const list = (who: User, query = '') => t.request('GET', `/api/v1/conversations${query}`, { token: who.token });

/** The stored settings of one member, 'infinity' told apart from any real time. */
async function settingsRow(conversationId: number, userId: number) {
  return db()
    .selectFrom('conversation_participants')
    .select(['archived', 'pinned_at', sql<boolean>`muted_until = 'infinity'`.as('forever'), sql<string | null>`to_json(muted_until) #>> '{}'`.as('muted')])
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
}

/** Every conversation of `who`, walked page by page with `query` and `limit`. */
async function walk(who: User, limit: number, query = ''): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: Reply = await list(who, `?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.conversations.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.conversations.map((c: any) => c.id));
    cursor = res.body.next_cursor;
    expect(++pages).toBeLessThan(50);
  } while (cursor !== null);
  return ids;
}

describe('my_settings on conversation objects', () => {
  test('every conversation object carries the caller\'s defaults: create, get one, the list', async () => {
    const [a, b] = await users(2);
    const created = await t.request('POST', '/api/v1/conversations', { token: a.token, body: { type: 'direct', participant_id: b.user.id } });
    expect(created.status).toBe(201);
    expect(created.body.conversation.my_settings).toEqual(DEFAULTS);
    const g = await t.request('POST', '/api/v1/conversations', { token: b.token, body: { type: 'group', name: 'G', participant_ids: [a.user.id] } });
    expect(g.body.conversation.my_settings).toEqual(DEFAULTS);
    expect((await getOne(b, created.body.conversation.id)).my_settings).toEqual(DEFAULTS);
    const mine = await list(a);
    expect(mine.body.conversations).toHaveLength(2);
    for (const c of mine.body.conversations) expect(c.my_settings).toEqual(DEFAULTS);
  });

  test('are the caller\'s own: another member sees their own settings, everywhere the object appears', async () => {
    const [a, b, c] = await users(3);
    const d = await direct(t, a, b);
    const g = await group(t, c, [a, b]);
    expect((await patch(a, d, { archived: true, muted_until: FOREVER, pinned: true })).status).toBe(200);
    expect((await patch(b, g, { pinned: true })).status).toBe(200);

    expect((await getOne(a, d)).my_settings).toMatchObject({ archived: true, muted_until: FOREVER, pinned: true });
    expect((await getOne(b, d)).my_settings).toEqual(DEFAULTS);
    expect((await getOne(b, g)).my_settings).toMatchObject({ pinned: true, archived: false, muted_until: null });
    expect((await getOne(a, g)).my_settings).toEqual(DEFAULTS);
    expect((await getOne(c, g)).my_settings).toEqual(DEFAULTS);
    // POST of an existing direct conversation answers with the caller's settings too.
    const again = await t.request('POST', '/api/v1/conversations', { token: b.token, body: { type: 'direct', participant_id: a.user.id } });
    expect(again.status).toBe(200);
    expect(again.body.conversation.my_settings).toEqual(DEFAULTS);
    const byId = (res: Reply) => new Map(res.body.conversations.map((x: any) => [x.id, x.my_settings]));
    expect(byId(await list(b)).get(d)).toEqual(DEFAULTS);
    expect(byId(await list(a)).get(d)).toMatchObject({ archived: true, pinned: true });
  });
});

describe('PATCH /conversations/:id/settings', () => {
  test('answers 200 with the whole conversation as GET gives it; only the fields sent change', async () => {
    const [a, b] = await users(2);
    const d = await direct(t, a, b);
    await restSend(t, b, d, 'hello');
    const res = await patch(a, d, { archived: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Object.keys(res.body)).toEqual(['conversation']);
    expect(res.body.conversation).toEqual(await getOne(a, d));
    expect(res.body.conversation).toMatchObject({ id: d, unread_count: 1, my_settings: { ...DEFAULTS, archived: true } });

    const pinned = await patch(a, d, { pinned: true });
    expect(pinned.body.conversation.my_settings).toEqual({ ...DEFAULTS, archived: true, pinned: true, pinned_at: expect.stringMatching(ISO) });
    const unarchived = await patch(a, d, { archived: false });
    expect(unarchived.body.conversation.my_settings).toMatchObject({ archived: false, pinned: true });
    const row = await settingsRow(d, a.user.id);
    expect(row).toMatchObject({ archived: false, forever: null, muted: null });
    expect(row.pinned_at).toBeInstanceOf(Date);
    expect(await settingsRow(d, b.user.id)).toMatchObject({ archived: false, pinned_at: null, muted: null });
  });

  test('pinning again keeps pinned_at; unpinning clears it; pinning later takes the new time', async () => {
    const [a, b] = await users(2);
    const g = await group(t, a, [b]);
    const first = (await patch(a, g, { pinned: true })).body.conversation.my_settings;
    expect(first.pinned_at).toMatch(ISO);
    await new Promise((r) => setTimeout(r, 5));
    const again = (await patch(a, g, { pinned: true, archived: true })).body.conversation.my_settings;
    expect(again).toEqual({ ...first, archived: true });
    const unpinned = (await patch(a, g, { pinned: false })).body.conversation.my_settings;
    expect(unpinned).toMatchObject({ pinned: false, pinned_at: null });
    expect((await settingsRow(g, a.user.id)).pinned_at).toBeNull();
    const later = (await patch(a, g, { pinned: true })).body.conversation.my_settings;
    expect(Date.parse(later.pinned_at)).toBeGreaterThan(Date.parse(first.pinned_at));
  });

  test('mute until a time, forever (stored as infinity, shown as the same string), and unmute with null', async () => {
    const [a, b] = await users(2);
    const d = await direct(t, a, b);
    const until = '2031-03-04T05:06:07.890Z';
    expect((await patch(a, d, { muted_until: until })).body.conversation.my_settings.muted_until).toBe(until);
    expect((await settingsRow(d, a.user.id)).forever).toBe(false);
    // Any ISO time with a zone is taken; the answer is in UTC.
    expect((await patch(a, d, { muted_until: '2031-03-04T07:06:07.890+02:00' })).body.conversation.my_settings.muted_until).toBe(until);

    const forever = await patch(a, d, { muted_until: FOREVER });
    expect(forever.body.conversation.my_settings.muted_until).toBe(FOREVER);
    expect((await settingsRow(d, a.user.id)).forever).toBe(true);
    expect((await getOne(a, d)).my_settings.muted_until).toBe(FOREVER);
    expect((await list(a)).body.conversations.find((c: any) => c.id === d).my_settings.muted_until).toBe(FOREVER);
    // Beyond the end of time is the same: forever.
    await patch(a, d, { muted_until: null });
    expect((await patch(a, d, { muted_until: '9999-12-31T23:59:59.999-05:00' })).body.conversation.my_settings.muted_until).toBe(FOREVER);
    expect((await settingsRow(d, a.user.id)).forever).toBe(true);

    const unmuted = await patch(a, d, { muted_until: null });
    expect(unmuted.body.conversation.my_settings.muted_until).toBeNull();
    expect((await settingsRow(d, a.user.id)).muted).toBeNull();
  });

  test('a time in the past is kept as given (it means not muted)', async () => {
    const [a, b] = await users(2);
    const d = await direct(t, a, b);
    const past = '2001-02-03T04:05:06.000Z';
    expect((await patch(a, d, { muted_until: past })).body.conversation.my_settings.muted_until).toBe(past);
    expect((await getOne(a, d)).my_settings.muted_until).toBe(past);
    expect(new Date((await settingsRow(d, a.user.id)).muted!).toISOString()).toBe(past);
  });

  test('a migrated mute without end (\'infinity\' written by the schema upgrade) shows as the forever time', async () => {
    const [a, b] = await users(2);
    const d = await direct(t, a, b);
    await db()
      .updateTable('conversation_participants')
      .set({ muted_until: sql<Date>`'infinity'` })
      .where('conversation_id', '=', d)
      .where('user_id', '=', a.user.id)
      .execute();
    expect((await getOne(a, d)).my_settings.muted_until).toBe(FOREVER);
    expect((await list(a)).body.conversations[0].my_settings.muted_until).toBe(FOREVER);
  });

  test('a conversation_settings frame reaches every socket of the caller, not the other member; nothing when nothing changed', async () => {
    const [a, b] = await users(2);
    const g = await group(t, b, [a]);
    const [phone, laptop, other] = await Promise.all([sockets.connect(t, a), sockets.connect(t, a), sockets.connect(t, b)]);
    const res = await patch(a, g, { muted_until: FOREVER, pinned: true });
    expect(res.status).toBe(200);
    const expected = { type: 'conversation_settings', conversation_id: g, settings: res.body.conversation.my_settings };
    expect(await phone.nextOfType('conversation_settings')).toEqual(expected);
    expect(await laptop.nextOfType('conversation_settings')).toEqual(expected);
    await other.expectNone((f) => f.type === 'conversation_settings');

    // The same again changes nothing and sends nothing; the answer is the same.
    const same = await patch(a, g, { muted_until: FOREVER, pinned: true });
    expect(same.body.conversation.my_settings).toEqual(expected.settings);
    await phone.expectNone((f) => f.type === 'conversation_settings');

    // The other member's own change goes to them alone.
    expect((await patch(b, g, { archived: true })).status).toBe(200);
    expect((await other.nextOfType('conversation_settings')).settings).toEqual({ ...DEFAULTS, archived: true });
    await laptop.expectNone((f) => f.type === 'conversation_settings');
  });

  test('bad input → 400 validation_failed naming the field; nothing changes and no frame is sent', async () => {
    const [a, b] = await users(2);
    const d = await direct(t, a, b);
    expect((await patch(a, d, { archived: true, muted_until: '2040-01-01T00:00:00.000Z' })).status).toBe(200);
    const before = await settingsRow(d, a.user.id);
    const ws = await sockets.connect(t, a);
    const cases: [unknown, string][] = [
      [{}, 'body'],
      [{ muted: true }, 'muted'],
      [{ archived: false, settings: {} }, 'settings'],
      [{ archived: 'yes' }, 'archived'],
      [{ archived: 'false' }, 'archived'],
      [{ archived: null }, 'archived'],
      [{ pinned: 1 }, 'pinned'],
      [{ pinned: 'true' }, 'pinned'],
      [{ muted_until: 'tomorrow' }, 'muted_until'],
      [{ muted_until: '2030-02-30T00:00:00Z' }, 'muted_until'],
      [{ muted_until: '2030-01-01T00:00:00' }, 'muted_until'],
      [{ muted_until: 1893456000000 }, 'muted_until'],
      [{ muted_until: true }, 'muted_until'],
      [{ muted_until: '0000-01-01T00:00:00Z' }, 'muted_until'],
      [{ muted_until: '1969-12-31T23:59:59Z' }, 'muted_until'],
      [{ archived: false, pinned: true, muted_until: 'later' }, 'muted_until'],
      [[], 'body'],
      ['archived', 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await patch(a, d, body);
      expectError(res, 400, 'validation_failed');
      expect(res.body.field, JSON.stringify(body)).toBe(field);
    }
    const raw = (text: string) => t.request('PATCH', `/api/v1/conversations/${d}/settings`, { token: a.token, raw: text });
    expectError(await raw('null'), 400, 'validation_failed');
    expectError(await raw(''), 400, 'validation_failed');
    expectError(await raw('{"archived":'), 400, 'invalid_json');
    expect(await settingsRow(d, a.user.id)).toEqual(before);
    await ws.expectNone((f) => f.type === 'conversation_settings');
  });

  test('not a member → 404 not_found, the same as a conversation that does not exist; nothing changes', async () => {
    const [a, b, outsider] = await users(3);
    const d = await direct(t, a, b);
    const g = await group(t, a, [b]);
    const rows = async () => Promise.all([settingsRow(d, a.user.id), settingsRow(d, b.user.id), settingsRow(g, a.user.id)]);
    const before = await rows();
    const notMine = await patch(outsider, d, { archived: true });
    const missing = await patch(outsider, 99999999, { archived: true });
    expectError(notMine, 404, 'not_found');
    expectError(missing, 404, 'not_found');
    expect(notMine.body).toEqual(missing.body);
    expectError(await patch(outsider, g, { pinned: true }), 404, 'not_found');
    expect(await rows()).toEqual(before);
    const none = await db().selectFrom('conversation_participants').select('user_id').where('user_id', '=', outsider.user.id).execute();
    expect(none).toEqual([]);

    expectError(await patch(a, 'abc', { archived: true }), 400, 'validation_failed');
    expectError(await t.request('PATCH', `/api/v1/conversations/${d}/settings`, { body: { archived: true } }), 401, 'unauthorized');
  });
});

describe('GET /conversations with settings', () => {
  test('archived=true lists only the archived, archived=false only the others, without it all', async () => {
    const [a, b, c] = await users(3);
    const d1 = await direct(t, a, b);
    const d2 = await direct(t, a, c);
    const g = await group(t, b, [a, c]);
    expect((await patch(a, d2, { archived: true })).status).toBe(200);
    // b's archive is b's: it does not hide anything from a.
    expect((await patch(b, g, { archived: true })).status).toBe(200);
    const ids = async (query: string) => {
      const res = await list(a, query);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.conversations.map((x: any) => x.id).sort((x: number, y: number) => x - y);
    };
    expect(await ids('?archived=true')).toEqual([d2]);
    expect(await ids('?archived=false')).toEqual([d1, g].sort((x, y) => x - y));
    expect(await ids('')).toEqual([d1, d2, g].sort((x, y) => x - y));
    expect(await ids('?archived=true&limit=1')).toEqual([d2]);
    for (const bad of ['yes', '1', '0', 'TRUE', '']) expectError(await list(a, `?archived=${bad}`), 400, 'validation_failed');
  });

  test('pinned ones first, the latest pinned first, then by activity; paging with limit 1 sees each once, in order', async () => {
    const [owner, other] = await users(2);
    const made: number[] = [];
    for (let i = 0; i < 9; i++) made.push(await group(t, owner, [other], `P${i}`));
    // Activity: made[i] later the higher i, two of them within the same microsecond.
    for (const [i, id] of made.entries()) {
      await db()
        .updateTable('conversations')
        .set({ last_message_at: sql<Date>`timestamptz '2032-01-01 00:00:00+00' + ${Math.min(i, 7) * 100} * interval '1 microsecond'` })
        .where('id', '=', id)
        .execute();
    }
    // Pinned: made[1], then made[6], then made[3] (the latest pinned); made[4] and made[0]
    // pinned at the very same microsecond (ties go by activity, then id).
    for (const i of [1, 6, 3]) {
      expect((await patch(owner, made[i]!, { pinned: true })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 2));
    }
    for (const i of [4, 0]) {
      await db()
        .updateTable('conversation_participants')
        .set({ pinned_at: sql<Date>`timestamptz '2020-06-01 00:00:00.000001+00'` })
        .where('conversation_id', '=', made[i]!)
        .where('user_id', '=', owner.user.id)
        .execute();
    }
    // Archive one pinned and one unpinned, for the filtered walk.
    await patch(owner, made[6]!, { archived: true });
    await patch(owner, made[5]!, { archived: true });

    const m = (...is: number[]) => is.map((i) => made[i]!);
    // Unpinned by activity: 8 and 7 share a time, so the higher id first.
    const expected = m(3, 6, 1, 4, 0, 8, 7, 5, 2);
    const full = await list(owner, '?limit=100');
    expect(full.body.conversations.map((c: any) => c.id)).toEqual(expected);
    for (const c of full.body.conversations) expect(c.my_settings.pinned).toBe(m(3, 6, 1, 4, 0).includes(c.id));
    for (const limit of [1, 2, 4]) expect(await walk(owner, limit)).toEqual(expected);
    expect(await walk(owner, 1, '&archived=false')).toEqual(m(3, 1, 4, 0, 8, 7, 2));
    expect(await walk(owner, 1, '&archived=true')).toEqual(m(6, 5));
    // The other member pinned nothing: plain activity order.
    expect(await walk(other, 1)).toEqual(m(8, 7, 6, 5, 4, 3, 2, 1, 0));

    // Unpinning moves it back among the rest by its activity.
    await patch(owner, made[3]!, { pinned: false });
    expect(await walk(owner, 1)).toEqual(m(6, 1, 4, 0, 8, 7, 5, 3, 2));
  });

  test('a cursor of the earlier form (activity and id) still pages on, among the unpinned', async () => {
    const [owner] = await users(1);
    const made: number[] = [];
    for (let i = 0; i < 4; i++) made.push(await group(t, owner, [], `C${i}`));
    await patch(owner, made[0]!, { pinned: true });
    const rows = await db()
      .selectFrom('conversations')
      .select(['id', sql<string>`(extract(epoch from coalesce(last_message_at, created_at)) * 1000000)::bigint::text`.as('us')])
      .where('id', '=', made[2]!)
      .executeTakeFirstOrThrow();
    const old = Buffer.from(`c:${rows.us}:${rows.id}`).toString('base64url');
    const res = await list(owner, `?cursor=${old}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // Unpinned, newest first: made[3], made[2], made[1]; the pinned made[0] came before them all.
    expect(res.body.conversations.map((c: any) => c.id)).toEqual([made[1]]);
    for (const bad of ['p:x:1:2', 'p::1', 'p:1:2:', 'q:1:2:3']) {
      expectError(await list(owner, `?cursor=${Buffer.from(bad).toString('base64url')}`), 400, 'validation_failed');
    }
  });
});
