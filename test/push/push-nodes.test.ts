import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { envConfig, registerUser, startApp, testConfig, type TestApp } from '../harness/app.js';
import { testDatabaseUrl } from '../harness/postgres.js';
import { FcmServer, makeServiceAccount } from '../harness/push-peers.js';
import { claimDue } from '../../src/store/push.repository.js';
import { group, restSend } from '../realtime/fixtures.js';

/**
 * Two nodes over one PostgreSQL database, each with its push worker, claiming from one
 * outbox at the same time: every device gets its notification once, and both nodes send.
 */

const pgUrl = testDatabaseUrl();
const MEMBERS = 40;
let dir: string;
let fcm: FcmServer;
let t: TestApp;
let node2: App;

beforeAll(async () => {
  if (!pgUrl) return;
  dir = mkdtempSync(path.join(tmpdir(), 'natter-push-nodes-'));
  const { serviceAccount, publicKey } = makeServiceAccount('natter-nodes');
  writeFileSync(path.join(dir, 'sa.json'), JSON.stringify(serviceAccount));
  fcm = await FcmServer.start({ projectId: 'natter-nodes', clientEmail: serviceAccount.client_email, publicKey });
  const env = envConfig({
    PUSH_DELAY: '200ms',
    FCM_SERVICE_ACCOUNT_FILE: path.join(dir, 'sa.json'),
    FCM_ENDPOINT: fcm.endpoint,
    FCM_TOKEN_URL: fcm.tokenUrl,
  });
  // Small rounds, and no worker of its own accord: the test runs the rounds, several at once.
  const pushTuning = { batchSize: 3, worker: false };
  t = await startApp(env, { pushTuning });
  node2 = await createApp(testConfig({ ...env, dataDir: path.join(dir, 'node2') }), {
    database: { ...t.app.database, close: async () => {} },
    pushTuning,
  });
}, 60_000);

afterAll(async () => {
  await node2?.close();
  await t?.close();
  await fcm?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A group of `count` members with an FCM device each; resolves with the owner, the conversation and token → user id. */
async function groupWithDevices(count: number) {
  const owner = await registerUser(t);
  const members = await Promise.all(Array.from({ length: count }, () => registerUser(t)));
  const tokens = new Map<string, number>();
  await Promise.all(
    members.map(async (m) => {
      const token = `fcm-${randomBytes(12).toString('hex')}`;
      tokens.set(token, m.user.id);
      const res = await t.request('POST', '/api/v1/devices', { token: m.token, body: { platform: 'fcm', token } });
      expect(res.status).toBe(201);
    }),
  );
  return { owner, conv: await group(t, owner, members, 'Everyone'), tokens };
}

test.skipIf(!pgUrl)('workers on two nodes claiming at once send each device its push exactly once', async () => {
  const { owner, conv, tokens } = await groupWithDevices(MEMBERS);
  await restSend(t, owner, conv, 'all hands at 10');
  await new Promise((r) => setTimeout(r, 300));

  // Four rounds at a time, two per node, until the outbox is empty.
  for (let round = 0; round < 100; round++) {
    const claimed = await Promise.all([t.app.push.runOnce(), node2.push.runOnce(), t.app.push.runOnce(), node2.push.runOnce()]);
    if (claimed.every((n) => n === 0)) break;
  }
  const got = fcm.received.map((r) => r.message.token as string);
  expect(got.length).toBe(MEMBERS);
  expect(new Set(got)).toEqual(new Set(tokens.keys()));
  expect(t.app.push.stats.sent).toBeGreaterThan(0);
  expect(node2.push.stats.sent).toBeGreaterThan(0);
  expect(t.app.push.stats.sent + node2.push.stats.sent).toBe(MEMBERS);
  expect(await t.app.database.db.selectFrom('push_outbox').selectAll().execute()).toEqual([]);
}, 120_000);

test.skipIf(!pgUrl)('a round slower than its lease keeps its rows: another node claiming meanwhile sends nothing twice', async () => {
  const e = envConfig({
    PUSH_DELAY: '100ms',
    PUSH_CONCURRENCY: '1',
    FCM_SERVICE_ACCOUNT_FILE: path.join(dir, 'sa.json'),
    FCM_ENDPOINT: fcm.endpoint,
    FCM_TOKEN_URL: fcm.tokenUrl,
  });
  const pushTuning = { batchSize: 10, worker: false, leaseMs: 600 };
  const a = await startApp(e, { pushTuning });
  const b = await createApp(testConfig({ ...e, dataDir: path.join(dir, 'slow-b') }), {
    database: { ...a.app.database, close: async () => {} },
    pushTuning,
  });
  try {
    const owner = await registerUser(a);
    const members = await Promise.all(Array.from({ length: 5 }, () => registerUser(a)));
    const tokens: string[] = [];
    for (const m of members) {
      const token = `fcm-slow-${randomBytes(8).toString('hex')}`;
      tokens.push(token);
      expect((await a.request('POST', '/api/v1/devices', { token: m.token, body: { platform: 'fcm', token } })).status).toBe(201);
    }
    const conv = await group(a, owner, members, 'Slow');
    await restSend(a, owner, conv, 'take your time');
    await new Promise((r) => setTimeout(r, 300));
    // Each send answered after 250 ms, one at a time: the round takes over twice its lease.
    for (let i = 0; i < tokens.length; i++) fcm.respondNext(200, { name: 'projects/natter-nodes/messages/1' }, undefined, 250);
    const first = a.app.push.runOnce();
    await new Promise((r) => setTimeout(r, 900));
    expect(await b.push.runOnce()).toBe(0);
    await first;
    const counts = tokens.map((tok) => fcm.received.filter((r) => r.message.token === tok).length);
    expect(counts).toEqual(tokens.map(() => 1));
  } finally {
    await b.close();
    await a.close();
  }
}, 120_000);

test.skipIf(!pgUrl)('a claim takes at most its batch, even under a generic plan made from an empty outbox', async () => {
  const db = t.app.database.db;
  // The statistics of a server whose outbox was empty when last analyzed, before its first big group send.
  await sql`analyze push_outbox`.execute(db);
  const { owner, conv } = await groupWithDevices(12);
  await restSend(t, owner, conv, 'twelve at once');
  const now = Date.now() + 1000;
  const rolledBack = new Error('roll back the claim');
  let claimed: unknown[] = [];
  await db
    .transaction()
    .execute(async (trx) => {
      // The plan PostgreSQL may keep for a named statement after five executions.
      await sql`set local plan_cache_mode = force_generic_plan`.execute(trx);
      claimed = await claimDue(trx, { now: new Date(now), leaseUntil: new Date(now + 60_000), limit: 3, claim: randomUUID() });
      throw rolledBack;
    })
    .catch((err: unknown) => {
      if (err !== rolledBack) throw err;
    });
  expect(claimed).toHaveLength(3);
  // Drain the outbox the usual way.
  await new Promise((r) => setTimeout(r, 300));
  while ((await t.app.push.runOnce()) > 0);
  expect(await db.selectFrom('push_outbox').selectAll().execute()).toEqual([]);
}, 60_000);
