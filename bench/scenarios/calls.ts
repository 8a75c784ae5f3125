/**
 * calls: call signalling, natter against the bare server relaying the same frames
 * (bench/baseline/bare-server.ts), in alternating rounds. P caller/callee pairs, each
 * placing C calls one after another: invite → the callee's device rings and answers →
 * call_selected → a batch of ICE candidates each way → call_connected → hangup →
 * call_ended. natter also writes and updates each call's record; the bare server keeps
 * nothing. Reported: calls/s, and per call the ring, answer and hang-up latencies.
 */
import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { createDirect, mapLimit, registerMany, type BenchUser } from '../lib/api.js';
import { num, type Context } from '../lib/context.js';
import { CpuMeter } from '../lib/proc.js';
import { table } from '../lib/report.js';
import { spawnBare } from '../lib/spawn.js';
import { clock, Histogram } from '../lib/stats.js';
import { openSocket } from '../lib/ws-client.js';

type Frame = { type: string; call_id?: string; [k: string]: unknown };

/** A socket whose call frames wait in a buffer until asked for; every other frame is dropped. */
class CallSocket {
  private readonly buffered: Frame[] = [];
  private waiter: { match: (f: Frame) => boolean; resolve: (f: Frame) => void } | undefined;
  errors = 0;
  lastError = '';
  ws!: WebSocket;

  static async open(base: string, token: string): Promise<CallSocket> {
    const s = new CallSocket();
    s.ws = await openSocket(base, token, 30_000, (data) => s.onFrame(JSON.parse(String(data)) as Frame));
    return s;
  }

  private onFrame(f: Frame): void {
    if (f.type === 'error') {
      this.errors++;
      this.lastError = JSON.stringify(f);
      return;
    }
    if (!f.type.startsWith('call_')) return;
    if (this.waiter?.match(f)) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(f);
    } else this.buffered.push(f);
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  next(type: string, callId: string, timeoutMs = 10_000): Promise<Frame> {
    const match = (f: Frame) => f.type === type && f.call_id === callId;
    const i = this.buffered.findIndex(match);
    if (i >= 0) return Promise.resolve(this.buffered.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no ${type} for ${callId} within ${timeoutMs} ms${this.lastError ? `; last error ${this.lastError}` : ''}`));
      }, timeoutMs);
      this.waiter = {
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
    });
  }

  /** Drops what is left of calls that are over (late call_ended, say). */
  clear(): void {
    this.buffered.length = 0;
  }
}

interface Pair {
  caller: CallSocket;
  callee: CallSocket;
  conv: number;
}

interface RoundFigures {
  calls: number;
  failed: number;
  seconds: number;
  calls_per_s: number;
  ring: ReturnType<Histogram['summary']>;
  answer: ReturnType<Histogram['summary']>;
  setup: ReturnType<Histogram['summary']>;
  hangup: ReturnType<Histogram['summary']>;
  server_cpu_s: number | null;
  server_cpu_ms_per_call: number | null;
  machine_busy_pct: number | null;
  errors: number;
}

const candidates = (n: number) => Array.from({ length: n }, (_, i) => ({ candidate: `candidate:${i} 1 udp 2122260223 192.0.2.${i + 1} ${50000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0 }));
const SDP = `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${'a=x-bench:padding\r\n'.repeat(40)}`;

/** One pair's calls, one after another; resolves with how many failed. */
async function callLoop(pair: Pair, count: number, batch: number, h: Record<'ring' | 'answer' | 'setup' | 'hangup', Histogram>): Promise<number> {
  const { caller, callee, conv } = pair;
  const cands = candidates(batch);
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    try {
      const t0 = clock();
      caller.send({ type: 'call_invite', conversation_id: conv, call_id: id, sdp: SDP, video: true });
      await callee.next('call_invite', id);
      const tRing = clock();
      callee.send({ type: 'call_ringing', call_id: id });
      callee.send({ type: 'call_answer', call_id: id, sdp: SDP });
      await caller.next('call_answer', id);
      await caller.next('call_selected', id);
      const tSelected = clock();
      caller.send({ type: 'call_candidates', call_id: id, candidates: cands });
      callee.send({ type: 'call_candidates', call_id: id, candidates: cands });
      await Promise.all([caller.next('call_candidates', id), callee.next('call_candidates', id)]);
      const tSetup = clock();
      caller.send({ type: 'call_connected', call_id: id });
      const tHangup = clock();
      caller.send({ type: 'call_hangup', call_id: id });
      await Promise.all([callee.next('call_ended', id), caller.next('call_ended', id)]);
      const tEnd = clock();
      h.ring.record(tRing - t0);
      h.answer.record(tSelected - tRing);
      h.setup.record(tSetup - t0);
      h.hangup.record(tEnd - tHangup);
    } catch (err) {
      console.log(`  call failed: ${(err as Error).message}`);
      return count - i;
    } finally {
      caller.clear();
      callee.clear();
    }
  }
  return 0;
}

async function round(pairs: Pair[], perPair: number, batch: number, pid: number | undefined): Promise<RoundFigures> {
  const h = { ring: new Histogram(), answer: new Histogram(), setup: new Histogram(), hangup: new Histogram() };
  const errors0 = pairs.reduce((n, p) => n + p.caller.errors + p.callee.errors, 0);
  const cpu = new CpuMeter(pid);
  cpu.start();
  const t0 = clock();
  const failed = (await Promise.all(pairs.map((p) => callLoop(p, perPair, batch, h)))).reduce((a, b) => a + b, 0);
  const seconds = (clock() - t0) / 1000;
  const used = cpu.stop();
  const calls = pairs.length * perPair - failed;
  return {
    calls,
    failed,
    seconds: Math.round(seconds * 100) / 100,
    calls_per_s: Math.round((calls / seconds) * 10) / 10,
    ring: h.ring.summary(),
    answer: h.answer.summary(),
    setup: h.setup.summary(),
    hangup: h.hangup.summary(),
    ...used,
    server_cpu_ms_per_call: used.server_cpu_s !== null && calls > 0 ? Math.round((used.server_cpu_s / calls) * 1e5) / 100 : null,
    errors: pairs.reduce((n, p) => n + p.caller.errors + p.callee.errors, 0) - errors0,
  };
}

/** Users, their direct conversations and a socket each, on one server. */
async function setUp(base: string, prefix: string, count: number): Promise<Pair[]> {
  const users = await registerMany(base, count * 2, prefix);
  const pairs: [BenchUser, BenchUser][] = Array.from({ length: count }, (_, i) => [users[2 * i]!, users[2 * i + 1]!]);
  return mapLimit(pairs, 8, async ([a, b]) => ({
    conv: await createDirect(base, a, b),
    caller: await CallSocket.open(base, a.token),
    callee: await CallSocket.open(base, b.token),
  }));
}

export async function calls(ctx: Context) {
  const pairsN = Math.max(1, num(ctx.opts, 'pairs', 50));
  const perPair = Math.max(1, num(ctx.opts, 'calls', 20));
  const batch = Math.min(64, Math.max(1, num(ctx.opts, 'candidates', 4)));
  const rounds = Math.max(1, num(ctx.opts, 'rounds', 3));
  const bare = await spawnBare();
  console.log(`bare server pid ${bare.pid} at ${bare.url}`);
  const results: { round: number; natter: RoundFigures; bare: RoundFigures }[] = [];
  try {
    const sides = {
      natter: { pairs: await setUp(ctx.target, `bk${ctx.run}u`, pairsN), pid: ctx.serverPid },
      bare: { pairs: await setUp(bare.url, `bk${ctx.run}b`, pairsN), pid: bare.pid },
    };
    // A short warm-up on each, then rounds that alternate, so drift weighs on both alike.
    for (const side of Object.values(sides)) await round(side.pairs.slice(0, Math.min(5, pairsN)), 2, batch, side.pid);
    for (let r = 1; r <= rounds; r++) {
      const natter = await round(sides.natter.pairs, perPair, batch, sides.natter.pid);
      const b = await round(sides.bare.pairs, perPair, batch, sides.bare.pid);
      results.push({ round: r, natter, bare: b });
      console.log(
        `\n${table(
          results.flatMap((x) =>
            (['natter', 'bare'] as const).map((side) => ({
              round: x.round,
              server: side,
              calls: x[side].calls,
              failed: x[side].failed,
              'calls/s': x[side].calls_per_s,
              'ring p50': x[side].ring.p50_ms,
              'ring p99': x[side].ring.p99_ms,
              'answer p50': x[side].answer.p50_ms,
              'answer p99': x[side].answer.p99_ms,
              'setup p99': x[side].setup.p99_ms,
              'hangup p99': x[side].hangup.p99_ms,
              'cpu ms/call': x[side].server_cpu_ms_per_call,
              errors: x[side].errors,
            })),
          ),
        )}`,
      );
    }
    for (const side of Object.values(sides)) for (const p of side.pairs) for (const s of [p.caller, p.callee]) s.ws.terminate();
  } finally {
    await bare.stop();
  }
  const ratio = (f: (r: RoundFigures) => number | null) =>
    results.map((x) => {
      const [n, b] = [f(x.natter), f(x.bare)];
      return n !== null && b !== null && b !== 0 ? Math.round((n / b) * 100) / 100 : null;
    });
  const ratios = {
    calls_per_s: ratio((r) => r.calls_per_s),
    setup_p50: ratio((r) => r.setup.p50_ms),
    setup_p99: ratio((r) => r.setup.p99_ms),
    cpu_per_call: ratio((r) => r.server_cpu_ms_per_call),
  };
  console.log(`\nnatter / bare, per round:\n${table(Object.entries(ratios).map(([k, v]) => ({ figure: k, ...Object.fromEntries(v.map((x, i) => [`round ${i + 1}`, x])) })))}`);
  return { parameters: { pairs: pairsN, calls_per_pair: perPair, candidates: batch, rounds }, rounds: results, ratios };
}
