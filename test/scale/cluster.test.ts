import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testDatabaseUrl } from '../harness/postgres.js';
import type { Frame } from '../harness/ws.js';
import { Cluster, Device, findBinary, history, register, seen, sleep, type NatterNode } from './cluster-harness.js';

/**
 * Three real natter processes sharing one PostgreSQL database and one bus, with clients
 * connected to different nodes: everything a single node promises must hold across
 * nodes, through a bus outage and through a node being killed.
 *
 * Runs once with BUS=redis and once with BUS=nats (presence in Redis both times), each
 * against private redis-server / nats-server processes the test can stop and restart.
 */

const pgUrl = testDatabaseUrl();
const redisBin = findBinary('redis-server');
const natsBin = findBinary('nats-server');

const PRESENCE_TTL_S = 2;
const PRESENCE_GRACE_S = 0.2;
/** docs: a dead node's users go offline within about TTL + TTL/3 (one sweep) + grace. */
const OFFLINE_BOUND_MS = (PRESENCE_TTL_S + PRESENCE_TTL_S / 3 + PRESENCE_GRACE_S) * 1000;
/** What the test allows on a busy 2-core machine: the bound plus generous slack. */
const OFFLINE_DEADLINE_MS = 8000;

const skipReason = !pgUrl
  ? 'needs PostgreSQL (set TEST_DATABASE_URL)'
  : !redisBin
    ? 'needs redis-server on PATH'
    : undefined;

const isStatus = (userId: number, status: 'online' | 'offline') => (f: Frame) =>
  f.type === 'status_change' && f.user_id === userId && f.status === status;
const isMessage = (id: number) => (f: Frame) => f.type === 'new_message' && f.message.id === id;

describe.skipIf(skipReason !== undefined)(skipReason ? `natter cluster: ${skipReason}` : 'natter cluster of three processes', () => {
  describe('BUS=redis', () => clusterSuite('redis'));
  describe.skipIf(!natsBin)(natsBin ? 'BUS=nats' : 'BUS=nats: needs nats-server on PATH', () => clusterSuite('nats'));
});

function clusterSuite(bus: 'redis' | 'nats'): void {
  let cluster: Cluster;
  let n1: NatterNode;
  let n2: NatterNode;
  let n3: NatterNode;
  // One device each; dave has two (a phone on node 2, a laptop on node 3).
  let alice: Device;
  let bob: Device;
  let carol: Device;
  let daveA: Device;
  let daveB: Device;
  let dmAB: number;
  let dmAC: number;
  let dmAD: number;
  let grp: number;
  const extraSockets: { terminate(): void }[] = [];
  /** bob's tablet: connects while the bus is down. */
  let tablet: Device;

  const devices = () => [alice, bob, carol, daveA, daveB];
  const conversationsOf = (d: Device): number[] =>
    d === alice ? [dmAB, dmAC, dmAD, grp] : d === bob ? [dmAB, grp] : d === carol ? [dmAC, grp] : [dmAD, grp];
  const membersOf = (conv: number): Device[] => devices().filter((d) => conversationsOf(d).includes(conv));

  /** A message reaches every socket of every participant (the sender's echo included), once each so far. */
  async function expectDelivered(message: { id: number; conversation_id: number }): Promise<void> {
    const counts = await Promise.all(membersOf(message.conversation_id).map((d) => seen(d.ws, isMessage(message.id))));
    expect(counts, `copies of message ${message.id} per socket`).toEqual(counts.map(() => 1));
  }

  async function restSend(node: NatterNode, from: Device, conv: number, content: string): Promise<any> {
    const res = await node.request('POST', `/api/v1/conversations/${conv}/messages`, {
      token: from.user.token,
      body: { content, client_id: randomUUID() },
    });
    expect(res.status, `${from.label} → ${conv} on ${node.name}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(201);
    return res.body.message;
  }

  /** Last seq of every test conversation, from REST on `node`. */
  async function lastSeqs(node: NatterNode): Promise<Record<number, number>> {
    const out: Record<number, number> = {};
    for (const conv of [dmAB, dmAC, dmAD, grp]) {
      const res = await node.request('GET', `/api/v1/conversations/${conv}`, { token: alice.user.token });
      expect(res.status).toBe(200);
      out[conv] = res.body.conversation.last_seq;
    }
    return out;
  }

  /**
   * Checks the log itself and every device against it: REST history is 1..last with no
   * gap, and each device holds each message exactly once.
   */
  async function expectEveryDeviceComplete(node: NatterNode): Promise<Record<number, any[]>> {
    const last = await lastSeqs(node);
    const histories: Record<number, any[]> = {};
    for (const conv of [dmAB, dmAC, dmAD, grp]) {
      histories[conv] = await history(node, alice.user.token, conv);
      expect(histories[conv].map((m) => m.seq)).toEqual(Array.from({ length: last[conv]! }, (_, i) => i + 1));
    }
    for (const d of devices()) {
      for (const conv of conversationsOf(d)) d.expectExactlyOnce(conv, last[conv]!, { strict: bus === 'redis' });
      // Nothing of conversations the user is not in.
      const foreign = d.sockets.flatMap((ws) =>
        ws.frames.filter((f) => f.type === 'new_message' && !conversationsOf(d).includes(f.message.conversation_id)),
      );
      expect(foreign, `${d.label} got messages of other conversations`).toEqual([]);
    }
    return histories;
  }

  /**
   * Repeats a typing frame until every other participant has one: after the bus came
   * back, the first few may go out before every node has subscribed again.
   */
  async function untilTypingCrossesNodes(from: Device, conv: number): Promise<void> {
    const others = membersOf(conv).filter((d) => d.id !== from.id);
    await expect.poll(async () => {
        const marks = others.map((d) => d.ws.frames.length);
        from.ws.send({ type: 'typing', conversation_id: conv, is_typing: true });
        await sleep(300);
        return others.every((d, i) =>
          d.ws.frames.slice(marks[i]).some((f) => f.type === 'typing' && f.user_id === from.id && f.conversation_id === conv),
        );
      }, { message: `typing from ${from.label} to reach every node`, timeout: 20_000, interval: 0 }).toBe(true);
  }

  beforeAll(async () => {
    const started = Date.now();
    cluster = await Cluster.start({
      bus,
      nodes: 3,
      env: { PRESENCE_TTL: `${PRESENCE_TTL_S}s`, PRESENCE_GRACE: `${PRESENCE_GRACE_S}s` },
    });
    [n1, n2, n3] = cluster.nodes as [NatterNode, NatterNode, NatterNode];
    console.log(`[scale ${bus}] 3 nodes ready in ${Date.now() - started} ms`);
    const [a, b, c, d] = await Promise.all([
      register(n1, 'alice'),
      register(n2, 'bob'),
      register(n3, 'carol'),
      register(n1, 'dave'),
    ]);
    alice = new Device('alice@n1', a);
    bob = new Device('bob', b);
    carol = new Device('carol', c);
    daveA = new Device('dave-phone', d);
    daveB = new Device('dave-laptop', d);
    const create = async (node: NatterNode, token: string, body: object) => {
      const res = await node.request('POST', '/api/v1/conversations', { token, body });
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      return res.body.conversation.id as number;
    };
    [dmAB, dmAC, dmAD, grp] = await Promise.all([
      create(n2, a.token, { type: 'direct', participant_id: b.user.id }),
      create(n3, c.token, { type: 'direct', participant_id: a.user.id }),
      create(n1, d.token, { type: 'direct', participant_id: a.user.id }),
      create(n3, a.token, { type: 'group', name: 'all four', participant_ids: [b.user.id, c.user.id, d.user.id] }),
    ]);
  }, 150_000);

  afterAll(async () => {
    for (const d of [alice, bob, carol, daveA, daveB]) for (const ws of d?.sockets ?? []) ws.socket.terminate();
    for (const s of extraSockets) s.terminate();
    await cluster?.close();
  }, 60_000);

  test('users connecting to different nodes see each other come online', async () => {
    await alice.attach(n1);
    await alice.sync(conversationsOf(alice));
    await bob.attach(n2);
    await alice.ws.next(isStatus(bob.id, 'online'));
    await carol.attach(n3);
    await Promise.all([alice, bob].map((d) => d.ws.next(isStatus(carol.id, 'online'))));
    await daveA.attach(n2);
    await Promise.all([alice, bob, carol].map((d) => d.ws.next(isStatus(daveA.id, 'online'))));
    await daveB.attach(n3);
    for (const d of [bob, carol, daveA, daveB]) await d.sync(conversationsOf(d));
    // dave's second socket is no news: he was online already.
    await alice.ws.expectNone(isStatus(daveA.id, 'online'), 500);
  });

  test('direct and group messages reach every participant socket on every node, the sender echo included', async () => {
    // WS on node 1 → bob on node 2.
    const hello = alice.send(dmAB, 'hello bob, from node 1');
    const echo = await hello.echo;
    expect(echo.message).toMatchObject({ conversation_id: dmAB, seq: 1, sender_id: alice.id, client_id: hello.clientId });
    const atBob = await bob.ws.next(isMessage(echo.message.id));
    expect(atBob.message).toMatchObject({ content: 'hello bob, from node 1', seq: 1 });

    // REST on node 3 by bob, whose socket is on node 2: the group hears it everywhere.
    const viaRest = await restSend(n3, bob, grp, 'group message over REST on node 3');
    expect(viaRest.seq).toBe(1);
    await expectDelivered(viaRest);

    // WS in the group from node 3; and a direct message from dave's laptop on node 3.
    const fromCarol = carol.send(grp, 'group message over WS on node 3');
    await expectDelivered((await fromCarol.echo).message);
    const fromDave = daveB.send(dmAD, 'direct from the laptop on node 3');
    await expectDelivered((await fromDave.echo).message);

    const atAlice = alice.messages(grp).map((m) => m.content);
    expect(atAlice).toEqual(['group message over REST on node 3', 'group message over WS on node 3']);
  });

  test('typing and receipts cross nodes', async () => {
    carol.ws.send({ type: 'typing', conversation_id: grp, is_typing: true });
    const typing = (f: Frame) => f.type === 'typing' && f.user_id === carol.id && f.conversation_id === grp && f.is_typing === true;
    await Promise.all([alice, bob, daveA, daveB].map((d) => d.ws.next(typing)));
    await carol.ws.expectNone(typing);

    // bob (node 2) reads the group: everyone, bob included, gets the receipt.
    bob.ws.send({ type: 'read', conversation_id: grp, seq: 2 });
    const read = (f: Frame) =>
      f.type === 'receipt' && f.conversation_id === grp && f.user_id === bob.id && f.status === 'read' && f.seq === 2;
    await Promise.all(membersOf(grp).map((d) => d.ws.next(read)));

    // alice (node 1) acknowledges dave's direct message: both of dave's devices hear it.
    alice.ws.send({ type: 'delivered', conversation_id: dmAD, seq: 1 });
    const delivered = (f: Frame) =>
      f.type === 'receipt' && f.conversation_id === dmAD && f.user_id === alice.id && f.status === 'delivered' && f.seq === 1;
    await Promise.all([alice, daveA, daveB].map((d) => d.ws.next(delivered)));
  });

  test('a user with sockets on two nodes gets everything on both', async () => {
    const toDave = alice.send(dmAD, 'to both of your devices');
    const msg = (await toDave.echo).message;
    await Promise.all([daveA, daveB].map((d) => d.ws.next(isMessage(msg.id))));

    // Sent from the phone (node 2): the laptop (node 3) gets it as well.
    const fromPhone = daveA.send(grp, 'sent from the phone');
    await expectDelivered((await fromPhone.echo).message);

    alice.ws.send({ type: 'typing', conversation_id: dmAD, is_typing: true });
    const typing = (f: Frame) => f.type === 'typing' && f.user_id === alice.id && f.conversation_id === dmAD;
    await Promise.all([daveA, daveB].map((d) => d.ws.next(typing)));

    // Read on the laptop: the phone is told, so it can clear its badge.
    daveB.ws.send({ type: 'read', conversation_id: dmAD, seq: msg.seq });
    const read = (f: Frame) =>
      f.type === 'receipt' && f.conversation_id === dmAD && f.user_id === daveA.id && f.status === 'read' && f.seq === msg.seq;
    await Promise.all([alice, daveA, daveB].map((d) => d.ws.next(read)));
  });

  test('a profile edit on one node shows at once in frames and pages served by the others', async () => {
    // Every node caches profiles for 10 s. Warm node 3 (carol sends there) and node 2 (a page read there).
    const before = carol.send(dmAC, 'before the rename');
    await alice.ws.next(isMessage((await before.echo).message.id));
    const lastSender = async (node: NatterNode) => {
      const res = await node.request('GET', `/api/v1/conversations/${dmAC}/messages?limit=1`, { token: alice.user.token });
      expect(res.status).toBe(200);
      return res.body.messages[0].sender.username as string;
    };
    expect(await lastSender(n2)).toBe(carol.user.user.username);

    const renamed = `carol_${Date.now().toString(36)}`;
    const res = await n1.request('PATCH', '/api/v1/users/me', { token: carol.user.token, body: { username: renamed } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // The cache channel drops the cached copies on every node: well within the 10 s.
    await expect.poll(async () => {
      const sent = await carol.send(dmAC, 'after the rename').echo;
      return sent.message.sender.username === renamed;
    }, { message: 'frames sent through node 3 to carry the new name', timeout: 2000, interval: 100 }).toBe(true);
    await expect.poll(async () => (await lastSender(n2)) === renamed, { message: 'pages served by node 2 to carry the new name', timeout: 2000, interval: 100 }).toBe(true);
  });

  test('going offline and coming back on another node is announced across nodes', async () => {
    // bob leaves node 2 ...
    await bob.ws.close();
    const offline = await Promise.all([alice, carol, daveA, daveB].map((d) => d.ws.next(isStatus(bob.id, 'offline'))));
    for (const f of offline) expect(Number.isNaN(Date.parse(f.last_seen))).toBe(false);
    // ... and comes back on node 1.
    await bob.attach(n1);
    await Promise.all([alice, carol, daveA, daveB].map((d) => d.ws.next(isStatus(bob.id, 'online'))));
    await bob.sync(conversationsOf(bob));
  });

  test('logout on node 1 closes that session’s socket on node 3 with 4001, and only that one', async () => {
    const erin = await register(n1, 'erin');
    const login = await n2.request('POST', '/api/v1/auth/login', {
      body: { email: erin.user.username, password: 'password123' },
    });
    expect(login.status).toBe(200);
    const second = login.body as { token: string };

    const onNode3 = await n3.connect(erin.token);
    const onNode2 = await n2.connect(second.token);
    extraSockets.push(onNode3.socket, onNode2.socket);

    const out = await n1.request('POST', '/api/v1/auth/logout', { token: erin.token });
    expect(out.status).toBe(200);
    const code = await Promise.race([onNode3.closed, sleep(5000).then(() => 'still open after 5 s')]);
    expect(code).toBe(4001);

    // The other session (other node) is untouched; the ended one cannot come back anywhere.
    onNode2.send({ type: 'ping' });
    await onNode2.nextOfType('pong');
    expect(onNode2.closeCode).toBeUndefined();
    for (const node of [n1, n2, n3]) expect(await node.refusedUpgrade(erin.token)).toBe(401);
    await onNode2.close();
  });

  test('stopping the bus and starting it again loses no acknowledged message; /ready is 503 meanwhile', async () => {
    const nodes = [n1, n2, n3];
    for (const n of nodes) expect(await n.readyStatus(), n.name).toBe(200);
    const marks = new Map(devices().map((d) => [d, d.ws.frames.length]));

    await cluster.busServer.stop();
    await expect.poll(async () =>
      (await Promise.all(nodes.map((n) => n.readyStatus()))).every((s) => s === 503), { message: 'every node to answer /ready with 503', timeout: 10_000 }).toBe(true);
    const notReady = await n2.request('GET', '/ready');
    expect(notReady.body).toMatchObject({ code: 'not_ready' });
    expect(notReady.body.error).toContain('bus');

    // A client that (re)connects while the bus is down: bob's tablet, on node 3 (the test
    // after this one follows it up). The outage lasts long enough for the Redis and NATS
    // clients to give up on commands queued meanwhile (ioredis: by the 2nd reconnect
    // attempt, ~0.6 s; nats.js: at its next reconnect attempt).
    tablet = new Device('bob-tablet', bob.user);
    tablet.adopt(await n3.open(bob.user.token));
    extraSockets.push(tablet.ws.socket);
    const tabletOpened = Date.now();

    // Keep talking while the bus is down: REST on every node, WS on every node.
    const restAcked: any[] = [];
    const wsSent: { device: Device; clientId: string; echo: Promise<Frame>; acked: boolean }[] = [];
    for (let round = 0; round < 4; round++) {
      for (const [node, from, conv] of [
        [n1, alice, grp],
        [n2, bob, dmAB],
        [n3, carol, dmAC],
      ] as const) {
        restAcked.push(await restSend(node, from, conv, `during the outage: REST ${round} by ${from.label} on ${node.name}`));
      }
      for (const [from, conv] of [
        [daveA, grp],
        [carol, grp],
        [alice, dmAD],
        [bob, dmAB],
      ] as const) {
        const sent = { device: from, ...from.send(conv, `during the outage: WS ${round} by ${from.label}`, 60_000), acked: false };
        void sent.echo.then(() => (sent.acked = true), () => {});
        wsSent.push(sent);
      }
      await sleep(100);
    }
    for (const n of nodes) expect(await n.readyStatus(), `${n.name} while the bus is down`).toBe(503);
    await sleep(2000 - (Date.now() - tabletOpened));

    await cluster.busServer.start();
    const downFor = Date.now();
    await expect.poll(async () => (await Promise.all(nodes.map((n) => n.readyStatus()))).every((s) => s === 200), { message: 'every node to answer /ready with 200 again', timeout: 30_000 }).toBe(true);
    console.log(`[scale ${bus}] nodes ready ${Date.now() - downFor} ms after the bus came back`);
    await untilTypingCrossesNodes(alice, grp);
    await untilTypingCrossesNodes(bob, grp);
    await sleep(300);
    const echoed = wsSent.filter((s) => s.acked).length;
    console.log(`[scale ${bus}] WS sends acknowledged by a live echo despite the outage: ${echoed}/${wsSent.length}`);

    // Every device catches up by seq.
    for (const d of devices()) await d.sync(conversationsOf(d));

    const histories = await expectEveryDeviceComplete(n2);
    const stored = Object.values(histories).flat();
    for (const m of restAcked) expect(stored.filter((s) => s.id === m.id), `REST-acked ${m.content}`).toHaveLength(1);
    // The database never went away, so every WS send was stored too (acked or not).
    for (const s of wsSent) expect(stored.filter((m) => m.client_id === s.clientId), `WS send ${s.clientId}`).toHaveLength(1);
    // Each sender's device holds its own WS messages once, echoed live or replayed by sync.
    for (const s of wsSent) expect(s.device.messages(stored.find((m) => m.client_id === s.clientId)!.conversation_id).filter((m) => m.client_id === s.clientId)).toHaveLength(1);

    // Nobody was taken offline by the outage.
    for (const d of devices()) {
      const spurious = d.ws.frames.slice(marks.get(d)).filter((f) => f.type === 'status_change' && f.status === 'offline');
      expect(spurious, `${d.label}: status changes during the bus outage`).toEqual([]);
    }

    // And live delivery works everywhere again.
    const after = await restSend(n3, daveA, grp, 'after the outage');
    await expectDelivered(after);
  }, 90_000);

  test('a client that connected while the bus was down is served once it is back', async () => {
    // Told `connected` once the node can serve it — or closed, to reconnect (a client
    // cannot tell a socket that will never say `connected` from a slow one).
    const first = await Promise.race([
      tablet.ws.next((f) => f.type === 'connected', 10_000).then(() => 'connected'),
      tablet.ws.closed.then((code) => `closed ${code}`),
    ]).catch((err: Error) => `neither connected nor closed: ${err.message.slice(0, 300)}`);
    if (first !== 'connected') {
      const why = n3.proc.output.split('\n').filter((l) => l.includes('websocket setup failed')).slice(-1)[0]?.slice(0, 600);
      expect(first, `a socket that cannot be served must be closed; node 3 logged: ${why}`).toMatch(/^closed (1001|1011|1012|1013)$/);
      await tablet.attach(n3);
    }
    await tablet.sync(conversationsOf(bob));
    const msg = await restSend(n1, alice, grp, 'for the tablet too');
    expect(await seen(tablet.ws, isMessage(msg.id))).toBe(1);
    await expectDelivered(msg);
    const last = await lastSeqs(n1);
    // Not strict: live frames may have reached the tablet before its first sync (from 0).
    for (const conv of conversationsOf(bob)) tablet.expectExactlyOnce(conv, last[conv]!, { strict: false });
    await tablet.ws.close();
  }, 30_000);

  describe('a node is killed with SIGKILL', () => {
    let killedAt = 0;
    /** Where each surviving socket's frames stood when node 3 died. */
    const marks = new Map<Device, number>();

    test('its users go offline for everyone else within the presence bound (TTL + TTL/3 + grace)', async () => {
      // node 3 holds carol's only socket and dave's laptop; dave's phone stays on node 2.
      for (const d of [alice, bob, daveA]) marks.set(d, d.ws.frames.length);
      killedAt = Date.now();
      await n3.kill('SIGKILL');
      expect(await carol.ws.closed).toBe(1006);
      expect(await daveB.ws.closed).toBe(1006);

      // Sent while carol and the laptop are away.
      await restSend(n1, alice, grp, 'while node 3 is dead: group');
      await restSend(n1, alice, dmAC, 'while node 3 is dead: to carol');
      await restSend(n2, bob, grp, 'while node 3 is dead: from node 2');
      const fromPhone = daveA.send(dmAD, 'while node 3 is dead: from the phone');
      await fromPhone.echo;

      const left = Math.max(100, OFFLINE_DEADLINE_MS - (Date.now() - killedAt));
      const seen = await Promise.all(
        [alice, bob, daveA].map(async (d) => {
          await d.ws.next(isStatus(carol.id, 'offline'), left);
          return Date.now() - killedAt;
        }),
      );
      console.log(
        `[scale ${bus}] carol offline for the others ${seen.join(' / ')} ms after SIGKILL (bound ≈ ${OFFLINE_BOUND_MS} ms)`,
      );
      const row = await n1.request('GET', `/api/v1/users/${carol.id}`, { token: alice.user.token });
      expect(row.body.user.status).toBe('offline');
      // dave still has his phone on node 2: he stays online.
      for (const d of [alice, bob]) await d.ws.expectNone(isStatus(daveA.id, 'offline'), 200);
    }, 30_000);

    test('its clients reconnect to another node and recover every message exactly once with sync', async () => {
      if (n3.proc.running) await n3.kill('SIGKILL');
      await carol.attach(n1);
      const carolSync = await carol.sync(conversationsOf(carol));
      expect(carolSync.replayed[grp]!.length).toBeGreaterThanOrEqual(2);
      expect(carolSync.replayed[dmAC]!.length).toBeGreaterThanOrEqual(1);

      await daveB.attach(n2);
      const laptopSync = await daveB.sync(conversationsOf(daveB));
      expect(laptopSync.replayed[dmAD]!.length).toBeGreaterThanOrEqual(1);
      // The laptop coming back is no news: dave never went offline.
      await alice.ws.expectNone(isStatus(daveA.id, 'online'), 300);

      await expectEveryDeviceComplete(n1);
      // Live again on the two survivors, for everyone, once.
      const last = await restSend(n2, carol, grp, 'back, on node 1');
      await expectDelivered(last);
      await sleep(300);
      await expectEveryDeviceComplete(n2);
    }, 60_000);

    test('a user who went offline with the node is announced online again once back on another node', async () => {
      // carol reconnected to node 1 in the test before.
      expect(carol.sockets.length).toBeGreaterThanOrEqual(2);
      await Promise.all([alice, bob, daveA].map((d) => seen(d.ws, isStatus(carol.id, 'online'), 5000, marks.get(d))));
      const row = await n2.request('GET', `/api/v1/users/${carol.id}`, { token: bob.user.token });
      expect(row.body.user.status).toBe('online');
    });
  });
}
