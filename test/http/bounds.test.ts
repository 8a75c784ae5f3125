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

const BIG = 1e20;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** One request per integer field of every operation: that field huge, everything else valid. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const [template, ops] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) {
      const op = ops[method];
      if (!op) continue;
      const params: any[] = op.parameters ?? [];
      const pathOf = (big?: string) =>
        template.replace(/\{(\w+)\}/g, (_m, name: string) => (name === big ? '1e20' : String(conversationId)));
      const query = (big?: string) => {
        const q = new URLSearchParams();
        for (const p of params) if (p.in === 'query' && p.required) q.set(p.name, String(sample(p.schema)));
        if (big) q.set(big, '1e20');
        const s = q.toString();
        return s ? `?${s}` : '';
      };
      const bodySchema: Schema | undefined = op.requestBody?.content?.['application/json']?.schema;
      const validBody = bodySchema ? sample(bodySchema) : undefined;
      for (const p of params) {
        const integer = [p.schema?.type].flat().includes('integer');
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
          body: withField(field, BIG),
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

  test('every integer in every path, query and body: 400 validation_failed naming the field', async () => {
    const failures: string[] = [];
    for (const c of cases()) {
      const res = await t.request(c.method.toUpperCase(), c.path, { token, ...(c.body === undefined ? {} : { body: c.body }) });
      if (res.status !== 400 || res.body?.code !== 'validation_failed' || res.body?.field !== c.field) {
        failures.push(`${c.name}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('a page limit of 1e20 and a negative seq are refused too, and nothing was stored', async () => {
    const res = await t.request('GET', `/api/v1/conversations/${conversationId}/messages?limit=1e20`, { token });
    expectError(res, 400, 'validation_failed');
    expect(res.body.field).toBe('limit');
    const negative = await t.request('POST', `/api/v1/conversations/${conversationId}/read`, { token, body: { seq: -1 } });
    expectError(negative, 400, 'validation_failed');
    expect(negative.body.field).toBe('seq');
    const rows = await t.app.database.db.selectFrom('messages').select('id').execute();
    expect(rows).toEqual([]);
  });
});
