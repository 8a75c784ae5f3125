import { randomBytes } from 'node:crypto';
import { IDBFactory } from 'fake-indexeddb';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  indexedDbOutboxStore,
  memoryOutboxStore,
  memoryTokenStore,
  type NatterClient,
  type OutboxStore,
  type WebSocketConstructor,
} from '../../client/src/index.js';
import { Clients, directBetween, eventually, RestartableNatter, sleep } from './fixtures.js';

/**
 * The outbox against a real natter: sends while offline, a server restart with messages
 * in flight, a "reload" (a new client over the same stores), refusals.
 */

const srv = new RestartableNatter();
const clients = new Clients();

beforeAll(() => srv.start());
afterEach(() => clients.closeAll());
afterAll(() => srv.close());

/** What the conversation holds, in seq order, read over REST. */
async function stored(client: NatterClient, c: number): Promise<string[]> {
  const messages = await client.history(c, { limit: 100 });
  expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
  return messages.map((m) => m.content);
}

async function pair(opts: Parameters<Clients['make']>[1] = {}) {
  const a = await clients.signedUp(srv.url, opts);
  const b = await clients.signedUp(srv.url);
  return { a, b, c: await directBetween(a, b) };
}

describe('delivery', () => {
  test('messages sent while offline are kept, then delivered once each, in order, after connecting', async () => {
    const { a, b, c } = await pair();
    const texts = ['one', 'two', 'three', 'four', 'five'];
    const entries = texts.map((content) => a.send(c, { content }));
    expect(new Set(entries.map((e) => e.client_id)).size).toBe(5);
    expect(a.outbox.entries(c).map((e) => [e.content, e.status])).toEqual(texts.map((t) => [t, 'pending']));

    await b.connect();
    const received: string[] = [];
    b.on('new_message', (f) => received.push(f.message.content));
    await a.connect();
    await eventually(() => expect(a.outbox.entries()).toEqual([]));
    expect(await stored(a, c)).toEqual(texts);
    await eventually(() => expect(received).toEqual(texts));
  });

  test('a server restart with messages in flight: reconnects with backoff, then no loss, no duplicate, order kept', async () => {
    const attempts: number[] = [];
    class Counting extends WebSocket {
      constructor(url: string) {
        super(url);
        attempts.push(Date.now());
      }
    }
    const { a, c } = await pair({
      WebSocket: Counting as unknown as WebSocketConstructor,
      reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
    });
    await a.connect();
    const first = Array.from({ length: 10 }, (_, i) => `in flight ${i}`);
    for (const content of first) a.send(c, { content });
    await srv.stop(); // some committed and echoed, some committed with the echo lost, some never read
    const downAt = Date.now();
    const later = ['while down 1', 'while down 2', 'while down 3'];
    for (const content of later) a.send(c, { content });
    await sleep(1500);
    const tries = attempts.filter((at) => at >= downAt);
    await srv.start();

    await eventually(() => expect(a.outbox.entries()).toEqual([]), 10_000);
    expect(await stored(a, c)).toEqual([...first, ...later]);
    // Backoff: each wait at least as long as half the one before (jitter), none past the cap (plus the check's time).
    const gaps = tries.slice(1).map((at, i) => at - tries[i]!);
    expect(tries.length).toBeGreaterThanOrEqual(3);
    expect(tries.length).toBeLessThan(15);
    expect(Math.max(...gaps)).toBeLessThan(400 + 250);
    expect(gaps.at(-1)!).toBeGreaterThan(gaps[0]!);
  });
});

describe('reload', () => {
  const stores: [string, () => OutboxStore][] = [
    ['memory', () => memoryOutboxStore()],
    ['IndexedDB', () => indexedDbOutboxStore(`natter-test-${randomBytes(4).toString('hex')}`, new IDBFactory())],
  ];

  test.each(stores)('%s store: a new client over the same stores sends what the old one left, once', async (_name, makeStore) => {
    const tokenStore = memoryTokenStore();
    const outboxStore = makeStore();
    const first = clients.make(srv.url, { tokenStore, outboxStore });
    const n = randomBytes(3).toString('hex');
    await first.register({ username: `reload${n}`, email: `reload${n}@example.com`, password: 'password123' });
    const other = await clients.signedUp(srv.url);
    const c = await directBetween(first, other);
    for (const content of ['a', 'b', 'c']) first.send(c, { content });
    await first.flushed();
    first.close(); // the page goes away before it was ever online
    expect((await outboxStore.load()).map((e) => e.content).sort()).toEqual(['a', 'b', 'c']);

    const second = clients.make(srv.url, { tokenStore, outboxStore });
    expect(await second.restore()).not.toBeNull();
    await eventually(() => expect(second.outbox.entries(c).map((e) => e.content)).toEqual(['a', 'b', 'c']));
    second.send(c, { content: 'd' });
    await second.connect();
    await eventually(() => expect(second.outbox.entries()).toEqual([]));
    await second.flushed();
    expect(await outboxStore.load()).toEqual([]);
    expect(await stored(second, c)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('refusals', () => {
  test('a refused message stays in the outbox as failed with its code; retry sends it again; discard drops it', async () => {
    const { a, c } = await pair();
    await a.connect();
    const errors: unknown[] = [];
    a.onError((e) => errors.push(e));
    const bad = a.send(999_999_999, { content: 'nowhere' });
    const good = a.send(c, { content: 'somewhere' });
    await eventually(() => expect(a.outbox.entries()).toEqual([expect.objectContaining({ client_id: bad.client_id, status: 'failed', error: 'not_found' })]));
    expect(good.status).toBe('pending');
    expect(errors).toEqual([expect.objectContaining({ code: 'not_found' })]);

    a.outbox.retry(bad.client_id);
    expect(a.outbox.entries()[0]?.status).toBe('pending');
    await eventually(() => expect(a.outbox.entries()[0]?.status).toBe('failed'));
    a.outbox.discard(bad.client_id);
    expect(a.outbox.entries()).toEqual([]);
    expect(await stored(a, c)).toEqual(['somewhere']);
  });
});
