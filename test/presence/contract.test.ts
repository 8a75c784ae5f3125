import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { MemoryPresenceStore } from '../../src/presence/memory.js';
import type { PresenceStore } from '../../src/presence/presence-store.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';

/**
 * One contract, every PresenceStore: the one-node memory store and the Redis store
 * (against the machine's real Redis, each deployment under its own key prefix). A
 * factory makes a deployment; `node()` adds a node to it. Stores shared between nodes
 * also answer for the cluster: counts across nodes, and a dead node's sockets removed
 * exactly once, reported to one surviving node.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const quiet = { warn: () => {}, info: () => {} };
// A node silent this long is dead. Long enough that a survivor's own heartbeat (every
// ttl/3) never lapses while a loaded test worker stalls; the reaping test waits up to 5 s.
const TTL_MS = 1500;

interface Deployment {
  /** A new node of this deployment (memory: the one node there is). */
  node(): Promise<PresenceStore>;
  /** Whether several nodes share the counts. */
  shared: boolean;
  /** Shared stores: a node whose store cannot be reached (its server is down). */
  unreachableNode?(): PresenceStore;
}

const prefixes: string[] = [];
const factories: Record<string, () => Deployment> = {
  memory: () => {
    let made = false;
    return {
      shared: false,
      node: async () => {
        if (made) throw new Error('a memory store is one node');
        made = true;
        return new MemoryPresenceStore();
      },
    };
  },
  redis: () => {
    const prefix = `natter-test-${randomBytes(4).toString('hex')}:`;
    prefixes.push(prefix);
    return {
      shared: true,
      node: async () => {
        const store = new RedisPresenceStore({ url: REDIS_URL, prefix, ttlMs: TTL_MS }, quiet);
        await vi.waitFor(() => expect(store.isReady()).toBe(true), { timeout: 5000 });
        return store;
      },
      // Port 1: nothing listens there, so every connection attempt is refused.
      unreachableNode: () => new RedisPresenceStore({ url: 'redis://127.0.0.1:1', prefix, ttlMs: TTL_MS }, quiet),
    };
  },
};

const open: PresenceStore[] = [];
const track = (store: PresenceStore) => (open.push(store), store);
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

let nextUser = 1;
const newUser = () => nextUser++;

for (const [name, deployment] of Object.entries(factories)) {
  describe(`${name} presence store`, () => {
    test('the first socket is reported first and the last as last; count follows', async () => {
      const store = track(await deployment().node());
      const user = newUser();
      expect(await store.count(user)).toBe(0);
      expect(await store.connect(user)).toBe(true);
      expect(await store.connect(user)).toBe(false);
      expect(await store.count(user)).toBe(2);
      expect(await store.disconnect(user)).toBe(false);
      expect(await store.count(user)).toBe(1);
      expect(await store.disconnect(user)).toBe(true);
      expect(await store.count(user)).toBe(0);
    });

    test('users are counted apart', async () => {
      const store = track(await deployment().node());
      const [a, b] = [newUser(), newUser()];
      expect(await store.connect(a)).toBe(true);
      expect(await store.connect(b)).toBe(true);
      expect(await store.disconnect(a)).toBe(true);
      expect(await store.count(b)).toBe(1);
    });

    test('a disconnect with no socket counted is not a "last socket" and changes nothing', async () => {
      const store = track(await deployment().node());
      const user = newUser();
      expect(await store.disconnect(user)).toBe(false);
      expect(await store.count(user)).toBe(0);
      expect(await store.connect(user)).toBe(true);
    });

    test.runIf(deployment().unreachableNode !== undefined)(
      'unreachable: not ready; a connect is served from the node\'s own count, a disconnect fails rather than guess',
      async () => {
        const store = track(deployment().unreachableNode!());
        expect(store.isReady()).toBe(false);
        const user = newUser();
        expect(await store.connect(user)).toBe(true);
        expect(await store.connect(user)).toBe(false);
        // Another node may hold a socket of this user: "last" cannot be known, so it is not claimed.
        await expect(store.disconnect(user)).rejects.toThrow(/not reachable/);
      },
    );

    test('concurrent connects and disconnects of one user: exactly one first and one last', async () => {
      const store = track(await deployment().node());
      const user = newUser();
      const firsts = await Promise.all(Array.from({ length: 20 }, () => store.connect(user)));
      expect(firsts.filter(Boolean)).toHaveLength(1);
      const lasts = await Promise.all(Array.from({ length: 20 }, () => store.disconnect(user)));
      expect(lasts.filter(Boolean)).toHaveLength(1);
      expect(await store.count(user)).toBe(0);
    });

    test.runIf(deployment().shared)('nodes share the counts: first and last are cluster-wide', async () => {
      const d = deployment();
      const [a, b] = [track(await d.node()), track(await d.node())];
      const user = newUser();
      expect(await a.connect(user)).toBe(true);
      expect(await b.connect(user)).toBe(false);
      expect(await a.count(user)).toBe(2);
      expect(await a.disconnect(user)).toBe(false);
      expect(await b.disconnect(user)).toBe(true);
      expect(await b.count(user)).toBe(0);
    });

    test.runIf(deployment().shared)("after the store lost its data (a restart), a node's last socket still counts as last", async () => {
      const d = deployment();
      const a = track(await d.node());
      const user = newUser();
      expect(await a.connect(user)).toBe(true);
      const redis = new Redis(REDIS_URL);
      try {
        const keys = await redis.keys(`${prefixes.at(-1)}*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
      expect(await a.disconnect(user)).toBe(true);
    });

    test.runIf(deployment().shared)("a disconnect on a node that holds none of the user's sockets changes nothing", async () => {
      const d = deployment();
      const [a, b] = [track(await d.node()), track(await d.node())];
      const user = newUser();
      expect(await a.connect(user)).toBe(true);
      expect(await b.disconnect(user)).toBe(false);
      expect(await a.count(user)).toBe(1);
      expect(await a.disconnect(user)).toBe(true);
    });

    test.runIf(deployment().shared)(
      "a node that dies is reaped once: its users with no socket elsewhere are reported to one survivor",
      async () => {
        const d = deployment();
        const doomed = track(await d.node());
        const [b, c] = [track(await d.node()), track(await d.node())];
        const gone: [string, number][] = [];
        b.setGoneHandler((id) => gone.push(['b', id]));
        c.setGoneHandler((id) => gone.push(['c', id]));
        const [lonely, elsewhere] = [newUser(), newUser()];
        await doomed.connect(lonely);
        await doomed.connect(elsewhere);
        await b.connect(elsewhere);
        // Dies without cleaning up: its heartbeat expires and the survivors notice.
        await doomed.close();
        await vi.waitFor(() => expect(gone.map(([, id]) => id)).toContain(lonely), { timeout: 5000, interval: 50 });
        // Long enough for every survivor's sweep to have run a few times more.
        await new Promise((r) => setTimeout(r, TTL_MS));
        expect(gone.map(([, id]) => id)).toEqual([lonely]);
        expect(await b.count(lonely)).toBe(0);
        expect(await c.count(elsewhere)).toBe(1);
      },
    );

  });
}
