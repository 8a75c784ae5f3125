import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { direct, messageRows, Sockets, type User } from './fixtures.js';

/**
 * Text no store can take — NUL characters, lone UTF-16 surrogates — is refused at the edge
 * of both transports with validation_failed naming the field, and stores nothing. Before,
 * a WebSocket frame carrying NUL reached the group commit, where PostgreSQL refused it and
 * every other message of its batch failed with `internal`.
 */

let t: TestApp;
let a: User, b: User, c: User;
let ab: number, cb: number;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
  [a, b, c] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
  ab = await direct(t, a, b);
  cb = await direct(t, c, b);
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

describe('over the WebSocket', () => {
  test('NUL in content, client_id or media_url: validation_failed naming it, nothing stored', async () => {
    const ws = await sockets.connect(t, a);
    const frames = [
      [{ type: 'message', conversation_id: ab, content: 'bad\u0000', client_id: 'nul-1' }, 'content', 'nul-1'],
      [{ type: 'message', conversation_id: ab, content: 'x', client_id: 'nul\u0000-2' }, 'client_id', undefined],
      [{ type: 'message', conversation_id: ab, message_type: 'image', media_url: 'https://x/\u0000' }, 'media_url', undefined],
    ] as const;
    for (const [frame, field, clientId] of frames) {
      ws.send(frame);
      const error = await ws.nextOfType('error');
      expect(error).toMatchObject({ code: 'validation_failed', field });
      expect(error.client_id).toBe(clientId);
    }
    expect(await messageRows(t, ab)).toEqual([]);
  });

  test('lone surrogates are refused, so two client_ids never collapse into one', async () => {
    const ws = await sockets.connect(t, a);
    for (const clientId of ['sur-\ud800', 'sur-\udbff', 'sur-\udc00x']) {
      ws.send(JSON.stringify({ type: 'message', conversation_id: ab, content: 'x', client_id: clientId }));
      expect(await ws.nextOfType('error')).toMatchObject({ code: 'validation_failed', field: 'client_id' });
    }
    ws.send({ type: 'message', conversation_id: ab, content: 'pair 😀 is fine', client_id: 'sur-ok-😀' });
    expect((await ws.nextOfType('new_message')).message.client_id).toBe('sur-ok-😀');
  });

  test("one user's NUL frames never fail another user's sends", async () => {
    const ws = await sockets.connect(t, a);
    const replies = [];
    for (let i = 0; i < 20; i++) {
      ws.send({ type: 'message', conversation_id: ab, content: `bad\u0000${i}` });
      replies.push(t.request('POST', `/api/v1/conversations/${cb}/messages`, { token: c.token, body: { content: `ok ${i}` } }));
    }
    const statuses = (await Promise.all(replies)).map((r) => r.status);
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 201));
    for (let i = 0; i < 20; i++) expect(await ws.nextOfType('error')).toMatchObject({ code: 'validation_failed', field: 'content' });
    expect(ws.all('error').some((f) => f.code === 'internal')).toBe(false);
  });
});

describe('over REST', () => {
  test('a lone surrogate in client_id or content: 400 validation_failed naming it, nothing stored', async () => {
    const before = (await messageRows(t, ab)).length;
    for (const [body, field] of [
      [{ content: 'x', client_id: 'sur-\ud800' }, 'client_id'],
      [{ content: 'half \udfff' }, 'content'],
    ] as const) {
      const res = await t.request('POST', `/api/v1/conversations/${ab}/messages`, { token: a.token, body });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'validation_failed', field });
    }
    expect((await messageRows(t, ab)).length).toBe(before);
  });
});
