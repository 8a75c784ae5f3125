/**
 * resume: a reader misses K messages across P conversations, reconnects, sends `sync`
 * (natter's catch-up frame) and gets them all — timed, and checked for exactly-once.
 */
import { createDirect, mapLimit, registerMany } from '../lib/api.js';
import { num, type Context } from '../lib/context.js';
import { table } from '../lib/report.js';

export async function resume(ctx: Context) {
  const missed = num(ctx.opts, 'missed', 5000);
  const peers = Math.max(1, num(ctx.opts, 'peers', 5));
  const rounds = Math.max(1, num(ctx.opts, 'repeat', 3));
  const users = await registerMany(ctx.target, peers + 1, `br${ctx.run}u`);
  const reader = users[0]!;
  const convs = await mapLimit(users.slice(1), 8, (p) => createDirect(ctx.target, reader, p));
  const runs: Record<string, number | null>[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await ctx.pool.call<Record<string, number | null>>(0, 'resume', {
      url: ctx.target,
      run: ctx.run,
      reader: { userId: reader.id, token: reader.token },
      peers: users.slice(1).map((p, j) => ({ userId: p.id, token: p.token, convId: convs[j]! })),
      missed,
      window: 50,
      timeoutMs: 300_000,
    });
    runs.push(r);
    console.log(`\n${table(runs.map((x, j) => ({ round: j + 1, missed: x.missed, received: x.received, lost: x.lost, dup: x.duplicates, 'out of order': x.out_of_order, 'connected ms': x.connected_ms, 'synced ms': x.synced_ms, 'all received ms': x.all_received_ms, 'msgs/s': x.all_received_ms ? Math.round(((x.received ?? 0) / x.all_received_ms) * 1000) : null, 'peers send ms': x.peers_send_ms })))}`);
  }
  return { parameters: { missed, peers, rounds }, runs };
}
