/**
 * direct: N users in pairs, one direct conversation per pair, every user connected and
 * sending to its partner at a fixed, stepped-up rate (open loop).
 */
import { createDirect, mapLimit, type BenchUser } from '../lib/api.js';
import { benchUsers, num, type Context } from '../lib/context.js';
import { runLadder } from '../lib/ladder.js';
import { waitConnected } from '../lib/steps.js';
import { split } from '../lib/workers.js';

export interface DirectHooks {
  /** After registration, before the sockets open (the push scenario registers a device per user here). */
  afterSetup?: (users: BenchUser[]) => Promise<void>;
  /** Run every rate even past the limits (a fixed-rate comparison, not a search for the knee). */
  keepGoing?: boolean;
  /** Every socket answers messages from others with `delivered` (the push scenario's fair send path). */
  ackDelivered?: boolean;
}

export async function directLadder(ctx: Context, hooks: DirectHooks = {}) {
  const users = Math.max(2, Math.floor(num(ctx.opts, 'users', 1000) / 2) * 2);
  console.log(`registering ${users} users…`);
  const t0 = Date.now();
  const all = await benchUsers(ctx, users, `bd${ctx.run}u`);
  const pairs = Array.from({ length: users / 2 }, (_, i) => [all[2 * i]!, all[2 * i + 1]!] as const);
  const convs = await mapLimit(pairs, 16, ([a, b]) => createDirect(ctx.target, a, b));
  await hooks.afterSetup?.(all);
  console.log(`setup: ${users} users, ${pairs.length} conversations in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Both ends of a pair live in the same generator process.
  const perWorker = split(pairs.map((p, i) => ({ p, conv: convs[i]! })), ctx.pool.size);
  const c0 = Date.now();
  const opened = await ctx.pool.all<{ opened: number; failed: number; errors: string[] }>('connect', (w) => ({
    url: ctx.target,
    concurrency: 100,
    ack: hooks.ackDelivered === true,
    sockets: perWorker[w]!.flatMap(({ p, conv }) => p.map((u) => ({ userId: u.id, token: u.token, convs: [conv] }))),
  }));
  const failed = opened.reduce((n, o) => n + o.failed, 0);
  if (failed) throw new Error(`${failed} sockets failed to connect: ${opened.flatMap((o) => o.errors).slice(0, 3).join('; ')}`);
  const connected = await waitConnected(ctx.pool, users);
  console.log(`${users} sockets open in ${Date.now() - c0} ms (${connected} 'connected' frames)`);
  const senders = perWorker.map((list) => list.flatMap(({ p, conv }) => p.map((u) => ({ userId: u.id, convId: conv }))));
  const ladder = await runLadder(ctx, { senders, defaultStart: 250, defaultFactor: 2, fanout: 1, keepGoing: hooks.keepGoing });
  await ctx.pool.all('close', () => ({}));
  return { users, conversations: pairs.length, senders: users, ...ladder };
}

export async function direct(ctx: Context) {
  return { parameters: { users: num(ctx.opts, 'users', 1000), step_seconds: num(ctx.opts, 'step-seconds', 10) }, ...(await directLadder(ctx)) };
}
