/**
 * push: what push notifications cost.
 *
 * 1. fan-out: `--recipients` offline users, each with one FCM device, in one group; one
 *    member sends one message; the time from the send's 201 until every recipient's
 *    token has had exactly one push at the FCM receiver (bench/baseline/fcm-receiver.ts,
 *    its own process), with PUSH_DELAY (`--push-delay`) included and subtracted.
 * 2. send path: the `direct` ladder at fixed rates (`--push-rates`) on a server without a
 *    push provider, then on one with FCM configured, every user with a device and a short
 *    PUSH_DELAY (`--send-push-delay`); the on/off ratios of p50, p99 and throughput.
 *    `--send-acks delivered` (default): every socket answers others' messages with a
 *    `delivered` receipt, as an app with its socket open does, so the outbox is written
 *    and checked but little is pushed; `--send-acks none`: nobody acks, every message is
 *    pushed (the worst case).
 */
import { createGroup, mapLimit, registerMany, request, type BenchUser } from '../lib/api.js';
import { num, startNatter, type Context } from '../lib/context.js';
import { startFcmReceiver, type FcmReceiver, type ReceiverStats } from '../lib/fcm.js';
import { sampleActivity, type ActivityProfile } from '../lib/pg-activity.js';
import { CpuMeter } from '../lib/proc.js';
import { compareOnOff } from '../lib/on-off.js';
import { table } from '../lib/report.js';
import { withPg, type ServerHandle } from '../lib/spawn.js';
import { directLadder } from './direct.js';

/** natter's schema caps participant_ids / user_ids at 1000 per request. */
const MEMBERS_PER_REQUEST = 1000;
/** No password verifies against it: the SQL-seeded recipients never log in (their session is made directly). */
const NO_LOGIN_HASH = '$argon2id$v=19$m=19456,t=2,p=1$bm8tbG9naW4$bench-seeded-user-no-password-logs-in';

/** "1s", "250ms", "0.5" (seconds) → ms. */
export function durationMs(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(raw.trim());
  if (!m) throw new Error(`not a duration: "${raw}" (use 1s, 250ms)`);
  return m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number) => Math.round(n * 10) / 10;

function pushEnv(ctx: Context, receiver: FcmReceiver | null, delay: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { PUSH_DELAY: delay, ...extra };
  if (ctx.opts['push-concurrency']) env.PUSH_CONCURRENCY = String(num(ctx.opts, 'push-concurrency', 64));
  if (receiver) Object.assign(env, receiver.env);
  else {
    // "off": no provider at all, whatever the caller's environment says.
    env.FCM_SERVICE_ACCOUNT_FILE = '';
    env.PUSH_WEBHOOK_URL = '';
    env.PUSH_WEBHOOK_SECRET = '';
    env.VAPID_PUBLIC_KEY = '';
    env.VAPID_PRIVATE_KEY = '';
  }
  return env;
}

async function registerDevice(base: string, u: BenchUser, token: string): Promise<void> {
  const { status, json } = await request(base, 'POST', '/devices', { platform: 'fcm', token }, u.token);
  if (status !== 201 && status !== 200) throw new Error(`POST /devices: HTTP ${status} ${JSON.stringify(json).slice(0, 200)}`);
}

/**
 * The recipients: on a spawned PostgreSQL with one SQL statement (users, a live session
 * each, one FCM device on it — the rows `POST /auth/register` and `POST /devices` write,
 * without 10,000 argon2 hashes); else, or with --seed-rest, over REST.
 */
async function seedRecipients(ctx: Context, server: ServerHandle, n: number, tokenPrefix: string): Promise<{ ids: number[]; tokens: string[]; seeding: 'sql' | 'rest' }> {
  const dbUrl = server.database.url;
  const prefix = `bp${ctx.run}r`;
  if (dbUrl && !ctx.opts['seed-rest']) {
    console.log(`seeding ${n} recipients (user, session, FCM device) with SQL…`);
    const rows = await withPg(dbUrl, async (c) => {
      const { rows } = await c.query<{ user_id: string; token: string }>(
        `with u as (
           insert into users (username, email, password_hash)
           select $1 || g, $1 || g || '@bench.invalid', $2 from generate_series(1, $3::int) g
           returning id),
         s as (
           insert into sessions (id, user_id, refresh_hash, user_agent, expires_at)
           select gen_random_uuid(), id, 'bench-seeded-no-refresh', 'natter-bench', now() + interval '1 day' from u
           returning id, user_id)
         insert into push_devices (user_id, session_id, platform, token, address)
         select user_id, id, 'fcm', $4 || user_id, $4 || user_id from s
         returning user_id, token`,
        [prefix, NO_LOGIN_HASH, n, tokenPrefix],
      );
      await c.query('analyze users; analyze sessions; analyze push_devices');
      return rows;
    });
    return { ids: rows.map((r) => Number(r.user_id)), tokens: rows.map((r) => r.token), seeding: 'sql' };
  }
  console.log(`registering ${n} recipients over REST (argon2-bound, --setup-concurrency ${num(ctx.opts, 'setup-concurrency', 8)})…`);
  const users = await registerMany(server.url, n, prefix, num(ctx.opts, 'setup-concurrency', 8));
  const tokens = users.map((u) => `${tokenPrefix}${u.id}`);
  await mapLimit(users, 16, (u, i) => registerDevice(server.url, u, tokens[i]!));
  return { ids: users.map((u) => u.id), tokens, seeding: 'rest' };
}

async function fanout(ctx: Context, receiver: FcmReceiver) {
  const n = Math.max(1, num(ctx.opts, 'recipients', 10_000));
  const delay = (ctx.opts['push-delay'] as string | undefined) ?? '1s';
  const delayMs = durationMs(delay);
  const timeoutMs = num(ctx.opts, 'fanout-timeout', 120) * 1000;
  const settleMs = num(ctx.opts, 'settle-seconds', 3) * 1000;
  console.log(`\n== push fan-out: ${n} recipients, PUSH_DELAY ${delay} ==`);
  const server = await startNatter(ctx.opts, pushEnv(ctx, receiver, delay, { GROUP_MAX_MEMBERS: String(Math.max(1000, n + 1)) }));
  try {
    const t0 = Date.now();
    const [sender] = (await registerMany(server.url, 1, `bp${ctx.run}s`, 1)) as [BenchUser];
    const seeded = await seedRecipients(ctx, server, n, `bench-${ctx.run}-fcm-`);
    const chunks = Array.from({ length: Math.ceil(n / MEMBERS_PER_REQUEST) }, (_, i) => seeded.ids.slice(i * MEMBERS_PER_REQUEST, (i + 1) * MEMBERS_PER_REQUEST));
    const group = await createGroup(server.url, sender, chunks[0]!.map((id) => ({ id, token: '', username: '' })), `push bench ${ctx.run}`);
    for (const ids of chunks.slice(1)) {
      const { status, json } = await request(server.url, 'POST', `/conversations/${group}/participants`, { user_ids: ids }, sender.token, 120_000);
      if (status !== 200) throw new Error(`add members: HTTP ${status} ${JSON.stringify(json).slice(0, 200)}`);
    }
    // The group was filled seconds ago, before autovacuum's analyze could see it: plan with
    // the statistics a server that has had the group a while would have (--skip-analyze: not).
    const analyzed = Boolean(server.database.url) && !ctx.opts['skip-analyze'];
    if (analyzed) await withPg(server.database.url!, (c) => c.query('analyze'));
    const setupS = (Date.now() - t0) / 1000;
    console.log(`setup: ${n} recipients (${seeded.seeding}), one group of ${n + 1} in ${setupS.toFixed(1)} s`);
    // The membership system messages are not pushed; anything the receiver got so far would be a bug.
    await sleep(delayMs + 500);
    const before = await receiver.stats();
    await receiver.reset();

    const server0 = new CpuMeter(server.pid);
    const recv0 = new CpuMeter(receiver.pid);
    // On PostgreSQL: which statements the fan-out's wall time went to.
    const sampler = server.database.url ? await sampleActivity(server.database.url, 5) : undefined;
    server0.start();
    recv0.start();
    const sendStart = Date.now();
    const res = await request<{ message?: { id: number } }>(server.url, 'POST', `/conversations/${group}/messages`, { content: `push bench ${ctx.run}` }, sender.token, 120_000);
    const acked = Date.now();
    if (res.status !== 201) throw new Error(`send: HTTP ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`);
    console.log(`sent; 201 after ${acked - sendStart} ms; waiting for ${n} pushes (up to ${timeoutMs / 1000} s)…`);
    let stats: ReceiverStats = await receiver.stats();
    let lastLog = acked;
    while (stats.distinct < n && Date.now() - acked < timeoutMs) {
      await sleep(50);
      stats = await receiver.stats();
      if (Date.now() - lastLog >= 2000) {
        lastLog = Date.now();
        console.log(`  ${((Date.now() - acked) / 1000).toFixed(1)} s: ${stats.distinct}/${n} tokens pushed`);
      }
    }
    const complete = stats.distinct >= n;
    const serverCpu = server0.stop();
    const receiverCpu = recv0.stop();
    const activity: ActivityProfile | undefined = await sampler?.stop();
    // Anything sent twice would arrive after the first: wait a while longer before counting.
    await sleep(settleMs);
    stats = await receiver.stats();
    const counts = await receiver.counts();
    const expected = new Set(seeded.tokens);
    let missing = 0;
    let duplicates = 0;
    let unexpected = 0;
    for (const t of expected) {
      const c = counts[t] ?? 0;
      if (c === 0) missing++;
      else duplicates += c - 1;
    }
    for (const t of Object.keys(counts)) if (!expected.has(t)) unexpected++;
    const timeline = (await receiver.timeline()).map(([at, k]) => [at - acked, k] as [number, number]);
    const firstMs = stats.first_at !== null ? stats.first_at - acked : null;
    const allMs = complete && stats.last_new_at !== null ? stats.last_new_at - acked : null;
    const spread = stats.first_at !== null && stats.last_new_at !== null ? stats.last_new_at - stats.first_at : null;
    const figures = {
      recipients: n,
      seeding: seeded.seeding,
      analyzed_after_setup: analyzed,
      setup_seconds: round1(setupS),
      pushes_before_send: before.received,
      send_201_ms: acked - sendStart,
      first_push_ms: firstMs,
      all_pushed_ms: allMs,
      all_pushed_minus_delay_ms: allMs !== null ? allMs - delayMs : null,
      first_to_last_ms: spread,
      pushes_per_s: spread ? Math.round((stats.distinct / spread) * 1000) : null,
      received: stats.received,
      distinct_tokens: stats.distinct,
      duplicates,
      missing,
      unexpected_tokens: unexpected,
      refused_by_receiver: stats.refused,
      token_requests: stats.token_requests,
      complete,
      goal_under_10s: allMs !== null && allMs < 10_000,
      server_cpu_s: serverCpu.server_cpu_s,
      receiver_cpu_s: receiverCpu.server_cpu_s,
      machine_busy_pct: serverCpu.machine_busy_pct,
      /** [ms after the 201, pushes received in that 100 ms]. */
      timeline_100ms: timeline,
    };
    console.log(
      `\n${table([
        {
          recipients: n,
          'delay ms': delayMs,
          '201 ms': figures.send_201_ms,
          'first ms': firstMs,
          'all ms': allMs,
          'all−delay ms': figures.all_pushed_minus_delay_ms,
          'pushes/s': figures.pushes_per_s,
          dup: duplicates,
          missing,
          'server cpu s': figures.server_cpu_s,
          'receiver cpu s': figures.receiver_cpu_s,
          'busy%': figures.machine_busy_pct,
        },
      ])}`,
    );
    console.log(`pushes per second after the 201: ${perSecond(timeline).join(' ')}`);
    if (activity) {
      console.log(`\ndatabase activity from the send until the last push (${activity.samples} samples, every ${activity.interval_ms} ms; % of samples; no statement running: ${activity.none_active_pct} %)`);
      console.log(table(activity.statements.slice(0, 12).map((s) => ({ '%': s.pct, statement: s.statement }))));
    }
    return { server_config: server.config, push_delay_ms: delayMs, figures, ...(activity ? { database_activity: activity } : {}) };
  } finally {
    await server.stop();
  }
}

/** Pushes received in each whole second after the 201 (for the console). */
function perSecond(timeline: [number, number][]): string[] {
  const secs = new Map<number, number>();
  for (const [at, k] of timeline) secs.set(Math.floor(at / 1000), (secs.get(Math.floor(at / 1000)) ?? 0) + k);
  return [...secs].sort((a, b) => a[0] - b[0]).map(([s, k]) => `${s}s:${k}`);
}

function sendAcks(ctx: Context): boolean {
  const raw = (ctx.opts['send-acks'] as string | undefined) ?? 'delivered';
  if (raw !== 'delivered' && raw !== 'none') throw new Error(`--send-acks: delivered or none, got "${raw}"`);
  return raw === 'delivered';
}

async function sendPathSide(ctx: Context, side: 'off' | 'on', receiver: FcmReceiver) {
  const delay = (ctx.opts['send-push-delay'] as string | undefined) ?? '200ms';
  console.log(`\n== push send path: push ${side} ==`);
  const server = await startNatter(ctx.opts, pushEnv(ctx, side === 'on' ? receiver : null, delay));
  await receiver.reset();
  const opts = { ...ctx.opts, users: ctx.opts['push-users'] ?? '1000', rates: ctx.opts['push-rates'] ?? '500,1000', start: undefined, factor: undefined };
  let sampler: Awaited<ReturnType<typeof sampleActivity>> | undefined;
  try {
    const ladder = await directLadder(
      { ...ctx, opts, target: server.url, server, serverPid: server.pid },
      {
        keepGoing: true,
        ackDelivered: sendAcks(ctx),
        // The same workload on both sides: every user registers a device (the "off" server keeps it, has nothing to push it with).
        afterSetup: async (users) => {
          await mapLimit(users, 16, (u) => registerDevice(server.url, u, `bench-${ctx.run}-${side}-${u.id}`));
          // From here (sockets opening, warm-up, every step): which statements the database ran.
          if (server.database.url) sampler = await sampleActivity(server.database.url, 10);
        },
      },
    );
    const activity = await sampler?.stop();
    sampler = undefined;
    const pushes = await receiver.stats();
    if (activity) {
      console.log(`database activity, sockets open to the last step (${activity.samples} samples; % of samples; none running: ${activity.none_active_pct} %)`);
      console.log(table(activity.statements.slice(0, 8).map((s) => ({ '%': s.pct, statement: s.statement }))));
    }
    return {
      server_config: server.config,
      ladder,
      pushes_received: pushes.received,
      push_tokens_reached: pushes.distinct,
      pushes_refused: pushes.refused,
      ...(activity ? { database_activity: activity } : {}),
    };
  } finally {
    await sampler?.stop();
    await server.stop();
  }
}

async function sendPath(ctx: Context, receiver: FcmReceiver) {
  const off = await sendPathSide(ctx, 'off', receiver);
  const on = await sendPathSide(ctx, 'on', receiver);
  const per_rate = compareOnOff(off.ladder, on.ladder);
  console.log(`pushes the receiver got while push was on: ${on.pushes_received} (${on.push_tokens_reached} devices); with push off: ${off.pushes_received}`);
  return { off, on, per_rate };
}

export async function push(ctx: Context) {
  const parts = ((ctx.opts.parts as string | undefined) ?? 'fanout,send').split(',').map((s) => s.trim());
  for (const p of parts) if (p !== 'fanout' && p !== 'send') throw new Error(`--parts: fanout and/or send, got "${p}"`);
  const receiver = await startFcmReceiver();
  console.log(`fcm receiver pid ${receiver.pid} at ${receiver.url}`);
  const parameters = {
    parts,
    recipients: num(ctx.opts, 'recipients', 10_000),
    push_delay: (ctx.opts['push-delay'] as string | undefined) ?? '1s',
    push_concurrency: ctx.opts['push-concurrency'] ?? process.env.PUSH_CONCURRENCY ?? 'server default (64)',
    send_push_delay: (ctx.opts['send-push-delay'] as string | undefined) ?? '200ms',
    send_acks: sendAcks(ctx) ? 'delivered' : 'none',
    push_users: num(ctx.opts, 'push-users', 1000),
    push_rates: (ctx.opts['push-rates'] as string | undefined) ?? '500,1000',
    step_seconds: num(ctx.opts, 'step-seconds', 10),
  };
  try {
    const fan = parts.includes('fanout') ? await fanout(ctx, receiver) : undefined;
    const send = parts.includes('send') ? await sendPath(ctx, receiver) : undefined;
    return { parameters, receiver: 'bench/baseline/fcm-receiver.ts (own process)', ...(fan ? { fanout: fan } : {}), ...(send ? { send_path: send } : {}) };
  } finally {
    await receiver.stop();
  }
}
