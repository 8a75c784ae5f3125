import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testDatabaseUrl } from '../harness/postgres.js';
import { parseProm, value } from '../metrics/prom-text.js';
import { Cluster, Device, findBinary, register, type NatterNode } from './cluster-harness.js';

/**
 * natter_bus_delivery_lag_seconds on two real nodes: a message sent on node 1 to a user
 * whose socket is on node 2 is timed by node 2 when it arrives through the bus.
 */

const pgUrl = testDatabaseUrl();
const redisBin = findBinary('redis-server');
const natsBin = findBinary('nats-server');
const TOKEN = 'metrics-token-for-the-scale-tests';
const LAG = 'natter_bus_delivery_lag_seconds';

const skipReason = !pgUrl ? 'needs PostgreSQL (set TEST_DATABASE_URL)' : !redisBin ? 'needs redis-server on PATH' : undefined;

async function scrape(node: NatterNode) {
  const res = await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return parseProm(await res.text());
}

function lagSuite(bus: 'redis' | 'nats'): void {
  let cluster: Cluster;
  let n1: NatterNode;
  let n2: NatterNode;

  beforeAll(async () => {
    cluster = await Cluster.start({ bus, nodes: 2, env: { METRICS_TOKEN: TOKEN } });
    [n1, n2] = cluster.nodes as [NatterNode, NatterNode];
  }, 120_000);
  afterAll(() => cluster?.close(), 60_000);

  test('the receiving node times every message that crossed to it', async () => {
    const alice = new Device('alice@n1', await register(n1, 'alice'));
    const bob = new Device('bob@n2', await register(n2, 'bob'));
    const res = await n1.request('POST', '/api/v1/conversations', { token: alice.user.token, body: { type: 'direct', participant_id: bob.id } });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    const conversationId = res.body.conversation.id as number;
    await alice.attach(n1);
    await bob.attach(n2);

    const before = await scrape(n2);
    const N = 3;
    for (let i = 0; i < N; i++) {
      const sent = alice.send(conversationId, `crossing ${i}`);
      const { message } = await sent.echo;
      await bob.ws.next((f) => f.type === 'new_message' && f.message.id === message.id, 10_000);
    }
    const after = await scrape(n2);
    // Each message arrived at node 2 through the bus and was timed there.
    expect(value(after, `${LAG}_count`) - value(before, `${LAG}_count`)).toBeGreaterThanOrEqual(N);
    expect(value(after, `${LAG}_sum`)).toBeGreaterThanOrEqual(value(before, `${LAG}_sum`));
    for (const ws of [...alice.sockets, ...bob.sockets]) ws.socket.terminate();
  });
}

describe.skipIf(skipReason !== undefined)(skipReason ? `bus delivery lag: ${skipReason}` : 'bus delivery lag on two nodes', () => {
  describe('BUS=redis', () => lagSuite('redis'));
  describe.skipIf(!natsBin)(natsBin ? 'BUS=nats' : 'BUS=nats: needs nats-server on PATH', () => lagSuite('nats'));
});
