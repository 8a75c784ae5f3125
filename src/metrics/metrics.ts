import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CLIENT_FRAME_SCHEMAS } from '../schemas/client-frames.js';
import { SERVER_FRAME_SCHEMAS } from '../schemas/server-frames.js';
import { CALL_END_REASONS } from '../domain/calls.js';
import { RATE_LIMITS, type CallMeter, type HttpObserver, type RateLimitObserver, type RealtimeMeter } from './meters.js';

/**
 * natter's metrics, all named `natter_*`, on one prom-client Registry made by the
 * composition root. Two kinds:
 *
 * - events counted where they happen (HTTP replies, WebSocket frames and sockets, write
 *   batches), through pre-made label children so the hot path allocates nothing;
 * - state read when Prometheus scrapes (`Sources`): counters the parts keep anyway
 *   (bus publishes, pushes), queue depths, the database pool, the push outbox, readiness.
 *
 * Label values are bounded by construction: route templates, frame types from the
 * schemas, close codes from a fixed list, push providers and results. Never an id or a URL.
 */

/** State the parts expose, read at scrape time. Each may be async (the push outbox is a query). */
export interface Sources {
  socketsOpen(): number;
  /** Users with at least one socket on this node. */
  onlineUsers(): number;
  writerQueued(): number;
  bus(): { published: number; dropped: number };
  /** PostgreSQL's pool; PGlite has one connection and reports `size` 1 only. */
  pool(): { size: number; total?: number; idle?: number; waiting?: number };
  syncs(): number;
  uploadBytes(): number;
  pushResults(): Iterable<[provider: string, result: string, count: number]>;
  pushQueue(): Promise<{ waiting: number; oldestAgeSeconds: number }>;
  /** True when /ready would answer 200. */
  ready(): Promise<boolean>;
}

/** Close codes named by label; any other (a client's own 4xxx) is `other`. */
const CLOSE_CODES = [1000, 1001, 1003, 1005, 1006, 1008, 1009, 1011, 1013, 4001, 4008, 4029];

/** The metric names the default collectors get (process, heap, GC, event-loop lag). */
export const METRIC_PREFIX = 'natter_';

export class Metrics {
  readonly http: HttpObserver;
  readonly rateLimited: RateLimitObserver;
  readonly realtime: RealtimeMeter;
  readonly calls: CallMeter;
  /** Seconds from a timed bus event's publish to its arrival here (RemoteBus's observeLag). */
  readonly busLag: (seconds: number) => void;
  private readonly committed: Counter;
  private readonly batchSize: Histogram;
  private readonly commitSeconds: Histogram;

  constructor(readonly registry: Registry) {
    collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
    const registers = [registry];

    const httpDuration = new Histogram({
      name: 'natter_http_request_duration_seconds',
      help: 'HTTP requests by route template, method and status: time to the reply',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.http = (route, method, status, seconds) => httpDuration.observe({ route, method, status }, seconds);
    const limited = new Counter({
      name: 'natter_http_rate_limited_total',
      help: 'REST requests refused with 429 rate_limited, by limit: user (RATE_LIMIT_USER), ip (RATE_LIMIT_IP), auth (AUTH_RATE_LIMIT)',
      labelNames: ['limit'],
      registers,
    });
    const limitedBy = new Map(RATE_LIMITS.map((limit) => [limit, limited.labels(limit)]));
    this.rateLimited = (limit) => limitedBy.get(limit)!.inc();

    const callsStarted = new Counter({ name: 'natter_calls_started_total', help: 'Calls placed through this node (call_invite that rang)', registers });
    const callsEnded = new Counter({
      name: 'natter_calls_ended_total',
      help: 'Calls this node ended, by call_ended reason (each call is counted once, by the node whose compare-and-set ended it)',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of CALL_END_REASONS) callsEnded.labels(reason);
    this.calls = { started: () => callsStarted.inc(), ended: (reason) => callsEnded.labels(reason).inc() };

    const opened = new Counter({ name: 'natter_ws_sockets_opened_total', help: 'WebSocket sockets accepted', registers });
    const closed = new Counter({
      name: 'natter_ws_sockets_closed_total',
      help: 'WebSocket sockets closed, by close code',
      labelNames: ['code'],
      registers,
    });
    const closedBy = new Map(CLOSE_CODES.map((code) => [code, closed.labels(String(code))]));
    const closedOther = closed.labels('other');
    const slow = new Counter({
      name: 'natter_ws_slow_consumer_closes_total',
      help: 'Sockets closed by the server because the client did not read fast enough (4008)',
      registers,
    });
    const framesIn = new Counter({ name: 'natter_ws_frames_in_total', help: 'Client frames read, by type', labelNames: ['type'], registers });
    const inBy = new Map([...Object.keys(CLIENT_FRAME_SCHEMAS), 'invalid'].map((type) => [type, framesIn.labels(type)]));
    const inInvalid = inBy.get('invalid')!;
    const framesOut = new Counter({ name: 'natter_ws_frames_out_total', help: 'Server frames sent, by type', labelNames: ['type'], registers });
    const outBy = new Map(Object.keys(SERVER_FRAME_SCHEMAS).map((type) => [typeHash(type, 0, type.length), framesOut.labels(type)]));
    if (outBy.size !== Object.keys(SERVER_FRAME_SCHEMAS).length) throw new Error('server frame type hashes collide');
    const outOther = framesOut.labels('other');
    const bytesOut = new Counter({ name: 'natter_ws_bytes_out_total', help: 'Bytes of server frames sent (payload, UTF-8)', registers });
    // Every known series exists from the start (at 0), so rate() and dashboards see them.
    for (const child of [...inBy.values(), ...outBy.values(), ...closedBy.values(), ...limitedBy.values()]) child.inc(0);
    this.realtime = {
      opened: () => opened.inc(),
      closed: (code) => (closedBy.get(code) ?? closedOther).inc(),
      slowConsumer: () => slow.inc(),
      frameIn: (type) => (inBy.get(type) ?? inInvalid).inc(),
      frameOut: (frame) => {
        (outBy.get(frameTypeHash(frame)) ?? outOther).inc();
        bytesOut.inc(typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length);
      },
    };

    const busLag = new Histogram({
      name: 'natter_bus_delivery_lag_seconds',
      help:
        'Time from publish on a node to arrival on this one through Redis/NATS, for new messages and message changes ' +
        "(this node's own events included). Approximate: the publisher's clock against this node's, in ms, so it " +
        'includes clock skew between nodes; a negative difference counts as 0. No samples with BUS=memory.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.busLag = (seconds) => busLag.observe(seconds);

    this.committed = new Counter({ name: 'natter_messages_committed_total', help: 'New messages committed', registers });
    this.batchSize = new Histogram({
      name: 'natter_write_batch_size',
      help: 'Messages per committed write batch (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.commitSeconds = new Histogram({
      name: 'natter_commit_duration_seconds',
      help: 'Time to commit one write batch (its transaction, start to commit)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }

  /** A write batch committed: its size, the new messages in it, the transaction's seconds. */
  readonly batch = (size: number, created: number, seconds: number): void => {
    this.committed.inc(created);
    this.batchSize.observe(size);
    this.commitSeconds.observe(seconds);
  };

  /** Registers the metrics read at scrape time. Call once. */
  readFrom(s: Sources): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, registers, collect() { this.set(read()); } });
    gauge('natter_ws_sockets_open', 'WebSocket sockets open on this node', () => s.socketsOpen());
    gauge('natter_presence_online_users', 'Users with at least one socket on this node', () => s.onlineUsers());
    gauge('natter_writer_queue_depth', 'Messages and jobs waiting in the write lanes', () => s.writerQueued());
    gauge('natter_db_pool_size', 'Most database connections this node opens (PGlite: 1)', () => s.pool().size);
    gauge('natter_db_pool_in_use', 'Database connections running a query or transaction (PostgreSQL)', () => {
      const p = s.pool();
      return (p.total ?? 0) - (p.idle ?? 0);
    });
    gauge('natter_db_pool_idle', 'Open database connections waiting for work (PostgreSQL)', () => s.pool().idle ?? 0);
    gauge('natter_db_pool_waiting', 'Queries waiting for a free database connection (PostgreSQL)', () => s.pool().waiting ?? 0);

    // Counters the parts keep themselves, copied at scrape: nothing on their hot paths.
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    counter('natter_bus_publishes_total', 'Events published on the bus (one per channel)', () => s.bus().published);
    counter('natter_bus_publish_errors_total', 'Events the bus could not publish (unreachable); clients catch up by seq', () => s.bus().dropped);
    counter('natter_sync_replays_total', 'sync requests replayed to sockets', () => s.syncs());
    counter('natter_upload_bytes_total', 'Bytes of attachments stored', () => s.uploadBytes());
    new Counter({
      name: 'natter_push_sends_total',
      help: 'Push notifications tried, by provider and result (sent, gone, failed, retry, given_up)',
      labelNames: ['provider', 'result'],
      registers,
      collect() {
        this.reset();
        for (const [provider, result, n] of s.pushResults()) this.inc({ provider, result }, n);
      },
    });

    const pushDepth = new Gauge({ name: 'natter_push_queue_depth', help: 'Rows in the push outbox (all nodes)', registers });
    new Gauge({
      name: 'natter_push_oldest_job_age_seconds',
      help: 'How long the most overdue push outbox row has been due (0: none due)',
      registers,
      async collect() {
        // The database away must not fail the scrape (natter_ready says so): last values stay.
        const q = await s.pushQueue().catch(() => undefined);
        if (!q) return;
        pushDepth.set(q.waiting);
        this.set(q.oldestAgeSeconds);
      },
    });
    new Gauge({
      name: 'natter_ready',
      help: '1 when /ready answers 200 (database, bus and presence reachable), else 0',
      registers,
      async collect() {
        this.set((await s.ready()) ? 1 : 0);
      },
    });
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * A frame's type, hashed straight from its serialised text (`{"type":"new_message",…`):
 * no parse and no substring per frame. FNV-1a over the type's characters (all ASCII).
 */
function frameTypeHash(frame: string | Buffer): number {
  const start = 9; // after {"type":"
  if (typeof frame === 'string') {
    const end = frame.indexOf('"', start);
    return end < 0 ? -1 : typeHash(frame, start, end);
  }
  const end = frame.indexOf(0x22, start);
  if (end < 0) return -1;
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ frame[i]!, 0x01000193);
  return h >>> 0;
}

function typeHash(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
