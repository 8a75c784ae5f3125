import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, test } from 'vitest';
import type { Bus, BusEvent } from '../../src/bus/bus.js';
import { NatsBus } from '../../src/bus/nats.js';
import { RedisBus } from '../../src/bus/redis.js';
import type { RemoteBus } from '../../src/bus/remote.js';
import { findBinary, freePort, PrivateNats, PrivateRedis, sleep, type BusServer } from './cluster-harness.js';

/**
 * The remote buses through an outage of their server (a private redis-server or
 * nats-server this file starts, stops and starts again): publishing while it is away is
 * dropped and counted, never thrown or silently lost; subscribing while it is away does
 * not fail, and the subscription works once the server is back.
 */

const quiet = { warn: () => {}, info: () => {} };
const redisBin = findBinary('redis-server');
const natsBin = findBinary('nats-server');

const kinds: { name: string; binary: string | undefined; server: (port: number, bin: string) => BusServer; bus: (url: string, prefix: string) => Promise<RemoteBus> }[] = [
  {
    name: 'redis',
    binary: redisBin,
    server: (port, bin) => new PrivateRedis(port, bin),
    bus: async (url, prefix) => {
      const bus = new RedisBus({ url, prefix: `${prefix}:`, sharded: false }, quiet);
      expect(await bus.ready(5000)).toBe(true);
      return bus;
    },
  },
  {
    name: 'nats',
    binary: natsBin,
    server: (port, bin) => new PrivateNats(port, bin),
    bus: (url, prefix) => NatsBus.connect({ url, prefix }, quiet),
  },
];

const servers: BusServer[] = [];
const buses: Bus[] = [];
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close().catch(() => {})));
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
});

const frame = (text: string): BusEvent => ({ kind: 'frame', frame: text });

for (const kind of kinds) {
  describe.skipIf(!kind.binary)(kind.binary ? `${kind.name} bus through a server outage` : `${kind.name} bus: needs ${kind.name}-server`, () => {
    test('drops and counts what is published while the server is away; subscriptions made meanwhile work once it is back', async () => {
      const server = kind.server(await freePort(), kind.binary!);
      servers.push(server);
      await server.start();
      const prefix = `outage_${randomBytes(4).toString('hex')}`;
      const a = await kind.bus(server.url, prefix);
      const b = await kind.bus(server.url, prefix);
      buses.push(a, b);
      const got: Record<string, string[]> = { before: [], during: [] };
      await b.subscribe('user:1', (e) => e.kind === 'frame' && got.before!.push(e.frame));

      await server.stop();
      await expect.poll(() => !a.isReady() && !b.isReady(), { message: 'both buses to notice', timeout: 10_000 }).toBe(true);
      // Subscribing while the server is away resolves (promptly) instead of failing.
      const subscribed = b.subscribe('user:2', (e) => e.kind === 'frame' && got.during!.push(e.frame));
      expect(await Promise.race([subscribed.then(() => 'subscribed'), sleep(3000).then(() => 'pending')])).toBe('subscribed');
      await a.publish('user:1', frame('lost'));
      expect(a.dropped).toBeGreaterThanOrEqual(1);
      // Long enough for the clients' own retries of queued commands to give up.
      await sleep(2500);

      await server.start();
      await expect.poll(() => a.isReady() && b.isReady(), { message: 'both buses to reconnect', timeout: 20_000 }).toBe(true);
      // Re-subscribing may lag the reconnect a little: publish until delivered.
      for (const [channel, bucket] of [
        ['user:1', 'before'],
        ['user:2', 'during'],
      ] as const) {
        await expect.poll(async () => {
            await a.publish(channel, frame(`after ${channel}`));
            await sleep(100);
            return got[bucket]!.includes(`after ${channel}`);
          }, { message: `delivery on ${channel}`, timeout: 10_000, interval: 0 }).toBe(true);
      }
      // What was published while the server was away never arrives late.
      expect(got.before).not.toContain('lost');
    }, 60_000);
  });
}
