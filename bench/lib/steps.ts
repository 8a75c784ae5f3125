/**
 * One open-loop load step across all generator processes: schedule, send, wait for every
 * echo and delivery (or the drain deadline), then merge the figures.
 */
import { CpuMeter } from './proc.js';
import { Histogram, clock } from './stats.js';
import type { WorkerPool } from './workers.js';
import type { CollectResult, SendResult } from '../gen/fleet.js';

export interface StepPlan {
  run: string;
  step: number;
  /** Offered messages per second in total. */
  rate: number;
  durationMs: number;
  drainMs: number;
  /** Senders held by each worker (each sends from its own socket). */
  senders: { userId: number; convId: number }[][];
  serverPid?: number;
}

export interface StepFigures {
  offered_msgs_s: number;
  sent: number;
  persisted_msgs_s: number;
  delivered_msgs_s: number;
  deliveries: number;
  echo: ReturnType<Histogram['summary']>;
  deliver: ReturnType<Histogram['summary']>;
  send_lag_p99_ms: number | null;
  lost_echo: number;
  lost_deliveries: number;
  dup_echo: number;
  dup_deliveries: number;
  late_frames: number;
  error_frames: number;
  error_samples: string[];
  send_errors: number;
  sockets_closed: number;
  /** Close codes seen, by count, summed over the generators. */
  close_codes: Record<string, number>;
  server_cpu_s: number | null;
  server_cpu_s_per_1k_msgs: number | null;
  machine_busy_pct: number | null;
  elapsed_s: number;
}

export async function runStep(pool: WorkerPool, plan: StepPlan): Promise<StepFigures> {
  const activeWorkers = plan.senders.map((s) => s.length > 0);
  const totalSenders = plan.senders.reduce((n, s) => n + s.length, 0);
  const cpu = new CpuMeter(plan.serverPid);
  const startAt = clock() + 300;
  cpu.start();
  const sends = await pool.all<SendResult | null>('send', (i) =>
    activeWorkers[i]
      ? { run: plan.run, step: plan.step, startAt, durationMs: plan.durationMs, rate: (plan.rate * plan.senders[i]!.length) / totalSenders, senders: plan.senders[i] }
      : { run: plan.run, step: plan.step, startAt, durationMs: plan.durationMs, rate: 1, senders: [] },
  );
  const sent: Record<string, number> = {};
  const convTotals: Record<string, number> = {};
  const sendLag = new Histogram();
  let sendErrors = 0;
  for (const s of sends) {
    if (!s) continue;
    sendLag.merge(s.sendLag);
    sendErrors += s.sendErrors;
    for (const [k, n] of Object.entries(s.sent)) {
      sent[k] = (sent[k] ?? 0) + n;
      const conv = k.split('|')[1]!;
      convTotals[conv] = (convTotals[conv] ?? 0) + n;
    }
  }
  const deadline = startAt + plan.durationMs + plan.drainMs;
  const results = await pool.all<CollectResult>('collect', () => ({ convTotals, sent, deadline }));
  const cpuFig = cpu.stop();
  const echo = new Histogram();
  const deliver = new Histogram();
  const sum = (f: (r: CollectResult) => number) => results.reduce((n, r) => n + f(r), 0);
  for (const r of results) {
    echo.merge(r.echo);
    deliver.merge(r.deliver);
  }
  const totalSent = Object.values(sent).reduce((a, b) => a + b, 0);
  const lastEcho = Math.max(...results.map((r) => r.lastEchoAt));
  const lastDeliv = Math.max(...results.map((r) => r.lastDelivAt));
  const windowS = (last: number) => Math.max(plan.durationMs, last - startAt) / 1000;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    offered_msgs_s: plan.rate,
    sent: totalSent,
    persisted_msgs_s: r2(echo.count / windowS(lastEcho)),
    delivered_msgs_s: r2(deliver.count / windowS(lastDeliv)),
    deliveries: deliver.count,
    echo: echo.summary(),
    deliver: deliver.summary(),
    send_lag_p99_ms: sendLag.summary().p99_ms,
    lost_echo: sum((r) => r.expectedEcho - r.echoUnique),
    lost_deliveries: sum((r) => r.expectedDeliv - r.delivUnique),
    dup_echo: sum((r) => r.echoDup),
    dup_deliveries: sum((r) => r.delivDup),
    late_frames: sum((r) => r.late),
    error_frames: sum((r) => r.errorFrames),
    error_samples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    send_errors: sendErrors,
    sockets_closed: sum((r) => r.closed),
    close_codes: results.reduce<Record<string, number>>((acc, r) => {
      for (const [code, n] of Object.entries(r.closeCodes ?? {})) acc[code] = (acc[code] ?? 0) + n;
      return acc;
    }, {}),
    server_cpu_s: cpuFig.server_cpu_s,
    server_cpu_s_per_1k_msgs: cpuFig.server_cpu_s !== null && totalSent ? r2((cpuFig.server_cpu_s / totalSent) * 1000) : null,
    machine_busy_pct: cpuFig.machine_busy_pct,
    elapsed_s: r2((clock() - startAt) / 1000),
  };
}

/**
 * Waits until the generators have seen `connected` on every open socket, up to
 * `timeoutMs`. A server that sends no `connected` frame (the seed's Go server) is
 * recognised by silence: no socket got one `noFrameMs` after they all opened, and natter
 * sends it within milliseconds of the upgrade. Its sockets count as ready on open then.
 */
export async function waitConnected(pool: WorkerPool, expected: number, timeoutMs = 3000, noFrameMs = 2000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const st = await pool.all<{ connected: number }>('status', () => ({}));
    const n = st.reduce((a, s) => a + s.connected, 0);
    const waited = Date.now() - t0;
    if (n >= expected || waited > timeoutMs || (n === 0 && waited > noFrameMs)) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}
