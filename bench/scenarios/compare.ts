/**
 * compare: natter, the bare servers and (with --target) any seed-compatible server on the
 * same workload, one after another in one run, reported as ratios. Absolute figures move
 * twofold between machines and between runs on one; a ratio measured minutes apart on the
 * same machine, by the same generator, does not.
 *
 * Each scenario runs on each server in turn, natter first, every spawned server fresh (its
 * own process and scratch database), so nothing one scenario leaves behind weighs on the
 * next. The external target keeps its users between scenarios (see UserPool).
 */
import os from 'node:os';
import { UserPool, waitReachable } from '../lib/api.js';
import { checkLoopback, num, startNatter, type Context, type Options } from '../lib/context.js';
import type { LadderResult } from '../lib/ladder.js';
import { table, type Row } from '../lib/report.js';
import { spawnBare, type ServerHandle } from '../lib/spawn.js';
import { directLadder } from './direct.js';
import { groupLadder } from './group.js';
import { readBareHistory, readHistory, seedHistory, type HistoryFigures } from './history.js';
import { idle } from './idle.js';

export type Side = 'natter' | 'bare' | 'target';
const SIDES: Side[] = ['natter', 'bare', 'target'];
export const COMPARE_SCENARIOS = ['direct', 'direct100', 'group', 'history', 'idle'] as const;
type ScenarioName = (typeof COMPARE_SCENARIOS)[number];

/** One server's headline figure in one scenario, and what it cost. */
export interface Measured {
  /** msgs/s at the highest step within the limits; pages/s; KiB per socket. */
  value: number | null;
  /**
   * false when no step failed: the server's ceiling lies above the highest rate offered,
   * so `value` is only a lower bound (offer higher --rates).
   */
  ceiling: boolean;
  p99_ms: number | null;
  /** Server CPU seconds per 1,000 messages (pages, sockets) at `cpu_at` — the same load for every server. */
  cpu_s_per_1k: number | null;
  cpu_at: number | null;
  detail: unknown;
}

type Results = Partial<Record<Side, Measured | { skipped: string }>>;

interface Run {
  base: Context;
  target?: string;
  targetUsers?: UserPool;
}

/** The machine, as the first line of the report names it. */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round((os.totalmem() / 2 ** 30) * 10) / 10} GB RAM, Node ${process.version}`;
}

/** The options one scenario runs with: the shared ones, with the scenario's own defaults. */
function scenarioOpts(name: ScenarioName, opts: Options): Options {
  const common = { ...opts, 'p99-limit': opts['p99-limit'] ?? '50' };
  switch (name) {
    case 'direct':
      return { ...common, users: opts.users ?? '1000' };
    case 'direct100':
      return { ...common, users: opts['small-users'] ?? '100' };
    case 'group':
      // Ten senders, as a real group's load is spread over its members; the bare server
      // gets the same.
      return { ...common, rates: opts['group-rates'], start: undefined, factor: undefined, senders: opts.senders ?? '10' };
    case 'idle':
      // --concurrency is history's; sockets open at idle's own default.
      return { ...common, concurrency: undefined };
    case 'history':
      return common;
  }
}

/** Runs `fn` against one server: natter or the bare ws server spawned for it alone, or the target. */
async function onServer<T>(run: Run, side: Side, opts: Options, fn: (ctx: Context) => Promise<T>): Promise<T> {
  if (side === 'target') {
    const serverPid = run.base.opts['server-pid'] ? num(run.base.opts, 'server-pid', 0) : undefined;
    return fn({ ...run.base, opts, target: run.target!, serverPid, users: run.targetUsers });
  }
  const server: ServerHandle = side === 'natter' ? await startNatter(opts) : await spawnBare();
  if (side === 'bare') console.log(`bare ws server pid ${server.pid} at ${server.url}`);
  try {
    return await fn({ ...run.base, opts, target: server.url, server, serverPid: server.pid });
  } finally {
    await server.stop();
  }
}

/** The highest rate within the limits; the CPU figure is filled in later, at a rate every server held. */
function fromLadder(l: LadderResult): Measured {
  const top = l.passed_steps > 0 ? l.steps[l.passed_steps - 1]! : undefined;
  return {
    value: top ? top.offered_msgs_s : 0,
    ceiling: l.passed_steps < l.rates.length,
    p99_ms: top?.deliver.p99_ms ?? null,
    cpu_s_per_1k: null,
    cpu_at: null,
    detail: l,
  };
}

function fromHistory(f: HistoryFigures): Measured {
  return { value: f.requests_per_s, ceiling: true, p99_ms: f.latency.p99_ms, cpu_s_per_1k: f.server_cpu_ms_per_request, cpu_at: null, detail: f };
}

function fromIdle(r: Awaited<ReturnType<typeof idle>>): Measured {
  const f = r.figures;
  const cpu = f.server_cpu_s_for_accept !== null && f.connections_opened ? Math.round((f.server_cpu_s_for_accept / f.connections_opened) * 1e5) / 100 : null;
  return { value: f.rss_per_connection_kb, ceiling: true, p99_ms: null, cpu_s_per_1k: cpu, cpu_at: f.connections_opened, detail: r };
}

/**
 * CPU per message depends on the rate (fixed costs spread over more messages), so it is
 * compared at one rate: the highest every server held, else the first step, which every
 * server ran.
 */
function cpuAtCommonRate(results: Results): void {
  const ladders = Object.values(results).filter((m): m is Measured => 'detail' in m && (m.detail as LadderResult).steps !== undefined);
  if (!ladders.length) return;
  const rates = (ladders[0]!.detail as LadderResult).rates;
  const held = Math.min(...ladders.map((m) => (m.detail as LadderResult).passed_steps));
  const at = rates[Math.max(0, held - 1)]!;
  for (const m of ladders) {
    const step = (m.detail as LadderResult).steps.find((s) => s.offered_msgs_s === at);
    m.cpu_s_per_1k = step?.server_cpu_s_per_1k_msgs ?? null;
    m.cpu_at = at;
  }
}

async function ladderScenario(run: Run, name: ScenarioName, sides: Side[]): Promise<Results> {
  const out: Results = {};
  const ladder: (ctx: Context) => Promise<LadderResult> = name === 'group' ? groupLadder : directLadder;
  for (const side of sides) {
    console.log(`\n== ${name}: ${side} ==`);
    out[side] = fromLadder(await onServer(run, side, scenarioOpts(name, run.base.opts), ladder));
  }
  cpuAtCommonRate(out);
  return out;
}

async function idleScenario(run: Run, sides: Side[]): Promise<Results> {
  const out: Results = {};
  for (const side of sides) {
    if (side === 'target' && !run.base.opts['server-pid']) {
      out.target = { skipped: 'memory per socket needs --server-pid of the target' };
      continue;
    }
    console.log(`\n== idle: ${side} ==`);
    out[side] = fromIdle(await onServer(run, side, scenarioOpts('idle', run.base.opts), idle));
  }
  return out;
}

/** natter reads the conversation it was seeded with, then the bare route reads the same database. */
async function historyScenario(run: Run, sides: Side[]): Promise<Results> {
  const out: Results = {};
  console.log('\n== history: natter, then the bare history route ==');
  await onServer(run, 'natter', scenarioOpts('history', run.base.opts), async (ctx) => {
    const seeded = await seedHistory(ctx);
    out.natter = fromHistory(await readHistory(ctx, ctx.target, ctx.serverPid, seeded));
    out.bare = fromHistory(await readBareHistory(ctx, ctx.server!, seeded));
  });
  if (sides.includes('target')) out.target = { skipped: "history pages by before_seq and seeds over natter's REST send, which the seed's server lacks" };
  return out;
}

// ---- ratios and goals ----

/** a/b, and which way it can be off: a server without a measured ceiling only gives a bound. */
export interface Ratio {
  value: number | null;
  /** exact; at_least (a's ceiling not reached); at_most (b's not reached); unknown (neither). */
  bound: 'exact' | 'at_least' | 'at_most' | 'unknown';
}

export function ratio(a: Measured | undefined, b: Measured | undefined): Ratio {
  if (!a || !b || a.value === null || b.value === null || b.value === 0) return { value: null, bound: 'unknown' };
  // Memory per socket below zero is noise (too few sockets for the slope): no ratio.
  if (a.value < 0 || b.value < 0) return { value: null, bound: 'unknown' };
  const value = Math.round((a.value / b.value) * 100) / 100;
  const bound = a.ceiling && b.ceiling ? 'exact' : !a.ceiling && !b.ceiling ? 'unknown' : a.ceiling ? 'at_most' : 'at_least';
  return { value, bound };
}

function cpuRatio(a: Measured | undefined, b: Measured | undefined): number | null {
  return a?.cpu_s_per_1k && b?.cpu_s_per_1k ? Math.round((a.cpu_s_per_1k / b.cpu_s_per_1k) * 100) / 100 : null;
}

const measured = (r: Results | undefined, side: Side): Measured | undefined => {
  const m = r?.[side];
  return m && 'detail' in m ? m : undefined;
};

interface Goal {
  goal: string;
  scenario: ScenarioName;
  /** The ratio it is about and the threshold. */
  of: (all: Partial<Record<ScenarioName, Results>>) => Ratio;
  atLeast?: number;
  atMost?: number;
}

/** The goals of the issue, each a ratio of two figures of this run, named with the sizes it ran at. */
function goals(opts: Options): Goal[] {
  const size = (name: ScenarioName, key: string) => String(scenarioOpts(name, opts)[key]);
  const [users, few, members] = [size('direct', 'users'), size('direct100', 'users'), String(opts.members ?? 500)];
  return [
    { goal: `direct (${users} users) ≥ 50 % of bare ws`, scenario: 'direct', atLeast: 0.5, of: (a) => ratio(measured(a.direct, 'natter'), measured(a.direct, 'bare')) },
    { goal: `direct with ${few} users ≥ 90 % of natter with ${users}`, scenario: 'direct100', atLeast: 0.9, of: (a) => ratio(measured(a.direct100, 'natter'), measured(a.direct, 'natter')) },
    { goal: `group of ${members} ≥ 80 % of bare ws`, scenario: 'group', atLeast: 0.8, of: (a) => ratio(measured(a.group, 'natter'), measured(a.group, 'bare')) },
    { goal: 'history ≥ 60 % of the bare history route', scenario: 'history', atLeast: 0.6, of: (a) => ratio(measured(a.history, 'natter'), measured(a.history, 'bare')) },
    { goal: 'idle ≤ 1.3× bare ws KiB per socket', scenario: 'idle', atMost: 1.3, of: (a) => ratio(measured(a.idle, 'natter'), measured(a.idle, 'bare')) },
  ];
}

/** pass / FAIL, or open when a bound points the wrong way to decide (raise --rates). */
export function verdict(r: Ratio, atLeast?: number, atMost?: number): 'pass' | 'FAIL' | 'open' {
  if (r.value === null || r.bound === 'unknown') return 'open';
  if (atLeast !== undefined) {
    if (r.value >= atLeast) return r.bound === 'at_most' ? 'open' : 'pass';
    return r.bound === 'at_least' ? 'open' : 'FAIL';
  }
  if (r.value <= atMost!) return r.bound === 'at_least' ? 'open' : 'pass';
  return r.bound === 'at_most' ? 'open' : 'FAIL';
}

const BOUND_MARK = { exact: '', at_least: '≥', at_most: '≤', unknown: '?' } as const;
const showRatio = (r: Ratio) => (r.value === null ? null : `${BOUND_MARK[r.bound]}${r.value}`);
const UNIT: Record<ScenarioName, string> = { direct: 'msgs/s', direct100: 'msgs/s', group: 'msgs/s', history: 'pages/s', idle: 'KiB/socket' };

function showValue(r: Results, side: Side): string | null {
  const m = r[side];
  if (!m) return null;
  if (!('detail' in m)) return 'skipped';
  return m.value === null ? null : `${m.ceiling ? '' : '≥'}${m.value}`;
}

function summaryTables(all: Partial<Record<ScenarioName, Results>>, limit: number): string {
  const names = Object.keys(all) as ScenarioName[];
  const rate: Row[] = names.map((n) => {
    const r = all[n]!;
    return {
      scenario: n,
      unit: UNIT[n],
      natter: showValue(r, 'natter'),
      bare: showValue(r, 'bare'),
      target: showValue(r, 'target'),
      'natter/bare': showRatio(ratio(measured(r, 'natter'), measured(r, 'bare'))),
      'target/bare': showRatio(ratio(measured(r, 'target'), measured(r, 'bare'))),
      'natter/target': showRatio(ratio(measured(r, 'natter'), measured(r, 'target'))),
      'p99 natter': measured(r, 'natter')?.p99_ms,
      'p99 bare': measured(r, 'bare')?.p99_ms,
      'p99 target': measured(r, 'target')?.p99_ms,
    };
  });
  const cpu: Row[] = names.map((n) => {
    const r = all[n]!;
    return {
      scenario: n,
      at: measured(r, 'natter')?.cpu_at ?? measured(r, 'bare')?.cpu_at,
      natter: measured(r, 'natter')?.cpu_s_per_1k,
      bare: measured(r, 'bare')?.cpu_s_per_1k,
      target: measured(r, 'target')?.cpu_s_per_1k,
      'natter/bare': cpuRatio(measured(r, 'natter'), measured(r, 'bare')),
      'target/bare': cpuRatio(measured(r, 'target'), measured(r, 'bare')),
      'natter/target': cpuRatio(measured(r, 'natter'), measured(r, 'target')),
    };
  });
  return [
    `max rate at p99 < ${limit} ms (history: pages/s at --concurrency; idle: KiB per socket, lower is better; ≥ = no step failed, offer higher rates):`,
    table(rate),
    '',
    'server CPU s per 1,000 messages (history: per 1,000 pages; idle: per 1,000 sockets opened), "at" = the rate (sockets) it was measured at:',
    table(cpu),
  ].join('\n');
}

/** Every ratio of one scenario, for the results file. */
function ratiosOf(r: Results) {
  const [n, b, t] = SIDES.map((side) => measured(r, side));
  return {
    natter_over_bare: ratio(n, b),
    target_over_bare: ratio(t, b),
    natter_over_target: ratio(n, t),
    cpu_natter_over_bare: cpuRatio(n, b),
    cpu_target_over_bare: cpuRatio(t, b),
    cpu_natter_over_target: cpuRatio(n, t),
  };
}

function goalRows(all: Partial<Record<ScenarioName, Results>>, opts: Options) {
  return goals(opts).filter((g) => all[g.scenario] && (g.scenario !== 'direct100' || all.direct)).map((g) => {
    const r = g.of(all);
    return { goal: g.goal, ratio: r.value, bound: r.bound, result: verdict(r, g.atLeast, g.atMost) };
  });
}

/** Which scenarios to run: --scenarios a,b (default all five). */
function selected(opts: Options): ScenarioName[] {
  const raw = typeof opts.scenarios === 'string' ? opts.scenarios.split(',').map((s) => s.trim()) : [...COMPARE_SCENARIOS];
  const bad = raw.filter((s) => !(COMPARE_SCENARIOS as readonly string[]).includes(s));
  if (bad.length) throw new Error(`--scenarios: unknown ${bad.join(', ')} (choose from ${COMPARE_SCENARIOS.join(', ')})`);
  return COMPARE_SCENARIOS.filter((s) => raw.includes(s));
}

export async function compare(base: Context) {
  const opts = base.opts;
  const names = selected(opts);
  const target = typeof opts.target === 'string' ? checkLoopback(opts.target) : undefined;
  if (target) await waitReachable(target);
  const run: Run = { base, target, targetUsers: target ? new UserPool(target, `bc${base.run}u`, num(opts, 'setup-concurrency', 8)) : undefined };
  const sides = SIDES.filter((s) => s !== 'target' || target);
  console.log(`machine: ${machine()}\ncomparing ${sides.join(', ')} on ${names.join(', ')}`);
  const all: Partial<Record<ScenarioName, Results>> = {};
  for (const name of names) {
    if (name === 'history') all.history = await historyScenario(run, sides);
    else if (name === 'idle') all.idle = await idleScenario(run, sides);
    else all[name] = await ladderScenario(run, name, sides);
  }
  const limit = num(scenarioOpts('direct', opts), 'p99-limit', 50);
  const verdicts = goalRows(all, opts);
  console.log(`\n== comparison on ${machine()} ==\n\n${summaryTables(all, limit)}\n\ngoals:\n${table(verdicts.map((g) => ({ ...g, ratio: showRatio({ value: g.ratio, bound: g.bound }) })))}`);
  return {
    parameters: { scenarios: names, servers: sides, target: target ?? null, p99_limit_ms: limit },
    machine: machine(),
    results: all,
    ratios: Object.fromEntries(names.map((n) => [n, ratiosOf(all[n]!)])),
    goals: verdicts,
  };
}
