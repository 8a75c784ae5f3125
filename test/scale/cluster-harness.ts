import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, vi } from 'vitest';
import WebSocket from 'ws';
import { freePort, Proc, sleep } from '../../support/processes.js';
import { testDatabaseUrl, urlForDatabase, withAdmin } from '../harness/postgres.js';
import { WsClient, type Frame } from '../harness/ws.js';

/**
 * Real natter nodes as separate processes (the way an operator runs several), plus
 * private redis-server / nats-server processes each test file owns and may stop and
 * start again. Every child is registered so `close()` — and, as a last resort, this
 * process's exit — kills it even when a test failed half-way.
 */

/** The path of an executable, or undefined (PATH first, then the usual sbin/bin places). */
export function findBinary(name: string): string | undefined {
  const which = spawnSync('which', [name], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  return ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']
    .map((dir) => path.join(dir, name))
    .find((p) => existsSync(p));
}

export { freePort, Proc, sleep };

/**
 * Waits until the socket has received a matching frame, whether or not a `next` call
 * already took it (a send's echo is taken by `Device.send`), at or after `fromIndex`.
 * Returns how many match.
 */
export async function seen(ws: WsClient, match: (f: Frame) => boolean, timeoutMs = 10_000, fromIndex = 0): Promise<number> {
  const count = () => ws.frames.slice(fromIndex).filter(match).length;
  await vi.waitFor(
    () => {
      if (count() === 0) throw new Error(`no matching frame yet; got ${JSON.stringify(ws.frames.slice(-20)).slice(0, 3000)}`);
    },
    { timeout: timeoutMs, interval: 20 },
  );
  return count();
}

/** A bus server this test owns, on a fixed port so it can be stopped and started again. */
export interface BusServer {
  readonly kind: 'redis' | 'nats';
  readonly url: string;
  start(): Promise<void>;
  /** SIGTERM by default; waits until the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `redis-server` with nothing persisted: a restart comes back empty, like a fresh failover. */
export class PrivateRedis implements BusServer {
  readonly kind = 'redis';
  private proc: Proc | undefined;

  constructor(
    readonly port: number,
    private readonly binary: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.proc?.running) return;
    this.proc = new Proc(`redis-server:${this.port}`, this.binary, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
    ]);
    await this.proc.waitFor(/Ready to accept connections/, 10_000);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.proc?.stop(signal);
  }
}

export class PrivateNats implements BusServer {
  readonly kind = 'nats';
  private proc: Proc | undefined;

  constructor(
    readonly port: number,
    private readonly binary: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.proc?.running) return;
    this.proc = new Proc(`nats-server:${this.port}`, this.binary, ['-a', '127.0.0.1', '-p', String(this.port)]);
    await this.proc.waitFor(/Server is ready/, 10_000);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.proc?.stop(signal);
  }
}

export interface Reply<T = any> {
  status: number;
  body: T;
}

/** One natter process. */
export class NatterNode {
  url = '';

  constructor(
    readonly name: string,
    readonly proc: Proc,
  ) {}

  /** Waits for "natter is ready" and picks the bound address out of Fastify's listen line. */
  async ready(timeoutMs: number): Promise<void> {
    await this.proc.waitFor(/natter is ready/, timeoutMs);
    const m = this.proc.output.match(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
    if (!m) throw new Error(`${this.name}: no listen address in its log:\n${this.proc.tail()}`);
    this.url = m[1]!;
  }

  async request<T = any>(method: string, urlPath: string, opts: { token?: string; body?: unknown } = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}${urlPath}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: body as T };
  }

  /** GET /ready's status code, or 0 when the node does not answer at all. */
  async readyStatus(): Promise<number> {
    try {
      const res = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Opens a socket with `?token=`; resolves once the upgrade succeeded (not waiting for `connected`). */
  async open(token: string): Promise<WsClient> {
    const socket = new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/v1/ws?token=${encodeURIComponent(token)}`);
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return client;
  }

  /** Opens a socket with `?token=` and waits for `connected`. */
  async connect(token: string): Promise<WsClient> {
    const client = await this.open(token);
    await client.nextOfType('connected', 10_000);
    return client;
  }

  /** HTTP status of an upgrade attempt that is expected to be refused (101 if accepted). */
  refusedUpgrade(token: string): Promise<number> {
    return new Promise((resolve) => {
      const socket = new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/v1/ws?token=${encodeURIComponent(token)}`);
      socket.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('open', () => {
        socket.terminate();
        resolve(101);
      });
      socket.once('error', () => resolve(0));
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return this.proc.stop(signal);
  }
}

export interface ClusterOptions {
  bus: 'redis' | 'nats';
  nodes: number;
  /** Extra environment for every node (PRESENCE_TTL, PRESENCE_GRACE, ...). */
  env?: Record<string, string>;
}

/**
 * N natter processes on a scratch PostgreSQL database, a private redis-server (the bus
 * with BUS=redis, presence in both modes) and, with BUS=nats, a private nats-server.
 * Node 1 migrates on start; the others start at the same time with MIGRATE_ON_START=false
 * and are not used before every node is ready.
 */
export class Cluster {
  readonly nodes: NatterNode[] = [];
  redis: PrivateRedis | undefined;
  nats: PrivateNats | undefined;
  readonly prefix = `natter_scale_${randomBytes(4).toString('hex')}`;
  private dbName: string | undefined;
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'natter-cluster-'));
  private closed = false;

  private constructor(
    readonly opts: ClusterOptions,
    private readonly pgUrl: string,
  ) {}

  /** The server that carries the bus (the one the outage test stops). */
  get busServer(): BusServer {
    return (this.opts.bus === 'nats' ? this.nats : this.redis)!;
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const pgUrl = testDatabaseUrl();
    if (!pgUrl) throw new Error('needs PostgreSQL (set TEST_DATABASE_URL)');
    const cluster = new Cluster(opts, pgUrl);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  private async boot(): Promise<void> {
    const redisBin = findBinary('redis-server');
    if (!redisBin) throw new Error('redis-server is not installed');
    const natsBin = this.opts.bus === 'nats' ? findBinary('nats-server') : undefined;
    if (this.opts.bus === 'nats' && !natsBin) throw new Error('nats-server is not installed');

    this.dbName = this.prefix;
    await withAdmin(this.pgUrl, (admin) => admin.query(`create database ${this.dbName}`));
    this.redis = new PrivateRedis(await freePort(), redisBin);
    if (natsBin) this.nats = new PrivateNats(await freePort(), natsBin);
    await Promise.all([this.redis.start(), this.nats?.start()]);

    const env: Record<string, string> = {
      HOST: '127.0.0.1',
      PORT: '0',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: urlForDatabase(this.pgUrl, this.dbName),
      DB_POOL_SIZE: '5',
      BUS: this.opts.bus,
      REDIS_URL: this.redis.url,
      NATS_URL: this.nats?.url ?? 'nats://127.0.0.1:1',
      BUS_PREFIX: this.prefix,
      PRESENCE: 'redis',
      AUTH_RATE_LIMIT: '0',
      RATE_LIMIT_USER: '0',
      RATE_LIMIT_IP: '0',
      JWT_SECRET: 'scale-test-secret-shared-by-every-node-0123456789',
      SHUTDOWN_TIMEOUT: '3s',
      ...this.opts.env,
    };
    for (let i = 0; i < this.opts.nodes; i++) {
      this.nodes.push(this.spawnNode(i, { ...env, MIGRATE_ON_START: i === 0 ? 'true' : 'false' }));
    }
    await Promise.all(this.nodes.map((n) => n.ready(90_000)));
    for (const node of this.nodes) expect(await node.readyStatus(), `${node.name} /ready`).toBe(200);
  }

  private spawnNode(i: number, env: Record<string, string>): NatterNode {
    const base = { ...process.env };
    // The nodes get exactly the settings above; nothing leaks in from the test runner's
    // environment (and an empty cwd means no .env is read).
    for (const key of ['DATABASE_URL', 'TEST_DATABASE_URL', 'BUS', 'REDIS_URL', 'NATS_URL', 'PRESENCE', 'PORT']) {
      delete base[key];
    }
    const name = `node${i + 1}`;
    const proc = Proc.natter(name, [], {
      cwd: this.dir,
      env: { ...base, ...env },
    });
    return new NatterNode(name, proc);
  }

  /** Last lines of every node's log, for failure messages. */
  logs(chars = 3000): string {
    return this.nodes.map((n) => `--- ${n.name} ---\n${n.proc.tail(chars)}`).join('\n');
  }

  /** Kills every process (nodes first), drops the scratch database. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.nodes.map((n) => n.kill('SIGKILL')));
    await Promise.all([this.redis?.stop('SIGKILL'), this.nats?.stop('SIGKILL')]);
    if (this.dbName) {
      await withAdmin(this.pgUrl, (admin) => admin.query(`drop database if exists ${this.dbName} with (force)`));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export type User = { token: string; refresh_token: string; user: { id: number; username: string } };

export async function register(node: NatterNode, label: string): Promise<User> {
  const n = `${label}${randomBytes(3).toString('hex')}`;
  const res = await node.request('POST', '/api/v1/auth/register', {
    body: { username: n, email: `${n}@example.com`, password: 'password123' },
  });
  if (res.status !== 201) throw new Error(`register on ${node.name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as User;
}

const newMessages = (frames: Frame[], conversationId: number) =>
  frames.filter((f) => f.type === 'new_message' && f.message.conversation_id === conversationId);

export interface SyncOutcome {
  since: Record<string, number>;
  synced: Record<string, number>;
  /** new_message seqs per conversation between sending `sync` and `synced`. */
  replayed: Record<string, number[]>;
  /** Seqs the device already had past `since` (received live beyond a gap), per conversation. */
  ahead: Record<string, number[]>;
}

/**
 * One device of a user as a client app sees it: it may go through several sockets (on
 * different nodes), keeps what every socket received, and resumes with `sync` from the
 * highest seq it holds without a gap — the client algorithm of docs/protocol.md §7.
 */
export class Device {
  readonly sockets: WsClient[] = [];
  readonly syncs: SyncOutcome[] = [];

  constructor(
    readonly label: string,
    readonly user: User,
  ) {}

  get id(): number {
    return this.user.user.id;
  }

  get ws(): WsClient {
    const ws = this.sockets.at(-1);
    if (!ws) throw new Error(`${this.label} has no socket`);
    return ws;
  }

  /** Every new_message seq this device received in the conversation, in arrival order. */
  received(conversationId: number): number[] {
    return this.sockets.flatMap((ws) => newMessages(ws.frames, conversationId).map((f) => f.message.seq as number));
  }

  /** Every message object received in the conversation (all sockets). */
  messages(conversationId: number): any[] {
    return this.sockets.flatMap((ws) => newMessages(ws.frames, conversationId).map((f) => f.message));
  }

  /** The highest seq such that this device holds 1..seq. */
  held(conversationId: number): number {
    const have = new Set(this.received(conversationId));
    let seq = 0;
    while (have.has(seq + 1)) seq++;
    return seq;
  }

  /** Connects a new socket to `node` (after `connected`), without syncing. */
  async attach(node: NatterNode): Promise<WsClient> {
    return this.adopt(await node.connect(this.user.token));
  }

  /** Makes `ws` this device's current socket. */
  adopt(ws: WsClient): WsClient {
    this.sockets.push(ws);
    return ws;
  }

  /**
   * Sends `sync` for `conversationIds` from what this device holds and waits for
   * `synced`. Checks the reply: each missing seq exactly once, in order, nothing held.
   */
  async sync(conversationIds: number[], timeoutMs = 15_000): Promise<SyncOutcome> {
    const ws = this.ws;
    const since = Object.fromEntries(conversationIds.map((c) => [String(c), this.held(c)]));
    const ahead = Object.fromEntries(conversationIds.map((c) => [String(c), this.received(c).filter((s) => s > since[c]!)]));
    const start = ws.frames.length;
    ws.send({ type: 'sync', since });
    const synced = await ws.next((f) => f.type === 'synced', timeoutMs);
    const end = ws.frames.indexOf(synced);
    const window = ws.frames.slice(start, end);
    const replayed: Record<string, number[]> = {};
    for (const c of conversationIds) {
      replayed[c] = newMessages(window, c).map((f) => f.message.seq as number);
      const from = since[c]!;
      const to = synced.conversations[c] as number;
      expect(replayed[c], `${this.label}: sync of conversation ${c} from ${from} to ${to}`).toEqual(range(from + 1, to));
    }
    const outcome = { since, synced: synced.conversations as Record<string, number>, replayed, ahead };
    this.syncs.push(outcome);
    return outcome;
  }

  /** Sends a message over the current socket; resolves to the echo (the acknowledgement). */
  send(conversationId: number, content: string, timeoutMs = 5000): { clientId: string; echo: Promise<Frame> } {
    const clientId = randomUUID();
    this.ws.send({ type: 'message', conversation_id: conversationId, content, client_id: clientId });
    const echo = this.ws.next((f) => f.type === 'new_message' && f.message.client_id === clientId, timeoutMs);
    echo.catch(() => {});
    return { clientId, echo };
  }

  /**
   * Checks that this device has every message 1..last of the conversation, each exactly
   * once. Not `strict`: a message may arrive twice only the way the protocol allows — the
   * device held it past a gap (a live frame dropped by the at-most-once bus) and a sync
   * from the gap replayed it.
   */
  expectExactlyOnce(conversationId: number, last: number, opts: { strict: boolean }): void {
    const got = this.received(conversationId);
    const unique = [...new Set(got)].sort((a, b) => a - b);
    expect(unique, `${this.label}: messages of conversation ${conversationId}`).toEqual(range(1, last));
    const counts = new Map<number, number>();
    for (const seq of got) counts.set(seq, (counts.get(seq) ?? 0) + 1);
    const allowed = (seq: number) =>
      opts.strict
        ? 0
        : this.syncs.filter((o) => o.ahead[conversationId]?.includes(seq) && o.replayed[conversationId]?.includes(seq)).length;
    const repeated = [...counts].filter(([seq, n]) => n - 1 > allowed(seq)).map(([seq, n]) => `seq ${seq} ×${n}`);
    expect(repeated, `${this.label}: duplicates in conversation ${conversationId}`).toEqual([]);
  }
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** The whole history of a conversation over REST (pages of 100, oldest first). */
export async function history(node: NatterNode, token: string, conversationId: number): Promise<any[]> {
  const all: any[] = [];
  let after = 0;
  for (;;) {
    const res = await node.request('GET', `/api/v1/conversations/${conversationId}/messages?limit=100&after_seq=${after}`, {
      token,
    });
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
    all.push(...res.body.messages);
    if (!res.body.has_more || res.body.messages.length === 0) return all;
    after = res.body.messages.at(-1).seq;
  }
}
