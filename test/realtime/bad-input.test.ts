import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { expectError } from '../harness/expect.js';
import type { Frame, WsClient } from '../harness/ws.js';
import { direct, messageRows, Sockets, type User } from './fixtures.js';

/**
 * The one list of bad inputs: values that once reached the database unchecked (answered
 * 500 internal) or were silently coerced into something else (`true` read as user 1,
 * `[2]` as 2, `5` stored as the client_id "5"). Every row is sent as raw JSON text —
 * a lone surrogate can only be written as an escape — against every place its field
 * exists: the REST body or path and the WebSocket frames. Each must be refused with
 * validation_failed naming the field (a WS error frame also carries the frame's clean
 * client_id), store nothing, and leave the socket usable.
 *
 * test/http/bounds.test.ts and test/realtime/bounds.test.ts walk every integer of every
 * route and frame at 1e20 and 2^53; this table is the list, kept in one place.
 */

/** The field a row poisons; it decides where the row is sent. */
type Poisons =
  | 'participant_id'
  | 'participant_ids'
  | 'content'
  | 'client_id'
  | 'reply_to_id'
  | 'media_url'
  | 'attachment_ids'
  | 'conversation_id'
  | 'seq';

interface Row {
  name: string;
  poisons: Poisons;
  /** The value as raw JSON text. */
  json: string;
  /** The field the error must name (over REST the path id is `id`). */
  field: string;
}

const row = (poisons: Poisons, json: string, name: string, field: string = poisons): Row => ({ name, poisons, json, field });

const TWO_64 = '18446744073709551616';
const TWO_63_MINUS_1 = '9223372036854775807';

/** What no integer field may take: beyond bigint, not a whole positive number, the wrong type. */
const badIntegers = (poisons: Poisons): Row[] => [
  row(poisons, TWO_64, '2^64'),
  row(poisons, TWO_63_MINUS_1, '2^63 − 1'),
  row(poisons, '1e309', 'a JSON number that parses to Infinity'),
  row(poisons, '-1', 'negative'),
  row(poisons, '1.5', 'a fraction'),
  row(poisons, '"1"', 'a number as a string (no coercion)'),
  row(poisons, 'true', 'a boolean'),
];

const TABLE: Row[] = [
  // POST /conversations: numbers sent as strings, non-finite numbers, coercion.
  row('participant_id', '"1e309"', 'a number beyond double as a string'),
  row('participant_id', '"Infinity"', 'Infinity as a string'),
  row('participant_id', '"-1e309"', 'minus infinity as a string'),
  row('participant_id', '"2"', 'a valid id as a string (no coercion)'),
  row('participant_id', '1e309', 'a JSON number that parses to Infinity'),
  row('participant_id', '-1e309', 'a JSON number that parses to -Infinity'),
  row('participant_id', 'true', 'true (coercion made a direct chat with user 1)'),
  row('participant_id', '[2]', '[2] (coercion read it as 2)'),
  row('participant_id', '0', 'zero'),
  row('participant_id', TWO_64, '2^64'),
  row('participant_ids', '["1e309"]', 'an element beyond double as a string', 'participant_ids.0'),
  row('participant_ids', '[1e309]', 'an element that parses to Infinity', 'participant_ids.0'),
  row('participant_ids', '[true]', 'an element true', 'participant_ids.0'),
  row('participant_ids', `[${TWO_63_MINUS_1}]`, 'an element 2^63 − 1', 'participant_ids.0'),
  row('participant_ids', '2', 'a bare id where a list belongs (no coercion into [2])'),

  // A message, over POST /conversations/:id/messages and the `message` frame.
  row('content', '123', 'a number (was stored as "123")'),
  row('content', '["a"]', 'a list (was stored)'),
  row('content', 'true', 'a boolean'),
  row('content', String.raw`"bad\u0000"`, 'a NUL character'),
  row('content', String.raw`"half \udfff"`, 'a lone low surrogate'),
  row('content', String.raw`"\ud800 x"`, 'a lone high surrogate'),
  row('client_id', '5', 'a number (was stored as "5")'),
  row('client_id', '""', 'empty (coercion turned it into null)'),
  row('client_id', '["c"]', 'a list'),
  row('client_id', String.raw`"nul\u0000"`, 'a NUL character'),
  // Two different lone surrogates: PostgreSQL would store both as U+FFFD, one client_id.
  row('client_id', String.raw`"sur-\ud800"`, 'the lone surrogate \\ud800'),
  row('client_id', String.raw`"sur-\udbff"`, 'the lone surrogate \\udbff'),
  row('reply_to_id', '"1e309"', 'a number beyond double as a string'),
  row('reply_to_id', '"5"', 'a valid id as a string (no coercion)'),
  ...badIntegers('reply_to_id'),
  row('reply_to_id', '0', 'zero (was accepted)'),
  row('media_url', String.raw`"https://cdn.example/\u0000.png"`, 'a NUL character'),
  row('media_url', String.raw`"https://cdn.example/\ud800.png"`, 'a lone surrogate'),
  row('media_url', '5', 'a number'),
  // Attachments: a list of 1–10 distinct ids, nothing else.
  row('attachment_ids', '[]', 'an empty list'),
  row('attachment_ids', '5', 'a lone id, not a list'),
  row('attachment_ids', '["1"]', 'an id as a string (no coercion)', 'attachment_ids.0'),
  row('attachment_ids', '[0]', 'zero', 'attachment_ids.0'),
  row('attachment_ids', `[${TWO_64}]`, '2^64', 'attachment_ids.0'),
  row('attachment_ids', '[1,1]', 'the same id twice'),
  row('attachment_ids', `[${Array.from({ length: 11 }, (_, i) => i + 1).join(',')}]`, 'eleven ids'),
  row('attachment_ids', '[999999]', 'an attachment that does not exist'),

  // A conversation id: the `message`, `typing`, `read` and `delivered` frames, and the REST path.
  ...badIntegers('conversation_id'),
  row('conversation_id', '0', 'zero'),
  row('conversation_id', 'null', 'null'),

  // A seq: POST /conversations/:id/read and /delivered, and the `read` and `delivered` frames.
  ...badIntegers('seq'),
  row('seq', '"Infinity"', 'Infinity as a string'),
];

let t: TestApp;
let a: User, b: User;
let ab: number;
let ws: WsClient;
const sockets = new Sockets();

beforeAll(async () => {
  // Bursts of frames from one socket, far under any budget a test should meet.
  t = await startApp({ wsRateLimit: 10_000 });
  // The first users take ids 1 and 2, which coerced values (true, [2]) would name.
  const [z, y] = [await registerUser(t), await registerUser(t)];
  [a, b] = [await registerUser(t), await registerUser(t)];
  await direct(t, z, y);
  ab = await direct(t, a, b);
  ws = await sockets.connect(t, a);
});
afterAll(async () => {
  await sockets.closeAll();
  await t?.close();
});

/** `{…base, field: <json>}` as JSON text, with the field's own value in `base` replaced. */
function withRaw(base: Record<string, unknown>, field: string, json: string): string {
  const rest = Object.fromEntries(Object.entries(base).filter(([k]) => k !== field));
  const head = JSON.stringify(rest);
  return `${head.slice(0, -1)}${head === '{}' ? '' : ','}"${field}":${json}}`;
}

interface RestCase {
  method: string;
  path: string;
  raw: string;
  field: string;
}

/** The REST requests a row makes: the body field, or the path id for conversation ids. */
function restCases(r: Row): RestCase[] {
  const post = (path: string, base: Record<string, unknown>, field = r.field): RestCase => ({
    method: 'POST',
    path,
    raw: withRaw(base, r.poisons, r.json),
    field,
  });
  switch (r.poisons) {
    case 'participant_id':
      return [post('/api/v1/conversations', { type: 'direct' })];
    case 'participant_ids':
      return [post('/api/v1/conversations', { type: 'group', name: 'bad input' })];
    case 'content':
    case 'client_id':
    case 'reply_to_id':
    case 'media_url':
    case 'attachment_ids':
      return [post(`/api/v1/conversations/${ab}/messages`, messageBase(r))];
    case 'seq':
      return [post(`/api/v1/conversations/${ab}/read`, {}), post(`/api/v1/conversations/${ab}/delivered`, {})];
    case 'conversation_id': {
      // A path segment is text: only the rows spelt as a JSON number have a path to try.
      if (!/^-?[0-9.e+]+$/.test(r.json)) return [];
      return ['messages', 'read', 'delivered'].map((tail) => ({
        method: 'POST',
        path: `/api/v1/conversations/${r.json}/${tail}`,
        raw: tail === 'messages' ? '{"content":"ok"}' : '{}',
        field: 'id',
      }));
    }
  }
}

/** The valid rest of a send: media rows are image messages, so a coerced URL would be stored. */
function messageBase(r: Row): Record<string, unknown> {
  return r.poisons === 'media_url' ? { content: 'ok', message_type: 'image' } : { content: 'ok' };
}

interface WsCase {
  raw: string;
  field: string;
  /** The client_id the error frame must carry (none when the row poisons it). */
  clientId: string | undefined;
}

/** The frames a row is sent in. */
function wsCases(r: Row, n: number): WsCase[] {
  const clientId = r.poisons === 'client_id' ? undefined : `bad-${n}`;
  const message = { type: 'message', conversation_id: ab, ...messageBase(r), ...(clientId ? { client_id: clientId } : {}) };
  const frame = (base: Record<string, unknown>, id: string | undefined) => ({ raw: withRaw(base, r.poisons, r.json), field: r.field, clientId: id });
  switch (r.poisons) {
    case 'participant_id':
    case 'participant_ids':
      return []; // conversations are created over REST only
    case 'content':
    case 'client_id':
    case 'reply_to_id':
    case 'media_url':
    case 'attachment_ids':
      return [frame(message, clientId)];
    case 'conversation_id':
      return [
        frame(message, clientId),
        frame({ type: 'typing', is_typing: true }, undefined),
        frame({ type: 'read', seq: 0 }, undefined),
        frame({ type: 'delivered', seq: 0 }, undefined),
      ];
    case 'seq':
      return [frame({ type: 'read', conversation_id: ab }, undefined), frame({ type: 'delivered', conversation_id: ab }, undefined)];
  }
}

/** Everything a bad input could have changed. */
async function snapshot() {
  const db = t.app.database.db;
  return {
    messages: await messageRows(t),
    conversations: await db.selectFrom('conversations').select(['id', 'last_seq']).orderBy('id').execute(),
    members: await db
      .selectFrom('conversation_participants')
      .select(['conversation_id', 'user_id', 'last_read_seq', 'last_delivered_seq'])
      .orderBy('conversation_id')
      .orderBy('user_id')
      .execute(),
  };
}

/** Sends one raw frame and a ping; the frames the server answered before the pong. */
async function answersTo(raw: string): Promise<Frame[]> {
  const start = ws.frames.length;
  ws.send(raw);
  ws.send({ type: 'ping' });
  await ws.nextOfType('pong');
  return ws.frames.slice(start).filter((f) => f.type !== 'pong');
}

test('the table names every field of the issue, over both transports', () => {
  const poisoned = new Set(TABLE.map((r) => r.poisons));
  expect([...poisoned].sort()).toEqual(
    ['attachment_ids', 'client_id', 'content', 'conversation_id', 'media_url', 'participant_id', 'participant_ids', 'reply_to_id', 'seq'].sort(),
  );
  for (const r of TABLE) expect(restCases(r).length + wsCases(r, 0).length, r.name).toBeGreaterThan(0);
});

describe.each(TABLE.map((r, n) => ({ ...r, n })))('$poisons $json ($name)', (r) => {
  test(`is validation_failed naming ${r.field}, stores nothing, and the socket stays usable`, async () => {
    const before = await snapshot();

    for (const c of restCases(r)) {
      const res = await t.request(c.method, c.path, { token: a.token, raw: c.raw });
      const what = `${c.method} ${c.path} ${c.raw}`;
      expectError(res, 400, 'validation_failed');
      expect(res.body.field, what).toBe(c.field);
      expect(Object.keys(res.body).sort(), what).toEqual(['code', 'error', 'field']);
    }

    for (const c of wsCases(r, r.n)) {
      const answers = await answersTo(c.raw);
      expect(answers, c.raw).toHaveLength(1);
      const [error] = answers;
      expect(error, c.raw).toMatchObject({ type: 'error', code: 'validation_failed', field: c.field });
      expect(error!.client_id, c.raw).toBe(c.clientId);
    }

    expect(await snapshot()).toEqual(before);

    // The socket still works: a good message afterwards is stored and echoed.
    const good = `good-${r.n}`;
    ws.send({ type: 'message', conversation_id: ab, content: `after ${r.name}`, client_id: good });
    const echo = await ws.next((f) => (f.type === 'new_message' ? f.message.client_id : f.client_id) === good);
    expect(echo).toMatchObject({ type: 'new_message', message: { client_id: good, content: `after ${r.name}` } });
    expect((await messageRows(t)).length).toBe(before.messages.length + 1);
  });
});

test('a refused value nested in a frame is named by its whole path, as schema errors name it', async () => {
  for (const [raw, field] of [
    [`{"type":"sync","since":{"${ab}":1e309}}`, `since.${ab}`],
    [String.raw`{"type":"message","conversation_id":${ab},"content":"ok","client_id":"nested-1","media_url":{"a":["\u0000"]}}`, 'media_url.a.0'],
  ] as const) {
    const answers = await answersTo(raw);
    expect(answers, raw).toHaveLength(1);
    expect(answers[0], raw).toMatchObject({ type: 'error', code: 'validation_failed', field });
  }
});
