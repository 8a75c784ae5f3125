import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CLIENT_FRAME_SCHEMAS } from '../../src/schemas/client-frames.js';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { integerFields, withField } from '../harness/samples.js';
import { direct, messageRows, Sockets, type User } from './fixtures.js';

/**
 * Every integer a client frame carries is bounded: a number beyond what PostgreSQL's
 * bigint holds exactly gets an `error` frame with validation_failed naming the field
 * (never `internal`), changes nothing, and the socket stays usable. The cases come from
 * the frame schemas the server validates with, so a frame added later is covered too.
 */

let t: TestApp;
let a: User;
let conversationId: number;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
  a = await registerUser(t);
  conversationId = await direct(t, a, await registerUser(t));
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

const cases = () =>
  Object.entries(CLIENT_FRAME_SCHEMAS).flatMap(([type, schema]) =>
    // sync's since and changes_since maps (conversation id → seq / mod_seq) and the ICE
    // candidates' sdpMLineIndex are tried by hand below.
    integerFields(schema as any, ['since', 'changes_since', 'candidates']).flatMap((field) =>
      [1e20, 2 ** 53].map((big) => ({ name: `${type}.${field.path} = ${big}`, frame: withField(field, big), field: field.path })),
    ),
  );

describe('integers beyond range in frames', () => {
  test('the frames have integer fields to try', () => {
    const names = cases().map((c) => c.name.split(' = ')[0]);
    for (const name of ['typing.conversation_id', 'delivered.seq', 'read.seq', 'message.conversation_id', 'message.reply_to_id']) {
      expect(names).toContain(name);
    }
  });

  test('{"type":"typing","conversation_id":1e20} is validation_failed naming the field (was internal)', async () => {
    const ws = await sockets.connect(t, a);
    ws.send('{"type":"typing","conversation_id":1e20}');
    const error = await ws.nextOfType('error');
    expect(error.code).toBe('validation_failed');
    expect(error.field).toBe('conversation_id');
    expect(error.error).toMatch(/^conversation_id /);
  });

  test('every integer field of every client frame: validation_failed naming it; the socket stays usable', async () => {
    const ws = await sockets.connect(t, a);
    const failures: string[] = [];
    const huge = String(2 ** 53);
    const all = [
      ...cases(),
      { name: 'sync.since seq', frame: { type: 'sync', since: { [conversationId]: 1e20 } }, field: `since.${conversationId}` },
      { name: 'sync.since id', frame: { type: 'sync', since: { [huge]: 0 } }, field: `since.${huge}` },
      {
        name: 'sync.changes_since mod_seq',
        frame: { type: 'sync', changes_since: { [conversationId]: 1e20 } },
        field: `changes_since.${conversationId}`,
      },
      { name: 'sync.changes_since id', frame: { type: 'sync', changes_since: { [huge]: 0 } }, field: `changes_since.${huge}` },
      {
        name: 'call_candidates sdpMLineIndex',
        frame: { type: 'call_candidates', call_id: '6f1c6c1e-8a0e-4f5e-9c1a-1b2c3d4e5f60', candidates: [{ candidate: '', sdpMLineIndex: 1e20 }] },
        field: 'candidates.0.sdpMLineIndex',
      },
    ];
    for (const c of all) {
      ws.send({ ...c.frame, conversation_id: c.field === 'conversation_id' ? c.frame.conversation_id : conversationId, ...pick(c.frame, c.field) });
      const reply = await ws.next((f) => f.type === 'error' || f.type === 'synced' || f.type === 'new_message');
      if (reply.type !== 'error' || reply.code !== 'validation_failed' || reply.field !== c.field) {
        failures.push(`${c.name}: ${JSON.stringify(reply).slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
    ws.send({ type: 'ping' });
    await ws.nextOfType('pong');
    expect(await messageRows(t)).toEqual([]);
    const pointers = await t.app.database.db.selectFrom('conversation_participants').select(['last_read_seq', 'last_delivered_seq']).execute();
    expect(pointers.every((p) => p.last_read_seq === 0 && p.last_delivered_seq === 0)).toBe(true);
  });
});

/** The studied field again, so the conversation_id default above cannot overwrite it. */
function pick(frame: Record<string, unknown>, field: string): Record<string, unknown> {
  const key = field.split('.')[0]!;
  return key in frame ? { [key]: frame[key] } : {};
}
