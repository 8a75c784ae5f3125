import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import type { Clock } from '../../src/domain/clock.js';
import { envConfig, registerUser, startApp, type TestApp } from '../harness/app.js';
import { coturnSkipReason, startCoturn, type Coturn } from '../harness/coturn.js';

/**
 * natter's TURN credentials against a real coturn: two WebRTC peers (werift, in this
 * process) that may only use relayed candidates connect through it with the credentials
 * GET /calls/turn gave them, and coturn refuses credentials it did not sign or that expired.
 */

const SECRET = 'coturn-test-secret-0123456789';
const skip = coturnSkipReason();
if (skip) console.warn(`coturn tests skipped: ${skip}`);

interface IceServer {
  urls: string;
  username: string;
  credential: string;
}

/** Resolves with `promise`, or fails naming `what` after `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The ice server natter hands `token`'s user for the TURN URI. */
async function iceServerFor(t: TestApp, token: string, uri: string): Promise<IceServer> {
  const res = await t.request('GET', '/api/v1/calls/turn', { token });
  expect(res.status).toBe(200);
  expect(res.body.uris).toEqual([uri]);
  return { urls: uri, username: res.body.username, credential: res.body.password };
}

/** A relay-only peer; collects the candidates it gathers and hands each to `onCandidate`. */
function relayPeer(server: IceServer) {
  const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: 'relay' });
  const candidates: string[] = [];
  const gathered = new Promise<void>((resolve) => {
    pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') resolve();
    });
  });
  return { pc, candidates, gathered };
}

/**
 * Offer/answer between two peers in this process, trickling every candidate across.
 * werift gathers inside setLocalDescription: with credentials coturn refuses, that takes
 * its allocation retries (some 12 s) before it resolves.
 */
async function negotiate(a: ReturnType<typeof relayPeer>, b: ReturnType<typeof relayPeer>): Promise<RTCDataChannel> {
  a.pc.onicecandidate = ({ candidate }) => {
    if (!candidate) return;
    a.candidates.push(candidate.candidate);
    void b.pc.addIceCandidate(candidate);
  };
  b.pc.onicecandidate = ({ candidate }) => {
    if (!candidate) return;
    b.candidates.push(candidate.candidate);
    void a.pc.addIceCandidate(candidate);
  };
  const channel = a.pc.createDataChannel('chat');
  await a.pc.setLocalDescription(await a.pc.createOffer());
  await b.pc.setRemoteDescription(a.pc.localDescription!);
  await b.pc.setLocalDescription(await b.pc.createAnswer());
  await a.pc.setRemoteDescription(b.pc.localDescription!);
  return channel;
}

/** The candidate types of the pair a peer's ICE transport selected. */
async function selectedPairTypes(pc: RTCPeerConnection): Promise<{ local: string; remote: string } | undefined> {
  const stats = [...(await pc.getStats()).values()] as unknown as { type: string; id: string; [k: string]: unknown }[];
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId);
  if (!pair) return undefined;
  const typeOf = (id: unknown) => stats.find((s) => s.id === id)?.candidateType as string;
  return { local: typeOf(pair.localCandidateId), remote: typeOf(pair.remoteCandidateId) };
}

const candidateType = (candidate: string) => / typ (\w+)/.exec(candidate)?.[1];

describe.skipIf(skip !== undefined)('TURN credentials from natter against coturn', () => {
  let coturn: Coturn;
  let t: TestApp;
  const peers: RTCPeerConnection[] = [];

  beforeAll(async () => {
    coturn = await startCoturn(SECRET);
    t = await startApp(envConfig({ TURN_URIS: coturn.uri, TURN_SECRET: SECRET }));
  });
  afterAll(async () => {
    for (const pc of peers) await pc.close().catch(() => {});
    await t?.close();
    await coturn?.stop();
  });

  test('two relay-only peers connect through coturn and exchange a data-channel message', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    const a = relayPeer(await iceServerFor(t, alice.token, coturn.uri));
    const b = relayPeer(await iceServerFor(t, bob.token, coturn.uri));
    peers.push(a.pc, b.pc);
    const received = new Promise<string>((resolve) => {
      b.pc.onDataChannel.subscribe((channel) => channel.onMessage.subscribe((data) => resolve(data.toString())));
    });
    const channel = await within(45_000, 'offer/answer', negotiate(a, b));
    channel.stateChanged.subscribe((state) => {
      if (state === 'open') channel.send('hello through the relay');
    });
    expect(await within(20_000, `data-channel message (coturn log:\n${coturn.log().slice(-2000)})`, received)).toBe(
      'hello through the relay',
    );

    await within(10_000, 'ICE gathering', Promise.all([a.gathered, b.gathered]));
    expect(a.candidates.length).toBeGreaterThan(0);
    expect(b.candidates.length).toBeGreaterThan(0);
    expect([...a.candidates, ...b.candidates].map(candidateType)).toEqual([...a.candidates, ...b.candidates].map(() => 'relay'));
    expect(await selectedPairTypes(a.pc)).toEqual({ local: 'relay', remote: 'relay' });
    expect(await selectedPairTypes(b.pc)).toEqual({ local: 'relay', remote: 'relay' });
  }, 90_000);

  test('a wrong password gets no relay: no candidates, and the connection fails', async () => {
    const alice = await registerUser(t);
    const bob = await registerUser(t);
    const good = await iceServerFor(t, alice.token, coturn.uri);
    const wrong = { ...good, credential: Buffer.from('not the signature of this name').toString('base64') };
    const a = relayPeer(wrong);
    const b = relayPeer(await iceServerFor(t, bob.token, coturn.uri));
    peers.push(a.pc, b.pc);
    const failed = new Promise<void>((resolve) => {
      a.pc.connectionStateChange.subscribe((state) => {
        if (state === 'failed') resolve();
      });
    });
    await within(45_000, 'offer/answer with a wrong password', negotiate(a, b));
    await within(45_000, 'ICE gathering with a wrong password', a.gathered);
    expect(a.candidates).toEqual([]);
    await within(30_000, 'the connection failing', failed);
    expect(a.pc.connectionState).toBe('failed');
    // coturn saw the allocation and refused it (its own words for a password that does not match).
    expect(coturn.log()).toContain(`<${good.username}>`);
  }, 90_000);
});

describe.skipIf(skip !== undefined)('expired TURN credentials', () => {
  let coturn: Coturn;
  let t: TestApp;
  const peers: RTCPeerConnection[] = [];
  // natter's clock runs ten minutes behind: with TURN_TTL=1m, its credentials expired 9 minutes ago.
  const behind: Clock = { now: () => Date.now() - 10 * 60_000 };

  beforeAll(async () => {
    coturn = await startCoturn(SECRET);
    t = await startApp(envConfig({ TURN_URIS: coturn.uri, TURN_SECRET: SECRET, TURN_TTL: '1m' }), { clock: behind });
  });
  afterAll(async () => {
    for (const pc of peers) await pc.close().catch(() => {});
    await t?.close();
    await coturn?.stop();
  });

  test('are refused by coturn although correctly signed: no relay candidates', async () => {
    const alice = await registerUser(t);
    const server = await iceServerFor(t, alice.token, coturn.uri);
    expect(Number(server.username.split(':')[0])).toBeLessThan(Date.now() / 1000);
    const a = relayPeer(server);
    peers.push(a.pc);
    a.pc.onicecandidate = ({ candidate }) => {
      if (candidate) a.candidates.push(candidate.candidate);
    };
    a.pc.createDataChannel('chat');
    await within(45_000, 'an offer with expired credentials', a.pc.setLocalDescription(await a.pc.createOffer()));
    await within(45_000, 'ICE gathering with expired credentials', a.gathered);
    expect(a.candidates).toEqual([]);

    // Signed right, so coturn's refusal is the expiry: the same user a minute ahead relays.
    const username = `${Math.floor(Date.now() / 1000) + 60}:${alice.user.id}`;
    const fresh = relayPeer({ ...server, username, credential: createHmac('sha1', SECRET).update(username).digest('base64') });
    peers.push(fresh.pc);
    fresh.pc.onicecandidate = ({ candidate }) => {
      if (candidate) fresh.candidates.push(candidate.candidate);
    };
    fresh.pc.createDataChannel('chat');
    await within(45_000, 'an offer with fresh credentials', fresh.pc.setLocalDescription(await fresh.pc.createOffer()));
    await within(45_000, 'ICE gathering with fresh credentials', fresh.gathered);
    expect(fresh.candidates.map(candidateType)).toContain('relay');
  }, 90_000);
});
