import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { Bus, BusEvent } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory.js';
import { NatsBus } from '../../src/bus/nats.js';
import { RedisBus } from '../../src/bus/redis.js';
import { encodeEvent } from '../../src/bus/remote.js';

/**
 * One contract, every Bus: in-process, Redis (classic and sharded pub/sub) and NATS, the
 * latter two against the real servers on this machine, each with a unique prefix.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const quiet = { warn: () => {}, info: () => {} };
const prefix = () => `natter-test-${randomBytes(4).toString('hex')}`;

/** Each factory makes one node's bus; nodes given the same prefix form one deployment. */
const factories: Record<string, ((p: string) => Promise<Bus>) | undefined> = {
  memory: undefined,
  'redis pub/sub': async (p) => {
    const bus = new RedisBus({ url: REDIS_URL, prefix: `${p}:`, sharded: false }, quiet);
    expect(await bus.ready(5000)).toBe(true);
    return bus;
  },
  'redis sharded pub/sub': async (p) => {
    const bus = new RedisBus({ url: REDIS_URL, prefix: `${p}:`, sharded: true }, quiet);
    expect(await bus.ready(5000)).toBe(true);
    return bus;
  },
  nats: (p) => NatsBus.connect({ url: NATS_URL, prefix: p }, quiet),
};

const frame = (n: number): BusEvent => ({ kind: 'frame', frame: JSON.stringify({ type: 'new_message', n }) });

function collector() {
  const events: BusEvent[] = [];
  return {
    events,
    handler: (e: BusEvent) => {
      events.push(e);
    },
    async until(count: number, timeoutMs = 3000) {
      await vi.waitFor(() => expect(events.length).toBeGreaterThanOrEqual(count), { timeout: timeoutMs, interval: 10 });
    },
  };
}

const open: Bus[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

for (const [name, node] of Object.entries(factories)) {
  describe(`Bus contract: ${name}`, () => {
    let deployment = prefix();
    const make2 = async (p = (deployment = prefix())) => {
      const bus = node ? await node(p) : new MemoryBus();
      open.push(bus);
      return bus;
    };

    test('delivers every event on a channel in publish order, frames byte for byte', async () => {
      const bus = await make2();
      const c = collector();
      await bus.subscribe('user:1', c.handler);
      const unicode: BusEvent = { kind: 'frame', frame: '{"type":"new_message","content":"héllo ✓ \\n 🎉"}' };
      for (let i = 0; i < 200; i++) await bus.publish('user:1', frame(i));
      await bus.publish('user:1', unicode);
      await bus.publish('user:1', { kind: 'session_revoked', sessionId: 'abc-123' });
      const positioned: BusEvent = { kind: 'frame', frame: '{"type":"new_message","x":";,"}', position: { conversation_id: 42, seq: 7 } };
      await bus.publish('user:1', positioned);
      await bus.publish('user:1', { kind: 'user_changed', userId: 77 });
      await bus.publish('user:1', { kind: 'conversation_changed', conversationId: 78 });
      await c.until(205);
      expect(c.events[202]).toEqual(positioned);
      expect(c.events.slice(203)).toEqual([
        { kind: 'user_changed', userId: 77 },
        { kind: 'conversation_changed', conversationId: 78 },
      ]);
      expect(c.events.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => frame(i)));
      expect(c.events[200]).toEqual(unicode);
      expect(c.events[201]).toEqual({ kind: 'session_revoked', sessionId: 'abc-123' });
    });

    test('channels are separate, and several handlers on one channel all receive', async () => {
      const bus = await make2();
      const a = collector();
      const b = collector();
      const other = collector();
      await bus.subscribe('user:1', a.handler);
      await bus.subscribe('user:1', b.handler);
      await bus.subscribe('user:2', other.handler);
      await bus.publish('user:1', frame(1));
      await bus.publish('user:2', frame(2));
      await Promise.all([a.until(1), b.until(1), other.until(1)]);
      await new Promise((r) => setTimeout(r, 100));
      expect(a.events).toEqual([frame(1)]);
      expect(b.events).toEqual([frame(1)]);
      expect(other.events).toEqual([frame(2)]);
    });

    test('publishMany puts the event once on each channel, in order with single publishes', async () => {
      const bus = await make2();
      const subscribers = Array.from({ length: 50 }, () => collector());
      await Promise.all(subscribers.map((c, i) => bus.subscribe(`user:${100 + i}`, c.handler)));
      const channels = subscribers.map((_, i) => `user:${100 + i}`);
      const positioned: BusEvent = { kind: 'frame', frame: '{"type":"new_message","n":2}', position: { conversation_id: 9, seq: 2 } };
      await bus.publish('user:100', frame(1));
      await bus.publishMany([...channels, 'user:999'], positioned);
      await bus.publishMany(channels.slice(0, 10), frame(3));
      await bus.publishMany([], frame(4));
      await Promise.all(subscribers.map((c, i) => c.until((i === 0 ? 1 : 0) + 1 + (i < 10 ? 1 : 0))));
      await new Promise((r) => setTimeout(r, 100));
      subscribers.forEach((c, i) => {
        expect(c.events).toEqual([...(i === 0 ? [frame(1)] : []), positioned, ...(i < 10 ? [frame(3)] : [])]);
      });
    });

    test('unsubscribe stops delivery; publishing to nobody is fine; nothing after close', async () => {
      const bus = await make2();
      const c = collector();
      const off = await bus.subscribe('user:3', c.handler);
      await bus.publish('user:3', frame(1));
      await c.until(1);
      await off();
      await bus.publish('user:3', frame(2));
      await bus.publish('user:999', frame(3));
      await new Promise((r) => setTimeout(r, 150));
      expect(c.events).toEqual([frame(1)]);

      const d = collector();
      await bus.subscribe('user:4', d.handler);
      await bus.close();
      await bus.publish('user:4', frame(4));
      await new Promise((r) => setTimeout(r, 100));
      expect(d.events).toEqual([]);
    });

    // The in-process bus is one node by definition.
    if (node) test('events published on one node reach subscribers on another, and only there', async () => {
      const nodeA = await make2();
      const nodeB = await make2(deployment);
      const otherDeployment = await make2();
      const onB = collector();
      const elsewhere = collector();
      await nodeB.subscribe('user:7', onB.handler);
      await otherDeployment.subscribe('user:7', elsewhere.handler);
      for (let i = 0; i < 50; i++) await nodeA.publish('user:7', frame(i));
      await onB.until(50);
      expect(onB.events).toEqual(Array.from({ length: 50 }, (_, i) => frame(i)));
      await new Promise((r) => setTimeout(r, 100));
      expect(elsewhere.events).toEqual([]);
    });

    if (node) test('a fanout to thousands of channels is split into bounded messages and still reaches everyone once', async () => {
      const nodeA = await make2();
      const nodeB = await make2(deployment);
      const channels = Array.from({ length: 2500 }, (_, i) => `user:${10_000 + i}`);
      const picked = [0, 999, 1000, 2499].map((i) => ({ channel: channels[i]!, c: collector() }));
      for (const p of picked) await nodeB.subscribe(p.channel, p.c.handler);
      await nodeA.publishMany(channels, frame(1));
      await Promise.all(picked.map((p) => p.c.until(1)));
      await new Promise((r) => setTimeout(r, 100));
      for (const p of picked) expect(p.c.events).toEqual([frame(1)]);
    });

    if (node) test('a large fanout reaches each node’s subscribers of the listed channels, in order with single publishes', async () => {
      const nodeA = await make2();
      const nodeB = await make2(deployment);
      const otherDeployment = await make2();
      const channels = Array.from({ length: 40 }, (_, i) => `user:${500 + i}`);
      const onB = [collector(), collector()];
      const onA = collector();
      const notListed = collector();
      const elsewhere = collector();
      await nodeB.subscribe(channels[3]!, onB[0]!.handler);
      await nodeB.subscribe(channels[39]!, onB[1]!.handler);
      await nodeB.subscribe('user:999', notListed.handler);
      await nodeA.subscribe(channels[0]!, onA.handler);
      await otherDeployment.subscribe(channels[3]!, elsewhere.handler);
      const big = { kind: 'frame', frame: '{"type":"new_message","n":"big"}', position: { conversation_id: 5, seq: 1 } } as const;
      for (let i = 0; i < 20; i++) {
        await nodeA.publish(channels[3]!, frame(i));
        await nodeA.publishMany(channels, { ...big, position: { conversation_id: 5, seq: i + 1 } });
      }
      await Promise.all([onB[0]!.until(40), onB[1]!.until(20), onA.until(20)]);
      await new Promise((r) => setTimeout(r, 100));
      expect(onB[0]!.events).toEqual(
        Array.from({ length: 20 }, (_, i) => [frame(i), { ...big, position: { conversation_id: 5, seq: i + 1 } }]).flat(),
      );
      expect(onB[1]!.events).toHaveLength(20);
      expect(onA.events).toHaveLength(20);
      expect(notListed.events).toEqual([]);
      expect(elsewhere.events).toEqual([]);
    });
  });
}

describe('BUS_FANOUT_MIN=0 (while nodes of an older version run)', () => {
  test('a large fanout goes to each user channel, where a node that knows no fanout channel hears it', async () => {
    const p = prefix();
    const bus = new RedisBus({ url: REDIS_URL, prefix: `${p}:`, sharded: false, fanoutMin: 0 }, quiet);
    open.push(bus);
    expect(await bus.ready(5000)).toBe(true);
    // An older node: a plain subscription to one user's channel, nothing else.
    const older = new Redis(REDIS_URL);
    const heard: string[] = [];
    older.on('message', (_channel: string, message: string) => heard.push(message));
    await older.subscribe(`${p}:user:42`);
    try {
      await bus.publishMany(Array.from({ length: 40 }, (_, i) => `user:${20 + i}`), frame(7));
      await expect.poll(() => heard, { timeout: 3000 }).toEqual([encodeEvent(frame(7))]);
    } finally {
      older.disconnect();
    }
  });
});
