import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { createApp, type App } from '../../src/app.js';
import type { Config } from '../../src/config/config.js';
import { freePort } from '../../support/processes.js';
import { NatterClient, type NatterClientOptions, type WebSocketConstructor } from '../../client/src/index.js';
import { testConfig, testDatabase } from '../harness/app.js';

/**
 * The SDK in Node as an app uses it: `ws` injected, against a real natter. Reconnect
 * delays are short so tests do not wait through production backoff.
 */

export const WS = WebSocket as unknown as WebSocketConstructor;

/** `ws`, recording every frame the client sends on it (the real socket, observed). */
export function recordingWebSocket(sent: Record<string, any>[]): WebSocketConstructor {
  class Recording extends WebSocket {
    override send(data: any, ...rest: any[]): void {
      sent.push(JSON.parse(String(data)));
      (WebSocket.prototype.send as (...a: unknown[]) => void).call(this, data, ...rest);
    }
  }
  return Recording as unknown as WebSocketConstructor;
}

/** Clients made by a test file; `closeAll` in afterEach/afterAll. */
export class Clients {
  private readonly made: NatterClient[] = [];

  make(baseUrl: string, opts: Partial<NatterClientOptions> = {}): NatterClient {
    const c = new NatterClient({ baseUrl, WebSocket: WS, reconnect: { initialDelayMs: 50, maxDelayMs: 400 }, ...opts });
    this.made.push(c);
    return c;
  }

  /** A client of a newly registered user (the SDK's own register). */
  async signedUp(baseUrl: string, opts: Partial<NatterClientOptions> = {}): Promise<NatterClient> {
    const c = this.make(baseUrl, opts);
    const n = `${process.pid}${randomBytes(3).toString('hex')}`;
    await c.register({ username: `sdk${n}`, email: `sdk${n}@example.com`, password: 'password123' });
    return c;
  }

  closeAll(): void {
    for (const c of this.made.splice(0)) c.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` stops throwing (an expect that is not true yet); rethrows its last failure at the deadline. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}

/** A direct conversation between two SDK users (over the SDK's typed REST). */
export async function directBetween(a: NatterClient, b: NatterClient): Promise<number> {
  const { data, error } = await a.api.POST('/api/v1/conversations', {
    body: { type: 'direct', participant_id: b.user!.id },
  });
  if (!data) throw new Error(`create conversation: ${JSON.stringify(error)}`);
  return data.conversation.id;
}

/**
 * natter on a fixed port over a database that outlives it: `stop()` closes the app as a
 * shutdown does (sockets get 1001), `start()` brings a new one up on the same port and
 * data, so clients see a server restart.
 */
export class RestartableNatter {
  url = '';
  app: App | null = null;
  private port = 0;
  private readonly dataDir = mkdtempSync(path.join(tmpdir(), 'natter-sdk-'));
  private database: Awaited<ReturnType<typeof testDatabase>> | null = null;

  constructor(private readonly overrides: Partial<Config> = {}) {}

  async start(): Promise<void> {
    this.database ??= await testDatabase();
    this.port ||= await freePort();
    const database = { ...this.database, close: async () => {} };
    this.app = await createApp(testConfig({ port: this.port, dataDir: this.dataDir, ...this.overrides }), { database });
    this.url = await this.app.listen();
  }

  async stop(): Promise<void> {
    await this.app?.close();
    this.app = null;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.database?.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
