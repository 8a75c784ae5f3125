import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { expectError } from '../harness/expect.js';
import { integerFields, sample, withField, type Schema } from '../harness/samples.js';

/**
 * Every integer a route takes (path, query or body) is bounded: a number beyond what
 * PostgreSQL's bigint (or a JSON number) holds exactly is refused with 400
 * validation_failed naming the field, never answered with 500 internal. The cases come
 * from the OpenAPI document, so a route added later is covered without listing it here.
 */

let t: TestApp;
let token: string;
let conversationId: number;
let doc: any;

beforeAll(async () => {
  t = await startApp();
  const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
  token = a.token;
  const conv = await t.request('POST', '/api/v1/conversations', {
    token,
    body: { type: 'direct', participant_id: b.user.id },
  });
  conversationId = conv.body.conversation.id;
  doc = (await t.request('GET', '/docs/json')).body;
});
afterAll(() => t?.close());

interface Case {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  field: string;
}

/** Far beyond bigint, and the first integer a JSON number no longer holds exactly. */
const BIGS = [1e20, 2 ** 53];
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** One request per integer field of every operation: that field `big`, everything else valid. */
function cases(big = BIGS[0]!): Case[] {
  const text = big === 1e20 ? '1e20' : String(big);
  const out: Case[] = [];
  for (const [template, ops] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) {
      const op = ops[method];
      if (!op) continue;
      const params: any[] = op.parameters ?? [];
      const pathOf = (bigParam?: string) =>
        template.replace(/\{(\w+)\}/g, (_m, name: string) => (name === bigParam ? text : String(conversationId)));
      const query = (bigParam?: string) => {
        const q = new URLSearchParams();
        for (const p of params) if (p.in === 'query' && p.required) q.set(p.name, String(sample(p.schema)));
        if (bigParam) q.set(bigParam, text);
        const s = q.toString();
        return s ? `?${s}` : '';
      };
      const bodySchema: Schema | undefined = op.requestBody?.content?.['application/json']?.schema;
      const validBody = bodySchema ? sample(bodySchema) : undefined;
      for (const p of params) {
        const integer = [p.schema, ...(p.schema?.anyOf ?? [])].some((x) => [x?.type].flat().includes('integer'));
        if (!integer || (p.in !== 'path' && p.in !== 'query')) continue;
        out.push({
          name: `${method.toUpperCase()} ${template} ${p.in} ${p.name}`,
          method,
          path: p.in === 'path' ? pathOf(p.name) + query() : pathOf() + query(p.name),
          body: validBody,
          field: p.name,
        });
      }
      for (const field of bodySchema ? integerFields(bodySchema) : []) {
        out.push({
          name: `${method.toUpperCase()} ${template} body ${field.path}`,
          method,
          path: pathOf() + query(),
          body: withField(field, big),
          field: field.path,
        });
      }
    }
  }
  return out;
}

describe('integers beyond range', () => {
  test('the API has integer inputs to try (the OpenAPI walk finds them)', () => {
    const names = cases().map((c) => c.name);
    // The ones the bug report named, as a check that the walk sees paths, queries and bodies.
    expect(names).toContain('POST /api/v1/conversations/{id}/read path id');
    expect(names).toContain('POST /api/v1/conversations/{id}/read body seq');
    expect(names).toContain('GET /api/v1/conversations/{id}/messages query before_seq');
    expect(names).toContain('POST /api/v1/conversations body participant_ids.0');
    expect(names.length).toBeGreaterThan(15);
  });

  test('POST /conversations/1e20/read is 400 validation_failed naming id (was 500 internal)', async () => {
    const res = await t.request('POST', '/api/v1/conversations/1e20/read', { token });
    expectError(res, 400, 'validation_failed');
    expect(res.body.field).toBe('id');
  });

  test('every integer in every path, query and body, at 1e20 and at 2^53: 400 validation_failed naming the field', async () => {
    const failures: string[] = [];
    for (const c of BIGS.flatMap((big) => cases(big))) {
      const res = await t.request(c.method.toUpperCase(), c.path, { token, ...(c.body === undefined ? {} : { body: c.body }) });
      if (res.status !== 400 || res.body?.code !== 'validation_failed' || res.body?.field !== c.field) {
        failures.push(`${c.name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('a negative seq and a cursor holding huge numbers are refused too', async () => {
    const negative = await t.request('POST', `/api/v1/conversations/${conversationId}/read`, { token, body: { seq: -1 } });
    expectError(negative, 400, 'validation_failed');
    expect(negative.body.field).toBe('seq');
    for (const inside of [`c:${'9'.repeat(30)}:1`, `c:1:${'9'.repeat(30)}`]) {
      const cursor = Buffer.from(inside).toString('base64url');
      const res = await t.request('GET', `/api/v1/conversations?cursor=${cursor}`, { token });
      expectError(res, 400, 'validation_failed');
      expect(res.body.field).toBe('cursor');
    }
  });

  test('the largest id and seq (2^53 − 1) are accepted: not found or capped, never refused or internal', async () => {
    const max = Number.MAX_SAFE_INTEGER;
    expectError(await t.request('GET', `/api/v1/conversations/${max}`, { token }), 404, 'not_found');
    expectError(await t.request('GET', `/api/v1/users/${max}`, { token }), 404, 'not_found');
    const read = await t.request('POST', `/api/v1/conversations/${conversationId}/read`, { token, body: { seq: max } });
    expect(read.status).toBe(200);
    expect(read.body.last_read_seq).toBe(0);
  });

  test('none of the refused requests changed anything', async () => {
    const db = t.app.database.db;
    expect(await db.selectFrom('messages').select('id').execute()).toEqual([]);
    expect(await db.selectFrom('conversations').select('id').execute()).toEqual([{ id: conversationId }]);
    const pointers = await db.selectFrom('conversation_participants').select(['last_read_seq', 'last_delivered_seq']).execute();
    expect(pointers).toEqual([
      { last_read_seq: 0, last_delivered_seq: 0 },
      { last_read_seq: 0, last_delivered_seq: 0 },
    ]);
  });
});
