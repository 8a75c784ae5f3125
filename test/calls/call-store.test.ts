import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { ENDED_RETENTION_MS, type CallStore, type LiveCall } from '../../src/calls/call-store.js';
import { MemoryCallStore } from '../../src/calls/memory.js';
import { CALL_KEY_MARGIN_MS, RedisCallStore } from '../../src/calls/redis.js';

/**
 * One contract, every CallStore: the one-node memory store and the Redis store (against
 * the machine's real Redis, each deployment under its own key prefix). A factory makes a
 * deployment; `node()` adds a node to it (memory: the one node there is).
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const quiet = { warn: () => {}, info: () => {} };

interface Deployment {
  node(): Promise<CallStore>;
  /** Whether several nodes share the calls. */
  shared: boolean;
  /** Memory: moves the store's clock forward (retention). */
  advance?(ms: number): void;
  /** Redis: the deployment's key prefix, to look at the keys themselves. */
  prefix?: string;
}

const prefixes: string[] = [];
const factories: Record<string, () => Deployment> = {
  memory: () => {
    let made = false;
    // A clock that moves only when told: real time passing between two steps of a test
    // on a loaded machine must not age an ended call past its retention.
    let now = Date.now();
    return {
      shared: false,
      advance: (ms) => void (now += ms),
      node: async () => {
        if (made) throw new Error('a memory store is one node');
        made = true;
        return new MemoryCallStore({ now: () => now });
      },
    };
  },
  redis: () => {
    const prefix = `natter-test-${randomBytes(4).toString('hex')}:`;
    prefixes.push(prefix);
    return {
      shared: true,
      prefix,
      node: async () => {
        const store = track(new RedisCallStore({ url: REDIS_URL, prefix }, quiet));
        await vi.waitFor(() => expect(store.isReady()).toBe(true), { timeout: 5000 });
        return store;
      },
    };
  },
};

const open: CallStore[] = [];
const track = <T extends CallStore>(store: T): T => (open.push(store), store);
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

// Ids past 2^31, and ms timestamps: the numbers a store must give back exactly.
let nextId = 2 ** 31 + 7;
const newId = () => nextId++;
const device = () => randomBytes(16).toString('hex');
const T0 = 1_764_783_886_123;

function newCall(over: Partial<LiveCall> = {}): LiveCall {
  return {
    id: randomUUID(),
    conversationId: newId(),
    messageId: newId(),
    seq: 9_007_199_254_740,
    callerId: newId(),
    callerDevice: device(),
    calleeId: newId(),
    video: true,
    sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns="quoted" \\ / ünïcode 📞\r\n',
    state: 'ringing',
    startedAt: T0,
    answeredAt: null,
    connectedAt: null,
    endedAt: null,
    selectedDevice: null,
    answerSdp: null,
    reason: null,
    glare: false,
    ringingDevices: [],
    busyDevices: [],
    callerSeenAt: null,
    calleeSeenAt: null,
    pushedDevices: null,
    pushClaimedAt: null,
    deadline: Date.now() + 45_000,
    ...over,
  };
}

const ended = (at = T0 + 5000) => ({ state: 'ended' as const, reason: 'hangup' as const, endedAt: at });

for (const [name, deployment] of Object.entries(factories)) {
  describe(`${name} call store`, () => {
    test('a created call reads back exactly, numbers, text and empty lists included', async () => {
      const store = track(await deployment().node());
      const call = newCall({ startedAt: T0, answeredAt: T0 + 1, deadline: T0 + 45_000 });
      expect(await store.create(call)).toEqual({ created: true });
      const read = await store.get(call.id);
      expect(read).toEqual(call);
      expect(read!.ringingDevices).toEqual([]);
      expect(await store.get(randomUUID())).toBeUndefined();
    });

    test('create refuses a taken id, a conversation with a live call and a busy caller device, storing nothing', async () => {
      const store = track(await deployment().node());
      const first = newCall();
      await store.create(first);

      expect(await store.create(newCall({ id: first.id }))).toEqual({ created: false, why: 'taken' });

      const sameConversation = newCall({ conversationId: first.conversationId });
      expect(await store.create(sameConversation)).toEqual({ created: false, why: 'live', live: first });
      expect(await store.get(sameConversation.id)).toBeUndefined();

      const sameDevice = newCall({ callerId: first.callerId, callerDevice: first.callerDevice });
      expect(await store.create(sameDevice)).toEqual({ created: false, why: 'busy', live: first });
      expect(await store.get(sameDevice.id)).toBeUndefined();

      // Another device of the same caller, in another conversation, may call.
      expect(await store.create(newCall({ callerId: first.callerId }))).toEqual({ created: true });
      expect(await store.liveFor(first.callerId)).toHaveLength(2);
      expect(await store.liveFor(first.calleeId)).toEqual([first]);
    });

    test('transition is a compare-and-set: of 20 concurrent answers exactly one wins', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      await store.create(call);
      const answers = Array.from({ length: 20 }, () => device());
      const results = await Promise.all(
        answers.map((d) => store.transition(call.id, ['ringing'], { state: 'connecting', selectedDevice: d, answeredAt: T0 + 100 })),
      );
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      const winner = winners[0]!.call!.selectedDevice;
      expect(answers).toContain(winner);
      for (const r of results.filter((x) => !x.ok)) expect(r.call).toMatchObject({ state: 'connecting', selectedDevice: winner });
      expect(await store.get(call.id)).toMatchObject({ state: 'connecting', selectedDevice: winner, answeredAt: T0 + 100 });
    });

    test('transition from the wrong state changes nothing; an unknown call has no call', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      await store.create(call);
      expect(await store.transition(call.id, ['connecting', 'active'], ended())).toEqual({ ok: false, call });
      expect(await store.get(call.id)).toEqual(call);
      expect(await store.transition(randomUUID(), ['ringing'], ended())).toEqual({ ok: false, call: undefined });
    });

    test('ending releases the conversation, the devices and the users; the ended call stays readable', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      const callee = device();
      await store.create(call);
      await store.transition(call.id, ['ringing'], { state: 'connecting', selectedDevice: callee });
      expect(await store.due(Number.MAX_SAFE_INTEGER)).toContain(call.id);

      const result = await store.transition(call.id, ['connecting'], ended(T0 + 9000));
      expect(result).toEqual({ ok: true, call: { ...call, state: 'ended', selectedDevice: callee, reason: 'hangup', endedAt: T0 + 9000, deadline: null } });
      expect(await store.get(call.id)).toEqual(result.call);
      expect(await store.liveFor(call.callerId)).toEqual([]);
      expect(await store.liveFor(call.calleeId)).toEqual([]);
      expect(await store.busyDevicesOf(call.callerId)).toEqual([]);
      expect(await store.busyDevicesOf(call.calleeId)).toEqual([]);
      expect(await store.due(Number.MAX_SAFE_INTEGER)).not.toContain(call.id);
      // Ended once: a second hangup or a timeout racing it loses.
      expect((await store.transition(call.id, ['ringing', 'connecting', 'active'], ended())).ok).toBe(false);

      // The same conversation and the same devices can call again.
      const again = newCall({ conversationId: call.conversationId, callerId: call.callerId, callerDevice: call.callerDevice });
      expect(await store.create(again)).toEqual({ created: true });
      const back = newCall({ callerId: call.calleeId, callerDevice: callee });
      expect(await store.create(back)).toEqual({ created: true });
      // But not the ended call's id, while it is kept.
      expect(await store.create(newCall({ id: call.id }))).toEqual({ created: false, why: 'taken' });
    });

    test('an ended call cannot be revived', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      await store.create(call);
      await store.transition(call.id, ['ringing'], ended());
      await expect(store.transition(call.id, ['ended'], { state: 'ringing' })).rejects.toThrow(/stays ended/);
      expect(await store.get(call.id)).toMatchObject({ state: 'ended' });
    });

    test('the selected callee device is busy: it cannot place another call until this one ends', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      const [a, b] = [device(), device()];
      await store.create(call);
      expect(await store.busyDevicesOf(call.callerId)).toEqual([call.callerDevice]);
      expect(await store.busyDevicesOf(call.calleeId)).toEqual([]);

      await store.transition(call.id, ['ringing'], { state: 'connecting', selectedDevice: a });
      expect(await store.busyDevicesOf(call.calleeId)).toEqual([a]);
      const fromA = newCall({ callerId: call.calleeId, callerDevice: a });
      expect(await store.create(fromA)).toMatchObject({ created: false, why: 'busy', live: { id: call.id } });
      // The callee's other devices are free.
      expect(await store.create(newCall({ callerId: call.calleeId, callerDevice: b }))).toEqual({ created: true });
    });

    test('a new selected device releases the one before', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      const [a, b] = [device(), device()];
      await store.create(call);
      await store.transition(call.id, ['ringing'], { state: 'connecting', selectedDevice: a });
      await store.transition(call.id, ['connecting'], { selectedDevice: b });
      expect(await store.busyDevicesOf(call.calleeId)).toEqual([b]);
      expect(await store.create(newCall({ callerId: call.calleeId, callerDevice: a }))).toEqual({ created: true });
    });

    test('addDevice adds each device once to its list, only while the call rings', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      const [a, b] = [device(), device()];
      await store.create(call);
      await store.addDevice(call.id, 'ringingDevices', a);
      await store.addDevice(call.id, 'ringingDevices', b);
      const twice = await store.addDevice(call.id, 'ringingDevices', a);
      expect(twice).toMatchObject({ ringingDevices: [a, b], busyDevices: [] });
      await Promise.all([store.addDevice(call.id, 'busyDevices', b), store.addDevice(call.id, 'busyDevices', b)]);
      expect(await store.get(call.id)).toMatchObject({ ringingDevices: [a, b], busyDevices: [b] });

      await store.transition(call.id, ['ringing'], { state: 'connecting', selectedDevice: a });
      expect(await store.addDevice(call.id, 'ringingDevices', device())).toBeUndefined();
      expect(await store.get(call.id)).toMatchObject({ ringingDevices: [a, b], busyDevices: [b] });
      expect(await store.addDevice(randomUUID(), 'busyDevices', a)).toBeUndefined();
    });

    test('liveFor lists the calls a user places and receives; busyDevicesOf their devices in them', async () => {
      const store = track(await deployment().node());
      const user = newId();
      const [mine, theirs] = [device(), device()];
      const placed = newCall({ callerId: user, callerDevice: mine });
      const received = newCall({ calleeId: user });
      await store.create(placed);
      await store.create(received);
      const byId = (calls: LiveCall[]) => [...calls].sort((x, y) => x.id.localeCompare(y.id));
      expect(byId(await store.liveFor(user))).toEqual(byId([placed, received]));
      expect(await store.busyDevicesOf(user)).toEqual([mine]);

      await store.transition(received.id, ['ringing'], { state: 'connecting', selectedDevice: theirs });
      expect((await store.busyDevicesOf(user)).sort()).toEqual([mine, theirs].sort());

      await store.transition(placed.id, ['ringing'], ended());
      expect((await store.liveFor(user)).map((c) => c.id)).toEqual([received.id]);
      expect(await store.busyDevicesOf(user)).toEqual([theirs]);
      expect(await store.liveFor(newId())).toEqual([]);
    });

    test('due lists live calls whose deadline has come; a new deadline replaces the old', async () => {
      const store = track(await deployment().node());
      const now = Date.now();
      const soon = newCall({ deadline: now + 1000 });
      const later = newCall({ deadline: now + 60_000 });
      const none = newCall({ deadline: null });
      for (const c of [soon, later, none]) await store.create(c);
      const dueOf = async (at: number) => (await store.due(at)).filter((id) => [soon.id, later.id, none.id].includes(id)).sort();

      expect(await dueOf(now)).toEqual([]);
      expect(await dueOf(now + 1000)).toEqual([soon.id]);
      expect(await dueOf(now + 60_000)).toEqual([soon.id, later.id].sort());

      await store.transition(soon.id, ['ringing'], { state: 'connecting', deadline: now + 30_000 });
      expect(await dueOf(now + 1000)).toEqual([]);
      expect(await dueOf(now + 30_000)).toEqual([soon.id]);
      await store.transition(later.id, ['ringing'], { deadline: null });
      await store.transition(none.id, ['ringing'], { deadline: now + 500 });
      expect(await dueOf(now + 60_000)).toEqual([soon.id, none.id].sort());

      await store.transition(soon.id, ['connecting'], ended());
      expect(await dueOf(Number.MAX_SAFE_INTEGER)).toEqual([none.id]);
    });

    test('claimPush: of 20 concurrent claims one wins; the holder renews it; an old claim is taken over; unpushed lists claims not sent', async () => {
      const d = deployment();
      const [a, b] = d.shared ? [await d.node(), await d.node()] : [track(await d.node()), undefined];
      const other = b ?? a;
      const LEASE = 5000;
      const [call, answered, over] = [newCall(), newCall(), newCall()];
      for (const c of [call, answered, over]) await a.create(c);
      const mine = [call.id, answered.id, over.id];
      const unpushed = async (by: number) => (await other.unpushed(by)).filter((id) => mine.includes(id)).sort();
      // Nothing is listed before a claim: a call whose invite never went out is not pushed.
      expect(await unpushed(Number.MAX_SAFE_INTEGER)).toEqual([]);

      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : a).claimPush(call.id, T0 + i, LEASE)));
      const won = claims.filter((c) => c !== undefined);
      expect(won).toHaveLength(1);
      const at = won[0]!.pushClaimedAt!;
      expect(won[0]).toMatchObject({ id: call.id, state: 'ringing', pushClaimedAt: expect.any(Number) });
      expect(await a.get(call.id)).toEqual(won[0]);
      expect(await unpushed(at - 1)).toEqual([]);
      expect(await unpushed(at)).toEqual([call.id]);

      // Within the lease only the holder, naming its claim, gets it again.
      expect(await other.claimPush(call.id, at + LEASE - 1, LEASE)).toBeUndefined();
      expect(await other.claimPush(call.id, at + 100, LEASE, at + 1)).toBeUndefined();
      expect(await a.claimPush(call.id, at + 1000, LEASE, at)).toMatchObject({ pushClaimedAt: at + 1000 });
      expect(await unpushed(at + 999)).toEqual([]);
      // The holder did not send it: once the lease is over anyone takes it over, and the old holder has lost it.
      expect(await other.claimPush(call.id, at + 1000 + LEASE, LEASE)).toMatchObject({ pushClaimedAt: at + 1000 + LEASE });
      expect(await a.claimPush(call.id, at + 1000 + LEASE + 1, LEASE, at + 1000)).toBeUndefined();

      // Sent (pushedDevices known): nobody claims it again, and it is not listed.
      await a.transition(call.id, ['ringing'], { pushedDevices: 1 });
      expect(await other.claimPush(call.id, Number.MAX_SAFE_INTEGER, LEASE)).toBeUndefined();
      // A call that no longer rings has no push to claim; neither has an unknown one.
      await a.claimPush(answered.id, T0, LEASE);
      await a.transition(answered.id, ['ringing'], { state: 'connecting', selectedDevice: device() });
      await a.transition(over.id, ['ringing'], ended());
      for (const id of [answered.id, over.id, randomUUID()]) expect(await a.claimPush(id, T0 + 9000, LEASE)).toBeUndefined();
      expect(await unpushed(Number.MAX_SAFE_INTEGER)).toEqual([]);
    });

    test('patches leave the fields fixed at creation alone', async () => {
      const store = track(await deployment().node());
      const call = newCall();
      await store.create(call);
      const sneaky = { video: false, conversationId: 1, callerId: 2 } as unknown as Parameters<CallStore['transition']>[2];
      const result = await store.transition(call.id, ['ringing'], sneaky);
      expect(result).toEqual({ ok: true, call: { ...call, video: false } });
    });

    test('an ended call is kept for the retention, then gone', async () => {
      const d = deployment();
      const store = track(await d.node());
      const call = newCall();
      await store.create(call);
      await store.transition(call.id, ['ringing'], ended());
      expect(await store.get(call.id)).toMatchObject({ state: 'ended' });
      if (d.advance) {
        d.advance(ENDED_RETENTION_MS - 1);
        expect(await store.get(call.id)).toMatchObject({ state: 'ended' });
        d.advance(1);
        expect(await store.get(call.id)).toBeUndefined();
        expect(await store.create(newCall({ id: call.id }))).toEqual({ created: true });
      } else {
        const redis = new Redis(REDIS_URL);
        try {
          const ttl = await redis.pttl(`${d.prefix}{call}:c:${call.id}`);
          expect(ttl).toBeGreaterThan(0);
          expect(ttl).toBeLessThanOrEqual(ENDED_RETENTION_MS);
        } finally {
          redis.disconnect();
        }
      }
    });

    if (deployment().shared) {
      test('every key of a live call expires a margin after its deadline', async () => {
        const d = deployment();
        const store = track(await d.node());
        const call = newCall({ deadline: Date.now() + 45_000 });
        await store.create(call);
        const redis = new Redis(REDIS_URL);
        try {
          const check = async (deadline: number) => {
            const keys = await redis.keys(`${d.prefix}*`);
            expect(keys.length).toBeGreaterThanOrEqual(6);
            for (const key of keys) {
              const ttl = await redis.pttl(key);
              expect(ttl, key).toBeGreaterThan(deadline - Date.now());
              expect(ttl, key).toBeLessThanOrEqual(deadline - Date.now() + CALL_KEY_MARGIN_MS + 1000);
            }
          };
          await check(call.deadline!);
          // A later deadline carries every key along.
          const later = Date.now() + 30 * 60_000;
          await store.transition(call.id, ['ringing'], { state: 'connecting', selectedDevice: device(), deadline: later });
          await check(later);
        } finally {
          redis.disconnect();
        }
      });

      test('two nodes see and race for the same calls', async () => {
        const d = deployment();
        const [a, b] = [await d.node(), await d.node()];
        const call = newCall();
        await a.create(call);
        expect(await b.get(call.id)).toEqual(call);
        expect(await b.liveFor(call.calleeId)).toEqual([call]);
        expect(await b.create(newCall({ conversationId: call.conversationId }))).toMatchObject({ created: false, why: 'live' });

        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).transition(call.id, ['ringing'], { state: 'connecting', selectedDevice: device() })),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        const selected = results.find((r) => r.ok)!.call!.selectedDevice!;
        expect(await a.busyDevicesOf(call.calleeId)).toEqual([selected]);

        await b.transition(call.id, ['connecting'], ended());
        expect(await a.get(call.id)).toMatchObject({ state: 'ended' });
        expect(await a.liveFor(call.callerId)).toEqual([]);
      });

      test('a node whose Redis is unreachable is not ready and its operations fail', async () => {
        // Port 1: nothing listens there, so every connection attempt is refused.
        const store = track(new RedisCallStore({ url: 'redis://127.0.0.1:1', prefix: 'natter-test-unreachable:' }, quiet));
        expect(store.isReady()).toBe(false);
        await expect(store.get(randomUUID())).rejects.toThrow();
      });
    }
  });
}
