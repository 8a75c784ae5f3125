/**
 * upload: attachment uploads (`POST /conversations/:id/attachments`, multipart, one part
 * `file`), against the least a server can do with the same bytes on the same disk.
 *
 * Three servers, one after another, each in its own process, the same generator and the
 * same multipart bodies:
 *
 *   discard  bench/baseline/bare-upload.ts reading and dropping every body: the generator's
 *            and loopback's ceiling (if it is not far above the others, the generator is the
 *            bottleneck and the ratio means nothing);
 *   bare     the same server piping each body into a file (`stream.pipeline(req,
 *            fs.createWriteStream(…))`) in a directory on natter's DATA_DIR filesystem;
 *   natter   spawned (--spawn) with STORAGE=local, DATA_DIR under the same scratch directory
 *            and UPLOAD_MAX_BYTES above the big upload; or --target (+ --server-pid).
 *
 * On each: one warm-up upload (not measured: it proves the route and loads its code), then
 * the big upload (--big, 1 GB, streamed from a file, never in the generator's memory) with
 * the server's RSS sampled every 100 ms before, during and after, then --uploads (100) of
 * --size (10 MB, one Buffer reused by every request) at --concurrency (8). The big upload
 * goes first so its RSS baseline is a fresh server's, not one the load has grown; `sync`
 * before each phase keeps one phase's writeback out of the next.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, statfsSync, statSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDirect, registerMany, waitReachable } from '../lib/api.js';
import { onCleanup } from '../lib/cleanup.js';
import { adminDatabaseUrl, busOf, checkLoopback, num, type Context, type Options } from '../lib/context.js';
import { CpuMeter, rssBytes } from '../lib/proc.js';
import { table, type Row } from '../lib/report.js';
import { spawnBareUpload, spawnNatter, type ServerHandle } from '../lib/spawn.js';
import { Histogram } from '../lib/stats.js';
import type { UploadLoadArgs, UploadLoadResult } from '../gen/upload-load.js';
import { machine } from './compare.js';

const MB = 2 ** 20;
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

/** "10mb", "1gb", "512kb", "1048576" → bytes (1024-based, as natter's own size settings). */
export function sizeOption(opts: Options, name: string, fallback: string): number {
  const raw = typeof opts[name] === 'string' ? (opts[name] as string) : fallback;
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(raw.trim());
  if (!m) throw new Error(`--${name} must be a size like 10mb or 1gb, got "${raw}"`);
  const unit = (m[2] ?? 'b').toLowerCase()[0]!;
  const n = Math.round(Number(m[1]) * ({ b: 1, k: 1024, m: MB, g: 2 ** 30 } as Record<string, number>)[unit]!);
  if (n <= 0) throw new Error(`--${name} must be greater than zero`);
  return n;
}

const showSize = (bytes: number) => (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GB` : `${r1(bytes / MB)} MB`);

/** A file of `bytes` random bytes, written 4 MB at a time (never whole in memory). */
function randomFile(file: string, bytes: number): void {
  const chunk = Buffer.allocUnsafe(Math.min(bytes, 4 * MB));
  const fd = openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      writeSync(fd, chunk, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

/** The mount a path is on (longest mount point prefix in /proc/self/mounts), and its device number. */
function filesystemOf(dir: string): { path: string; device: number; mount: string | null; type: string | null; source: string | null } {
  const real = realpathSync(dir);
  let best: { mount: string; type: string; source: string } | null = null;
  try {
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [source, mount, type] = line.split(' ');
      if (!source || !mount || !type) continue;
      const m = mount.replace(/\\040/g, ' ');
      if ((real === m || real.startsWith(m.endsWith('/') ? m : `${m}/`)) && (!best || m.length > best.mount.length)) best = { mount: m, type, source };
    }
  } catch {
    /* not Linux */
  }
  return { path: real, device: statSync(real).dev, mount: best?.mount ?? null, type: best?.type ?? null, source: best?.source ?? null };
}

/** Files and bytes under `dir`, recursively (what a server stored). */
function stored(dir: string): { files: number; mb: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, mb: r1(bytes / MB) };
}

/** Flushes every dirty page to disk, so one phase's writeback does not land in the next. */
async function settle(): Promise<void> {
  try {
    execFileSync('sync', { timeout: 120_000 });
  } catch {
    /* best effort */
  }
  await new Promise((r) => setTimeout(r, 1000));
}

/** RSS of the server (and of the generator) every `intervalMs`, by pid from /proc/<pid>/status. */
class RssSampler {
  readonly samples: { t_ms: number; server_mb: number | null; generator_mb: number | null }[] = [];
  private timer?: NodeJS.Timeout;
  private t0 = Date.now();
  constructor(
    private readonly serverPid: number | undefined,
    private readonly generatorPid: number,
    private readonly intervalMs = 100,
  ) {}
  start(): void {
    this.t0 = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }
  sample(): void {
    const s = this.serverPid ? rssBytes(this.serverPid) : null;
    const g = rssBytes(this.generatorPid);
    this.samples.push({ t_ms: Date.now() - this.t0, server_mb: s === null ? null : r1(s / MB), generator_mb: g === null ? null : r1(g / MB) });
  }
  /** ms since start(). */
  now(): number {
    return Date.now() - this.t0;
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
  /** Samples taken in [from, to) ms since start. */
  between(from: number, to: number) {
    return this.samples.filter((s) => s.t_ms >= from && s.t_ms < to);
  }
}

const median = (xs: number[]) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : r1((s[m - 1]! + s[m]!) / 2);
};

interface Plan {
  uploads: number;
  size: number;
  concurrency: number;
  big: number | null;
  smallFile: string;
  bigFile: string | null;
}

interface SideSpec {
  name: 'discard' | 'bare' | 'natter';
  url: string;
  pid: number | undefined;
  path: string;
  token?: string;
  expect: UploadLoadArgs['expect'];
  expectKind?: string;
}

/** One upload job on the generators: `count` at `concurrency`, spread over the generator processes. */
async function runUploads(ctx: Context, side: SideSpec, file: string, inMemory: boolean, count: number, concurrency: number, namePrefix: string, timeoutMs: number) {
  const active = Math.max(1, Math.min(ctx.pool.size, concurrency, count));
  const conc = Array.from({ length: ctx.pool.size }, (_, w) => (w < active ? Math.floor(concurrency / active) + (w < concurrency % active ? 1 : 0) : 0));
  const counts = Array.from({ length: ctx.pool.size }, (_, w) => (w < active ? Math.floor(count / active) + (w < count % active ? 1 : 0) : 0));
  const results = await ctx.pool.all<UploadLoadResult>(
    'upload',
    (w) =>
      ({
        url: side.url,
        path: side.path,
        token: side.token,
        payloadFile: file,
        inMemory,
        count: counts[w]!,
        concurrency: Math.max(1, conc[w]!),
        expect: side.expect,
        expectKind: side.expectKind,
        namePrefix: `${namePrefix}-w${w}`,
      }) satisfies UploadLoadArgs,
    timeoutMs,
  );
  const ran = results.filter((_, w) => counts[w]! > 0);
  const lat = new Histogram();
  for (const r of ran) lat.merge(r.latency);
  const statuses: Record<string, number> = {};
  for (const r of ran) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const elapsedS = (Math.max(...ran.map((r) => r.finishedAt)) - Math.min(...ran.map((r) => r.startedAt))) / 1000;
  const sum = (f: (r: UploadLoadResult) => number) => ran.reduce((n, r) => n + f(r), 0);
  const payloadBytes = sum((r) => r.payloadBytesOk);
  return {
    uploads_ok: sum((r) => r.ok),
    uploads_failed: sum((r) => r.failed),
    wrong_answers: sum((r) => r.wrongAnswers),
    statuses,
    error_samples: ran.flatMap((r) => r.errorSamples).slice(0, 5),
    first_answer: ran.find((r) => r.firstAnswer)?.firstAnswer ?? null,
    elapsed_s: r2(elapsedS),
    payload_mb: r1(payloadBytes / MB),
    body_mb_sent: r1(sum((r) => r.bodyBytesSent) / MB),
    mb_per_s: elapsedS > 0 ? r1(payloadBytes / MB / elapsedS) : null,
    uploads_per_s: elapsedS > 0 ? r1(sum((r) => r.ok) / elapsedS) : null,
    latency: lat.summary(),
    generator_cpu_s: r2(sum((r) => r.generatorCpuS)),
    /** Of one core: above ~80 % the generator may be what limits the figure. */
    generator_cpu_pct_of_core: elapsedS > 0 ? r1((sum((r) => r.generatorCpuS) / elapsedS / active) * 100) : null,
  };
}

type LoadFigures = Awaited<ReturnType<typeof runUploads>> & { server_cpu_s: number | null; server_cpu_s_per_gb: number | null; machine_busy_pct: number | null };

async function loadPhase(ctx: Context, side: SideSpec, plan: Plan): Promise<LoadFigures> {
  console.log(`  ${side.name}: ${plan.uploads} uploads of ${showSize(plan.size)} at concurrency ${plan.concurrency}…`);
  const cpu = new CpuMeter(side.pid);
  cpu.start();
  const timeout = Math.max(600_000, ((plan.uploads * plan.size) / MB) * 1000); // ≥ 1 MB/s
  const f = await runUploads(ctx, side, plan.smallFile, true, plan.uploads, plan.concurrency, `bench-${side.name}`, timeout);
  const c = cpu.stop();
  const gb = (f.payload_mb * MB) / 2 ** 30;
  return { ...f, server_cpu_s: c.server_cpu_s, server_cpu_s_per_gb: c.server_cpu_s !== null && gb > 0 ? r2(c.server_cpu_s / gb) : null, machine_busy_pct: c.machine_busy_pct };
}

async function bigPhase(ctx: Context, side: SideSpec, plan: Plan) {
  const big = plan.big!;
  console.log(`  ${side.name}: one upload of ${showSize(big)}, streamed from disk, RSS sampled every 100 ms…`);
  const sampler = new RssSampler(side.pid, ctx.pool.pids()[0]!);
  sampler.start();
  await new Promise((r) => setTimeout(r, 1000));
  const from = sampler.now();
  const timeout = Math.max(600_000, (big / MB) * 1000);
  const f = await runUploads(ctx, side, plan.bigFile!, false, 1, 1, `bench-big-${side.name}`, timeout);
  const to = sampler.now();
  await new Promise((r) => setTimeout(r, 1000));
  sampler.stop();
  const nums = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);
  const before = sampler.between(0, from);
  const during = sampler.between(from, to);
  const after = sampler.between(to, Infinity);
  const serverBefore = median(nums(before.map((s) => s.server_mb)));
  const serverPeak = nums(during.map((s) => s.server_mb)).reduce((a, b) => Math.max(a, b), -Infinity);
  const genBefore = median(nums(before.map((s) => s.generator_mb)));
  const genPeak = nums(during.map((s) => s.generator_mb)).reduce((a, b) => Math.max(a, b), -Infinity);
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    bytes: big,
    ok: f.uploads_ok === 1,
    statuses: f.statuses,
    wrong_answers: f.wrong_answers,
    error_samples: f.error_samples,
    first_answer: f.first_answer,
    seconds: f.elapsed_s,
    mb_per_s: f.mb_per_s,
    generator_cpu_pct_of_core: f.generator_cpu_pct_of_core,
    rss_sample_interval_ms: 100,
    rss_samples_during: during.length,
    server_rss_before_mb: serverBefore,
    server_rss_peak_mb: fin(serverPeak),
    server_rss_growth_mb: serverBefore !== null && Number.isFinite(serverPeak) ? r1(serverPeak - serverBefore) : null,
    server_rss_after_mb: median(nums(after.map((s) => s.server_mb))),
    generator_rss_before_mb: genBefore,
    generator_rss_peak_mb: fin(genPeak),
    generator_rss_growth_mb: genBefore !== null && Number.isFinite(genPeak) ? r1(genPeak - genBefore) : null,
    rss_samples: sampler.samples,
  };
}

type BigFigures = Awaited<ReturnType<typeof bigPhase>>;

interface SideResult {
  server: Record<string, string>;
  pid: number | null;
  warm_up: { statuses: Record<string, number>; first_answer: string | null };
  big?: BigFigures;
  /** One load phase per round, in the order they ran. */
  rounds: LoadFigures[];
  /** The median round's MB/s, and the range. */
  mb_per_s_median: number | null;
  mb_per_s_range: [number, number] | null;
  stored?: { files: number; mb: number; expected_min_mb: number };
}

/** One upload, not measured: proves the route answers as expected and loads its code. */
async function warmUp(ctx: Context, side: SideSpec, plan: Plan): Promise<SideResult['warm_up']> {
  const warm = await runUploads(ctx, side, plan.smallFile, false, 1, 1, `bench-warmup-${side.name}`, 600_000);
  if (warm.uploads_ok !== 1 || warm.wrong_answers) {
    const why = warm.error_samples[0] ?? JSON.stringify(warm.statuses);
    const hint = /HTTP 404/.test(why) ? ' (is the attachments route in this tree yet?)' : /HTTP 413/.test(why) ? ' (raise UPLOAD_MAX_BYTES)' : '';
    throw new Error(`${side.name}: the warm-up upload failed: ${why}${hint}`);
  }
  return { statuses: warm.statuses, first_answer: warm.first_answer };
}

function summarise(server: Record<string, string>, side: SideSpec, warm: SideResult['warm_up'], big: BigFigures | undefined, rounds: LoadFigures[]): SideResult {
  const rates = rounds.map((r) => r.mb_per_s).filter((x): x is number => x !== null);
  return {
    server,
    pid: side.pid ?? null,
    warm_up: warm,
    ...(big ? { big } : {}),
    rounds,
    mb_per_s_median: median(rates),
    mb_per_s_range: rates.length ? [Math.min(...rates), Math.max(...rates)] : null,
  };
}

export async function upload(ctx: Context) {
  const opts = ctx.opts;
  const bareOnly = Boolean(opts['bare-only']);
  const plan: Plan = {
    uploads: Math.max(1, num(opts, 'uploads', 100)),
    size: sizeOption(opts, 'size', '10mb'),
    concurrency: Math.max(1, num(opts, 'concurrency', 8)),
    big: opts['skip-big'] ? null : sizeOption(opts, 'big', '1gb'),
    smallFile: '',
    bigFile: null,
  };
  const rounds = Math.max(1, Math.floor(num(opts, 'rounds', 3)));
  const spawn = Boolean(opts.spawn) && !bareOnly;
  const target = !spawn && !bareOnly ? checkLoopback((opts.target as string | undefined) ?? 'http://127.0.0.1:8080') : undefined;
  if (target) await waitReachable(target);
  const targetPid = target && opts['server-pid'] ? num(opts, 'server-pid', 0) : undefined;

  // Everything written goes under one scratch directory: the payloads, the bare server's
  // files and the spawned natter's DATA_DIR, so both servers write to the same filesystem.
  const root = typeof opts['upload-dir'] === 'string' ? path.resolve(opts['upload-dir']) : tmpdir();
  mkdirSync(root, { recursive: true });
  const work = mkdtempSync(path.join(root, 'natter-bench-upload-'));
  if (opts.keep) console.log(`keeping ${work}`);
  else onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const bareDir = path.join(work, 'bare');
  const natterData = path.join(work, 'natter-data');
  mkdirSync(bareDir);
  mkdirSync(natterData);

  // Disk: the payloads, then everything each server stores, kept until the end so that
  // both write into an equally full directory (natter's, spawned, under the scratch
  // directory too), 512 MB to spare.
  const perServer = plan.size * (1 + rounds * plan.uploads) + (plan.big ?? 0);
  const need = plan.size + (plan.big ?? 0) + perServer * (spawn ? 2 : 1) + 512 * MB;
  const fsStat = statfsSync(work);
  const free = fsStat.bavail * fsStat.bsize;
  if (free < need) throw new Error(`${work} has ${showSize(free)} free, the run needs about ${showSize(need)} (use --upload-dir, --skip-big, fewer --uploads or --rounds)`);

  const fsInfo = filesystemOf(work);
  console.log(`machine: ${machine()}`);
  console.log(`scratch: ${work} on ${fsInfo.type ?? '?'} ${fsInfo.source ?? ''} (mounted at ${fsInfo.mount ?? '?'}), ${showSize(free)} free`);

  plan.smallFile = path.join(work, `payload-${plan.size}.bin`);
  const t0 = Date.now();
  randomFile(plan.smallFile, plan.size);
  if (plan.big) {
    plan.bigFile = path.join(work, `payload-${plan.big}.bin`);
    console.log(`writing the ${showSize(plan.big)} payload file (random bytes)…`);
    randomFile(plan.bigFile, plan.big);
  }
  console.log(`payloads written in ${r1((Date.now() - t0) / 1000)} s`);
  const apiPath = (conv: number) => `/api/v1/conversations/${conv}/attachments`;

  // 1. The generator's ceiling: the same uploads to a server that drops the bodies.
  console.log('\n== discard: the generator and loopback alone ==');
  const sink = await spawnBareUpload(null);
  let discard: SideResult;
  try {
    const side: SideSpec = { name: 'discard', url: sink.url, pid: sink.pid, path: apiPath(1), token: 'bench-bare', expect: 'body' };
    const warm = await warmUp(ctx, side, plan);
    const big = plan.big ? await bigPhase(ctx, side, plan) : undefined;
    discard = summarise(sink.config, side, warm, big, [await loadPhase(ctx, side, plan)]);
  } finally {
    await sink.stop();
  }

  // 2. The bare server and natter, both up; the big upload on each (natter fresh, bar the
  // warm-up), then --rounds load phases alternating bare/natter (ABBA), so drift of the
  // disk and the machine hits both alike.
  console.log(`\n== bare (pipeline → file into ${bareDir})${bareOnly ? '' : ' and natter'}, ${rounds} round${rounds > 1 ? 's' : ''} ==`);
  const bareServer = await spawnBareUpload(bareDir);
  let natterServer: ServerHandle | undefined;
  let natterFs: ReturnType<typeof filesystemOf> | null = null;
  let bare: SideResult;
  let natter: SideResult | undefined;
  try {
    const bareSide: SideSpec = { name: 'bare', url: bareServer.url, pid: bareServer.pid, path: apiPath(1), token: 'bench-bare', expect: 'body' };
    let natterSide: SideSpec | undefined;
    let natterConfig: Record<string, string> = {};
    if (!bareOnly) {
      const maxBytes = Math.max(2 * 2 ** 30, (plan.big ?? 0) + 64 * MB, plan.size + 64 * MB);
      if (spawn) {
        console.log(`starting natter: STORAGE=local, DATA_DIR ${natterData}, UPLOAD_MAX_BYTES ${maxBytes}…`);
        natterServer = await spawnNatter({
          databaseUrl: adminDatabaseUrl(opts),
          keep: Boolean(opts.keep),
          bus: busOf(opts),
          dataDir: natterData,
          extraEnv: { STORAGE: 'local', UPLOAD_MAX_BYTES: String(maxBytes) },
        });
        console.log(`natter pid ${natterServer.pid} at ${natterServer.url}`);
        natterFs = filesystemOf(natterData);
        natterConfig = natterServer.config;
      } else {
        console.log(`natter at ${target} (pid ${targetPid ?? 'unknown: no --server-pid, so no RSS or CPU figures'}); it needs UPLOAD_MAX_BYTES ≥ ${maxBytes}`);
        natterConfig = { target: target! };
      }
      const url = natterServer?.url ?? target!;
      const [a, b] = await registerMany(url, 2, `bu${ctx.run}u`);
      const conv = await createDirect(url, a!, b!);
      natterSide = { name: 'natter', url, pid: natterServer?.pid ?? targetPid, path: apiPath(conv), token: a!.token, expect: 'payload', expectKind: 'file' };
    }
    const bareWarm = await warmUp(ctx, bareSide, plan);
    const natterWarm = natterSide ? await warmUp(ctx, natterSide, plan) : undefined;
    let bareBig: BigFigures | undefined;
    let natterBig: BigFigures | undefined;
    if (plan.big) {
      await settle();
      bareBig = await bigPhase(ctx, bareSide, plan);
      if (natterSide) {
        await settle();
        natterBig = await bigPhase(ctx, natterSide, plan);
      }
    }
    const bareRounds: LoadFigures[] = [];
    const natterRounds: LoadFigures[] = [];
    for (let r = 0; r < rounds; r++) {
      console.log(` round ${r + 1}/${rounds}`);
      const order = natterSide && r % 2 === 1 ? [natterSide, bareSide] : [bareSide, ...(natterSide ? [natterSide] : [])];
      for (const side of order) {
        await settle();
        const f = await loadPhase(ctx, side, plan);
        console.log(`    ${f.mb_per_s ?? '–'} MB/s, ${f.uploads_ok} ok, ${f.uploads_failed} failed`);
        (side === bareSide ? bareRounds : natterRounds).push(f);
      }
    }
    // What each stored, against the file bytes it was sent (the bare server's files also
    // hold the multipart framing, a few hundred bytes each).
    const expected = r1(perServer / MB);
    bare = { ...summarise(bareServer.config, bareSide, bareWarm, bareBig, bareRounds), stored: { ...stored(bareDir), expected_min_mb: expected } };
    if (natterSide && natterWarm) {
      natter = summarise(natterConfig, natterSide, natterWarm, natterBig, natterRounds);
      if (natterServer) natter.stored = { ...stored(path.join(natterData, 'uploads')), expected_min_mb: expected };
    }
  } finally {
    await bareServer.stop();
    await natterServer?.stop();
  }

  // ---- figures, ratios, goals ----
  const ratio = natter?.mb_per_s_median && bare.mb_per_s_median ? r2(natter.mb_per_s_median / bare.mb_per_s_median) : null;
  const perRound = natter ? natter.rounds.map((f, i) => (f.mb_per_s && bare.rounds[i]?.mb_per_s ? r2(f.mb_per_s / bare.rounds[i].mb_per_s) : null)) : [];
  const growth = natter?.big?.server_rss_growth_mb ?? null;
  const goals = [
    { goal: 'upload MB/s natter/bare (medians) ≥ 0.70', value: ratio, result: ratio === null ? 'open' : ratio >= 0.7 ? 'pass' : 'FAIL' },
    ...(plan.big ? [{ goal: `natter RSS growth during one ${showSize(plan.big)} upload < 64 MB`, value: growth, result: growth === null ? 'open' : growth < 64 ? 'pass' : 'FAIL' }] : []),
  ];

  const loadRow = (name: string, f: LoadFigures): Row => ({
    server: name,
    'MB/s': f.mb_per_s,
    'uploads/s': f.uploads_per_s,
    'p50 ms': f.latency.p50_ms,
    'p99 ms': f.latency.p99_ms,
    'srv CPU s/GB': f.server_cpu_s_per_gb,
    'gen CPU %': f.generator_cpu_pct_of_core,
    'busy %': f.machine_busy_pct,
    ok: f.uploads_ok,
    failed: f.uploads_failed,
    wrong: f.wrong_answers,
  });
  const bigRow = (name: string, s: SideResult): Row => ({
    server: name,
    'MB/s': s.big?.mb_per_s,
    s: s.big?.seconds,
    'RSS before MB': s.big?.server_rss_before_mb,
    'peak MB': s.big?.server_rss_peak_mb,
    'growth MB': s.big?.server_rss_growth_mb,
    'after MB': s.big?.server_rss_after_mb,
    'gen RSS growth MB': s.big?.generator_rss_growth_mb,
    ok: s.big ? (s.big.ok ? 'yes' : 'NO') : undefined,
  });
  const sides: [string, SideResult][] = [
    ['discard (generator ceiling)', discard],
    ['bare (pipeline → file)', bare],
    ...(natter ? ([['natter', natter]] as [string, SideResult][]) : []),
  ];
  const loadRows = sides.flatMap(([name, s]) => s.rounds.map((f, i) => loadRow(s.rounds.length > 1 ? `${name}, round ${i + 1}` : name, f)));
  const medians: Row[] = sides.map(([name, s]) => ({ server: name, 'MB/s median': s.mb_per_s_median, min: s.mb_per_s_range?.[0], max: s.mb_per_s_range?.[1] }));
  console.log(`\n== upload on ${machine()} ==\n${fsInfo.type ?? '?'} ${fsInfo.source ?? ''} (${work})\n`);
  console.log(`${plan.uploads} uploads of ${showSize(plan.size)} at concurrency ${plan.concurrency} (MB = 2^20 bytes of file payload):`);
  console.log(table(loadRows));
  console.log(`\n${table(medians)}`);
  if (plan.big) {
    console.log(`\none upload of ${showSize(plan.big)}, streamed from a file; server RSS (VmRSS) every 100 ms:`);
    console.log(table(sides.map(([name, s]) => bigRow(name, s))));
  }
  for (const [name, s] of sides) {
    if (s.stored) console.log(`${name} stored ${s.stored.files} files, ${s.stored.mb} MB (file bytes sent: ${s.stored.expected_min_mb} MB)`);
  }
  if (natter) console.log(`\nnatter / bare MB/s: ${ratio ?? '–'} (medians; per round ${perRound.map((x) => x ?? '–').join(', ')})\n\ngoals:\n${table(goals)}`);
  else console.log('\n(--bare-only: natter not run)');

  return {
    parameters: {
      uploads: plan.uploads,
      size_bytes: plan.size,
      concurrency: plan.concurrency,
      big_bytes: plan.big,
      rounds,
      bare_only: bareOnly,
      units: 'MB = 2^20 bytes of file payload (multipart framing not counted)',
    },
    machine: machine(),
    filesystem: {
      scratch: fsInfo,
      natter_data_dir: natterFs,
      same_filesystem: natterFs ? natterFs.device === fsInfo.device : null,
      free_at_start_mb: Math.round(free / MB),
    },
    servers: { natter: spawn ? 'spawned' : bareOnly ? 'not run (--bare-only)' : target },
    results: { discard, bare, ...(natter ? { natter } : {}) },
    natter_over_bare_mb_per_s: ratio,
    natter_over_bare_per_round: perRound,
    goals,
  };
}
