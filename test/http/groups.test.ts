import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, TestClock, type Reply, type TestApp } from '../harness/app.js';
import { expectError as expectCode, ISO } from '../harness/expect.js';
import { pdfBytes, uploaded } from './attachments-fixtures.js';
import { direct, group, messageRows, restSend, Sockets, newMessageIn, type User } from '../realtime/fixtures.js';

/** Group administration over REST (and its frames): roles, members, info, settings, invites, system messages. */
let t: TestApp;
const sockets = new Sockets();
const MAX_MEMBERS = 6;
const clock = new TestClock();

beforeAll(async () => {
  t = await startApp({ groupMaxMembers: MAX_MEMBERS }, { clock });
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

/** `n` users registered at once (their ids come in no fixed order). */
const users = (n: number) =>
  Promise.all(Array.from({ length: n }, () => registerUser(t))) as Promise<[User, User, User, User, User, User, ...User[]]>;
const get = (who: User, id: number) => t.request('GET', `/api/v1/conversations/${id}`, { token: who.token });
const edit = (who: User, id: number, body: unknown) => t.request('PATCH', `/api/v1/conversations/${id}`, { token: who.token, body });
const add = (who: User, id: number, ids: number[]) =>
  t.request('POST', `/api/v1/conversations/${id}/participants`, { token: who.token, body: { user_ids: ids } });
const remove = (who: User, id: number, userId: number) =>
  t.request('DELETE', `/api/v1/conversations/${id}/participants/${userId}`, { token: who.token });
const setRole = (who: User, id: number, userId: number, role: unknown) =>
  t.request('PATCH', `/api/v1/conversations/${id}/participants/${userId}`, { token: who.token, body: { role } });
const history = (who: User, id: number) => t.request('GET', `/api/v1/conversations/${id}/messages?limit=100`, { token: who.token });
const roles = (conversation: any) =>
  Object.fromEntries(conversation.participants.map((p: any) => [p.id, p.role])) as Record<number, string>;

/** The system messages stored in the conversation, oldest first. */
async function systemRows(id: number) {
  return (await messageRows(t, id)).filter((m) => m.type === 'system').map((m) => ({ ...m.system, content: m.content, seq: Number(m.seq) }));
}
/** What the database holds of a conversation that a refusal must leave as it was. */
async function snapshot(id: number) {
  const db = t.app.database.db;
  return {
    conversation: await db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst(),
    members: await db.selectFrom('conversation_participants').select(['user_id', 'role']).where('conversation_id', '=', id).orderBy('user_id').execute(),
    messages: (await messageRows(t, id)).length,
  };
}
function expectError(res: Reply, status: number, code: string, field?: string): void {
  expectCode(res, status, code);
  if (field !== undefined) expect(res.body.field).toBe(field);
}

describe('the group object', () => {
  test('shows description and settings; a direct conversation shows the defaults and has none of the routes', async () => {
    const [a, b] = await users(2);
    const g = await get(a, await group(t, a, [b]));
    expect(g.body.conversation).toMatchObject({
      description: null,
      settings: { only_admins_can_post: false, only_admins_can_edit_info: false, only_admins_can_add: false, history_visible_to_new_members: true },
    });
    expect(roles(g.body.conversation)).toEqual({ [a.user.id]: 'owner', [b.user.id]: 'member' });

    const d = await direct(t, a, b);
    expect((await get(a, d)).body.conversation.settings.only_admins_can_post).toBe(false);
    const before = await snapshot(d);
    expectError(await edit(a, d, { name: 'x' }), 422, 'not_a_group');
    expectError(await add(a, d, [b.user.id]), 422, 'not_a_group');
    expectError(await remove(a, d, b.user.id), 422, 'not_a_group');
    expectError(await remove(a, d, a.user.id), 422, 'not_a_group');
    expectError(await setRole(a, d, b.user.id, 'admin'), 422, 'not_a_group');
    expectError(await t.request('POST', `/api/v1/conversations/${d}/invites`, { token: a.token, body: {} }), 422, 'not_a_group');
    expect(await snapshot(d)).toEqual(before);
  });

  test('creating a group past GROUP_MAX_MEMBERS is refused', async () => {
    const people = await users(MAX_MEMBERS);
    const res = await t.request('POST', '/api/v1/conversations', {
      token: people[0]!.token,
      body: { type: 'group', name: 'big', participant_ids: people.slice(1).map((p) => p.user.id).concat((await users(1))[0]!.user.id) },
    });
    expectError(res, 422, 'group_full', 'participant_ids');
  });
});

describe('bad input on every group route', () => {
  test('ids past 2^53, strings for numbers, NUL and lone surrogates: 400 naming the field; a stranger gets 404', async () => {
    const [a, b, stranger] = await users(3);
    const id = await group(t, a!, [b!]);
    const before = await snapshot(id);
    const huge = '9007199254740993';
    const paths: [string, string, unknown?][] = [
      ['PATCH', `/api/v1/conversations/${huge}`, { name: 'x' }],
      ['PATCH', '/api/v1/conversations/abc', { name: 'x' }],
      ['POST', `/api/v1/conversations/${huge}/participants`, { user_ids: [b!.user.id] }],
      ['DELETE', `/api/v1/conversations/${id}/participants/${huge}`],
      ['DELETE', `/api/v1/conversations/${id}/participants/x`],
      ['PATCH', `/api/v1/conversations/${id}/participants/1.5`, { role: 'admin' }],
      ['POST', `/api/v1/conversations/${huge}/invites`, {}],
      ['GET', `/api/v1/invites/${'x'.repeat(65)}`],
    ];
    for (const [method, path, body] of paths) {
      const res = await t.request(method, path, { token: a!.token, body });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
    // Raw JSON text, escapes as a client sends them.
    const bodies: [string, string][] = [
      ['{"name":"a\\u0000b"}', 'name'],
      ['{"description":"x\\ud800y"}', 'description'],
      ['{"settings":{"only_admins_can_add":"true"}}', 'settings.only_admins_can_add'],
      ['{"name":7}', 'name'],
    ];
    for (const [raw, field] of bodies) {
      const res = await t.request('PATCH', `/api/v1/conversations/${id}`, { token: a!.token, raw });
      expect(res.status, raw).toBe(400);
      expect(res.body.field, raw).toBe(field);
    }
    expectError(await add(a!, id, [Number(huge)]), 400, 'validation_failed');
    expect(await snapshot(id)).toEqual(before);
    // A stranger: the same 404 on every route as for a group that does not exist.
    expectError(await edit(stranger!, id, { name: 'mine' }), 404, 'not_found');
    expectError(await remove(stranger!, id, b!.user.id), 404, 'not_found');
    expectError(await setRole(stranger!, id, b!.user.id, 'admin'), 404, 'not_found');
    expectError(await t.request('POST', `/api/v1/conversations/${id}/invites`, { token: stranger!.token, body: {} }), 404, 'not_found');
    expectError(await t.request('GET', `/api/v1/conversations/${id}/invites`, { token: stranger!.token }), 404, 'not_found');
    expect(await snapshot(id)).toEqual(before);
  });
});

describe('adding members', () => {
  test('the owner adds: one system message with a seq, the new member sees the group, duplicates change nothing', async () => {
    const [a, b, c, d] = await users(4);
    const id = await group(t, a, [b]);
    await restSend(t, a, id, 'before');
    const res = await add(a, id, [c!.user.id, d!.user.id, b!.user.id, c!.user.id]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(roles(res.body.conversation)).toEqual({ [a!.user.id]: 'owner', [b!.user.id]: 'member', [c!.user.id]: 'member', [d!.user.id]: 'member' });
    const sys = await systemRows(id);
    expect(sys).toEqual([
      expect.objectContaining({ event: 'member_added', actor_id: a!.user.id, user_ids: [c!.user.id, d!.user.id], seq: 2 }),
    ]);
    expect(sys[0]!.content).toBe(`${a!.user.username} added ${c!.user.username}, ${d!.user.username}`);

    // The new member: the whole history (visible by default), the system message last,
    // nothing unread (system messages never are).
    const seen = await history(c!, id);
    expect(seen.body.messages.map((m: any) => [m.type, m.content])).toEqual([
      ['text', 'before'],
      ['system', sys[0]!.content],
    ]);
    expect(seen.body.messages[1].system).toEqual({ event: 'member_added', actor_id: a!.user.id, user_ids: [c!.user.id, d!.user.id] });
    expect((await get(c!, id)).body.conversation.unread_count).toBe(0);
    expect((await get(b!, id)).body.conversation.unread_count).toBe(1);

    const before = await snapshot(id);
    const again = await add(a, id, [c!.user.id]);
    expect(again.status).toBe(200);
    expect(await snapshot(id)).toEqual(before);
  });

  test('any member adds unless only_admins_can_add; unknown ids are named; a user who blocks the adder is refused', async () => {
    const [a, b, c, d, e] = await users(5);
    const id = await group(t, a, [b!]);
    expect((await add(b!, id, [c!.user.id])).status).toBe(200);
    expect((await edit(a!, id, { settings: { only_admins_can_add: true } })).status).toBe(200);
    let before = await snapshot(id);
    expectError(await add(b!, id, [d!.user.id]), 403, 'forbidden');
    expect(await snapshot(id)).toEqual(before);

    const missing = [2 ** 40, 2 ** 40 + 1];
    const res = await add(a!, id, [d!.user.id, ...missing]);
    expectError(res, 422, 'unknown_users', 'user_ids');
    expect(res.body.error).toContain(String(missing[0]));
    expect(res.body.error).toContain(String(missing[1]));
    expect(await snapshot(id)).toEqual(before);

    expect((await t.request('POST', `/api/v1/users/${a!.user.id}/block`, { token: e!.token })).status).toBe(201);
    expectError(await add(a!, id, [d!.user.id, e!.user.id]), 403, 'blocked', 'user_ids');
    expect(await snapshot(id)).toEqual(before);

    // Not a member: the same 404 as a conversation that does not exist, whatever else is wrong.
    const [stranger] = await users(1);
    expectError(await add(stranger!, id, [d!.user.id]), 404, 'not_found');
    expectError(await add(stranger!, id, [2 ** 40]), 404, 'not_found');
    expectError(await add(a!, 2 ** 40, [d!.user.id]), 404, 'not_found');
    before = await snapshot(id);
    expect(before.members.length).toBe(3);
  });

  test('adding past GROUP_MAX_MEMBERS adds nobody', async () => {
    const people = await users(MAX_MEMBERS + 1);
    const id = await group(t, people[0]!, people.slice(1, MAX_MEMBERS - 1));
    const before = await snapshot(id);
    expectError(await add(people[0]!, id, people.slice(MAX_MEMBERS - 1).map((p) => p.user.id)), 422, 'group_full');
    expect(await snapshot(id)).toEqual(before);
    expect((await add(people[0]!, id, [people[MAX_MEMBERS - 1]!.user.id])).status).toBe(200);
  });

  test('bad bodies are refused with nothing changed', async () => {
    const [a, b] = await users(2);
    const id = await group(t, a!, [b!]);
    const before = await snapshot(id);
    for (const body of [{}, { user_ids: [] }, { user_ids: ['2'] }, { user_ids: [1.5] }, { user_ids: [0] }, { user_ids: 3 }, { user_ids: [3], x: 1 }]) {
      const res = await t.request('POST', `/api/v1/conversations/${id}/participants`, { token: a!.token, body });
      expectError(res, 400, 'validation_failed');
    }
    expect(await snapshot(id)).toEqual(before);
  });
});

describe('removing and leaving', () => {
  test('an admin removes a member: 204, and the member loses the group at once (REST, list, sync) and gets no more frames', async () => {
    const [a, b, c] = await users(3);
    const id = await group(t, a!, [b!, c!]);
    const bSocket = await sockets.connect(t, b!);
    const cSocket = await sockets.connect(t, c!);
    const res = await remove(a!, id, b!.user.id);
    expect(res.status).toBe(204);
    // The member hears of their removal (the conversation's last frame they get); the others too.
    const told = await bSocket.next(newMessageIn(id));
    expect(told.message.system).toEqual({ event: 'member_removed', actor_id: a!.user.id, user_ids: [b!.user.id] });
    await cSocket.next(newMessageIn(id));

    expectError(await get(b!, id), 404, 'not_found');
    expectError(await history(b!, id), 404, 'not_found');
    expectError(await t.request('POST', `/api/v1/conversations/${id}/messages`, { token: b!.token, body: { content: 'hi' } }), 404, 'not_found');
    const list = await t.request('GET', '/api/v1/conversations', { token: b!.token });
    expect(list.body.conversations.map((x: any) => x.id)).not.toContain(id);

    await restSend(t, c!, id, 'after removal');
    await cSocket.next(newMessageIn(id, 'after removal'));
    await bSocket.expectNone(newMessageIn(id));
    bSocket.send({ type: 'sync', since: { [id]: 0 } });
    const synced = await bSocket.next((f) => f.type === 'synced' || f.type === 'sync_done' || f.type === 'sync_complete');
    expect(JSON.stringify(synced)).not.toContain(`"${id}"`);
    await bSocket.expectNone(newMessageIn(id));
  });

  test('who may remove whom: members nobody, admins members, only the owner admins, nobody the owner', async () => {
    const [owner, admin1, admin2, m1, m2] = await users(5);
    const id = await group(t, owner!, [admin1!, admin2!, m1!, m2!]);
    expect((await setRole(owner!, id, admin1!.user.id, 'admin')).status).toBe(200);
    expect((await setRole(owner!, id, admin2!.user.id, 'admin')).status).toBe(200);
    const before = await snapshot(id);
    expectError(await remove(m1!, id, m2!.user.id), 403, 'forbidden');
    expectError(await remove(admin1!, id, admin2!.user.id), 403, 'forbidden');
    expectError(await remove(admin1!, id, owner!.user.id), 403, 'forbidden');
    const [stranger] = await users(1);
    expectError(await remove(admin1!, id, stranger!.user.id), 404, 'not_found');
    expectError(await remove(stranger!, id, m1!.user.id), 404, 'not_found');
    expect(await snapshot(id)).toEqual(before);

    expect((await remove(admin1!, id, m1!.user.id)).status).toBe(204);
    expect((await remove(owner!, id, admin2!.user.id)).status).toBe(204);
    expect(roles((await get(owner!, id)).body.conversation)).toEqual({
      [owner!.user.id]: 'owner',
      [admin1!.user.id]: 'admin',
      [m2!.user.id]: 'member',
    });
    expect((await systemRows(id)).map((s) => s.event)).toEqual(['role_changed', 'role_changed', 'member_removed', 'member_removed']);
  });

  test('an owner who leaves hands ownership to the longest-serving admin, else member; the last one leaves an empty group', async () => {
    const [a, b, c, d, e] = await users(5);
    const id = await group(t, a!, [b!, c!]);
    expect((await add(a!, id, [d!.user.id])).status).toBe(200);
    expect((await setRole(a!, id, d!.user.id, 'admin')).status).toBe(200);
    const link = (await t.request('POST', `/api/v1/conversations/${id}/invites`, { token: a!.token, body: {} })).body.invite;
    // The admin d, though b and c have been in longer.
    expect((await remove(a!, id, a!.user.id)).status).toBe(204);
    expect(roles((await get(b!, id)).body.conversation)).toEqual({ [b!.user.id]: 'member', [c!.user.id]: 'member', [d!.user.id]: 'owner' });
    expect((await systemRows(id)).slice(-2)).toEqual([
      expect.objectContaining({ event: 'member_left', actor_id: a!.user.id }),
      expect.objectContaining({ event: 'owner_changed', actor_id: a!.user.id, user_ids: [d!.user.id] }),
    ]);
    // No admin left: the longest-serving member (b and c joined together; the lower id first).
    expect((await remove(d!, id, d!.user.id)).status).toBe(204);
    const heir = Math.min(b!.user.id, c!.user.id);
    expect(roles((await get(b!, id)).body.conversation)[heir]).toBe('owner');
    expect((await remove(b!, id, b!.user.id)).status).toBe(204);
    expect((await remove(c!, id, c!.user.id)).status).toBe(204);
    expect((await snapshot(id)).members).toEqual([]);
    for (const u of [a, b, c, d]) expectError(await get(u!, id), 404, 'not_found');
    // Nobody can reach it again, not by an old invite link either.
    expectError(await t.request('POST', `/api/v1/invites/${link.code}/join`, { token: e!.token }), 410, 'invite_invalid');
    expect((await snapshot(id)).members).toEqual([]);
  });
});

describe('roles', () => {
  test('the owner promotes, demotes and hands ownership over; nobody else changes roles; the owner is never demoted', async () => {
    const [a, b, c] = await users(3);
    const id = await group(t, a!, [b!, c!]);
    let before = await snapshot(id);
    expectError(await setRole(b!, id, c!.user.id, 'admin'), 403, 'forbidden');
    expectError(await setRole(a!, id, a!.user.id, 'member'), 403, 'forbidden');
    for (const role of ['boss', 1, null]) expectError(await setRole(a!, id, b!.user.id, role), 400, 'validation_failed');
    const [stranger] = await users(1);
    expectError(await setRole(a!, id, stranger!.user.id, 'admin'), 404, 'not_found');
    expect(await snapshot(id)).toEqual(before);

    const promoted = await setRole(a!, id, b!.user.id, 'admin');
    expect(promoted.status).toBe(200);
    expect(roles(promoted.body.conversation)[b!.user.id]).toBe('admin');
    // The same role again: nothing changes, nothing is told.
    before = await snapshot(id);
    expect((await setRole(a!, id, b!.user.id, 'admin')).status).toBe(200);
    expect(await snapshot(id)).toEqual(before);
    // An admin is still not the owner.
    expectError(await setRole(b!, id, c!.user.id, 'admin'), 403, 'forbidden');

    const handed = await setRole(a!, id, c!.user.id, 'owner');
    expect(handed.status).toBe(200);
    expect(roles(handed.body.conversation)).toEqual({ [a!.user.id]: 'admin', [b!.user.id]: 'admin', [c!.user.id]: 'owner' });
    expectError(await setRole(a!, id, b!.user.id, 'member'), 403, 'forbidden');
    expect((await systemRows(id)).map((s) => [s.event, s.role, s.user_ids])).toEqual([
      ['role_changed', 'admin', [b!.user.id]],
      ['owner_changed', undefined, [c!.user.id]],
    ]);
  });
});

describe("the group's info and settings", () => {
  test('a rename and an info change are told; unchanged fields are not; members edit info unless only_admins_can_edit_info', async () => {
    const [a, b] = await users(2);
    const id = await group(t, a!, [b!], 'Old');
    const res = await edit(b!, id, { name: ' New ', description: 'About us', avatar: 'https://example.com/g.png' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.conversation).toMatchObject({ name: 'New', description: 'About us', avatar: 'https://example.com/g.png' });
    expect((await systemRows(id)).map((s) => [s.event, s.name, s.content])).toEqual([
      ['renamed', 'New', `${b!.user.username} renamed the group to "New"`],
      ['info_changed', undefined, `${b!.user.username} changed the group's info`],
    ]);
    let before = await snapshot(id);
    expect((await edit(b!, id, { name: 'New', description: 'About us' })).status).toBe(200);
    expect(await snapshot(id)).toEqual(before);

    expectError(await edit(b!, id, { settings: { only_admins_can_edit_info: true } }), 403, 'forbidden');
    expect(await snapshot(id)).toEqual(before);
    expect((await edit(a!, id, { settings: { only_admins_can_edit_info: true } })).status).toBe(200);
    before = await snapshot(id);
    expectError(await edit(b!, id, { name: 'Mine' }), 403, 'forbidden');
    expectError(await edit(b!, id, { description: null }), 403, 'forbidden');
    expect(await snapshot(id)).toEqual(before);
    const cleared = await edit(a!, id, { description: null, avatar: null });
    expect(cleared.body.conversation).toMatchObject({ description: null, avatar: null });
  });

  test('bad bodies are refused with nothing changed', async () => {
    const [a, b] = await users(2);
    const id = await group(t, a!, [b!]);
    const before = await snapshot(id);
    const bodies = [
      {},
      { name: '' },
      { name: '   ' },
      { name: 'x'.repeat(101) },
      { name: 5 },
      { description: 'x'.repeat(1001) },
      { avatar: 'x'.repeat(3000) },
      { settings: {} },
      { settings: { only_admins_can_post: 'yes' } },
      { settings: { only_admins_can_post: 1 } },
      { settings: true },
      { settings: { everyone_is_admin: true } },
      { colour: 'red' },
    ];
    for (const body of bodies) {
      const res = await edit(a!, id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
    expect(await snapshot(id)).toEqual(before);
  });

  test('only_admins_can_post: members are refused (nothing stored), admins and the owner post', async () => {
    const [a, b, c] = await users(3);
    const id = await group(t, a!, [b!, c!]);
    expect((await setRole(a!, id, b!.user.id, 'admin')).status).toBe(200);
    expect((await edit(a!, id, { settings: { only_admins_can_post: true } })).status).toBe(200);
    const before = await snapshot(id);
    expectError(await t.request('POST', `/api/v1/conversations/${id}/messages`, { token: c!.token, body: { content: 'hi' } }), 403, 'forbidden');
    const ws = await sockets.connect(t, c!);
    ws.send({ type: 'message', conversation_id: id, content: 'over ws', client_id: 'c-1' });
    const err = await ws.next((f) => f.type === 'error');
    expect(err.code).toBe('forbidden');
    expect(await snapshot(id)).toEqual(before);
    await restSend(t, a!, id, 'owner');
    await restSend(t, b!, id, 'admin');
    // Made an admin: may post at once.
    expect((await setRole(a!, id, c!.user.id, 'admin')).status).toBe(200);
    await restSend(t, c!, id, 'now admin');
  });

  test('history_visible_to_new_members false: a new member sees from their joining on, in history, search and changes', async () => {
    const [a, b, c] = await users(3);
    const id = await group(t, a!, [b!]);
    expect((await edit(a!, id, { settings: { history_visible_to_new_members: false } })).status).toBe(200);
    const old = await restSend(t, a!, id, 'zebracrossing secret');
    const file = await uploaded(t, a!, id, pdfBytes(), 'plan.pdf');
    const withFile = await t.request('POST', `/api/v1/conversations/${id}/messages`, { token: a!.token, body: { attachment_ids: [file.id] } });
    expect(withFile.status).toBe(201);
    expect((await add(a!, id, [c!.user.id])).status).toBe(200);
    // Neither its file nor its receipts are there for the new member; the others still have them.
    expectError(await t.request('GET', `/api/v1/attachments/${file.id}`, { token: c!.token }), 404, 'not_found');
    expect((await t.request('GET', `/api/v1/attachments/${file.id}`, { token: b!.token })).status).toBe(200);
    expectError(await t.request('GET', `/api/v1/conversations/${id}/messages/${old.id}/receipts`, { token: c!.token }), 404, 'not_found');
    expect((await t.request('GET', `/api/v1/conversations/${id}/messages/${old.id}/receipts`, { token: b!.token })).status).toBe(200);
    await restSend(t, a!, id, 'zebracrossing welcome');
    const seen = await history(c!, id);
    expect(seen.body.messages.map((m: any) => m.content)).toEqual([`${a!.user.username} added ${c!.user.username}`, 'zebracrossing welcome']);
    expect(seen.body.has_more).toBe(false);
    const found = await t.request('GET', `/api/v1/search/messages?q=zebracrossing`, { token: c!.token });
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.results.map((r: any) => r.message.content)).toEqual(['zebracrossing welcome']);
    // The older message is not theirs to see: reacting to it is as for a message that is not there.
    const react = await t.request('PUT', `/api/v1/conversations/${id}/messages/${old.id}/reactions/${encodeURIComponent('👍')}`, { token: c!.token });
    expectError(react, 404, 'not_found');
    // Nor can they reply to it, or edit it: it is not there for them (404, not 403).
    const reply = await t.request('POST', `/api/v1/conversations/${id}/messages`, { token: c!.token, body: { content: 'r', reply_to_id: old.id } });
    expectError(reply, 400, 'validation_failed', 'reply_to_id');
    expectError(await t.request('PATCH', `/api/v1/conversations/${id}/messages/${old.id}`, { token: c!.token, body: { content: 'x' } }), 404, 'not_found');
    // Changes to it reach those who see it, never the new member.
    const [wb, wc] = await Promise.all([sockets.connect(t, b!), sockets.connect(t, c!)]);
    const base = `/api/v1/conversations/${id}/messages/${old.id}`;
    expect((await t.request('PATCH', base, { token: a!.token, body: { content: 'zebracrossing edited' } })).status).toBe(200);
    expect((await t.request('PUT', `${base}/reactions/${encodeURIComponent('🎉')}`, { token: b!.token })).status).toBe(200);
    await wb.next((f) => f.type === 'message_updated' && f.message.id === old.id);
    await wb.next((f) => f.type === 'reaction' && f.message_id === old.id);
    await wc.expectNone((f) => (f.type === 'message_updated' && f.message.id === old.id) || (f.type === 'reaction' && f.message_id === old.id));
    expect(JSON.stringify(wc.frames)).not.toContain('zebracrossing');
    // Members from before still see everything.
    expect((await history(b!, id)).body.messages.map((m: any) => m.system?.event ?? m.content)).toEqual([
      'info_changed',
      'zebracrossing edited',
      '',
      'member_added',
      'zebracrossing welcome',
    ]);
  });

  test('system messages cannot be edited, deleted for everyone or reacted to; hiding one for oneself is fine', async () => {
    const [a, b, c] = await users(3);
    const id = await group(t, a!, [b!]);
    expect((await add(a!, id, [c!.user.id])).status).toBe(200);
    const sys = (await history(a!, id)).body.messages.at(-1);
    expect(sys.type).toBe('system');
    const base = `/api/v1/conversations/${id}/messages/${sys.id}`;
    expectError(await t.request('PATCH', base, { token: a!.token, body: { content: 'rewritten' } }), 403, 'forbidden');
    expectError(await t.request('DELETE', `${base}?for=everyone`, { token: a!.token }), 403, 'forbidden');
    expectError(await t.request('PUT', `${base}/reactions/${encodeURIComponent('👍')}`, { token: b!.token }), 403, 'forbidden');
    expect((await messageRows(t, id)).at(-1)!.content).toBe(sys.content);
  });
});

describe('system messages and blocking', () => {
  test('a member the actor blocks sees the actor without presence in the system message, as in any message', async () => {
    const [a, b, c] = await users(3);
    const id = await group(t, a!, [b!]);
    expect((await t.request('POST', `/api/v1/users/${b!.user.id}/block`, { token: a!.token })).status).toBe(201);
    const [wb, wa] = await Promise.all([sockets.connect(t, b!), sockets.connect(t, a!)]);
    expect((await add(a!, id, [c!.user.id])).status).toBe(200);
    const toB = await wb.next(newMessageIn(id));
    const toA = await wa.next(newMessageIn(id));
    expect(toB.message.system.event).toBe('member_added');
    expect(toB.message.sender).toMatchObject({ id: a!.user.id, status: 'offline', last_seen: null });
    expect(toA.message.sender).toMatchObject({ id: a!.user.id, status: 'online' });
  });
});

describe('system messages in sync', () => {
  test('a member who was away gets every change as new_message frames in seq order; a new member with hidden history only from joining on', async () => {
    const [a, b, c] = await users(3);
    const id = await group(t, a!, [b!]);
    const held = (await get(b!, id)).body.conversation.last_seq;
    expect((await edit(a!, id, { name: 'Renamed', settings: { history_visible_to_new_members: false } })).status).toBe(200);
    await restSend(t, a!, id, 'hello');
    expect((await add(a!, id, [c!.user.id])).status).toBe(200);

    const ws = await sockets.connect(t, b!);
    ws.send({ type: 'sync', since: { [id]: held } });
    const synced = await ws.next((f) => f.type === 'synced');
    const replayed = ws.frames.filter(newMessageIn(id)).map((f) => [f.message.seq, f.message.type, f.message.system?.event ?? f.message.content]);
    expect(replayed).toEqual([
      [held + 1, 'system', 'renamed'],
      [held + 2, 'system', 'info_changed'],
      [held + 3, 'text', 'hello'],
      [held + 4, 'system', 'member_added'],
    ]);
    expect(synced.conversations[id]).toBe(held + 4);

    // The new member asks for everything: only what they may see comes.
    const wc = await sockets.connect(t, c!);
    wc.send({ type: 'sync', since: { [id]: 0 } });
    await wc.next((f) => f.type === 'synced');
    expect(wc.frames.filter(newMessageIn(id)).map((f) => f.message.system?.event ?? f.message.content)).toEqual(['member_added']);
  });
});

describe('invite links', () => {
  const invite = (who: User, id: number, body: unknown = {}) => t.request('POST', `/api/v1/conversations/${id}/invites`, { token: who.token, body });
  const join = (who: User, code: string) => t.request('POST', `/api/v1/invites/${code}/join`, { token: who.token });

  test('an admin makes one; anyone previews and joins it once; uses count; revoked or used up it is gone (410)', async () => {
    const [a, b, c, d, e] = await users(5);
    const id = await group(t, a!, [b!], 'Club');
    expectError(await invite(b!, id), 403, 'forbidden');
    const made = await invite(a!, id, { max_uses: 2, expires_in: 3600 });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const inv = made.body.invite;
    expect(inv).toEqual({
      code: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      url: expect.stringMatching(new RegExp(`/api/v1/invites/${inv.code}$`)),
      conversation_id: id,
      created_by: a!.user.id,
      expires_at: expect.stringMatching(ISO),
      max_uses: 2,
      uses: 0,
      created_at: expect.stringMatching(ISO),
    });
    expect(Date.parse(inv.expires_at) - Date.now()).toBeGreaterThan(3500_000);

    const preview = await t.request('GET', `/api/v1/invites/${inv.code}`, { token: c!.token });
    expect(preview.status).toBe(200);
    expect(preview.body.conversation).toEqual({ id, name: 'Club', description: null, avatar: null, member_count: 2 });

    const joined = await join(c!, inv.code);
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    expect(roles(joined.body.conversation)[c!.user.id]).toBe('member');
    expect((await systemRows(id)).at(-1)).toEqual(expect.objectContaining({ event: 'member_joined', actor_id: c!.user.id }));
    // Again: nothing changes, no use counted.
    const before = await snapshot(id);
    expect((await join(c!, inv.code)).status).toBe(200);
    expect(await snapshot(id)).toEqual(before);
    expect((await join(d!, inv.code)).status).toBe(200);
    expectError(await join(e!, inv.code), 410, 'invite_invalid');
    expectError(await t.request('GET', `/api/v1/invites/${inv.code}`, { token: e!.token }), 410, 'invite_invalid');
    expect((await t.request('GET', `/api/v1/conversations/${id}/invites`, { token: a!.token })).body.invites).toEqual([]);

    const second = (await invite(a!, id)).body.invite;
    expect(second).toMatchObject({ expires_at: null, max_uses: null });
    const listed = await t.request('GET', `/api/v1/conversations/${id}/invites`, { token: a!.token });
    expect(listed.body.invites.map((i: any) => i.code)).toEqual([second.code]);
    expectError(await t.request('DELETE', `/api/v1/invites/${second.code}`, { token: b!.token }), 403, 'forbidden');
    expectError(await t.request('DELETE', `/api/v1/invites/${second.code}`, { token: e!.token }), 404, 'not_found');
    expect((await t.request('DELETE', `/api/v1/invites/${second.code}`, { token: a!.token })).status).toBe(204);
    expectError(await join(e!, second.code), 410, 'invite_invalid');
    expectError(await join(e!, 'nosuchcode'), 404, 'not_found');
    expectError(await join(e!, 'bad%20code'), 400, 'validation_failed');
  });

  test('an invite expires after expires_in: preview and join are 410, the list drops it', async () => {
    const [a, b] = await users(2);
    const id = await group(t, a!, []);
    const inv = (await invite(a!, id, { expires_in: 60 })).body.invite;
    clock.advance(59_000);
    expect((await t.request('GET', `/api/v1/invites/${inv.code}`, { token: b!.token })).status).toBe(200);
    clock.advance(2_000);
    expectError(await t.request('GET', `/api/v1/invites/${inv.code}`, { token: b!.token }), 410, 'invite_invalid');
    expectError(await join(b!, inv.code), 410, 'invite_invalid');
    expect((await t.request('GET', `/api/v1/conversations/${id}/invites`, { token: a!.token })).body.invites).toEqual([]);
    expect((await snapshot(id)).members.length).toBe(1);
  });

  test('concurrent joins never pass max_uses; joining a full group is refused and uses nothing', async () => {
    const people = await users(5);
    const id = await group(t, people[0]!, []);
    const inv = (await invite(people[0]!, id, { max_uses: 2 })).body.invite;
    const results = await Promise.all(people.slice(1).map((p) => join(p, inv.code)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 410, 410]);
    expect((await snapshot(id)).members.length).toBe(3);

    const full = await group(t, people[0]!, people.slice(1, 4));
    const more = await users(MAX_MEMBERS);
    const open = (await invite(people[0]!, full)).body.invite;
    let status = 200;
    for (const p of more) {
      const r = await join(p, open.code);
      status = r.status;
      if (status !== 200) {
        expectError(r, 422, 'group_full');
        break;
      }
    }
    expect(status).toBe(422);
    expect((await snapshot(full)).members.length).toBe(MAX_MEMBERS);
    const uses = await t.app.database.db.selectFrom('conversation_invites').select('uses').where('code', '=', open.code).executeTakeFirstOrThrow();
    expect(uses.uses).toBe(MAX_MEMBERS - 4);
  });

  test('bad bodies are refused', async () => {
    const [a] = await users(1);
    const id = await group(t, a!, []);
    for (const body of [{ expires_in: 10 }, { expires_in: '3600' }, { max_uses: 0 }, { max_uses: 1.5 }, { max_uses: 10 ** 9 }, { other: 1 }]) {
      expectError(await invite(a!, id, body), 400, 'validation_failed');
    }
    expect((await t.request('GET', `/api/v1/conversations/${id}/invites`, { token: a!.token })).body.invites).toEqual([]);
  });
});
