import { describe, expect, test, vi } from 'vitest';
import type { Bus, BusEvent } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory.js';

/**
 * What the in-process bus promises beyond the shared contract (test/bus/contract.test.ts):
 * delivery never inside the publisher's call stack, and nothing after unsubscribe or
 * close, even for events already published.
 */
const implementations: [string, () => Promise<Bus>][] = [['memory', async () => new MemoryBus()]];

const frame = (n: number): BusEvent => ({ kind: 'frame', frame: JSON.stringify({ n }) });

/** Lets every pending delivery happen (the memory bus delivers on a later microtask; a network bus later still). */
const settle = () => new Promise((r) => setTimeout(r, 50));

function collector() {
  const got: BusEvent[] = [];
  return {
    got,
    handler: (e: BusEvent) => {
      got.push(e);
    },
    async until(n: number, timeoutMs = 2000) {
      await vi.waitFor(() => expect(got.length).toBeGreaterThanOrEqual(n), { timeout: timeoutMs, interval: 5 });
    },
  };
}

describe.each(implementations)('%s bus', (_name, make) => {
  test('delivers every event on a channel, in publish order, to each subscriber', async () => {
    const bus = await make();
    const one = collector();
    const two = collector();
    await bus.subscribe('user:1', one.handler);
    await bus.subscribe('user:1', two.handler);
    const events = Array.from({ length: 100 }, (_, i) => frame(i));
    for (const e of events) void bus.publish('user:1', e);
    await one.until(100);
    await two.until(100);
    expect(one.got).toEqual(events);
    expect(two.got).toEqual(events);
    await bus.close();
  });

  test('keeps channels apart and carries session_revoked events', async () => {
    const bus = await make();
    const one = collector();
    const two = collector();
    await bus.subscribe('user:1', one.handler);
    await bus.subscribe('user:2', two.handler);
    await bus.publish('user:2', { kind: 'session_revoked', sessionId: 's-1' });
    await bus.publish('user:1', frame(1));
    await one.until(1);
    await two.until(1);
    expect(one.got).toEqual([frame(1)]);
    expect(two.got).toEqual([{ kind: 'session_revoked', sessionId: 's-1' }]);
    await bus.close();
  });

  test('never calls the handler inside publish', async () => {
    const bus = await make();
    const c = collector();
    await bus.subscribe('user:1', c.handler);
    const p = bus.publish('user:1', frame(1));
    expect(c.got).toHaveLength(0);
    await p;
    await c.until(1);
    await bus.close();
  });

  test('publishing with no subscriber is fine', async () => {
    const bus = await make();
    await expect(bus.publish('user:404', frame(1))).resolves.toBeUndefined();
    // Subscribing later does not replay it.
    const c = collector();
    await bus.subscribe('user:404', c.handler);
    await settle();
    expect(c.got).toEqual([]);
    await bus.close();
  });

  test('after unsubscribe resolves, the handler gets nothing, even events already published', async () => {
    const bus = await make();
    const gone = collector();
    const stays = collector();
    const unsubscribe = await bus.subscribe('user:1', gone.handler);
    await bus.subscribe('user:1', stays.handler);
    await bus.publish('user:1', frame(1));
    await stays.until(1);
    expect(gone.got).toEqual([frame(1)]);

    void bus.publish('user:1', frame(2));
    await unsubscribe();
    await bus.publish('user:1', frame(3));
    await stays.until(3);
    await settle();
    expect(gone.got).toEqual([frame(1)]);
    expect(stays.got).toEqual([frame(1), frame(2), frame(3)]);
    // Unsubscribing twice is harmless.
    await unsubscribe();
    await bus.close();
  });

  test('after close nothing is delivered, even events published just before', async () => {
    const bus = await make();
    const c = collector();
    await bus.subscribe('user:1', c.handler);
    void bus.publish('user:1', frame(1));
    await bus.close();
    await bus.publish('user:1', frame(2)).catch(() => {});
    await settle();
    expect(c.got).toEqual([]);
    // Closing twice is harmless.
    await bus.close();
  });
});
