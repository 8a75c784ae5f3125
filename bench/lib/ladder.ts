/**
 * Steps the offered rate up until the server stops keeping up: p99 delivery latency over
 * the limit, or any lost, duplicated or refused message. Shared by direct, group and the
 * bare-ws baseline.
 */
import { table, type Row } from './report.js';
import { runStep, type StepFigures } from './steps.js';
import type { Context } from './context.js';
import { list, num } from './context.js';

export interface LadderOptions {
  senders: { userId: number; convId: number }[][];
  defaultStart: number;
  defaultFactor: number;
  /** Deliveries per message (recipients other than the sender), for the table. */
  fanout: number;
  /** Run every rate, noting but not stopping at a step over the limits. */
  keepGoing?: boolean;
}

export interface LadderResult {
  steps: StepFigures[];
  stop_reason: string;
  rates: number[];
  p99_limit_ms: number;
  /** Whether the server echoes a message to its sender (natter and the bare server do). */
  sender_echo: boolean;
  /** How many steps, from the first, stayed within the limits (all of them unless it stopped). */
  passed_steps: number;
}

export function ladderRates(ctx: Context, def: { start: number; factor: number }): number[] {
  const given = list(ctx.opts, 'rates');
  if (given) return given;
  const start = num(ctx.opts, 'start', def.start);
  const factor = num(ctx.opts, 'factor', def.factor);
  const steps = num(ctx.opts, 'max-steps', 8);
  if (factor <= 1) throw new Error('--factor must be greater than 1');
  return Array.from({ length: Math.min(steps, 30) }, (_, i) => Math.round(start * factor ** i));
}

export function stepRow(f: StepFigures, fanout: number, echoes = true): Row {
  return {
    offered: f.offered_msgs_s,
    persisted: f.persisted_msgs_s,
    delivered: f.delivered_msgs_s,
    'deliv/msg': fanout,
    p50: f.deliver.p50_ms,
    p95: f.deliver.p95_ms,
    p99: f.deliver.p99_ms,
    max: f.deliver.max_ms,
    'echo p99': f.echo.p99_ms,
    'cpu s/1k': f.server_cpu_s_per_1k_msgs,
    'busy%': f.machine_busy_pct,
    lost: (echoes ? f.lost_echo : 0) + f.lost_deliveries,
    dup: f.dup_echo + f.dup_deliveries,
    err: f.error_frames + f.send_errors,
    'gen lag p99': f.send_lag_p99_ms,
  };
}

export async function runLadder(ctx: Context, o: LadderOptions): Promise<LadderResult> {
  const rates = ladderRates(ctx, { start: o.defaultStart, factor: o.defaultFactor });
  const stepMs = num(ctx.opts, 'step-seconds', 10) * 1000;
  const drainMs = num(ctx.opts, 'drain-seconds', 10) * 1000;
  const limit = num(ctx.opts, 'p99-limit', 100);
  console.log(`warm-up: ${rates[0]} msgs/s for 3 s`);
  const warm = await runStep(ctx.pool, { run: ctx.run, step: 0, rate: rates[0]!, durationMs: 3000, drainMs, senders: o.senders, serverPid: ctx.serverPid });
  // natter echoes each message to its sender's sockets as the acknowledgement; a target
  // that delivers to the others but never echoes would otherwise stop at the first step
  // with every echo "lost". Its echoes are not counted then.
  const echoes = warm.echo.count > 0 || warm.deliver.count === 0;
  if (!echoes) console.log('the server sends no echo to the sender: only deliveries to the other members are counted');
  const steps: StepFigures[] = [];
  let stop = `all ${rates.length} steps stayed within limits`;
  let passed = 0;
  const rows: Row[] = [];
  for (const [i, rate] of rates.entries()) {
    const f = await runStep(ctx.pool, { run: ctx.run, step: i + 1, rate, durationMs: stepMs, drainMs, senders: o.senders, serverPid: ctx.serverPid });
    steps.push(f);
    rows.push(stepRow(f, o.fanout, echoes));
    console.log(`\n${table(rows)}`);
    if (f.error_samples.length) console.log(`  error frames: ${f.error_samples.join('; ')}`);
    const lost = (echoes ? f.lost_echo : 0) + f.lost_deliveries;
    const dup = f.dup_echo + f.dup_deliveries;
    const p99 = f.deliver.p99_ms ?? f.echo.p99_ms ?? Infinity;
    if (p99 > limit || lost || dup || f.error_frames || f.send_errors) {
      const why = `${p99 > limit ? `p99 ${p99} ms > ${limit} ms` : ''}${lost ? ` lost ${lost}` : ''}${dup ? ` duplicates ${dup}` : ''}${f.error_frames ? ` error frames ${f.error_frames}` : ''}${f.send_errors ? ` send errors ${f.send_errors}` : ''}`.trim();
      if (!o.keepGoing) {
        stop = `stopped at ${rate} msgs/s: ${why}`;
        break;
      }
      if (passed === i) stop = `over the limits from ${rate} msgs/s (${why}); every step run (fixed rates)`;
      continue;
    }
    if (f.sockets_closed) {
      stop = `stopped at ${rate} msgs/s: ${f.sockets_closed} sockets closed`;
      break;
    }
    if (passed === i) passed++;
  }
  console.log(`\n${stop}`);
  return { steps, stop_reason: stop, rates, p99_limit_ms: limit, sender_echo: echoes, passed_steps: passed };
}
