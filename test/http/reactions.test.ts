import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { USER_KEYS, expectError, expectUserFields } from '../harness/expect.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { direct, group, restSend, Sockets, type User } from '../realtime/fixtures.js';

/**
 * Reactions over REST: which emoji are one emoji, idempotent add and remove, the limit per
 * user and message, `me` as each viewer sees it, and who reacted, page by page.
 */

const sockets = new Sockets();
afterEach(() => sockets.closeAll());

let t: TestApp;
let a: User, b: User, c: User, d: User, outsider: User;
/** a (owner), b, c, d */
let conv: number;
/** outsider ↔ d */
let other: number;

beforeAll(async () => {
  t = await startApp();
  [a, b, c, d, outsider] = await Promise.all([registerUser(t), registerUser(t), registerUser(t), registerUser(t), registerUser(t)]);
  conv = await group(t, a, [b, c, d], 'reactions');
  other = await direct(t, outsider, d);
});
afterAll(() => t?.close());

const path = (conversationId: number, messageId: number, emoji: string) =>
  `/api/v1/conversations/${conversationId}/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
const react = (who: User, m: { id: number; conversation_id: number }, emoji: string) =>
  t.request('PUT', path(m.conversation_id, m.id, emoji), { token: who.token });
const unreact = (who: User, m: { id: number; conversation_id: number }, emoji: string) =>
  t.request('DELETE', path(m.conversation_id, m.id, emoji), { token: who.token });
const whoReacted = (who: User, m: { id: number; conversation_id: number }, emoji: string, query = '') =>
  t.request('GET', `${path(m.conversation_id, m.id, emoji)}${query}`, { token: who.token });

/** The message as `who` reads it in history. */
async function read(who: User, m: { id: number; seq: number; conversation_id: number }): Promise<any> {
  const res = await t.request('GET', `/api/v1/conversations/${m.conversation_id}/messages?after_seq=${m.seq - 1}&limit=1`, {
    token: who.token,
  });
  expect(res.status).toBe(200);
  expect(res.body.messages[0]?.id).toBe(m.id);
  return res.body.messages[0];
}

async function modSeq(conversationId: number): Promise<number> {
  const res = await t.request('GET', `/api/v1/conversations/${conversationId}`, { token: a.token });
  expect(res.status).toBe(200);
  return res.body.conversation.mod_seq;
}

/** After `marks`, no `reaction` frame came to `watchers` before a message sent now. */
async function expectNoReactionFrames(watchers: WsClient[], marks: number[]): Promise<void> {
  const sentinel = await restSend(t, a, conv, `sentinel ${Math.random()}`);
  for (const [i, ws] of watchers.entries()) {
    const frame = await ws.next((f) => f.type === 'new_message' && f.message.id === sentinel.id);
    const isChange = (f: Frame) => f.type === 'reaction' || f.type === 'message_updated';
    expect(ws.frames.slice(marks[i], ws.frames.indexOf(frame)).filter(isChange)).toEqual([]);
  }
}

/** 25 distinct single emoji. */
const EMOJI = [...'😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😗😙😚😋😛😝😜🤪'];

describe('PUT and DELETE …/reactions/:emoji', () => {
  test('PUT: 200 {message} with {emoji, count, me: true} and a higher mod_seq; again: the same, count 1, no second frame', async () => {
    const m = await restSend(t, a, conv, 'react to me');
    const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
    const res = await react(b, m, '👍');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Object.keys(res.body)).toEqual(['message']);
    expect(res.body.message).toMatchObject({ id: m.id, seq: m.seq, content: 'react to me' });
    expect(res.body.message.reactions).toEqual([{ emoji: '👍', count: 1, me: true }]);
    expect(res.body.message.mod_seq).toBeGreaterThan(m.mod_seq);
    expect(await modSeq(conv)).toBe(res.body.message.mod_seq);
    for (const ws of watchers) {
      await ws.next((f) => f.type === 'reaction' && f.message_id === m.id);
    }

    const marks = watchers.map((ws) => ws.frames.length);
    const again = await react(b, m, '👍');
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.message.reactions).toEqual([{ emoji: '👍', count: 1, me: true }]);
    expect(again.body.message.mod_seq).toBe(res.body.message.mod_seq);
    expect(await modSeq(conv)).toBe(res.body.message.mod_seq);
    await expectNoReactionFrames(watchers, marks);
    expect((await read(a, m)).reactions).toEqual([{ emoji: '👍', count: 1, me: false }]);
  });

  test('DELETE: 200 {message} without it; again: 200, nothing changes, no frame; removing one never reacted is the same', async () => {
    const m = await restSend(t, a, conv, 'unreact');
    await react(b, m, '🔥');
    await react(c, m, '🔥');
    const res = await unreact(b, m, '🔥');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.message.reactions).toEqual([{ emoji: '🔥', count: 1, me: false }]);
    const after = res.body.message.mod_seq;
    expect(await modSeq(conv)).toBe(after);

    const watchers = [await sockets.connect(t, a), await sockets.connect(t, c)];
    const marks = watchers.map((ws) => ws.frames.length);
    const again = await unreact(b, m, '🔥');
    expect(again.status).toBe(200);
    expect(again.body.message.reactions).toEqual([{ emoji: '🔥', count: 1, me: false }]);
    expect(again.body.message.mod_seq).toBe(after);
    const never = await unreact(d, m, '🎈');
    expect(never.status).toBe(200);
    expect(never.body.message.reactions).toEqual([{ emoji: '🔥', count: 1, me: false }]);
    expect(await modSeq(conv)).toBe(after);
    await expectNoReactionFrames(watchers, marks);

    expect((await unreact(c, m, '🔥')).body.message.reactions).toEqual([]);
    expect((await read(a, m)).reactions).toEqual([]);
  });

  test.each([
    ['a thumb', '👍'],
    ['a thumb with a skin tone', '👍🏽'],
    ['a ZWJ sequence', '👩‍💻'],
    ['a family (ZWJ)', '👨‍👩‍👧'],
    ['a flag', '🇫🇷'],
    ['a heart with VS16', '❤️'],
    ['a keycap', '1️⃣'],
    ['a tag-sequence flag', '🏴󠁧󠁢󠁳󠁣󠁴󠁿'],
  ])('one emoji is accepted: %s', async (_name, emoji) => {
    const m = await restSend(t, a, conv, `for ${emoji}`);
    const res = await react(b, m, emoji);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.message.reactions).toEqual([{ emoji, count: 1, me: true }]);
    expect((await read(c, m)).reactions).toEqual([{ emoji, count: 1, me: false }]);
  });

  test.each([
    ['two letters', 'ab'],
    ['two emoji', '👍👍'],
    ['an emoji and a letter', '👍a'],
    ['a letter', 'a'],
    ['a digit', '1'],
    ['a space', ' '],
    ['a word', 'thumbsup'],
    ['a shortcode', ':+1:'],
    ['empty', ''],
  ])('not one emoji is refused: %s → 400 validation_failed (field emoji), nothing changes', async (_name, emoji) => {
    const m = await restSend(t, a, conv, `not ${emoji}`);
    const before = await modSeq(conv);
    const res = await react(b, m, emoji);
    expectError(res, 400, 'validation_failed');
    expect(res.body.field).toBe('emoji');
    expect((await read(b, m)).reactions).toEqual([]);
    expect(await modSeq(conv)).toBe(before);
  });

  test('reactions are listed in the order each emoji was first used; me is per viewer', async () => {
    const m = await restSend(t, a, conv, 'order');
    await react(c, m, '🎉');
    await react(a, m, '👍');
    await react(b, m, '🎉');
    await react(d, m, '😮');
    await react(b, m, '👍');
    const expected = (viewer: User) => [
      { emoji: '🎉', count: 2, me: viewer === c || viewer === b },
      { emoji: '👍', count: 2, me: viewer === a || viewer === b },
      { emoji: '😮', count: 1, me: viewer === d },
    ];
    for (const viewer of [a, b, c, d]) expect((await read(viewer, m)).reactions).toEqual(expected(viewer));
    // And in the whole history page the same.
    const page = await t.request('GET', `/api/v1/conversations/${conv}/messages?limit=100`, { token: d.token });
    expect(page.body.messages.find((x: any) => x.id === m.id).reactions).toEqual(expected(d));
  });

  test('two users, one emoji: count 2, me true for each of them, false for a third member', async () => {
    const m = await restSend(t, d, conv, 'together');
    const first = await react(a, m, '💯');
    expect(first.body.message.reactions).toEqual([{ emoji: '💯', count: 1, me: true }]);
    const second = await react(b, m, '💯');
    expect(second.body.message.reactions).toEqual([{ emoji: '💯', count: 2, me: true }]);
    expect((await read(a, m)).reactions).toEqual([{ emoji: '💯', count: 2, me: true }]);
    expect((await read(b, m)).reactions).toEqual([{ emoji: '💯', count: 2, me: true }]);
    expect((await read(c, m)).reactions).toEqual([{ emoji: '💯', count: 2, me: false }]);
    expect((await read(d, m)).reactions).toEqual([{ emoji: '💯', count: 2, me: false }]);
  });

  test('at most 20 distinct reactions per user and message: the 21st → 422 too_many_reactions, nothing changes', async () => {
    const m = await restSend(t, a, conv, 'so many feelings');
    for (const emoji of EMOJI.slice(0, 20)) {
      const res = await react(b, m, emoji);
      expect(res.status, `${emoji}: ${JSON.stringify(res.body)}`).toBe(200);
    }
    const full = await read(b, m);
    expect(full.reactions).toHaveLength(20);
    const before = await modSeq(conv);

    const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
    const marks = watchers.map((ws) => ws.frames.length);
    expectError(await react(b, m, EMOJI[20]!), 422, 'too_many_reactions');
    expectError(await react(b, m, EMOJI[21]!), 422, 'too_many_reactions');
    expect(await read(b, m)).toEqual(full);
    expect(await modSeq(conv)).toBe(before);
    await expectNoReactionFrames(watchers, marks);

    // One already there is no 21st.
    expect((await react(b, m, EMOJI[0]!)).status).toBe(200);
    // The limit is per user: another member reacts with a 21st emoji.
    const other = await react(c, m, EMOJI[20]!);
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    expect(other.body.message.reactions).toHaveLength(21);
    // And after taking one back, b has room for one more.
    expect((await unreact(b, m, EMOJI[5]!)).status).toBe(200);
    const room = await react(b, m, EMOJI[21]!);
    expect(room.status, JSON.stringify(room.body)).toBe(200);
    expect(room.body.message.reactions.filter((r: any) => r.me)).toHaveLength(20);
    // The limit is per message: the same user reacts freely elsewhere.
    const elsewhere = await restSend(t, a, conv, 'elsewhere');
    expect((await react(b, elsewhere, EMOJI[22]!)).status).toBe(200);
  });

  test('reacting to a deleted message → 409 message_deleted; nothing changes', async () => {
    const m = await restSend(t, a, conv, 'deleted soon');
    await react(b, m, '👍');
    const del = await t.request('DELETE', `/api/v1/conversations/${conv}/messages/${m.id}`, { token: a.token });
    expect(del.status).toBe(200);
    const before = await modSeq(conv);
    expectError(await react(b, m, '👍'), 409, 'message_deleted');
    expectError(await react(c, m, '🎉'), 409, 'message_deleted');
    const tomb = await read(c, m);
    expect(tomb).toMatchObject({ deleted_for: 'everyone', reactions: [] });
    expect(await modSeq(conv)).toBe(before);
  });

  test('not a member, no such message, a message of another conversation: 404 for PUT, DELETE and GET; nothing changes', async () => {
    const m = await restSend(t, a, conv, 'members only');
    await react(c, m, '👍');
    const elsewhere = await restSend(t, outsider, other, 'other place');
    const before = await modSeq(conv);
    for (const [method, extra] of [['PUT', ''], ['DELETE', ''], ['GET', '']] as const) {
      const req = (who: User, conversationId: number, messageId: number) =>
        t.request(method, `${path(conversationId, messageId, '👍')}${extra}`, { token: who.token });
      expectError(await req(outsider, conv, m.id), 404, 'not_found');
      expectError(await req(a, conv, 987654321), 404, 'not_found');
      expectError(await req(a, conv, elsewhere.id), 404, 'not_found');
      expectError(await req(outsider, conv, elsewhere.id), 404, 'not_found');
      expectError(await req(a, 99999999, m.id), 404, 'not_found');
    }
    expect((await read(a, m)).reactions).toEqual([{ emoji: '👍', count: 1, me: false }]);
    expect(await modSeq(conv)).toBe(before);
    const otherMessage = await t.request('GET', `/api/v1/conversations/${other}/messages`, { token: d.token });
    expect(otherMessage.body.messages.find((x: any) => x.id === elsewhere.id).reactions).toEqual([]);
  });
});

describe('GET …/reactions/:emoji (who reacted)', () => {
  test('the users in reaction order; limit=1 pages through with next_cursor; a removed reaction leaves the list', async () => {
    const m = await restSend(t, a, conv, 'who?');
    for (const who of [c, a, d]) expect((await react(who, m, '❤️')).status).toBe(200);
    await react(b, m, '👍');

    const all = await whoReacted(b, m, '❤️');
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(Object.keys(all.body).sort()).toEqual(['next_cursor', 'users']);
    expect(all.body.users.map((u: any) => u.id)).toEqual([c, a, d].map((u) => u.user.id));
    expect(all.body.next_cursor).toBeNull();
    for (const user of all.body.users) {
      expect(Object.keys(user).sort()).toEqual([...USER_KEYS].sort());
      expectUserFields(user);
    }
    expect(all.body.users[0].username).toBe(c.user.username);

    const pages: number[][] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 5; i++) {
      const query: string = `?limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = await whoReacted(b, m, '❤️', query);
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      pages.push(page.body.users.map((u: any) => u.id));
      cursor = page.body.next_cursor;
      if (cursor === null) break;
      expect(typeof cursor).toBe('string');
    }
    // A last, empty page is allowed only if the server could not tell it was the end.
    const nonEmpty = pages.filter((p) => p.length > 0);
    expect(nonEmpty).toEqual([[c.user.id], [a.user.id], [d.user.id]]);
    expect(pages.length).toBeLessThanOrEqual(4);
    expect(cursor).toBeNull();

    const two = await whoReacted(b, m, '❤️', '?limit=2');
    expect(two.body.users.map((u: any) => u.id)).toEqual([c.user.id, a.user.id]);
    expect(typeof two.body.next_cursor).toBe('string');
    const rest = await whoReacted(b, m, '❤️', `?limit=2&cursor=${encodeURIComponent(two.body.next_cursor)}`);
    expect(rest.body.users.map((u: any) => u.id)).toEqual([d.user.id]);
    expect(rest.body.next_cursor).toBeNull();

    expect((await whoReacted(c, m, '👍')).body).toMatchObject({ users: [expect.objectContaining({ id: b.user.id })], next_cursor: null });
    expect((await whoReacted(c, m, '🎈')).body).toEqual({ users: [], next_cursor: null });

    await unreact(a, m, '❤️');
    expect((await whoReacted(b, m, '❤️')).body.users.map((u: any) => u.id)).toEqual([c.user.id, d.user.id]);
  });

  test('bad limit or cursor → 400 validation_failed', async () => {
    const m = await restSend(t, a, conv, 'paging');
    await react(b, m, '👍');
    for (const query of ['?limit=0', '?limit=101', '?limit=x', '?limit=-1', '?cursor=not-a-cursor']) {
      expectError(await whoReacted(a, m, '👍', query), 400, 'validation_failed');
    }
  });
});
