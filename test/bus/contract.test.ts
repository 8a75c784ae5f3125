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

/**
 * Each factory makes one node's bus; nodes given the same prefix form one deployment.
 * `observeLag` is the node's delivery-lag meter.
 */
const factories: Record<string, ((p: string, observeLag?: (seconds: number) => void) => Promise<Bus>) | undefined> = {
  memory: undefined,
  'redis pub/sub': async (p, observeLag) => {
    const bus = new RedisBus({ url: REDIS_URL, prefix: `${p}:`, sharded: false, observeLag }, quiet);
    expect(await bus.ready(5000)).toBe(true);
    return bus;
  },
  'redis sharded pub/sub': async (p, observeLag) => {
    const bus = new RedisBus({ url: REDIS_URL, prefix: `${p}:`, sharded: true, observeLag }, quiet);
    expect(await bus.ready(5000)).toBe(true);
    return bus;
  },
  nats: (p, observeLag) => NatsBus.connect({ url: NATS_URL, prefix: p, observeLag }, quiet),
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
    const make2 = async (p = (deployment = prefix()), observeLag?: (seconds: number) => void) => {
      const bus = node ? await node(p, observeLag) : new MemoryBus();
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

    if (node) test('messages and changes carry their publish time: the receiving node times each, other kinds are not timed', async () => {
      const lags: number[] = [];
      const nodeA = await make2();
      const nodeB = await make2(deployment, (seconds) => lags.push(seconds));
      const onB = collector();
      await nodeB.subscribe('user:8', onB.handler);
      const positioned: BusEvent = { kind: 'frame', frame: '{"type":"new_message"}', position: { conversation_id: 42, seq: 7 } };
      const change: BusEvent = { kind: 'frame', frame: '{"type":"reaction"}', change: { conversation_id: 42, mod_seq: 9 } };
      const published = Date.now();
      await nodeA.publish('user:8', positioned);
      await nodeA.publish('user:8', change);
      await nodeA.publish('user:8', frame(1));
      await nodeA.publish('user:8', { kind: 'session_revoked', sessionId: 's-1' });
      // A fanout (16 channels or more) goes once through the fanout channel, timed once.
      await nodeA.publishMany(Array.from({ length: 20 }, (_, i) => `user:${i}`), positioned);
      await onB.until(5);
      const received = Date.now();
      // The events themselves are as published: the time is the envelope's, not theirs.
      expect(onB.events).toEqual([positioned, change, frame(1), { kind: 'session_revoked', sessionId: 's-1' }, positioned]);
      expect(lags).toHaveLength(3);
      for (const lag of lags) {
        expect(lag).toBeGreaterThanOrEqual(0);
        expect(lag).toBeLessThanOrEqual((received - published) / 1000 + 0.001);
      }
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

describe('events between nodes of this version and of an earlier one (no publish time)', () => {
  test('an earlier node\'s events arrive as they always did, untimed', async () => {
    const p = prefix();
    const lags: number[] = [];
    const bus = new RedisBus({ url: REDIS_URL, prefix: `${p}:`, sharded: false, observeLag: (s) => lags.push(s) }, quiet);
    open.push(bus);
    expect(await bus.ready(5000)).toBe(true);
    const c = collector();
    await bus.subscribe('user:8', c.handler);
    const older = new Redis(REDIS_URL);
    try {
      await older.publish(`${p}:user:8`, 'm42,7;{"type":"new_message"}');
      await older.publish(`${p}:fanout`, 'Fuser:8,user:9\nx42,9;{"type":"reaction"}');
      await c.until(2);
      expect(c.events).toEqual([
        { kind: 'frame', frame: '{"type":"new_message"}', position: { conversation_id: 42, seq: 7 } },
        { kind: 'frame', frame: '{"type":"reaction"}', change: { conversation_id: 42, mod_seq: 9 } },
      ]);
      expect(lags).toEqual([]);
    } finally {
      older.disconnect();
    }
  });

  test('a timed event reads, the way an earlier node reads it, as the same position and frame', async () => {
    const p = prefix();
    const bus = new RedisBus({ url: REDIS_URL, prefix: `${p}:`, sharded: false }, quiet);
    open.push(bus);
    expect(await bus.ready(5000)).toBe(true);
    const older = new Redis(REDIS_URL);
    const heard: string[] = [];
    older.on('message', (_channel: string, message: string) => heard.push(message));
    await older.subscribe(`${p}:user:8`);
    try {
      await bus.publish('user:8', { kind: 'frame', frame: '{"type":"new_message","x":";,"}', position: { conversation_id: 42, seq: 7 } });
      await expect.poll(() => heard.length, { timeout: 3000 }).toBe(1);
      const payload = heard[0]!;
      // An earlier node: the marker, the first two numbers before ';', the frame after it.
      const end = payload.indexOf(';');
      const [conversation, seq] = payload.slice(1, end).split(',').map(Number);
      expect([payload[0], conversation, seq, payload.slice(end + 1)]).toEqual(['m', 42, 7, '{"type":"new_message","x":";,"}']);
    } finally {
      older.disconnect();
    }
  });
});
