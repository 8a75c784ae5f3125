import { readFileSync } from 'node:fs';
import { DiagnosticSeverity, Parser, type AsyncAPIDocumentInterface } from '@asyncapi/parser';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { frameHandlers, type HandlerDeps } from '../../src/realtime/handlers.js';
import { CLOSE } from '../../src/realtime/protocol.js';
import { CLIENT_FRAME_SCHEMAS } from '../../src/schemas/client-frames.js';
import { SERVER_FRAME_SCHEMAS } from '../../src/schemas/server-frames.js';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { refusedUpgrade, WsClient } from '../harness/ws.js';

/**
 * The AsyncAPI document at /docs/asyncapi.json: valid for the AsyncAPI parser, and the
 * same frames, with the same schemas, as the code validates and sends.
 */

let t: TestApp;
let raw: any;
let doc: AsyncAPIDocumentInterface;

beforeAll(async () => {
  t = await startApp();
  const res = await t.request('GET', '/docs/asyncapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  raw = res.body;
  const { document, diagnostics } = await new Parser().parse(JSON.stringify(raw));
  // The diagnostics' severity comes from another copy of @stoplight/types than the enum.
  const isError = (d: (typeof diagnostics)[number]) => Number(d.severity) === Number(DiagnosticSeverity.Error);
  const errors = diagnostics.filter(isError);
  for (const d of diagnostics.filter((d) => !isError(d))) {
    console.warn(`asyncapi: ${d.code}: ${d.message} (${d.path.join('.')})`);
  }
  expect(errors.map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`)).toEqual([]);
  doc = document!;
});
afterAll(() => t?.close());

/** `properties.type.const` of a frame schema: the literal its `type` must be. */
const typeLiteral = (schema: { properties: { type: unknown } }): string => (schema.properties.type as { const: string }).const;

/** Frame types in the messages of the document's operations with this action. */
function documentedTypes(action: 'send' | 'receive'): string[] {
  const operations = action === 'send' ? doc.operations().filterBySend() : doc.operations().filterByReceive();
  return operations
    .flatMap((op) => op.messages().all())
    .map((m) => m.payload()!.properties()!.type!.const() as string)
    .sort();
}

/** A schema with every `#/components/schemas/…` reference replaced by what it names. */
function inline(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inline);
  if (!schema || typeof schema !== 'object') return schema;
  const ref = (schema as { $ref?: string }).$ref;
  if (ref !== undefined) {
    const name = /^#\/components\/schemas\/([^/]+)$/.exec(ref)?.[1];
    expect(name, `unexpected $ref ${ref}`).toBeDefined();
    return inline(raw.components.schemas[name!]);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inline(v)]));
}

/** The code's schema as plain JSON without `$id`s: the only things the document may change. */
function withoutIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutIds);
  if (!schema || typeof schema !== 'object') return schema;
  return Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$id').map(([k, v]) => [k, withoutIds(v)]));
}

describe('the AsyncAPI document', () => {
  test('is AsyncAPI 3.0 with natter\'s version, served openly like /docs/json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(raw.asyncapi).toBe('3.0.0');
    expect(doc.info().version()).toBe(pkg.version);
    // Neither document asks for a token.
    expect((await t.request('GET', '/docs/json')).status).toBe(200);
  });

  test('lists exactly the client frames the router handles, as frames the node receives', () => {
    const handled = Object.keys(frameHandlers({} as HandlerDeps)).sort();
    expect(Object.values(CLIENT_FRAME_SCHEMAS).map(typeLiteral).sort()).toEqual(handled);
    expect(documentedTypes('receive')).toEqual(handled);
  });

  test('lists exactly the server frames the code sends, as frames the node sends', () => {
    expect(documentedTypes('send')).toEqual(Object.values(SERVER_FRAME_SCHEMAS).map(typeLiteral).sort());
  });

  test('gives every frame the payload schema the code validates or builds it with', () => {
    const operations = [
      ...doc.operations().filterByReceive().map((op) => ({ op, code: CLIENT_FRAME_SCHEMAS as Record<string, any> })),
      ...doc.operations().filterBySend().map((op) => ({ op, code: SERVER_FRAME_SCHEMAS as Record<string, any> })),
    ];
    let compared = 0;
    for (const { op, code } of operations) {
      for (const ref of raw.operations[op.id()!].messages as { $ref: string }[]) {
        const key = /^#\/channels\/ws\/messages\/(.+)$/.exec(ref.$ref)![1]!;
        const message = raw.components.messages[raw.channels.ws.messages[key].$ref.split('/').pop()];
        const payload = inline(message.payload) as { properties: { type: { const: string } } };
        const type = payload.properties.type.const;
        expect(message.name).toBe(type);
        expect(payload, `payload of ${key}`).toEqual(withoutIds(JSON.parse(JSON.stringify(code[type]))));
        compared++;
      }
    }
    expect(compared).toBe(Object.keys(CLIENT_FRAME_SCHEMAS).length + Object.keys(SERVER_FRAME_SCHEMAS).length);
  });

  test('names every close code the server uses', () => {
    const channel = doc.channels().get('ws')!;
    expect(raw.channels.ws['x-close-codes'].map((c: any) => [c.name, c.code])).toEqual(Object.entries(CLOSE));
    for (const code of Object.values(CLOSE)) expect(channel.description()).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });

  test('has the gateway at its channel address, by ?token= or Authorization header', async () => {
    const address = doc.channels().get('ws')!.address()!;
    const url = `${t.url.replace(/^http/, 'ws')}${address}`;
    expect(await refusedUpgrade(url)).toBe(401);
    const { token, user } = await registerUser(t);
    // One at a time: a WsClient records frames from when it wraps its socket.
    for (const open of [
      () => new WebSocket(`${url}?token=${encodeURIComponent(token)}`),
      () => new WebSocket(url, { headers: { authorization: `Bearer ${token}` } }),
    ]) {
      const client = new WsClient(open());
      expect((await client.nextOfType('connected')).user_id).toBe(user.id);
      await client.close();
    }
    const security = doc.operations().all().map((op) => op.security().map((s) => s.all().map((r) => r.scheme().type())));
    for (const alternatives of security) expect(alternatives.flat().sort()).toEqual(['http', 'httpApiKey']);
  });

  test('is linked from the top of docs/protocol.md and from the README\'s API section', () => {
    const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');
    const protocol = read('docs/protocol.md');
    expect(protocol.slice(0, protocol.indexOf('## 1.'))).toContain('/docs/asyncapi.json');
    const readme = read('README.md');
    const api = readme.slice(readme.indexOf('## API'));
    expect(api.slice(0, api.indexOf('\n## ', 1))).toContain('/docs/asyncapi.json');
  });
});
