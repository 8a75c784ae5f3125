import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { envConfig, registerUser, startApp, TestClock, type TestApp } from '../harness/app.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { direct, errorFrame, group, restSend, Sockets, type User } from './fixtures.js';

/**
 * Edits, deletes and reactions on the WebSocket: the client frames, the live frames every
 * socket of every member receives (and, for a delete for me, only the caller's own), and
 * `sync` with `changes_since` bringing an offline device up to date.
 */

const sockets = new Sockets();
afterEach(() => sockets.closeAll());

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const msgPath = (conv: number, id: number) => `/api/v1/conversations/${conv}/messages/${id}`;

const updatedOf = (id: number) => (f: Frame) => f.type === 'message_updated' && f.message.id === id;
const reactionOf = (id: number) => (f: Frame) => f.type === 'reaction' && f.message_id === id;
const isChange = (f: Frame) => f.type === 'message_updated' || f.type === 'reaction';

async function modSeq(who: User, conv: number): Promise<number> {
  const res = await t.request('GET', `/api/v1/conversations/${conv}`, { token: who.token });
  expect(res.status).toBe(200);
  return res.body.conversation.mod_seq;
}

/** The message as `who` reads it over REST. */
async function read(who: User, conv: number, m: { id: number; seq: number }): Promise<any> {
  const res = await t.request('GET', `/api/v1/conversations/${conv}/messages?after_seq=${m.seq - 1}&limit=1`, { token: who.token });
  expect(res.status).toBe(200);
  expect(res.body.messages[0]?.id).toBe(m.id);
  return res.body.messages[0];
}

/**
 * No change frame reached `watchers` since `marks`: a message `sender` sends now arrives
 * with nothing about a change before it. `silent` sockets (not in the conversation) are
 * checked up to their pong.
 */
async function expectNoChangeFrames(
  sender: User,
  conv: number,
  watchers: WsClient[],
  marks: number[],
  silent: { ws: WsClient; mark: number }[] = [],
): Promise<void> {
  const sentinel = await restSend(t, sender, conv, `sentinel ${Math.random()}`);
  for (const [i, ws] of watchers.entries()) {
    const frame = await ws.next((f) => f.type === 'new_message' && f.message.id === sentinel.id);
    expect(ws.frames.slice(marks[i], ws.frames.indexOf(frame)).filter(isChange)).toEqual([]);
  }
  for (const { ws, mark } of silent) {
    ws.send({ type: 'ping' });
    const pong = await ws.nextOfType('pong');
    expect(ws.frames.slice(mark, ws.frames.indexOf(pong)).filter(isChange)).toEqual([]);
  }
}

const marksOf = (watchers: WsClient[]) => watchers.map((ws) => ws.frames.length);

/** a (owner), b, c in a group; an outsider elsewhere. */
async function world() {
  const [a, b, c, outsider] = await Promise.all([registerUser(t), registerUser(t), registerUser(t), registerUser(t)]);
  const conv = await group(t, a, [b, c], 'changes');
  const elsewhere = await direct(t, outsider, c);
  return { a, b, c, outsider, conv, elsewhere };
}

describe('live frames', () => {
  test('an edit frame: message_updated with the new message to every socket of every member, the editor\'s own included; none to others', async () => {
    const { a, b, c, outsider, conv } = await world();
    const m = await restSend(t, a, conv, 'typo');
    const [a1, a2, b1, c1, o1] = [
      await sockets.connect(t, a),
      await sockets.connect(t, a),
      await sockets.connect(t, b),
      await sockets.connect(t, c),
      await sockets.connect(t, outsider),
    ];
    const outsiderMark = o1.frames.length;
    a1.send({ type: 'edit', conversation_id: conv, message_id: m.id, content: 'fixed' });
    const frames = await Promise.all([a1, a2, b1, c1].map((ws) => ws.next(updatedOf(m.id))));
    const now = await modSeq(a, conv);
    for (const f of frames) {
      expect(Object.keys(f).sort()).toEqual(['message', 'type']);
      expect(f.message).toMatchObject({ id: m.id, seq: m.seq, conversation_id: conv, content: 'fixed', deleted_for: null, mod_seq: now });
      expect(f.message.edited_at).toEqual(expect.any(String));
    }
    expect((await read(b, conv, m)).edited_at).toBe(frames[0]!.message.edited_at);
    await expectNoChangeFrames(a, conv, [a1, a2, b1, c1], marksOf([a1, a2, b1, c1]), [{ ws: o1, mark: outsiderMark }]);
    // Exactly one each.
    for (const ws of [a1, a2, b1, c1]) expect(ws.frames.filter(updatedOf(m.id))).toHaveLength(1);
  });

  test('a REST edit, delete and reaction send the same frames, to the actor\'s own sockets too', async () => {
    const { a, b, conv } = await world();
    const m = await restSend(t, a, conv, 'over REST');
    const [a1, b1] = [await sockets.connect(t, a), await sockets.connect(t, b)];

    const edit = await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: 'over REST, edited' } });
    expect(edit.status).toBe(200);
    for (const ws of [a1, b1]) {
      expect((await ws.next(updatedOf(m.id))).message).toMatchObject({ content: 'over REST, edited', mod_seq: edit.body.message.mod_seq });
    }

    const put = await t.request('PUT', `${msgPath(conv, m.id)}/reactions/${encodeURIComponent('👍')}`, { token: b.token });
    expect(put.status).toBe(200);
    for (const ws of [a1, b1]) {
      expect(await ws.next(reactionOf(m.id))).toEqual({
        type: 'reaction',
        conversation_id: conv,
        message_id: m.id,
        user_id: b.user.id,
        emoji: '👍',
        on: true,
        count: 1,
        mod_seq: put.body.message.mod_seq,
      });
    }

    const del = await t.request('DELETE', msgPath(conv, m.id), { token: a.token });
    expect(del.status).toBe(200);
    for (const ws of [a1, b1]) {
      expect((await ws.next(updatedOf(m.id))).message).toMatchObject({
        content: '',
        deleted_for: 'everyone',
        reactions: [],
        attachments: [],
        media_url: null,
        mod_seq: del.body.message.mod_seq,
      });
    }
  });

  test('message_updated shows the message as each recipient sees it: reactions[].me is theirs', async () => {
    const { a, b, c, conv } = await world();
    const m = await restSend(t, a, conv, 'react, then edit');
    const [a1, b1, c1] = [await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, c)];
    b1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '👍', on: true });
    await Promise.all([a1, b1, c1].map((ws) => ws.next(reactionOf(m.id))));
    c1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '🎉', on: true });
    await Promise.all([a1, b1, c1].map((ws) => ws.next(reactionOf(m.id))));

    a1.send({ type: 'edit', conversation_id: conv, message_id: m.id, content: 'edited with reactions' });
    const [fa, fb, fc] = await Promise.all([a1, b1, c1].map((ws) => ws.next(updatedOf(m.id))));
    expect(fa!.message.reactions).toEqual([{ emoji: '👍', count: 1, me: false }, { emoji: '🎉', count: 1, me: false }]);
    expect(fb!.message.reactions).toEqual([{ emoji: '👍', count: 1, me: true }, { emoji: '🎉', count: 1, me: false }]);
    expect(fc!.message.reactions).toEqual([{ emoji: '👍', count: 1, me: false }, { emoji: '🎉', count: 1, me: true }]);
    for (const f of [fa, fb, fc]) expect(f!.message.content).toBe('edited with reactions');
  });

  test('message_updated carries each member\'s own status: the sender\'s from everyone\'s pointers, a reader\'s from theirs', async () => {
    const { a, b, c, conv } = await world();
    const m = await restSend(t, a, conv, 'who has read this');
    const [a1, b1, c1] = [await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, c)];
    const status = async () => {
      a1.send({ type: 'edit', conversation_id: conv, message_id: m.id, content: `edit ${Math.random()}` });
      const frames = await Promise.all([a1, b1, c1].map((ws) => ws.next(updatedOf(m.id))));
      return frames.map((f) => f.message.status);
    };
    const mark = async (who: User, kind: 'read' | 'delivered') => {
      const res = await t.request('POST', `/api/v1/conversations/${conv}/${kind}`, { token: who.token, body: { seq: m.seq } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    };
    expect(await status()).toEqual(['sent', 'delivered', 'delivered']);
    await mark(b, 'read');
    expect(await status()).toEqual(['sent', 'read', 'delivered']);
    await mark(c, 'delivered');
    expect(await status()).toEqual(['delivered', 'read', 'delivered']);
    await mark(c, 'read');
    expect(await status()).toEqual(['read', 'read', 'read']);
    // A reader who keeps read receipts private never counts as having read, for the sender.
    const patch = await t.request('PATCH', '/api/v1/users/me', { token: c.token, body: { share_read_receipts: false } });
    expect(patch.status).toBe(200);
    expect(await status()).toEqual(['delivered', 'read', 'read']);
  });

  test('the reaction frame counts the emoji after the change: up as members add it, down as they take it back', async () => {
    const { a, b, c, conv } = await world();
    const m = await restSend(t, a, conv, 'count me');
    const a1 = await sockets.connect(t, a);
    const counts: number[] = [];
    for (const [who, on] of [
      [b, true],
      [c, true],
      [a, true],
      [c, false],
      [b, false],
      [a, false],
    ] as const) {
      const res = await t.request(on ? 'PUT' : 'DELETE', `${msgPath(conv, m.id)}/reactions/${encodeURIComponent('👍')}`, {
        token: who.token,
      });
      expect(res.status).toBe(200);
      const frame = await a1.next(reactionOf(m.id));
      expect(frame).toMatchObject({ user_id: who.user.id, on, mod_seq: res.body.message.mod_seq });
      counts.push(frame.count);
      expect(res.body.message.reactions).toEqual(frame.count === 0 ? [] : [{ emoji: '👍', count: frame.count, me: on }]);
    }
    expect(counts).toEqual([1, 2, 3, 2, 1, 0]);
  });

  test('a delete frame (for everyone by default, or said so): the tombstone to every socket of every member; again: nothing', async () => {
    const { a, b, c, conv } = await world();
    const m1 = await restSend(t, a, conv, 'delete by default');
    const m2 = await restSend(t, a, conv, 'delete for everyone');
    const watchers = [await sockets.connect(t, a), await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, c)];
    const [a1] = watchers as [WsClient];

    a1.send({ type: 'delete', conversation_id: conv, message_id: m1.id });
    a1.send({ type: 'delete', conversation_id: conv, message_id: m2.id, for: 'everyone' });
    for (const ws of watchers) {
      for (const m of [m1, m2]) {
        const f = await ws.next(updatedOf(m.id));
        expect(f.message).toMatchObject({ id: m.id, seq: m.seq, content: '', deleted_for: 'everyone', reactions: [], attachments: [], media_url: null });
        expect(f.message.deleted_at).toEqual(expect.any(String));
      }
    }
    const marks = marksOf(watchers);
    a1.send({ type: 'delete', conversation_id: conv, message_id: m1.id });
    await expectNoChangeFrames(a, conv, watchers, marks);
    expect(a1.all('error')).toEqual([]);
  });

  test('a delete for me (frame or REST) tells the caller\'s own sockets only; other members get nothing', async () => {
    const { a, b, c, conv } = await world();
    const m1 = await restSend(t, a, conv, 'hide over WS');
    const m2 = await restSend(t, a, conv, 'hide over REST');
    const [b1, b2, a1, c1] = [await sockets.connect(t, b), await sockets.connect(t, b), await sockets.connect(t, a), await sockets.connect(t, c)];
    const marks = marksOf([a1, c1]);

    b1.send({ type: 'delete', conversation_id: conv, message_id: m1.id, for: 'me' });
    const res = await t.request('DELETE', `${msgPath(conv, m2.id)}?for=me`, { token: b.token });
    expect(res.status).toBe(200);
    for (const ws of [b1, b2]) {
      for (const m of [m1, m2]) {
        const f = await ws.next(updatedOf(m.id));
        expect(f.message).toMatchObject({ id: m.id, seq: m.seq, content: '', deleted_for: 'me', reactions: [], attachments: [] });
        expect(f.message.deleted_at).toEqual(expect.any(String));
      }
    }
    await expectNoChangeFrames(a, conv, [a1, c1], marks);
    expect((await read(a, conv, m1)).content).toBe('hide over WS');
  });

  test('react frames on and off: a reaction frame with the count after the change to every socket of every member; again: nothing', async () => {
    const { a, b, c, conv } = await world();
    const m = await restSend(t, a, conv, 'feel something');
    const watchers = [await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, b), await sockets.connect(t, c)];
    const [a1, b1, , c1] = watchers as [WsClient, WsClient, WsClient, WsClient];

    const expectReaction = async (user: User, emoji: string, on: boolean, count: number) => {
      const frames = await Promise.all(watchers.map((ws) => ws.next(reactionOf(m.id))));
      const now = await modSeq(a, conv);
      for (const f of frames) {
        expect(f).toEqual({ type: 'reaction', conversation_id: conv, message_id: m.id, user_id: user.user.id, emoji, on, count, mod_seq: now });
      }
    };
    b1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '👍🏽', on: true });
    await expectReaction(b, '👍🏽', true, 1);
    c1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '👍🏽', on: true });
    await expectReaction(c, '👍🏽', true, 2);
    a1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '🇫🇷', on: true });
    await expectReaction(a, '🇫🇷', true, 1);
    b1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '👍🏽', on: false });
    await expectReaction(b, '👍🏽', false, 1);

    const marks = marksOf(watchers);
    c1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '👍🏽', on: true });
    b1.send({ type: 'react', conversation_id: conv, message_id: m.id, emoji: '👍🏽', on: false });
    c1.send({ type: 'ping' });
    b1.send({ type: 'ping' });
    await Promise.all([c1.nextOfType('pong'), b1.nextOfType('pong')]);
    await expectNoChangeFrames(a, conv, watchers, marks);
    expect((await read(b, conv, m)).reactions).toEqual([
      { emoji: '👍🏽', count: 1, me: false },
      { emoji: '🇫🇷', count: 1, me: false },
    ]);
    for (const ws of watchers) expect(ws.all('error')).toEqual([]);
  });
});

describe('a message hidden for me stays hidden from me', () => {
  test('when the sender edits it, the hider\'s sockets get no new content: any message_updated they get shows it hidden', async () => {
    const { a, b, c, conv } = await world();
    const m = await restSend(t, a, conv, 'b hides this');
    expect((await t.request('DELETE', `${msgPath(conv, m.id)}?for=me`, { token: b.token })).status).toBe(200);
    const [a1, b1, c1] = [await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, c)];
    const mark = b1.frames.length;

    const edit = await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: 'the secret, edited' } });
    expect(edit.status).toBe(200);
    expect((await c1.next(updatedOf(m.id))).message.content).toBe('the secret, edited');
    await a1.next(updatedOf(m.id));
    const sentinel = await restSend(t, a, conv, 'after the edit');
    const seen = await b1.next((f) => f.type === 'new_message' && f.message.id === sentinel.id);
    const atB = b1.frames.slice(mark, b1.frames.indexOf(seen)).filter(updatedOf(m.id));
    for (const f of atB) {
      expect(f.message, 'the edit as b sees it').toMatchObject({ content: '', deleted_for: 'me', reactions: [], attachments: [] });
    }
    expect((await read(b, conv, m))).toMatchObject({ content: '', deleted_for: 'me' });
  });

  test('a sync after the sender edited a message I hid replays it once, hidden', async () => {
    const { a, b, conv } = await world();
    const m = await restSend(t, a, conv, 'hidden, then edited');
    const laptop = await sockets.connect(t, b);
    const held = (await syncOn(laptop, { since: { [conv]: 0 } })).synced.mod_seqs[String(conv)] as number;
    await laptop.close();
    expect((await t.request('DELETE', `${msgPath(conv, m.id)}?for=me`, { token: b.token })).status).toBe(200);
    expect((await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: 'edited after the hide' } })).status).toBe(200);
    expect((await t.request('PUT', `${msgPath(conv, m.id)}/reactions/${encodeURIComponent('👍')}`, { token: a.token })).status).toBe(200);

    const back = await sockets.connect(t, b);
    const { updated } = await syncOn(back, { since: { [conv]: 1 }, changes_since: { [conv]: held } });
    expect(updated).toHaveLength(1);
    expect(updated[0]!.message).toMatchObject({ id: m.id, content: '', deleted_for: 'me', reactions: [] });
  });
});

describe('refusals are error frames; the socket stays usable and nothing changes', () => {
  test('every refusal of edit, delete and react, with its code', async () => {
    const { a, b, c, outsider, conv, elsewhere } = await world();
    const mine = await restSend(t, a, conv, 'mine');
    const theirs = await restSend(t, b, conv, 'theirs');
    const gone = await restSend(t, a, conv, 'gone');
    expect((await t.request('DELETE', msgPath(conv, gone.id), { token: a.token })).status).toBe(200);
    const foreign = await restSend(t, outsider, elsewhere, 'foreign');
    const full = await restSend(t, b, conv, 'full of feelings');
    const emoji = [...'😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😗😙😚😋'];
    for (const e of emoji.slice(0, 20)) {
      expect((await t.request('PUT', `${msgPath(conv, full.id)}/reactions/${encodeURIComponent(e)}`, { token: a.token })).status).toBe(200);
    }

    const [a1, b1, c1] = [await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, c)];
    const marks = marksOf([a1, b1, c1]);
    const before = await modSeq(a, conv);
    const states = await Promise.all([mine, theirs, gone, full].map((m) => read(c, conv, m)));

    const cases: [string, Record<string, unknown>, string, string?][] = [
      ['edit of another member\'s message', { type: 'edit', conversation_id: conv, message_id: theirs.id, content: 'x' }, 'forbidden'],
      ['edit of a deleted message', { type: 'edit', conversation_id: conv, message_id: gone.id, content: 'x' }, 'message_deleted'],
      ['edit to blank', { type: 'edit', conversation_id: conv, message_id: mine.id, content: '  ' }, 'validation_failed', 'content'],
      ['edit with a number', { type: 'edit', conversation_id: conv, message_id: mine.id, content: 7 }, 'validation_failed', 'content'],
      ['edit without content', { type: 'edit', conversation_id: conv, message_id: mine.id }, 'validation_failed', 'content'],
      ['edit too large', { type: 'edit', conversation_id: conv, message_id: mine.id, content: 'a'.repeat(t.app.config.messageMaxBytes + 1) }, 'message_too_large'],
      ['edit of no such message', { type: 'edit', conversation_id: conv, message_id: 987654321, content: 'x' }, 'not_found'],
      ['edit of a message of another conversation', { type: 'edit', conversation_id: conv, message_id: foreign.id, content: 'x' }, 'not_found'],
      ['edit in a conversation not mine', { type: 'edit', conversation_id: elsewhere, message_id: foreign.id, content: 'x' }, 'not_found'],
      ['edit without message_id', { type: 'edit', conversation_id: conv, content: 'x' }, 'validation_failed', 'message_id'],
      ['edit with a string message_id', { type: 'edit', conversation_id: conv, message_id: String(mine.id), content: 'x' }, 'validation_failed', 'message_id'],
      ['delete of another member\'s message', { type: 'delete', conversation_id: conv, message_id: theirs.id }, 'forbidden'],
      ['delete for everyone of another member\'s message', { type: 'delete', conversation_id: conv, message_id: theirs.id, for: 'everyone' }, 'forbidden'],
      ['delete for bogus', { type: 'delete', conversation_id: conv, message_id: mine.id, for: 'bogus' }, 'validation_failed', 'for'],
      ['delete in a conversation not mine', { type: 'delete', conversation_id: elsewhere, message_id: foreign.id, for: 'me' }, 'not_found'],
      ['react with two emoji', { type: 'react', conversation_id: conv, message_id: mine.id, emoji: '👍👍', on: true }, 'validation_failed', 'emoji'],
      ['react with a letter', { type: 'react', conversation_id: conv, message_id: mine.id, emoji: 'a', on: true }, 'validation_failed', 'emoji'],
      ['react with on not a boolean', { type: 'react', conversation_id: conv, message_id: mine.id, emoji: '👍', on: 'yes' }, 'validation_failed', 'on'],
      ['react to a deleted message', { type: 'react', conversation_id: conv, message_id: gone.id, emoji: '👍', on: true }, 'message_deleted'],
      ['react a 21st time', { type: 'react', conversation_id: conv, message_id: full.id, emoji: emoji[20], on: true }, 'too_many_reactions'],
      ['react in a conversation not mine', { type: 'react', conversation_id: elsewhere, message_id: foreign.id, emoji: '👍', on: true }, 'not_found'],
    ];
    for (const [name, frame, code, field] of cases) {
      a1.send(frame);
      const error = await a1.next((f) => f.type === 'error', 5000).catch(() => {
        throw new Error(`${name}: no error frame`);
      });
      expect(error, name).toMatchObject({ type: 'error', code });
      expect(typeof error.error, name).toBe('string');
      if (field) expect(error.field, name).toBe(field);
    }
    expect(await modSeq(a, conv)).toBe(before);
    expect(await Promise.all([mine, theirs, gone, full].map((m) => read(c, conv, m)))).toEqual(states);
    await expectNoChangeFrames(a, conv, [a1, b1, c1], marks);

    // Still usable: an edit goes through.
    a1.send({ type: 'edit', conversation_id: conv, message_id: mine.id, content: 'mine, edited' });
    expect((await b1.next(updatedOf(mine.id))).message.content).toBe('mine, edited');
    expect(a1.closeCode).toBeUndefined();
  });

  test('past MESSAGE_EDIT_WINDOW an edit frame is refused with edit_window_passed', async () => {
    const clock = new TestClock();
    const app = await startApp(
      { accessTokenTtl: 5000 * 86400, refreshTokenTtl: 6000 * 86400, ...envConfig({ MESSAGE_EDIT_WINDOW: '1h' }) },
      { clock },
    );
    try {
      const [a, b] = await Promise.all([registerUser(app), registerUser(app)]);
      const conv = await direct(app, a, b);
      const m = await restSend(app, a, conv, 'old news');
      clock.advance(61 * 60_000);
      const [a1, b1] = [await sockets.connect(app, a), await sockets.connect(app, b)];
      a1.send({ type: 'edit', conversation_id: conv, message_id: m.id, content: 'rewritten' });
      expect(await a1.next(errorFrame('edit_window_passed'))).toMatchObject({ type: 'error', code: 'edit_window_passed' });
      const sentinel = await restSend(app, a, conv, 'still here');
      const seen = await b1.next((f) => f.type === 'new_message' && f.message.id === sentinel.id);
      expect(b1.frames.slice(0, b1.frames.indexOf(seen)).filter(isChange)).toEqual([]);
      const res = await app.request('GET', `/api/v1/conversations/${conv}/messages`, { token: b.token });
      expect(res.body.messages.find((x: any) => x.id === m.id)).toMatchObject({ content: 'old news', edited_at: null });
    } finally {
      await sockets.closeAll();
      await app.close();
    }
  });
});

/** Sends `sync` and collects what came before `synced`. */
async function syncOn(ws: WsClient, frame: Record<string, unknown>) {
  const start = ws.frames.length;
  ws.send({ type: 'sync', ...frame });
  const synced = await ws.nextOfType('synced', 10_000);
  const window = ws.frames.slice(start, ws.frames.indexOf(synced));
  return {
    synced,
    window,
    updated: window.filter((f) => f.type === 'message_updated'),
    replayed: window.filter((f) => f.type === 'new_message'),
  };
}

describe('sync with changes_since', () => {
  test('an offline device gets each changed message once, as it is now, then synced with mod_seqs; syncing again gets nothing', async () => {
    const { a, b, c, conv } = await world();
    const dm = await direct(t, a, b);
    const [m1, m2, m3] = [await restSend(t, a, conv, 'one'), await restSend(t, a, conv, 'two'), await restSend(t, c, conv, 'three')];

    // B's device catches up, reacts once, and learns the mod_seq it holds.
    const b1 = await sockets.connect(t, b);
    const first = await syncOn(b1, { since: { [conv]: 0 }, changes_since: { [conv]: 0 } });
    expect(first.replayed.map((f) => f.message.seq)).toEqual([1, 2, 3]);
    expect(first.updated).toEqual([]);
    expect(first.synced.mod_seqs[String(conv)]).toBe(await modSeq(b, conv));
    b1.send({ type: 'react', conversation_id: conv, message_id: m3.id, emoji: '😮', on: true });
    const own = await b1.next(reactionOf(m3.id));
    const held = { seq: 3, mod_seq: own.mod_seq as number };
    expect(held.mod_seq).toBe(await modSeq(b, conv));
    await b1.close();

    // While it is away: an edit, a delete, three reactions (by A and C), over REST and WS.
    const a1 = await sockets.connect(t, a);
    const c1 = await sockets.connect(t, c);
    expect((await t.request('PATCH', msgPath(conv, m1.id), { token: a.token, body: { content: 'one, edited' } })).status).toBe(200);
    a1.send({ type: 'delete', conversation_id: conv, message_id: m2.id });
    await a1.next(updatedOf(m2.id));
    a1.send({ type: 'react', conversation_id: conv, message_id: m3.id, emoji: '👍', on: true });
    await a1.next(reactionOf(m3.id));
    expect((await t.request('PUT', `${msgPath(conv, m3.id)}/reactions/${encodeURIComponent('👍')}`, { token: c.token })).status).toBe(200);
    await a1.next(reactionOf(m3.id));
    c1.send({ type: 'react', conversation_id: conv, message_id: m3.id, emoji: '❤️', on: true });
    await a1.next(reactionOf(m3.id));
    const latest = await modSeq(a, conv);

    const b2 = await sockets.connect(t, b);
    const { synced, updated, replayed, window } = await syncOn(b2, {
      since: { [conv]: held.seq, [dm]: 0 },
      changes_since: { [conv]: held.mod_seq },
    });
    expect(replayed).toEqual([]);
    expect(window.filter((f) => f.type !== 'message_updated')).toEqual([]);
    expect(updated.map((f) => f.message.id).sort((x, y) => x - y)).toEqual([m1.id, m2.id, m3.id].sort((x, y) => x - y));
    const byId = new Map(updated.map((f) => [f.message.id, f.message]));
    expect(byId.get(m1.id)).toMatchObject({ seq: m1.seq, content: 'one, edited', deleted_for: null });
    expect(byId.get(m1.id).edited_at).toEqual(expect.any(String));
    expect(byId.get(m2.id)).toMatchObject({ seq: m2.seq, content: '', deleted_for: 'everyone', reactions: [], attachments: [] });
    expect(byId.get(m2.id).deleted_at).toEqual(expect.any(String));
    expect(byId.get(m3.id)).toMatchObject({ seq: m3.seq, content: 'three', deleted_for: null });
    expect(byId.get(m3.id).reactions).toEqual([
      { emoji: '😮', count: 1, me: true },
      { emoji: '👍', count: 2, me: false },
      { emoji: '❤️', count: 1, me: false },
    ]);
    // Each as it is now, with its latest mod_seq, all past what B held.
    for (const m of [m1, m2, m3]) {
      const now = await read(b, conv, m);
      expect(byId.get(m.id).mod_seq).toBe(now.mod_seq);
      expect(byId.get(m.id).mod_seq).toBeGreaterThan(held.mod_seq);
      expect(byId.get(m.id).reactions).toEqual(now.reactions);
    }
    expect(synced.conversations).toEqual({ [String(conv)]: 3, [String(dm)]: 0 });
    expect(synced.mod_seqs).toEqual({ [String(conv)]: latest, [String(dm)]: await modSeq(b, dm) });
    expect(latest).toBe(await modSeq(b, conv));

    const again = await syncOn(b2, { since: { [conv]: 3, [dm]: 0 }, changes_since: { [conv]: synced.mod_seqs[String(conv)] } });
    expect(again.updated).toEqual([]);
    expect(again.replayed).toEqual([]);
    expect(again.synced.mod_seqs).toEqual(synced.mod_seqs);
    expect(b2.all('error')).toEqual([]);
  });

  test('messages past the held seq come as new_message in their current state; only held ones as message_updated', async () => {
    const { a, b, conv } = await world();
    const m1 = await restSend(t, a, conv, 'held');
    const b1 = await sockets.connect(t, b);
    const first = await syncOn(b1, { since: { [conv]: 0 } });
    const held = { seq: 1, mod_seq: first.synced.mod_seqs[String(conv)] as number };
    await b1.close();

    const m2 = await restSend(t, a, conv, 'missed');
    expect((await t.request('PATCH', msgPath(conv, m2.id), { token: a.token, body: { content: 'missed, edited' } })).status).toBe(200);
    expect((await t.request('PUT', `${msgPath(conv, m2.id)}/reactions/${encodeURIComponent('👍')}`, { token: b.token })).status).toBe(200);
    expect((await t.request('PATCH', msgPath(conv, m1.id), { token: a.token, body: { content: 'held, edited' } })).status).toBe(200);

    const b2 = await sockets.connect(t, b);
    const { updated, replayed, synced } = await syncOn(b2, { since: { [conv]: held.seq }, changes_since: { [conv]: held.mod_seq } });
    expect(replayed.map((f) => f.message.id)).toEqual([m2.id]);
    expect(replayed[0]!.message).toMatchObject({ content: 'missed, edited', reactions: [{ emoji: '👍', count: 1, me: true }] });
    expect(updated.map((f) => f.message.id)).toEqual([m1.id]);
    expect(updated[0]!.message.content).toBe('held, edited');
    expect(synced.conversations[String(conv)]).toBe(2);
    expect(synced.mod_seqs[String(conv)]).toBe(await modSeq(a, conv));
  });

  test('a message B hid on another device is replayed to B as deleted_for "me"; it is no change for C', async () => {
    const { a, b, c, conv } = await world();
    const m = await restSend(t, a, conv, 'hide on the phone');
    const laptop = await sockets.connect(t, b);
    const cWs = await sockets.connect(t, c);
    const heldB = (await syncOn(laptop, { since: { [conv]: 0 } })).synced.mod_seqs[String(conv)] as number;
    const heldC = (await syncOn(cWs, { since: { [conv]: 0 } })).synced.mod_seqs[String(conv)] as number;
    await laptop.close();
    await cWs.close();

    const phone = await sockets.connect(t, b);
    phone.send({ type: 'delete', conversation_id: conv, message_id: m.id, for: 'me' });
    expect((await phone.next(updatedOf(m.id))).message).toMatchObject({ deleted_for: 'me', content: '' });

    const laptop2 = await sockets.connect(t, b);
    const atB = await syncOn(laptop2, { since: { [conv]: 1 }, changes_since: { [conv]: heldB } });
    expect(atB.updated).toHaveLength(1);
    expect(atB.updated[0]!.message).toMatchObject({ id: m.id, seq: m.seq, deleted_for: 'me', content: '', reactions: [], attachments: [] });
    expect(atB.synced.mod_seqs[String(conv)]).toBe(await modSeq(b, conv));
    expect(atB.synced.mod_seqs[String(conv)]).toBeGreaterThan(heldB);

    const cWs2 = await sockets.connect(t, c);
    const atC = await syncOn(cWs2, { since: { [conv]: 1 }, changes_since: { [conv]: heldC } });
    expect(atC.updated).toEqual([]);
    expect(atC.replayed).toEqual([]);
  });

  test('more changes than one batch: every changed message once, in one sync', async () => {
    const { a, b, conv } = await world();
    const N = 130;
    const sent: any[] = [];
    for (let i = 0; i < N; i++) sent.push(await restSend(t, a, conv, `m${i}`));
    const b1 = await sockets.connect(t, b);
    const held = (await syncOn(b1, { since: { [conv]: N } })).synced.mod_seqs[String(conv)] as number;
    await b1.close();
    // Edited in reverse order, and the first ten twice, so mod_seq order is not seq order.
    for (const m of [...sent].reverse()) {
      const res = await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: `${m.content} edited` } });
      expect(res.status).toBe(200);
    }
    for (const m of sent.slice(0, 10)) {
      expect((await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: `${m.content} twice` } })).status).toBe(200);
    }
    const b2 = await sockets.connect(t, b);
    const { updated, synced } = await syncOn(b2, { since: { [conv]: N }, changes_since: { [conv]: held } });
    const ids = updated.map((f) => f.message.id);
    expect(new Set(ids).size, 'each once').toBe(ids.length);
    expect([...ids].sort((x, y) => x - y)).toEqual(sent.map((m) => m.id).sort((x, y) => x - y));
    const content = new Map(updated.map((f) => [f.message.id, f.message.content]));
    sent.forEach((m, i) => expect(content.get(m.id)).toBe(i < 10 ? `m${i} twice` : `m${i} edited`));
    expect(synced.mod_seqs[String(conv)]).toBe(await modSeq(a, conv));
  }, 60_000);

  test('changes keep coming during the sync: afterwards the device holds every message as it is now', async () => {
    const { a, b, c, conv } = await world();
    const N = 50;
    const sent: any[] = [];
    for (let i = 0; i < N; i++) sent.push(await restSend(t, a, conv, `m${i}`));
    const b1 = await sockets.connect(t, b);
    const held = (await syncOn(b1, { since: { [conv]: N } })).synced.mod_seqs[String(conv)] as number;
    await b1.close();
    for (const m of sent) {
      expect((await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: `${m.content} v1` } })).status).toBe(200);
    }

    const b2 = await sockets.connect(t, b);
    let stop = false;
    let round = 0;
    // An editor and a reactor keep changing the messages while the sync runs.
    const busy = (async () => {
      while (!stop) {
        round++;
        const m = sent[(round * 7) % N];
        await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: `${m.content} live ${round}` } });
        await t.request(round % 2 ? 'PUT' : 'DELETE', `${msgPath(conv, sent[round % N].id)}/reactions/${encodeURIComponent('👍')}`, { token: c.token });
      }
    })();
    const { synced } = await syncOn(b2, { since: { [conv]: N }, changes_since: { [conv]: held } });
    await expect.poll(() => round, { timeout: 10_000 }).toBeGreaterThan(10);
    stop = true;
    await busy;
    const sentinel = await restSend(t, a, conv, 'done');
    await b2.next((f) => f.type === 'new_message' && f.message.id === sentinel.id);
    expect(synced.mod_seqs[String(conv)]).toBeGreaterThan(held);

    // What the device knows: each message's latest message_updated, then reaction frames after it.
    const state = new Map<number, { content: string; mod_seq: number; thumbs: number }>();
    for (const f of b2.frames) {
      if (f.type === 'message_updated') {
        const prev = state.get(f.message.id);
        if (!prev || f.message.mod_seq > prev.mod_seq) {
          const thumbs = f.message.reactions.find((r: any) => r.emoji === '👍')?.count ?? 0;
          state.set(f.message.id, { content: f.message.content, mod_seq: f.message.mod_seq, thumbs });
        }
      } else if (f.type === 'reaction') {
        const prev = state.get(f.message_id);
        if (prev && f.mod_seq > prev.mod_seq) state.set(f.message_id, { ...prev, mod_seq: f.mod_seq, thumbs: f.count });
      }
    }
    const res = await t.request('GET', `/api/v1/conversations/${conv}/messages?limit=100&after_seq=0`, { token: b.token });
    const now = res.body.messages.filter((m: any) => m.seq <= N);
    expect(now).toHaveLength(N);
    const wrong = now
      .filter((m: any) => {
        const known = state.get(m.id);
        const thumbs = m.reactions.find((r: any) => r.emoji === '👍')?.count ?? 0;
        return !known || known.content !== m.content || known.mod_seq !== m.mod_seq || known.thumbs !== thumbs;
      })
      .map((m: any) => ({ seq: m.seq, now: [m.content, m.mod_seq], device: state.get(m.id) }));
    expect(wrong).toEqual([]);
  }, 60_000);

  test('sync without changes_since is as before: no message_updated, even with changes; synced still has mod_seqs for every conversation', async () => {
    const { a, b, c, conv } = await world();
    const dm = await direct(t, b, c);
    const m = await restSend(t, a, conv, 'changes unseen');
    await restSend(t, c, dm, 'hello b');
    expect((await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: 'changed' } })).status).toBe(200);
    const b1 = await sockets.connect(t, b);
    const res = await syncOn(b1, { since: { [conv]: 1 } });
    expect(res.updated).toEqual([]);
    expect(res.replayed).toEqual([]);
    expect(res.synced.mod_seqs).toEqual({ [String(conv)]: await modSeq(b, conv), [String(dm)]: await modSeq(b, dm) });
    const bare = await syncOn(b1, {});
    expect(bare.window).toEqual([]);
    expect(bare.synced.mod_seqs).toEqual(res.synced.mod_seqs);
  });

  test.each([
    ['a negative mod_seq', (c: number) => ({ [c]: -1 })],
    ['a fractional mod_seq', (c: number) => ({ [c]: 1.5 })],
    ['a string mod_seq', (c: number) => ({ [c]: '3' })],
    ['a zero-padded id', (c: number) => ({ [`0${c}`]: 1 })],
    ['key "01"', () => ({ '01': 1 })],
    ['a non-integer id', () => ({ abc: 1 })],
    ['an array', () => [1]],
    ['a number', () => 5],
    ['null', () => null],
  ])('changes_since with %s is validation_failed, and the socket stays usable', async (_name, make) => {
    const { a, b, conv } = await world();
    const m = await restSend(t, a, conv, 'x');
    expect((await t.request('PATCH', msgPath(conv, m.id), { token: a.token, body: { content: 'y' } })).status).toBe(200);
    const b1 = await sockets.connect(t, b);
    b1.send({ type: 'sync', since: { [conv]: 1 }, changes_since: make(conv) });
    expect(await b1.next(errorFrame('validation_failed'))).toMatchObject({ type: 'error', code: 'validation_failed' });
    expect(b1.all('synced')).toEqual([]);
    expect(b1.all('message_updated')).toEqual([]);
    const ok = await syncOn(b1, { since: { [conv]: 1 }, changes_since: { [conv]: 0 } });
    expect(ok.updated.map((f) => f.message.content)).toEqual(['y']);
  });
});
