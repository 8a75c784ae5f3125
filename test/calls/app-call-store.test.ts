import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, test } from 'vitest';
import type { LiveCall } from '../../src/calls/call-store.js';
import { MemoryCallStore } from '../../src/calls/memory.js';
import { RedisCallStore } from '../../src/calls/redis.js';
import { startApp, type TestApp } from '../harness/app.js';

/** Where an app keeps its calls: memory on a lone node, Redis where presence is shared; /ready counts it. */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const busPrefix = `calls${randomBytes(4).toString('hex')}`;
const apps: TestApp[] = [];
const start = async (...args: Parameters<typeof startApp>) => {
  const t = await startApp(...args);
  apps.push(t);
  return t;
};
afterAll(async () => {
  await Promise.all(apps.map((t) => t.close()));
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${busPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const call = (): LiveCall => ({
  id: randomUUID(),
  conversationId: 1,
  messageId: null,
  seq: null,
  callerId: 1,
  callerDevice: randomBytes(16).toString('hex'),
  calleeId: 2,
  video: false,
  sdp: 'v=0\r\n',
  state: 'ringing',
  startedAt: Date.now(),
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
});

describe('the app call store', () => {
  test('a lone node keeps calls in memory', async () => {
    const t = await start();
    expect(t.app.callStore).toBeInstanceOf(MemoryCallStore);
    expect((await t.request('GET', '/ready')).status).toBe(200);
  });

  test('nodes sharing presence share calls in Redis, under BUS_PREFIX', async () => {
    const [a, b] = [await start({ presence: 'redis', redisUrl: REDIS_URL, busPrefix }), await start({ presence: 'redis', redisUrl: REDIS_URL, busPrefix })];
    expect(a.app.callStore).toBeInstanceOf(RedisCallStore);
    await expect.poll(async () => (await a.request('GET', '/ready')).status, { timeout: 10_000 }).toBe(200);
    const c = call();
    expect(await a.app.callStore.create(c)).toEqual({ created: true });
    expect(await b.app.callStore.get(c.id)).toEqual(c);
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.exists(`${busPrefix}:{call}:c:${c.id}`)).toBe(1);
    } finally {
      redis.disconnect();
    }
  });

  test('/ready names the call store while its Redis does not answer', async () => {
    const t = await start({ presence: 'redis', redisUrl: 'redis://127.0.0.1:1' });
    const reply = await t.request('GET', '/ready');
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ code: 'not_ready' });
    expect(reply.body.error).toContain('calls');
  });
});
