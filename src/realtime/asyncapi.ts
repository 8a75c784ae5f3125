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

interface CloseMeaning {
  meaning: string;
  /** What the client should do. */
  action: string;
}

/**
 * Why a client sees each close code the server sends, and what it should do.
 * docs/protocol.md §5's table says the same, word for word: test/docs/close-codes.test.ts
 * compares it with this document's.
 */
const CLOSE_MEANINGS: { [K in keyof typeof CLOSE]: CloseMeaning } = {
  GOING_AWAY: { meaning: 'The server is shutting down.', action: 'Reconnect (another node will answer), then `sync`.' },
  UNSUPPORTED_DATA: { meaning: 'A binary frame was sent; natter speaks JSON text only.', action: 'Fix the client.' },
  TOO_BIG: {
    meaning: 'A frame larger than `WS_MAX_PAYLOAD` (256 KiB by default).',
    action: 'Fix the client; message text is limited to `MESSAGE_MAX_BYTES` anyway.',
  },
  TRY_AGAIN: {
    meaning: 'Setting the socket up failed on the server (its database or bus was away).',
    action: 'Reconnect with backoff, then `sync`.',
  },
  SESSION_ENDED: {
    meaning:
      "The session ended (logout, its refresh token was reused, or it expired). Every node also checks its sockets' " +
      "sessions once per `WS_PING_INTERVAL`, so this arrives even if the logout's live event was lost.",
    action: 'Do not reconnect with this token; log in again.',
  },
  SLOW_CONSUMER: {
    meaning:
      "Slow consumer: the socket's unsent data passed `WS_SEND_BUFFER`, so the server stopped buffering for it. The " +
      'close frame waits behind what was already queued; a client that never reads it is cut off by the heartbeat (1006).',
    action: 'Reconnect, then `sync`.',
  },
  RATE_LIMITED: {
    meaning:
      'Abuse bound: more than 4,352 frames were waiting on this socket. The server stops reading at 256 (§5a), so a ' +
      'client cannot get here by sending fast; it bounds memory should it ever.',
    action: 'Reconnect, then `sync`; resend unacknowledged messages with their `client_id`.',
  },
};

/** Codes a client sees that the server does not choose: a normal close, and a connection lost. */
const OTHER_CLOSES: ({ code: number } & CloseMeaning)[] = [
  { code: 1000, meaning: 'Normal close.', action: '–' },
  {
    code: 1006,
    meaning:
      '(Seen by the client, never sent.) The connection dropped, or the server got no pong for a whole ' +
      '`WS_PING_INTERVAL` and cut it.',
    action: 'Reconnect with backoff, then `sync`.',
  },
];

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

/** Every close code a client may see, as a Markdown table in code order (docs/protocol.md §5 has the same). */
function closeCodesText(): string {
  const named = Object.entries(CLOSE).map(([name, code]) => ({ code, ...CLOSE_MEANINGS[name as keyof typeof CLOSE] }));
  const rows = [...OTHER_CLOSES, ...named].sort((a, b) => a.code - b.code);
  return [
    '| code | meaning | what the client should do |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| ${r.code} | ${r.meaning} | ${r.action} |`),
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
        'x-close-codes': Object.entries(CLOSE).map(([name, code]) => ({ code, name, ...CLOSE_MEANINGS[name as keyof typeof CLOSE] })),
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
