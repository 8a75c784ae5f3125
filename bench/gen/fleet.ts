/**
 * A generator process's sockets and the open-loop message load they produce: sends at
 * scheduled times (latency counts from the schedule, so a slow server shows up as
 * latency, never as a lower send rate), and every received benchmark message checked
 * for exactly-once delivery.
 */
import type WebSocket from 'ws';
import { Histogram, clock, type HistogramData } from '../lib/stats.js';
import { BENCH_TAG, benchContent, openSocket, parseBenchContent } from '../lib/ws-client.js';

const CONTENT_TAG = Buffer.from(`"content":"${BENCH_TAG}`);
const NEW_MESSAGE = Buffer.from('"new_message"');
const QUOTE = 0x22;

export interface SocketSpec {
  userId: number;
  token: string;
  convs: number[];
}

interface Sock {
  spec: SocketSpec;
  ws: WebSocket;
  seen: Set<string>;
  echoUnique: number;
  delivUnique: number;
  /** Closed by closeAll: its close is not the server's doing and is not counted. */
  retired?: boolean;
}

export interface StepArgs {
  run: string;
  step: number;
  startAt: number;
  durationMs: number;
  /** Messages per second from this process, spread round-robin over its senders. */
  rate: number;
  senders: { userId: number; convId: number }[];
}

export interface SendResult {
  sent: Record<string, number>; // "userId|convId" → count
  sendLag: HistogramData;
  sendErrors: number;
  bufferedMax: number;
}

export interface CollectResult {
  expectedEcho: number;
  expectedDeliv: number;
  echoUnique: number;
  delivUnique: number;
  echoDup: number;
  delivDup: number;
  late: number;
  errorFrames: number;
  errorSamples: string[];
  closed: number;
  closeCodes: Record<number, number>;
  echo: HistogramData;
  deliver: HistogramData;
  lastEchoAt: number;
  lastDelivAt: number;
}

export class Fleet {
  socks: Sock[] = [];
  connectedFrames = 0;
  closed = 0;
  /** Close codes the server sent, by count (e.g. 4008 = slow consumer). */
  closeCodes: Record<number, number> = {};
  private step = -1;
  private run = '';
  private echo = new Histogram();
  private deliver = new Histogram();
  private echoDup = 0;
  private delivDup = 0;
  private late = 0;
  private errorFrames = 0;
  private errorSamples: string[] = [];
  private lastEchoAt = 0;
  private lastDelivAt = 0;
  /** Answer every message from someone else with a `delivered` receipt, as an app with its socket open does. */
  private ack = false;

  async connect(url: string, specs: SocketSpec[], concurrency: number, ack = false): Promise<{ opened: number; failed: number; errors: string[]; ms: number }> {
    const t0 = clock();
    this.ack = ack;
    let next = 0;
    let failed = 0;
    const errors: string[] = [];
    await Promise.all(
      Array.from({ length: Math.min(concurrency, specs.length) }, async () => {
        while (next < specs.length) {
          const spec = specs[next++]!;
          try {
            const sock: Sock = { spec, ws: undefined as unknown as WebSocket, seen: new Set(), echoUnique: 0, delivUnique: 0 };
            sock.ws = await openSocket(url, spec.token, 30_000, (data) => this.onFrame(sock, data));
            this.attach(sock);
          } catch (err) {
            failed++;
            if (errors.length < 5) errors.push((err as Error).message);
          }
        }
      }),
    );
    return { opened: specs.length - failed, failed, errors, ms: clock() - t0 };
  }

  /** Counts the socket's closes from now on (its frames are read from before the handshake, see openSocket). */
  private attach(sock: Sock): void {
    this.socks.push(sock);
    sock.ws.on('close', (code) => {
      if (sock.retired) return;
      this.closed++;
      this.closeCodes[code] = (this.closeCodes[code] ?? 0) + 1;
    });
  }

  private onFrame(sock: Sock, data: Buffer): void {
    // A bench message is found by its content tag without parsing the whole frame: the
    // generator shares the machine with the server, and JSON.parse of every delivered
    // frame (larger for a server that sends more fields) would load it unevenly.
    const tagged = data.indexOf(CONTENT_TAG);
    if (tagged >= 0 && data.indexOf(NEW_MESSAGE) >= 0) {
      const start = tagged + CONTENT_TAG.length - BENCH_TAG.length;
      const end = data.indexOf(QUOTE, start);
      if (end > start && this.onBenchMessage(sock, data.toString('latin1', start, end)) && this.ack) this.sendDelivered(sock, data);
      return;
    }
    let frame: { type?: string; message?: { content?: unknown; conversation_id?: number }; error?: string; code?: string };
    try {
      frame = JSON.parse(data.toString()) as typeof frame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'connected':
        this.connectedFrames++;
        return;
      case 'error':
        this.errorFrames++;
        if (this.errorSamples.length < 5) this.errorSamples.push(`${frame.code}: ${frame.error}`);
        return;
      case 'new_message':
        break;
      default:
        return;
    }
    if (this.onBenchMessage(sock, frame.message?.content) && this.ack) this.sendDelivered(sock, data);
  }

  /** A `delivered` receipt for a message from someone else (parsed only when acking: it costs the generator). */
  private sendDelivered(sock: Sock, data: Buffer): void {
    const m = (JSON.parse(data.toString()) as { message?: { conversation_id?: number; seq?: number } }).message;
    if (typeof m?.conversation_id === 'number' && typeof m.seq === 'number' && sock.ws.readyState === 1) {
      sock.ws.send(JSON.stringify({ type: 'delivered', conversation_id: m.conversation_id, seq: m.seq }));
    }
  }

  /** Records a bench message; true when it is someone else's message, counted for the first time. */
  private onBenchMessage(sock: Sock, content: unknown): boolean {
    const tag = parseBenchContent(content);
    if (!tag || tag.run !== this.run) return false;
    const now = clock();
    if (tag.step !== this.step) {
      this.late++;
      return false;
    }
    const key = `${tag.sender}|${tag.n}`;
    const own = tag.sender === sock.spec.userId;
    if (sock.seen.has(key)) {
      if (own) this.echoDup++;
      else this.delivDup++;
      return false;
    }
    sock.seen.add(key);
    if (own) {
      sock.echoUnique++;
      this.echo.record(now - tag.sentAt);
      this.lastEchoAt = now;
    } else {
      sock.delivUnique++;
      this.deliver.record(now - tag.sentAt);
      this.lastDelivAt = now;
    }
    return !own;
  }

  /** Sends this process's share of one step on schedule; resolves when the last is sent. */
  async send(a: StepArgs): Promise<SendResult> {
    this.run = a.run;
    this.step = a.step;
    this.echo = new Histogram();
    this.deliver = new Histogram();
    this.echoDup = this.delivDup = this.late = this.errorFrames = 0;
    this.errorSamples = [];
    this.lastEchoAt = this.lastDelivAt = 0;
    for (const s of this.socks) {
      s.seen.clear();
      s.echoUnique = s.delivUnique = 0;
    }
    const byUser = new Map<number, Sock>();
    for (const s of this.socks) if (!byUser.has(s.spec.userId)) byUser.set(s.spec.userId, s);
    const senders = a.senders.map((x) => ({ ...x, sock: byUser.get(x.userId), n: 0 }));
    const sent: Record<string, number> = {};
    const sendLag = new Histogram();
    let sendErrors = 0;
    let bufferedMax = 0;
    const total = a.senders.length ? Math.round((a.rate * a.durationMs) / 1000) : 0;
    const interval = 1000 / a.rate;
    let k = 0;
    const hardStop = a.startAt + a.durationMs + 60_000;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = clock();
        while (k < total && a.startAt + k * interval <= now) {
          const at = a.startAt + k * interval;
          const s = senders[k % senders.length]!;
          k++;
          if (!s.sock || s.sock.ws.readyState !== 1) {
            sendErrors++;
            continue;
          }
          const n = s.n++;
          s.sock.ws.send(JSON.stringify({ type: 'message', conversation_id: s.convId, content: benchContent(a.run, a.step, s.userId, n, at), message_type: 'text' }));
          sendLag.record(now - at);
          const key = `${s.userId}|${s.convId}`;
          sent[key] = (sent[key] ?? 0) + 1;
          if (s.sock.ws.bufferedAmount > bufferedMax) bufferedMax = s.sock.ws.bufferedAmount;
        }
        if (k >= total || now > hardStop) resolve();
        else setTimeout(tick, Math.max(0, Math.min(1, a.startAt + k * interval - clock())));
      };
      setTimeout(tick, Math.max(0, a.startAt - clock()));
    });
    return { sent, sendLag: sendLag.toJSON(), sendErrors: sendErrors + (total - k), bufferedMax };
  }

  /**
   * Waits until every socket here has received every message of its conversations
   * (convTotals: messages sent per conversation; sent: per "user|conv"), or the deadline.
   */
  async collect(convTotals: Record<string, number>, sent: Record<string, number>, deadline: number): Promise<CollectResult> {
    let expectedEcho = 0;
    let expectedDeliv = 0;
    for (const s of this.socks) {
      for (const c of s.spec.convs) {
        const own = sent[`${s.spec.userId}|${c}`] ?? 0;
        expectedEcho += own;
        expectedDeliv += (convTotals[c] ?? 0) - own;
      }
    }
    const got = () => this.socks.reduce((n, s) => n + s.echoUnique + s.delivUnique, 0);
    while (got() < expectedEcho + expectedDeliv && clock() < deadline) await new Promise((r) => setTimeout(r, 20));
    const echoUnique = this.socks.reduce((n, s) => n + s.echoUnique, 0);
    const delivUnique = this.socks.reduce((n, s) => n + s.delivUnique, 0);
    return {
      expectedEcho,
      expectedDeliv,
      echoUnique,
      delivUnique,
      echoDup: this.echoDup,
      delivDup: this.delivDup,
      late: this.late,
      errorFrames: this.errorFrames,
      errorSamples: this.errorSamples,
      closed: this.closed,
      closeCodes: this.closeCodes,
      echo: this.echo.toJSON(),
      deliver: this.deliver.toJSON(),
      lastEchoAt: this.lastEchoAt,
      lastDelivAt: this.lastDelivAt,
    };
  }

  async closeAll(): Promise<void> {
    for (const s of this.socks) s.retired = true;
    const open = this.socks.filter((s) => s.ws.readyState === 1 || s.ws.readyState === 0);
    await Promise.race([
      Promise.all(open.map((s) => new Promise<void>((r) => (s.ws.once('close', () => r()), s.ws.close(1000))))),
      new Promise((r) => setTimeout(r, 10_000)),
    ]);
    for (const s of this.socks) s.ws.terminate();
    // The next scenario (baseline runs direct, then group) starts from a clean count.
    this.socks = [];
    this.connectedFrames = 0;
    this.closed = 0;
    this.closeCodes = {};
  }
}
