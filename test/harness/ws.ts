import { Compile } from 'typebox/compile';
import WebSocket from 'ws';
import { SERVER_FRAME_SCHEMAS } from '../../src/schemas/server-frames.js';
import type { TestApp } from './app.js';

export type Frame = Record<string, any> & { type: string };

/**
 * The server frame schemas, closed: a field the schema does not name is a contract break
 * here (a leaked column, a renamed field), though clients are told to ignore unknown ones.
 */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = closed(v);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}
const serverFrames = new Map(
  Object.entries(SERVER_FRAME_SCHEMAS).map(([type, schema]) => [type, Compile(closed(schema) as typeof schema)]),
);

/** Why a frame the server sent breaks its own contract (src/schemas/server-frames.ts), or null. */
export function contractProblem(frame: Frame): string | null {
  const validator = serverFrames.get(frame.type);
  if (!validator) return `unknown server frame type ${JSON.stringify(frame.type)}`;
  const value: unknown = frame;
  if (validator.Check(value)) return null;
  const [first] = validator.Errors(value);
  return `${frame.type} ${first?.instancePath ?? ''} ${first?.message ?? 'is not valid'}`;
}

/**
 * A real WebSocket client for tests. It records every frame; `next` waits for the first
 * not-yet-taken frame matching a predicate, so tests read frames in order without races.
 * Every frame is checked against the server frame schemas: one that breaks them fails the
 * test at its next `next`, so every realtime test also checks the wire contract.
 */
export class WsClient {
  readonly frames: Frame[] = [];
  /** Frames that broke the server frame schemas. */
  readonly broken: string[] = [];
  private taken = new Set<number>();
  private waiters: (() => void)[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<number>;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data as Buffer)) as Frame;
      const problem = contractProblem(frame);
      if (problem) this.broken.push(`${problem}: ${JSON.stringify(frame).slice(0, 300)}`);
      this.frames.push(frame);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      });
    });
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for the next untaken frame that matches; throws after `timeoutMs`. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.assertContract();
      const i = this.frames.findIndex((f, idx) => !this.taken.has(idx) && match(f));
      if (i >= 0) {
        this.taken.add(i);
        return this.frames[i]!;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 2000)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  nextOfType(type: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === type, timeoutMs);
  }

  /** All frames of a type received so far (taken or not). */
  all(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Resolves after `ms` if no untaken frame matched meanwhile; throws if one did. */
  async expectNone(match: (f: Frame) => boolean, ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const found = this.frames.find((f, idx) => !this.taken.has(idx) && match(f));
    if (found) throw new Error(`unexpected frame ${JSON.stringify(found)}`);
  }

  /** Throws when any frame received so far broke the server frame schemas. */
  assertContract(): void {
    if (this.broken.length > 0) throw new Error(`the server broke its frame contract: ${this.broken.join('; ')}`);
  }

  close(): Promise<number> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export const wsUrl = (t: TestApp, token?: string) =>
  `${t.url.replace(/^http/, 'ws')}/api/v1/ws${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`;

/** Opens a socket with `?token=` and waits until the server says it is live (`connected`). */
export async function connect(t: TestApp, token: string, opts: { header?: boolean } = {}): Promise<WsClient> {
  const socket = opts.header
    ? new WebSocket(wsUrl(t), { headers: { authorization: `Bearer ${token}` } })
    : new WebSocket(wsUrl(t, token));
  const client = new WsClient(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  await client.nextOfType('connected');
  return client;
}

/** Tries an upgrade expected to fail; resolves to the HTTP status the server answered. */
export function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      socket.close();
      reject(new Error('upgrade was accepted'));
    });
    socket.once('error', () => {});
  });
}
