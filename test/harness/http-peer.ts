import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A reply a test queues for the next request a peer would otherwise accept. */
export interface ProgrammedReply {
  status: number;
  /** An object is sent as JSON, a string as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (for timeouts); close() cuts the wait short. */
  delayMs?: number;
}

/**
 * The common part of the loopback protocol peers: a node:http server on 127.0.0.1 at a
 * free port, a queue of programmed replies, what was accepted (with waiters), and why
 * anything was refused. Requests are handled one by one in arrival order only as far as
 * node:http delivers them; tests that care send sequentially.
 */
export abstract class HttpPeer<T> {
  /** Requests the peer accepted (answered 2xx), in order. */
  readonly received: T[] = [];
  /** Why each refused request was refused (bad signature, stale token...), in order. */
  readonly refusals: string[] = [];
  /** Every request that reached a protocol route, accepted or not. */
  attempts = 0;
  private readonly replies: ProgrammedReply[] = [];
  private readonly waiters = new Set<{ n: number; resolve: () => void }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server: Server;
  private port = 0;

  protected constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A bug in the peer, not a protocol answer: make it loud in the test's output.
        this.refusals.push(`peer error: ${String(err)}`);
        if (!res.headersSent) send(res, { status: 500, body: { error: 'test peer failed' } });
      });
    });
  }

  /** http://127.0.0.1:<port> */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Queues a reply for the next request that passes the peer's checks. */
  respondNext(status: number, body?: unknown, headers?: Record<string, string>, delayMs?: number): void {
    this.replies.push({ status, body, headers, delayMs });
  }

  /** Resolves with received once it holds at least n entries; rejects after timeoutMs. */
  waitFor(n: number, timeoutMs = 5000): Promise<T[]> {
    if (this.received.length >= n) return Promise.resolve(this.received);
    return new Promise((resolve, reject) => {
      const waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.received);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`waited ${timeoutMs} ms for ${n} requests, got ${this.received.length}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  protected async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('peer has no TCP address');
    this.port = address.port;
  }

  /** Answers one request: refuse() for protocol failures, accept() for the rest. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;

  protected refuse(res: ServerResponse, reason: string, reply: ProgrammedReply): void {
    this.refusals.push(reason);
    send(res, reply);
  }

  /**
   * The queued reply if any, else the default; records item only when the answer is 2xx,
   * so received is what the platform would have delivered.
   */
  protected async accept(res: ServerResponse, item: T, fallback: ProgrammedReply): Promise<void> {
    const reply = this.replies.shift() ?? fallback;
    if (reply.delayMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, reply.delayMs);
        this.timers.add(timer);
      });
      if (res.destroyed) return;
    }
    if (reply.status >= 200 && reply.status <= 299) {
      this.received.push(item);
      for (const waiter of this.waiters) {
        if (this.received.length >= waiter.n) {
          this.waiters.delete(waiter);
          waiter.resolve();
        }
      }
    }
    send(res, reply);
  }
}

export async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error(`request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function send(res: ServerResponse, reply: ProgrammedReply): void {
  const text = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  const type = typeof reply.body === 'string' ? 'text/plain' : 'application/json';
  res.writeHead(reply.status, { ...(text ? { 'content-type': type } : {}), ...reply.headers });
  res.end(text);
}

/** A port nothing listens on (bound, then released), for "unreachable" tests. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}
