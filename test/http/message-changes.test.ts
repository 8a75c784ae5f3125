import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { envConfig, registerUser, startApp, TestClock, type TestApp } from '../harness/app.js';
import { ISO, MESSAGE_KEYS, expectError } from '../harness/expect.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { direct, group, restSend, Sockets, type User } from '../realtime/fixtures.js';
import { fetchUrl, localStorage, png, uploaded, type StorageUnderTest } from './attachments-fixtures.js';

/**
 * Messages that change after they are sent, over REST: edits and their history, deletes
 * for everyone (tombstones) and for me (hidden), unread counts that stay exact, and the
 * mod_seq every change takes. Every refusal is checked to change nothing, in the store as
 * a member reads it and on the sockets of the members.
 */

const sockets = new Sockets();
afterEach(() => sockets.closeAll());

const base = (conversationId: number, messageId: number) => `/api/v1/conversations/${conversationId}/messages/${messageId}`;

function api(t: TestApp) {
  return {
    edit: (who: User, conv: number, id: number, content: unknown) =>
      t.request('PATCH', base(conv, id), { token: who.token, body: { content } }),
    editRaw: (who: User, conv: number, id: number, body: unknown) => t.request('PATCH', base(conv, id), { token: who.token, body }),
    del: (who: User, conv: number, id: number, query = '') => t.request('DELETE', `${base(conv, id)}${query}`, { token: who.token }),
    edits: (who: User, conv: number, id: number) => t.request('GET', `${base(conv, id)}/edits`, { token: who.token }),
    react: (who: User, conv: number, id: number, emoji: string) =>
      t.request('PUT', `${base(conv, id)}/reactions/${encodeURIComponent(emoji)}`, { token: who.token }),
    unreact: (who: User, conv: number, id: number, emoji: string) =>
      t.request('DELETE', `${base(conv, id)}/reactions/${encodeURIComponent(emoji)}`, { token: who.token }),
    history: async (who: User, conv: number): Promise<any[]> => {
      const res = await t.request('GET', `/api/v1/conversations/${conv}/messages?limit=100`, { token: who.token });
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      return res.body.messages;
    },
    /** The message as `who` reads it in history. */
    message: async (who: User, conv: number, m: { id: number; seq: number }): Promise<any> => {
      const res = await t.request('GET', `/api/v1/conversations/${conv}/messages?after_seq=${m.seq - 1}&limit=1`, {
        token: who.token,
      });
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      const [found] = res.body.messages;
      expect(found?.id).toBe(m.id);
      return found;
    },
    conversation: async (who: User, conv: number): Promise<any> => {
      const res = await t.request('GET', `/api/v1/conversations/${conv}`, { token: who.token });
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      return res.body.conversation;
    },
    modSeq: async (who: User, conv: number): Promise<number> => {
      const res = await t.request('GET', `/api/v1/conversations/${conv}`, { token: who.token });
      expect(res.status).toBe(200);
      return res.body.conversation.mod_seq as number;
    },
    unread: async (who: User, conv: number): Promise<number> => {
      const res = await t.request('GET', '/api/v1/conversations', { token: who.token });
      expect(res.status).toBe(200);
      const found = res.body.conversations.find((c: any) => c.id === conv);
      expect(found, `conversation ${conv} in the list`).toBeDefined();
      return found.unread_count as number;
    },
  };
}

function expectMessageShape(m: any): void {
  expect(Object.keys(m).sort()).toEqual(MESSAGE_KEYS);
  expect(Number.isInteger(m.mod_seq)).toBe(true);
  expect(Array.isArray(m.reactions)).toBe(true);
  expect([null, 'everyone', 'me']).toContain(m.deleted_for);
}

const isChange = (f: Frame) => f.type === 'message_updated' || f.type === 'reaction';

/**
 * Proves no change frame went out to `watchers` since `marks` (frame counts taken before
 * the action): a message sent now reaches every socket, and nothing about a change
 * came before it.
 */
async function expectNoChangeFrames(t: TestApp, sender: User, conv: number, watchers: WsClient[], marks: number[]): Promise<void> {
  const sentinel = await restSend(t, sender, conv, `sentinel ${Math.random()}`);
  for (const [i, ws] of watchers.entries()) {
    const frame = await ws.next((f) => f.type === 'new_message' && f.message.id === sentinel.id);
    const upTo = ws.frames.indexOf(frame);
    expect(ws.frames.slice(marks[i], upTo).filter(isChange)).toEqual([]);
  }
}

const marksOf = (watchers: WsClient[]) => watchers.map((ws) => ws.frames.length);

describe('messages that change', () => {
  let t: TestApp;
  let storage: StorageUnderTest;
  let a: User, b: User, c: User, outsider: User;
  /** a ↔ b */
  let ab: number;
  /** a (owner), b, c */
  let abc: number;
  /** outsider ↔ c: a conversation a and b are not in. */
  let other: number;
  let x: ReturnType<typeof api>;

  beforeAll(async () => {
    storage = await localStorage();
    t = await startApp(storage.config());
    x = api(t);
    [a, b, c, outsider] = await Promise.all([registerUser(t), registerUser(t), registerUser(t), registerUser(t)]);
    ab = await direct(t, a, b);
    abc = await group(t, a, [b, c]);
    other = await direct(t, outsider, c);
  });
  afterAll(async () => {
    await t?.close();
    await storage?.close();
  });

  describe('PATCH /conversations/:id/messages/:messageId (edit)', () => {
    test('the sender edits: 200 {message} with the new content, edited_at set, a higher mod_seq, the same id and seq; everyone reads it', async () => {
      const m = await restSend(t, a, ab, 'helo');
      expectMessageShape(m);
      expect(m).toMatchObject({ edited_at: null, deleted_at: null, deleted_for: null, reactions: [] });
      const before = await x.modSeq(a, ab);
      expect(before).toBe(m.mod_seq);

      const res = await x.edit(a, ab, m.id, 'hello');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(Object.keys(res.body)).toEqual(['message']);
      const edited = res.body.message;
      expectMessageShape(edited);
      expect(edited).toMatchObject({ id: m.id, seq: m.seq, conversation_id: ab, sender_id: a.user.id, content: 'hello', deleted_at: null, deleted_for: null });
      expect(edited.edited_at).toMatch(ISO);
      expect(edited.mod_seq).toBeGreaterThan(m.mod_seq);
      expect(edited.created_at).toBe(m.created_at);
      // The conversation's latest change is this edit.
      expect(await x.modSeq(a, ab)).toBe(edited.mod_seq);
      expect((await x.conversation(b, ab)).mod_seq).toBe(edited.mod_seq);

      for (const who of [a, b]) {
        expect(await x.message(who, ab, m)).toMatchObject({ id: m.id, content: 'hello', edited_at: edited.edited_at, mod_seq: edited.mod_seq });
      }
    });

    test('conversation objects carry mod_seq, in the list and alone', async () => {
      const m = await restSend(t, b, ab, 'mod_seq please');
      const list = await t.request('GET', '/api/v1/conversations', { token: a.token });
      const item = list.body.conversations.find((conv: any) => conv.id === ab);
      expect(item.mod_seq).toBe(m.mod_seq);
      expect((await x.conversation(a, ab)).mod_seq).toBe(m.mod_seq);
    });

    test('another member may not edit: 403 forbidden; nothing changes and no frame goes out', async () => {
      const m = await restSend(t, a, abc, 'mine');
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, c)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, abc);
      for (const who of [b, c]) {
        const res = await x.edit(who, abc, m.id, 'theirs now');
        expectError(res, 403, 'forbidden');
      }
      expect(await x.message(c, abc, m)).toMatchObject({ content: 'mine', edited_at: null, mod_seq: m.mod_seq });
      expect(await x.modSeq(a, abc)).toBe(modSeq);
      expect((await x.edits(a, abc, m.id)).body.edits).toEqual([]);
      await expectNoChangeFrames(t, a, abc, watchers, marks);
    });

    test('not a member, no such message, a message of another conversation: the same 404 not_found; nothing changes', async () => {
      const m = await restSend(t, a, ab, 'private');
      const elsewhere = await restSend(t, outsider, other, 'over there');
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, ab);

      const notMember = await x.edit(outsider, ab, m.id, 'hijack');
      expectError(notMember, 404, 'not_found');
      expectError(await x.edit(a, ab, 987654321, 'nothing'), 404, 'not_found');
      // The id of a message in a conversation a is not in, through a's own conversation…
      expectError(await x.edit(a, ab, elsewhere.id, 'wrong place'), 404, 'not_found');
      // …and its own sender through the wrong conversation.
      expectError(await x.edit(outsider, ab, elsewhere.id, 'wrong place'), 404, 'not_found');
      expectError(await x.edit(a, 99999999, m.id, 'no conversation'), 404, 'not_found');

      expect(await x.message(a, ab, m)).toMatchObject({ content: 'private', edited_at: null, mod_seq: m.mod_seq });
      expect(await x.message(c, other, elsewhere)).toMatchObject({ content: 'over there', edited_at: null, mod_seq: elsewhere.mod_seq });
      expect(await x.modSeq(a, ab)).toBe(modSeq);
      await expectNoChangeFrames(t, a, ab, watchers, marks);
    });

    test('bad content: blank → 400 validation_failed (field content); too large → 413 message_too_large; not a string → 400; nothing changes', async () => {
      const m = await restSend(t, a, ab, 'keep me');
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, ab);

      for (const content of ['', '   ', ' \n\t ']) {
        const res = await x.edit(a, ab, m.id, content);
        expectError(res, 400, 'validation_failed');
        expect(res.body.field).toBe('content');
      }
      const limit = t.app.config.messageMaxBytes;
      expectError(await x.edit(a, ab, m.id, 'a'.repeat(limit + 1)), 413, 'message_too_large');
      expectError(await x.edit(a, ab, m.id, 'é'.repeat(limit / 2 + 1)), 413, 'message_too_large');
      for (const content of [42, null, true, ['x'], { text: 'x' }]) {
        const res = await x.edit(a, ab, m.id, content);
        expectError(res, 400, 'validation_failed');
      }
      expectError(await x.editRaw(a, ab, m.id, {}), 400, 'validation_failed');
      expectError(await t.request('PATCH', base(ab, m.id), { token: a.token, raw: '{"content":' }), 400, 'invalid_json');
      expectError(await t.request('PATCH', base(ab, m.id), { body: { content: 'x' } }), 401, 'unauthorized');

      expect(await x.message(b, ab, m)).toMatchObject({ content: 'keep me', edited_at: null, mod_seq: m.mod_seq });
      expect(await x.modSeq(a, ab)).toBe(modSeq);
      expect((await x.edits(a, ab, m.id)).body.edits).toEqual([]);
      await expectNoChangeFrames(t, a, ab, watchers, marks);

      // Exactly at the limit is an edit like any other.
      const big = await x.edit(a, ab, m.id, 'é'.repeat(limit / 2));
      expect(big.status, JSON.stringify(big.body).slice(0, 300)).toBe(200);
      expect(big.body.message.content).toBe('é'.repeat(limit / 2));
    });

    test('the same content again: 200, unchanged — no new mod_seq, no history entry, no frame', async () => {
      const m = await restSend(t, a, ab, 'first');
      const edited = (await x.edit(a, ab, m.id, 'second')).body.message;
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, ab);
      expect(modSeq).toBe(edited.mod_seq);

      const again = await x.edit(a, ab, m.id, 'second');
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect(again.body.message).toMatchObject({ id: m.id, content: 'second', edited_at: edited.edited_at, mod_seq: edited.mod_seq });
      expect(await x.modSeq(a, ab)).toBe(modSeq);
      expect((await x.edits(a, ab, m.id)).body.edits.map((e: any) => e.content)).toEqual(['first']);
      await expectNoChangeFrames(t, a, ab, watchers, marks);

      // Never edited, sent the same content: still never edited.
      const plain = await restSend(t, a, ab, 'as is');
      const same = await x.edit(a, ab, plain.id, 'as is');
      expect(same.status).toBe(200);
      expect(same.body.message).toMatchObject({ content: 'as is', edited_at: null, mod_seq: plain.mod_seq });
    });

    test('a message with attachments: its caption can be edited, even to empty; the attachments stay', async () => {
      const attachment = await uploaded(t, a, ab, await png(), 'caption.png');
      const sent = await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
        token: a.token,
        body: { content: 'a caption', attachment_ids: [attachment.id] },
      });
      expect(sent.status, JSON.stringify(sent.body)).toBe(201);
      const m = sent.body.message;

      const recaptioned = await x.edit(a, ab, m.id, 'a better caption');
      expect(recaptioned.status, JSON.stringify(recaptioned.body)).toBe(200);
      expect(recaptioned.body.message).toMatchObject({ content: 'a better caption', type: 'image' });
      expect(recaptioned.body.message.attachments.map((att: any) => att.id)).toEqual([attachment.id]);

      const cleared = await x.edit(a, ab, m.id, '');
      expect(cleared.status, JSON.stringify(cleared.body)).toBe(200);
      expect(cleared.body.message.content).toBe('');
      expect(cleared.body.message.attachments.map((att: any) => att.id)).toEqual([attachment.id]);
      expect(cleared.body.message.mod_seq).toBeGreaterThan(recaptioned.body.message.mod_seq);

      const seen = await x.message(b, ab, m);
      expect(seen.content).toBe('');
      expect(seen.attachments.map((att: any) => att.id)).toEqual([attachment.id]);
      expect((await fetchUrl(t, seen.attachments[0].url)).status).toBe(200);
      expect((await x.edits(b, ab, m.id)).body.edits.map((e: any) => e.content)).toEqual(['a caption', 'a better caption']);
    });

    test('editing a deleted message: 409 message_deleted; the tombstone stays as it was', async () => {
      const m = await restSend(t, a, ab, 'soon gone');
      const tombstone = (await x.del(a, ab, m.id)).body.message;
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, ab);

      expectError(await x.edit(a, ab, m.id, 'back from the dead'), 409, 'message_deleted');
      expect(await x.message(b, ab, m)).toMatchObject({ content: '', deleted_for: 'everyone', mod_seq: tombstone.mod_seq, edited_at: tombstone.edited_at });
      expect(await x.modSeq(a, ab)).toBe(modSeq);
      expect((await x.edits(a, ab, m.id)).body.edits).toEqual([]);
      await expectNoChangeFrames(t, a, ab, watchers, marks);
    });
  });

  describe('GET /conversations/:id/messages/:messageId/edits', () => {
    test('every earlier version, oldest first, each with when it was replaced; the last one replaced when the message was last edited', async () => {
      const m = await restSend(t, a, abc, 'v1');
      expect((await x.edits(c, abc, m.id)).body).toEqual({ edits: [] });

      const e2 = (await x.edit(a, abc, m.id, 'v2')).body.message;
      const e3 = (await x.edit(a, abc, m.id, 'v3')).body.message;
      expect(e3.content).toBe('v3');
      for (const who of [a, b, c]) {
        const res = await x.edits(who, abc, m.id);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(Object.keys(res.body)).toEqual(['edits']);
        const { edits } = res.body;
        expect(edits.map((e: any) => Object.keys(e).sort())).toEqual([['content', 'edited_at'], ['content', 'edited_at']]);
        expect(edits.map((e: any) => e.content)).toEqual(['v1', 'v2']);
        expect(edits[0].edited_at).toBe(e2.edited_at);
        expect(edits[1].edited_at).toBe(e3.edited_at);
        expect(Date.parse(edits[0].edited_at)).toBeLessThanOrEqual(Date.parse(edits[1].edited_at));
        expect(Date.parse(edits[0].edited_at)).toBeGreaterThanOrEqual(Date.parse(m.created_at));
      }
    });

    test('members only: an outsider, a missing message, a message of another conversation → 404', async () => {
      const m = await restSend(t, a, ab, 'secret draft');
      await x.edit(a, ab, m.id, 'secret final');
      const elsewhere = await restSend(t, outsider, other, 'theirs');
      await x.edit(outsider, other, elsewhere.id, 'theirs, edited');
      expectError(await x.edits(outsider, ab, m.id), 404, 'not_found');
      expectError(await x.edits(c, ab, m.id), 404, 'not_found');
      expectError(await x.edits(a, ab, 987654321), 404, 'not_found');
      expectError(await x.edits(a, ab, elsewhere.id), 404, 'not_found');
      expect((await x.edits(a, ab, m.id)).body.edits.map((e: any) => e.content)).toEqual(['secret draft']);
    });

    test('a delete for everyone removes the history', async () => {
      const m = await restSend(t, a, ab, 'draft 1');
      await x.edit(a, ab, m.id, 'draft 2');
      expect((await x.edits(b, ab, m.id)).body.edits).toHaveLength(1);
      expect((await x.del(a, ab, m.id)).status).toBe(200);
      for (const who of [a, b]) {
        const res = await x.edits(who, ab, m.id);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ edits: [] });
      }
      const rows = await t.app.database.db.selectFrom('message_edits').select('content').where('message_id', '=', m.id).execute();
      expect(rows).toEqual([]);
    });
  });

  describe('DELETE /conversations/:id/messages/:messageId (for everyone)', () => {
    test('the sender deletes: 200 {message} tombstone — content, attachments, media, reactions gone; same seq; blobs removed, old URLs 404', async () => {
      const keysBefore = (await storage.keys(t)).sort();
      const attachment = await uploaded(t, a, ab, await png(), 'gone.png');
      const sent = await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
        token: a.token,
        body: { content: 'look at this', attachment_ids: [attachment.id] },
      });
      expect(sent.status, JSON.stringify(sent.body)).toBe(201);
      const m = sent.body.message;
      const live = m.attachments[0];
      expect((await fetchUrl(t, live.url)).status).toBe(200);
      expect((await storage.keys(t)).length).toBeGreaterThan(keysBefore.length);
      await x.react(b, ab, m.id, '👍');
      await x.edit(a, ab, m.id, 'look at this!');

      const res = await x.del(a, ab, m.id);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(Object.keys(res.body)).toEqual(['message']);
      const tomb = res.body.message;
      expectMessageShape(tomb);
      expect(tomb).toMatchObject({
        id: m.id,
        seq: m.seq,
        conversation_id: ab,
        sender_id: a.user.id,
        content: '',
        attachments: [],
        media_url: null,
        reactions: [],
        deleted_for: 'everyone',
      });
      expect(tomb.deleted_at).toMatch(ISO);
      expect(tomb.mod_seq).toBeGreaterThan(m.mod_seq);
      expect(await x.modSeq(b, ab)).toBe(tomb.mod_seq);

      for (const who of [a, b]) {
        const seen = await x.message(who, ab, m);
        expect(seen).toMatchObject({ content: '', attachments: [], media_url: null, reactions: [], deleted_for: 'everyone', deleted_at: tomb.deleted_at });
      }
      expect((await x.edits(b, ab, m.id)).body.edits).toEqual([]);
      // The bytes are gone, and the URLs handed out before answer 404.
      expect((await storage.keys(t)).sort()).toEqual(keysBefore);
      expect((await fetchUrl(t, live.url)).status).toBe(404);
      if (live.thumbnail_url) expect((await fetchUrl(t, live.thumbnail_url)).status).toBe(404);
      const withToken = await t.request('GET', `/api/v1/attachments/${attachment.id}`, { token: a.token });
      expect(withToken.status).toBe(404);
    });

    test('deleting again: 200, the same tombstone, no new mod_seq, no frame', async () => {
      const m = await restSend(t, a, ab, 'twice');
      const first = (await x.del(a, ab, m.id)).body.message;
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, ab);

      const again = await x.del(a, ab, m.id);
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect(again.body.message).toEqual(first);
      const explicit = await x.del(a, ab, m.id, '?for=everyone');
      expect(explicit.status).toBe(200);
      expect(explicit.body.message).toEqual(first);
      expect(await x.modSeq(a, ab)).toBe(modSeq);
      await expectNoChangeFrames(t, a, ab, watchers, marks);
    });

    test('only the sender: another member (the group owner too) → 403 forbidden; outsiders and wrong ids → 404; nothing changes', async () => {
      const m = await restSend(t, b, abc, "b's message");
      const elsewhere = await restSend(t, outsider, other, 'theirs');
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b), await sockets.connect(t, c)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, abc);

      expectError(await x.del(a, abc, m.id), 403, 'forbidden');
      expectError(await x.del(c, abc, m.id), 403, 'forbidden');
      expectError(await x.del(c, abc, m.id, '?for=everyone'), 403, 'forbidden');
      expectError(await x.del(outsider, abc, m.id), 404, 'not_found');
      expectError(await x.del(a, abc, 987654321), 404, 'not_found');
      expectError(await x.del(c, abc, elsewhere.id), 404, 'not_found');

      expect(await x.message(b, abc, m)).toMatchObject({ content: "b's message", deleted_at: null, deleted_for: null, mod_seq: m.mod_seq });
      expect(await x.message(c, other, elsewhere)).toMatchObject({ content: 'theirs', deleted_at: null, deleted_for: null });
      expect(await x.modSeq(a, abc)).toBe(modSeq);
      await expectNoChangeFrames(t, a, abc, watchers, marks);
    });

    test('?for= other than everyone or me → 400 validation_failed (field for); nothing changes', async () => {
      const m = await restSend(t, a, ab, 'stays');
      const modSeq = await x.modSeq(a, ab);
      for (const q of ['?for=bogus', '?for=', '?for=ME', '?for=all']) {
        const res = await x.del(a, ab, m.id, q);
        expectError(res, 400, 'validation_failed');
        expect(res.body.field).toBe('for');
      }
      expect(await x.message(b, ab, m)).toMatchObject({ content: 'stays', deleted_for: null, deleted_at: null });
      expect(await x.modSeq(a, ab)).toBe(modSeq);
    });
  });

  describe('DELETE …?for=me (hide)', () => {
    test('any member hides any message: 200 {message} as they now see it; the others still see it whole', async () => {
      const m = await restSend(t, a, abc, 'hide me');
      await x.react(c, abc, m.id, '🎉');
      const withReaction = await x.message(a, abc, m);
      const modSeq = await x.modSeq(a, abc);

      const res = await x.del(b, abc, m.id, '?for=me');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(Object.keys(res.body)).toEqual(['message']);
      const hidden = res.body.message;
      expectMessageShape(hidden);
      expect(hidden).toMatchObject({ id: m.id, seq: m.seq, content: '', attachments: [], media_url: null, reactions: [], deleted_for: 'me' });
      expect(hidden.deleted_at).toMatch(ISO);
      // Hiding took the conversation's next mod_seq, without stamping the message.
      expect(await x.modSeq(a, abc)).toBeGreaterThan(modSeq);

      expect(await x.message(b, abc, m)).toMatchObject({ content: '', deleted_for: 'me', reactions: [], deleted_at: hidden.deleted_at });
      for (const who of [a, c]) {
        const seen = await x.message(who, abc, m);
        expect(seen).toMatchObject({ content: 'hide me', deleted_for: null, deleted_at: null, mod_seq: withReaction.mod_seq });
        expect(seen.reactions).toEqual([{ emoji: '🎉', count: 1, me: who === c }]);
      }

      // The sender hides its own message just as well; the recipient still has it.
      const own = await restSend(t, a, ab, 'regret');
      const ownHidden = await x.del(a, ab, own.id, '?for=me');
      expect(ownHidden.status).toBe(200);
      expect(ownHidden.body.message).toMatchObject({ deleted_for: 'me', content: '' });
      expect(await x.message(b, ab, own)).toMatchObject({ content: 'regret', deleted_for: null });
    });

    test('hiding again: 200, the same hidden message, no new mod_seq, no frame', async () => {
      const m = await restSend(t, a, ab, 'hide twice');
      const first = await x.del(b, ab, m.id, '?for=me');
      expect(first.status).toBe(200);
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, ab);
      const again = await x.del(b, ab, m.id, '?for=me');
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect(again.body.message).toEqual(first.body.message);
      expect(await x.modSeq(a, ab)).toBe(modSeq);
      await expectNoChangeFrames(t, a, ab, watchers, marks);
    });

    test('a hidden message stays hidden from the hider after the sender edits it', async () => {
      const m = await restSend(t, a, ab, 'original');
      expect((await x.del(b, ab, m.id, '?for=me')).status).toBe(200);
      expect((await x.edit(a, ab, m.id, 'edited later')).status).toBe(200);
      expect(await x.message(b, ab, m)).toMatchObject({ content: '', deleted_for: 'me' });
      expect(await x.message(a, ab, m)).toMatchObject({ content: 'edited later', deleted_for: null });
    });

    test('the conversation list shows a latest message I hid as hidden, and it whole to the others', async () => {
      const conv = await direct(t, b, c);
      const m = await restSend(t, c, conv, 'latest, hidden by b');
      expect((await x.del(b, conv, m.id, '?for=me')).status).toBe(200);
      const latest = async (who: User) => {
        const list = await t.request('GET', '/api/v1/conversations', { token: who.token });
        return list.body.conversations.find((item: any) => item.id === conv).messages[0];
      };
      expect(await latest(b)).toMatchObject({ id: m.id, content: '', deleted_for: 'me' });
      expect(await latest(c)).toMatchObject({ id: m.id, content: 'latest, hidden by b', deleted_for: null });
      expect((await x.conversation(b, conv)).messages[0]).toMatchObject({ id: m.id, content: '', deleted_for: 'me' });
    });

    test('an outsider cannot hide: 404, nothing changes', async () => {
      const m = await restSend(t, a, ab, 'not yours to hide');
      expectError(await x.del(outsider, ab, m.id, '?for=me'), 404, 'not_found');
      expectError(await x.del(c, ab, m.id, '?for=me'), 404, 'not_found');
      expect(await x.message(a, ab, m)).toMatchObject({ content: 'not yours to hide', deleted_for: null });
      expect(await x.message(b, ab, m)).toMatchObject({ content: 'not yours to hide', deleted_for: null });
    });
  });

  test('a message deleted for me is gone for me: its edit history and who reacted are 404 to me, not to the others', async () => {
    const m = await restSend(t, a, abc, 'first words');
    expect((await x.edit(a, abc, m.id, 'second words')).status).toBe(200);
    expect((await x.react(c, abc, m.id, '👍')).status).toBe(200);
    expect((await x.del(b, abc, m.id, '?for=me')).status).toBe(200);
    const reactors = (who: User) =>
      t.request('GET', `/api/v1/conversations/${abc}/messages/${m.id}/reactions/${encodeURIComponent('👍')}`, { token: who.token });
    expectError(await x.edits(b, abc, m.id), 404, 'not_found');
    expectError(await reactors(b), 404, 'not_found');
    expect((await x.edits(c, abc, m.id)).body.edits.map((e: any) => e.content)).toEqual(['first words']);
    expect((await reactors(c)).body.users.map((u: any) => u.id)).toEqual([c.user.id]);
  });

  test('the edit history shows the latest 100 earlier versions, oldest first', async () => {
    const m = await restSend(t, a, ab, 'v0');
    for (let i = 1; i <= 102; i++) expect((await x.edit(a, ab, m.id, `v${i}`)).status).toBe(200);
    const edits = (await x.edits(b, ab, m.id)).body.edits.map((e: any) => e.content);
    expect(edits).toEqual(Array.from({ length: 100 }, (_, i) => `v${i + 2}`));
  });

  test('history keeps tombstones in the sequence: deleted for everyone for all, hidden only for the hider; seq gapless', async () => {
    const conv = await group(t, a, [b, c], 'tombstones');
    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push(await restSend(t, i % 2 ? a : b, conv, `m${i}`));
    expect((await x.del(b, conv, sent[1].id)).status).toBe(200); // m2, b's own
    expect((await x.del(c, conv, sent[3].id, '?for=me')).status).toBe(200); // m4, hidden by c

    const views = { a: await x.history(a, conv), b: await x.history(b, conv), c: await x.history(c, conv) };
    for (const [name, messages] of Object.entries(views)) {
      expect(messages.map((m) => m.seq), name).toEqual([1, 2, 3, 4, 5]);
      expect(messages.map((m) => m.id), name).toEqual(sent.map((m) => m.id));
      expect(messages[1], name).toMatchObject({ content: '', deleted_for: 'everyone' });
      expect(messages[0], name).toMatchObject({ content: 'm1', deleted_for: null });
    }
    expect(views.a[3]).toMatchObject({ content: 'm4', deleted_for: null });
    expect(views.b[3]).toMatchObject({ content: 'm4', deleted_for: null });
    expect(views.c[3]).toMatchObject({ content: '', deleted_for: 'me' });

    // Paging by seq walks over the tombstones like any message.
    const page = await t.request('GET', `/api/v1/conversations/${conv}/messages?after_seq=1&limit=3`, { token: c.token });
    expect(page.body.messages.map((m: any) => [m.seq, m.deleted_for])).toEqual([
      [2, 'everyone'],
      [3, null],
      [4, 'me'],
    ]);
    // The conversation's latest message, as the list shows it, is seen the same way.
    const list = await t.request('GET', '/api/v1/conversations', { token: c.token });
    expect(list.body.conversations.find((conv2: any) => conv2.id === conv).messages[0]).toMatchObject({ seq: 5, content: 'm5' });
  });

  describe('unread counts stay exact', () => {
    test('a message deleted before it was read no longer counts; one hidden for me no longer counts for me', async () => {
      const [s, r] = await Promise.all([registerUser(t), registerUser(t)]);
      const conv = await direct(t, s, r);
      const m1 = await restSend(t, s, conv, 'one');
      const m2 = await restSend(t, s, conv, 'two');
      const m3 = await restSend(t, s, conv, 'three');
      const m4 = await restSend(t, s, conv, 'four');
      expect(await x.unread(r, conv)).toBe(4);

      expect((await x.del(s, conv, m2.id)).status).toBe(200);
      expect(await x.unread(r, conv)).toBe(3);
      // Deleting again counts nothing twice.
      expect((await x.del(s, conv, m2.id)).status).toBe(200);
      expect(await x.unread(r, conv)).toBe(3);

      expect((await x.del(r, conv, m3.id, '?for=me')).status).toBe(200);
      expect(await x.unread(r, conv)).toBe(2);
      const summary = await t.request('GET', '/api/v1/users/me/unread', { token: r.token });
      expect(summary.body).toEqual({ total: 2, conversations: [{ conversation_id: conv, unread_count: 2 }] });

      // The sender hiding its own message changes nothing for the recipient.
      expect((await x.del(s, conv, m1.id, '?for=me')).status).toBe(200);
      expect(await x.unread(r, conv)).toBe(2);
      expect(await x.unread(s, conv)).toBe(0);

      // Reading everything leaves nothing unread; a later delete of a read message takes nothing below zero.
      const read = await t.request('POST', `/api/v1/conversations/${conv}/read`, { token: r.token, body: {} });
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      expect(read.body.unread_count).toBe(0);
      expect((await x.del(s, conv, m4.id)).status).toBe(200);
      expect(await x.unread(r, conv)).toBe(0);

      // Unread after a read pointer: a new message counts, and goes when deleted.
      const m5 = await restSend(t, s, conv, 'five');
      expect(await x.unread(r, conv)).toBe(1);
      await x.del(s, conv, m5.id);
      expect(await x.unread(r, conv)).toBe(0);
    });
  });

  test('mod_seq strictly increases with every change; stamped changes stamp the message; a new message comes after the last change', async () => {
    const conv = await group(t, a, [b, c], 'mod_seq');
    const seen: number[] = [await x.modSeq(a, conv)];
    const step = async (label: string, res: Promise<{ status: number; body: any }> | Promise<any>, stamps = true) => {
      const out: any = await res;
      // A REST reply (status, headers, body) or a message restSend returned.
      const isReply = out.headers instanceof Headers;
      const message = isReply ? out.body.message : out;
      if (isReply) expect(out.status, `${label}: ${JSON.stringify(out.body).slice(0, 300)}`).toBe(200);
      const now = await x.modSeq(a, conv);
      expect(now, label).toBeGreaterThan(seen.at(-1)!);
      if (stamps) expect(message.mod_seq, label).toBe(now);
      seen.push(now);
      return message;
    };
    const m1 = await step('send 1', restSend(t, a, conv, 'one'));
    const m2 = await step('send 2', restSend(t, b, conv, 'two'));
    await step('edit', x.edit(a, conv, m1.id, 'one, edited'));
    await step('react', x.react(b, conv, m1.id, '👍'));
    await step('another react', x.react(c, conv, m1.id, '👍'));
    await step('unreact', x.unreact(b, conv, m1.id, '👍'));
    const stamped = (await x.message(a, conv, m1)).mod_seq;
    await step('hide', x.del(c, conv, m1.id, '?for=me'), false);
    // The hide did not stamp the message for anyone else.
    expect((await x.message(a, conv, m1)).mod_seq).toBe(stamped);
    await step('delete', x.del(b, conv, m2.id));
    const m3 = await step('send 3', restSend(t, c, conv, 'three'));
    expect(m3.mod_seq).toBeGreaterThan(seen.at(-2)!);
    // Every message's mod_seq is the latest change it had.
    const history = await x.history(a, conv);
    expect(history.map((m) => m.mod_seq)).toEqual([stamped, seen[8], m3.mod_seq]);
  });
});

describe('changes at the same time', () => {
  test('sends, edits and reactions in parallel each take their own mod_seq; the conversation ends at the last', async () => {
    const t = await startApp();
    try {
      const x = api(t);
      const users = await Promise.all(Array.from({ length: 8 }, () => registerUser(t)));
      const [owner, ...rest] = users as [User, ...User[]];
      const conv = await group(t, owner, rest, 'busy');
      const targets = await Promise.all(users.map((u) => restSend(t, u, conv, `target of ${u.user.id}`)));
      const start = await x.modSeq(owner, conv);
      const ws = await sockets.connect(t, owner);

      const work: Promise<any>[] = [];
      for (const [i, u] of users.entries()) {
        work.push(restSend(t, u, conv, `parallel ${i}`));
        work.push(x.edit(u, conv, targets[i].id, `edited by ${i}`).then((r) => r.body.message));
        for (const target of targets.slice(0, 3)) work.push(x.react(u, conv, target.id, '👍').then((r) => r.body.message));
      }
      const results = await Promise.all(work);
      const changes = users.length * 5;
      expect(await x.modSeq(owner, conv)).toBe(start + changes);

      // Every change's frame carries a distinct mod_seq, together exactly start+1 … start+changes.
      await expect.poll(() => ws.frames.filter((f) => ['new_message', 'message_updated', 'reaction'].includes(f.type)).length, { timeout: 10_000 }).toBe(changes);
      const stamped = ws.frames
        .filter((f) => ['new_message', 'message_updated', 'reaction'].includes(f.type))
        .map((f) => (f.type === 'reaction' ? f.mod_seq : f.message.mod_seq) as number)
        .sort((p, q) => p - q);
      expect(stamped).toEqual(Array.from({ length: changes }, (_, i) => start + 1 + i));
      expect(results.every((m) => Number.isInteger(m.mod_seq) && m.mod_seq > start)).toBe(true);

      const history = await x.history(owner, conv);
      expect(new Set(history.map((m) => m.mod_seq)).size).toBe(history.length);
      for (const target of targets.slice(0, 3)) {
        expect(history.find((m) => m.id === target.id).reactions).toEqual([{ emoji: '👍', count: users.length, me: true }]);
      }
      // The last reaction frame per message tells the final count.
      const counts = ws.all('reaction').map((f) => f.count as number).sort((p, q) => p - q);
      expect(counts).toEqual(Array.from({ length: users.length }, (_, i) => i + 1).flatMap((n) => [n, n, n]));
    } finally {
      await sockets.closeAll();
      await t.close();
    }
  });
});

describe('the edit window (MESSAGE_EDIT_WINDOW), with a clock the test moves', () => {
  const LONG = { accessTokenTtl: 5000 * 86400, refreshTokenTtl: 6000 * 86400 };

  test('10m: edits within ten minutes of sending, then 403 edit_window_passed and nothing changes', async () => {
    const clock = new TestClock();
    const t = await startApp({ ...LONG, ...envConfig({ MESSAGE_EDIT_WINDOW: '10m' }) }, { clock });
    try {
      const x = api(t);
      const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
      const conv = await direct(t, a, b);
      const m = await restSend(t, a, conv, 'v1');
      clock.advance(9 * 60_000);
      const ok = await x.edit(a, conv, m.id, 'v2');
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      // The window runs from when the message was sent, not from its last edit.
      clock.advance(2 * 60_000);
      const watchers = [await sockets.connect(t, a), await sockets.connect(t, b)];
      const marks = marksOf(watchers);
      const modSeq = await x.modSeq(a, conv);
      expectError(await x.edit(a, conv, m.id, 'v3'), 403, 'edit_window_passed');
      expect(await x.message(b, conv, m)).toMatchObject({ content: 'v2', edited_at: ok.body.message.edited_at, mod_seq: ok.body.message.mod_seq });
      expect(await x.modSeq(a, conv)).toBe(modSeq);
      expect((await x.edits(a, conv, m.id)).body.edits.map((e: any) => e.content)).toEqual(['v1']);
      await expectNoChangeFrames(t, a, conv, watchers, marks);

      // The sender may still delete the old one.
      expect((await x.del(a, conv, m.id)).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  test('0: no limit — a message years old is still edited', async () => {
    const clock = new TestClock();
    const t = await startApp({ ...LONG, ...envConfig({ MESSAGE_EDIT_WINDOW: '0' }) }, { clock });
    try {
      const x = api(t);
      const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
      const conv = await direct(t, a, b);
      const m = await restSend(t, a, conv, 'old');
      clock.advance(3 * 365 * 86_400_000);
      const res = await x.edit(a, conv, m.id, 'still mine to edit');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.message.content).toBe('still mine to edit');
    } finally {
      await t.close();
    }
  });

  test('48h: an edit at 47 hours is fine, at 49 hours refused', async () => {
    const clock = new TestClock();
    const t = await startApp({ ...LONG, ...envConfig({ MESSAGE_EDIT_WINDOW: '48h' }) }, { clock });
    try {
      const x = api(t);
      const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
      const conv = await direct(t, a, b);
      const m = await restSend(t, a, conv, 'two days');
      clock.advance(47 * 3_600_000);
      expect((await x.edit(a, conv, m.id, 'two days, edited')).status).toBe(200);
      clock.advance(2 * 3_600_000);
      expectError(await x.edit(a, conv, m.id, 'too late'), 403, 'edit_window_passed');
      expect(await x.message(b, conv, m)).toMatchObject({ content: 'two days, edited' });
    } finally {
      await t.close();
    }
  });
});
