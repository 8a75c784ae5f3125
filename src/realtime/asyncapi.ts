import { readFileSync } from 'node:fs';
import type { TSchema } from 'typebox';
import { CLIENT_FRAME_SCHEMAS } from '../schemas/client-frames.js';
import { SERVER_FRAME_SCHEMAS } from '../schemas/server-frames.js';
import { CLOSE } from './protocol.js';

/**
 * The WebSocket contract as an AsyncAPI 3.0 document, generated from the very schemas
 * the gateway validates client frames with and builds server frames from
 * (src/schemas/client-frames.ts, server-frames.ts): a frame added there is in the
 * document without anyone writing it down. docs/protocol.md says in words what each
 * frame does; a test checks the two list the same frames. The document describes the
 * natter node: it `receive`s client frames and `send`s server frames.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Why a client sees each close code, and what it should do (docs/protocol.md §5 says more). */
const CLOSE_MEANINGS: { [K in keyof typeof CLOSE]: string } = {
  GOING_AWAY: 'The server is shutting down: reconnect (another node answers), then `sync`.',
  UNSUPPORTED_DATA: 'A binary frame was sent; natter speaks JSON text frames only. Fix the client.',
  TOO_BIG: 'A frame larger than `WS_MAX_PAYLOAD` (256 KiB by default). Fix the client.',
  TRY_AGAIN: 'Setting the socket up failed on the server (database or bus away): reconnect with backoff, then `sync`.',
  SESSION_ENDED: 'The session ended (logout, refresh token reuse, expiry): log in again; do not reconnect with this token.',
  SLOW_CONSUMER: 'The client did not read fast enough and its send buffer passed `WS_SEND_BUFFER`: reconnect, then `sync`.',
  RATE_LIMITED:
    'Abuse bound: far more frames waiting than a client that honours TCP can send. Reconnect, `sync`, resend ' +
    'unacknowledged messages with their `client_id`.',
};

/**
 * A TypeBox schema as AsyncAPI's schema format (a superset of JSON Schema draft-07) takes
 * it. A JSON round trip drops TypeBox's own markers (`~kind`, `~optional`, not enumerable
 * but carried by some tools). A schema with an `$id` (Message, MemberSettings, which REST
 * registers by id too) is moved to `shared` under that id and replaced by a `$ref`, so
 * each id appears once in the document however many frames embed it. Throws if one id
 * names two different schemas.
 */
export function toAsyncApiSchema(schema: TSchema, shared: Map<string, JsonObject>): JsonObject {
  const hoist = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(hoist);
    if (value === null || typeof value !== 'object') return value;
    const { $id, ...rest } = value;
    const out: JsonObject = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, hoist(v)]));
    if (typeof $id !== 'string') return $id === undefined ? out : { ...out, $id };
    const known = shared.get($id);
    if (known && JSON.stringify(known) !== JSON.stringify(out)) throw new Error(`Two different schemas have $id ${$id}`);
    shared.set($id, out);
    return { $ref: `#/components/schemas/${$id}` };
  };
  return hoist(JSON.parse(JSON.stringify(schema)) as Json) as JsonObject;
}

/** The version natter is released as (package.json, one level above src/ and dist/). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Component keys: `client.<type>` and `server.<type>` (`typing` is both). */
export const clientMessageKey = (type: string) => `client.${type}`;
export const serverMessageKey = (type: string) => `server.${type}`;

function closeCodesText(): string {
  const rows = Object.entries(CLOSE).map(([name, code]) => `| ${code} | \`${name}\` | ${CLOSE_MEANINGS[name as keyof typeof CLOSE]} |`);
  return [
    '| code | name | meaning |',
    '| --- | --- | --- |',
    '| 1000 | – | Normal close. |',
    '| 1006 | – | Seen by the client, never sent: the connection dropped or missed a heartbeat. Reconnect with backoff, then `sync`. |',
    ...rows,
  ].join('\n');
}

/**
 * Builds the document. Pure and deterministic: call it once at start-up and serve the
 * result. `address` is the gateway's path (`/api/v1/ws`), `version` natter's.
 */
export function buildAsyncApiDocument(opts: { address: string; version: string }): JsonObject {
  const shared = new Map<string, JsonObject>();
  const schemas: JsonObject = {};
  const messages: JsonObject = {};
  const channelMessages: JsonObject = {};
  const add = (direction: 'client' | 'server', key: string, type: string, schema: TSchema, summary: string) => {
    schemas[key] = toAsyncApiSchema(schema, shared);
    messages[key] = {
      name: type,
      title: `${type} (${direction})`,
      summary,
      contentType: 'application/json',
      payload: { $ref: `#/components/schemas/${key}` },
    };
    channelMessages[key] = { $ref: `#/components/messages/${key}` };
  };
  for (const [type, schema] of Object.entries(CLIENT_FRAME_SCHEMAS)) {
    add('client', clientMessageKey(type), type, schema, `client → server \`${type}\` frame (docs/protocol.md §2).`);
  }
  for (const [type, schema] of Object.entries(SERVER_FRAME_SCHEMAS)) {
    add('server', serverMessageKey(type), type, schema, `server → client \`${type}\` frame (docs/protocol.md §3).`);
  }
  const refs = (keys: string[]) => keys.map((key) => ({ $ref: `#/channels/ws/messages/${key}` }));
  const security = [{ $ref: '#/components/securitySchemes/token' }, { $ref: '#/components/securitySchemes/bearer' }];

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'natter WebSocket',
      version: opts.version,
      description:
        'The real-time half of natter: JSON text frames, one object each, with a string `type`. ' +
        'Clients must ignore frame types and fields they do not know. docs/protocol.md is the full ' +
        'description; the REST API is described by the OpenAPI document at /docs/json.',
    },
    defaultContentType: 'application/json',
    channels: {
      ws: {
        address: opts.address,
        title: 'The WebSocket',
        description: [
          `\`GET ${opts.address}?token=<access token>\` (browsers) or \`GET ${opts.address}\` with`,
          '`Authorization: Bearer <access token>`. A missing, bad or expired token, or an ended session, is',
          'answered HTTP 401 `{"error","code":"unauthorized"}` without an upgrade. Once subscribed the server',
          'sends `connected`; a client then sends `sync` to catch up.',
          '',
          'Close codes:',
          '',
          closeCodesText(),
        ].join('\n'),
        messages: channelMessages,
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: { token: { type: 'string', description: 'The access token (when no Authorization header is sent).' } },
            },
            headers: {
              type: 'object',
              properties: { Authorization: { type: 'string', pattern: '^Bearer ', description: '`Bearer <access token>`.' } },
            },
            bindingVersion: '0.1.0',
          },
        },
        'x-close-codes': Object.entries(CLOSE).map(([name, code]) => ({
          code,
          name,
          meaning: CLOSE_MEANINGS[name as keyof typeof CLOSE],
        })),
      },
    },
    operations: {
      receiveClientFrames: {
        action: 'receive',
        channel: { $ref: '#/channels/ws' },
        title: 'Client → server frames',
        summary: 'Frames a client sends; each is answered (an `error` frame for a refusal, with its `client_id`).',
        security,
        messages: refs(Object.keys(CLIENT_FRAME_SCHEMAS).map(clientMessageKey)),
      },
      sendServerFrames: {
        action: 'send',
        channel: { $ref: '#/channels/ws' },
        title: 'Server → client frames',
        summary: 'Frames the server sends: live events, answers, and `error` frames.',
        security,
        messages: refs(Object.keys(SERVER_FRAME_SCHEMAS).map(serverMessageKey)),
      },
    },
    components: {
      schemas: { ...Object.fromEntries([...shared].sort(([a], [b]) => a.localeCompare(b))), ...schemas },
      messages,
      securitySchemes: {
        token: { type: 'httpApiKey', in: 'query', name: 'token', description: 'The access token as `?token=`.' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: '`Authorization: Bearer <access token>`.' },
      },
    },
  };
}
