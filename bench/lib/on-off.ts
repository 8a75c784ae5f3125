/**
 * The same fixed-rate ladder run twice, on a server with a feature off and then on: the
 * on/off ratios at each offered rate. Shared by `push` (push off/on) and `direct
 * --metrics both` (metrics off/on).
 */
import type { LadderResult } from './ladder.js';
import { table, type Row } from './report.js';
import type { StepFigures } from './steps.js';

export interface SideFigures {
  delivered_msgs_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  cpu_s_per_1k: number | null;
}

export interface RateComparison {
  offered_msgs_s: number;
  off: SideFigures;
  on: SideFigures | null;
  on_over_off: { p50: number | null; p99: number | null; delivered_msgs_s: number | null; cpu_per_msg: number | null };
}

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b ? Math.round((a / b) * 100) / 100 : null);

const side = (s: StepFigures): SideFigures => ({
  delivered_msgs_s: s.delivered_msgs_s,
  p50_ms: s.deliver.p50_ms,
  p99_ms: s.deliver.p99_ms,
  cpu_s_per_1k: s.server_cpu_s_per_1k_msgs,
});

/** Pairs the two ladders' steps by offered rate (an "on" step may be missing) and prints the table. */
export function compareOnOff(off: LadderResult, on: LadderResult): RateComparison[] {
  const rows: Row[] = [];
  const perRate = off.steps.map((o) => {
    const p = on.steps.find((s) => s.offered_msgs_s === o.offered_msgs_s);
    const r: RateComparison = {
      offered_msgs_s: o.offered_msgs_s,
      off: side(o),
      on: p ? side(p) : null,
      on_over_off: {
        p50: ratio(p?.deliver.p50_ms, o.deliver.p50_ms),
        p99: ratio(p?.deliver.p99_ms, o.deliver.p99_ms),
        delivered_msgs_s: ratio(p?.delivered_msgs_s, o.delivered_msgs_s),
        cpu_per_msg: ratio(p?.server_cpu_s_per_1k_msgs, o.server_cpu_s_per_1k_msgs),
      },
    };
    rows.push({
      offered: r.offered_msgs_s,
      'off deliv/s': r.off.delivered_msgs_s,
      'on deliv/s': r.on?.delivered_msgs_s,
      'off p50': r.off.p50_ms,
      'on p50': r.on?.p50_ms,
      'off p99': r.off.p99_ms,
      'on p99': r.on?.p99_ms,
      'p50 on/off': r.on_over_off.p50,
      'p99 on/off': r.on_over_off.p99,
      'deliv/s on/off': r.on_over_off.delivered_msgs_s,
      'cpu/msg on/off': r.on_over_off.cpu_per_msg,
    });
    return r;
  });
  console.log(`\n${table(rows)}`);
  return perRate;
}
