/**
 * idle: C authenticated sockets that send nothing; server memory per connection and the
 * time to open them. Sockets are spread over U users (registration is deliberately slow,
 * argon2) — one user may hold many sockets, as with many devices.
 */
import { benchUsers, num, openFilesLimit, type Context } from '../lib/context.js';
import { rssBytes, CpuMeter } from '../lib/proc.js';
import { table } from '../lib/report.js';
import { waitConnected } from '../lib/steps.js';
import { split } from '../lib/workers.js';

export async function idle(ctx: Context) {
  const wanted = num(ctx.opts, 'connections', 10_000);
  const fdLimit = openFilesLimit();
  const perWorkerMax = fdLimit - 200;
  const connections = Math.min(wanted, perWorkerMax * ctx.pool.size);
  if (connections < wanted) console.log(`capping at ${connections} connections: ulimit -n is ${fdLimit} per generator process (use --workers or raise ulimit -n)`);
  const userCount = Math.max(1, Math.min(connections, num(ctx.opts, 'idle-users', 500)));
  console.log(`registering ${userCount} users for ${connections} sockets…`);
  const users = await benchUsers(ctx, userCount, `bi${ctx.run}u`);
  const specs = Array.from({ length: connections }, (_, i) => ({ userId: users[i % userCount]!.id, token: users[i % userCount]!.token, convs: [] }));
  const pid = ctx.serverPid;
  // Sockets open in --steps equal steps with the server's RSS sampled after each. The
  // figure is the slope of RSS over sockets (least squares over the steps): the first
  // sample after registration still holds argon2's freed memory and one-off warm-up, so
  // a plain after-minus-before is noise-prone (it once came out negative).
  const steps = Math.max(1, Math.min(connections, num(ctx.opts, 'steps', 4)));
  const holdS = num(ctx.opts, 'hold-seconds', 5);
  await new Promise((r) => setTimeout(r, 1000));
  const before = pid ? rssBytes(pid) : null;
  const cpu = new CpuMeter(pid);
  cpu.start();
  const samples: { sockets: number; rss: number }[] = [];
  const opened: { opened: number; failed: number; errors: string[]; ms: number }[] = [];
  let openMs = 0;
  let readyMs = 0;
  let connectedFrames = 0;
  let openedCount = 0;
  for (let step = 0; step < steps; step++) {
    const part = specs.slice(Math.floor((step * connections) / steps), Math.floor(((step + 1) * connections) / steps));
    const s0 = Date.now();
    const result = await ctx.pool.all<{ opened: number; failed: number; errors: string[]; ms: number }>('connect', (w) => ({
      url: ctx.target,
      concurrency: num(ctx.opts, 'concurrency', 100),
      sockets: split(part, ctx.pool.size)[w],
    }));
    openMs += Date.now() - s0;
    opened.push(...result);
    openedCount += result.reduce((n, o) => n + o.opened, 0);
    connectedFrames = await waitConnected(ctx.pool, openedCount, 30_000);
    readyMs += Date.now() - s0;
    await new Promise((r) => setTimeout(r, holdS * 1000));
    const rss = pid ? rssBytes(pid) : null;
    if (rss !== null) samples.push({ sockets: openedCount, rss });
    console.log(`  ${openedCount} sockets open${rss !== null ? `, server RSS ${Math.round(rss / 2 ** 20)} MB` : ''}`);
  }
  const cpuFig = cpu.stop();
  const after = samples.at(-1)?.rss ?? null;
  const status = await ctx.pool.all<{ closed: number }>('status', () => ({}));
  const closedWhileIdle = status.reduce((n, s) => n + s.closed, 0);
  await ctx.pool.all('close', () => ({}));
  const perConn = before !== null && after !== null && openedCount ? (after - before) / openedCount : null;
  const slope = samples.length >= 2 ? leastSquaresSlope(samples.map((p) => [p.sockets, p.rss])) : perConn;
  const figures = {
    connections_requested: wanted,
    connections_opened: openedCount,
    connect_failures: opened.reduce((n, o) => n + o.failed, 0),
    failure_samples: opened.flatMap((o) => o.errors).slice(0, 5),
    users: userCount,
    open_ms: openMs,
    open_per_s: Math.round((openedCount / openMs) * 1000),
    all_connected_frames_ms: readyMs,
    connected_frames: connectedFrames,
    server_cpu_s_for_accept: cpuFig.server_cpu_s,
    rss_before_mb: before !== null ? Math.round(before / 2 ** 20) : null,
    rss_after_mb: after !== null ? Math.round(after / 2 ** 20) : null,
    rss_per_connection_kb: slope !== null ? Math.round((slope / 1024) * 10) / 10 : null,
    rss_per_connection_kb_total_delta: perConn !== null ? Math.round((perConn / 1024) * 10) / 10 : null,
    rss_samples: samples.map((p) => ({ sockets: p.sockets, rss_mb: Math.round((p.rss / 2 ** 20) * 10) / 10 })),
    steps,
    hold_seconds: holdS,
    closed_while_idle: closedWhileIdle,
  };
  console.log(`\n${table([{ conns: openedCount, 'open ms': openMs, 'open/s': figures.open_per_s, 'rss before MB': figures.rss_before_mb, 'rss after MB': figures.rss_after_mb, 'KB/conn': figures.rss_per_connection_kb, 'KB/conn (total)': figures.rss_per_connection_kb_total_delta, 'cpu s': cpuFig.server_cpu_s, failed: figures.connect_failures }])}`);
  if (!pid) console.log('(no server pid: pass --server-pid or use --spawn for memory figures)');
  return { parameters: { connections: wanted, idle_users: userCount }, figures };
}

/** The slope of y over x by least squares. */
function leastSquaresSlope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}
