/**
 * group: one group of M members, all connected; S of them send at a stepped-up total
 * rate, each message fanned out to the other M-1 members (and echoed to its sender).
 */
import { createGroup } from '../lib/api.js';
import { benchUsers, num, type Context } from '../lib/context.js';
import { runLadder } from '../lib/ladder.js';
import { waitConnected } from '../lib/steps.js';
import { split } from '../lib/workers.js';

export async function groupLadder(ctx: Context) {
  const members = Math.max(2, Math.min(1001, num(ctx.opts, 'members', 500)));
  const senderCount = Math.max(1, Math.min(members, num(ctx.opts, 'senders', 1)));
  console.log(`registering ${members} users…`);
  const t0 = Date.now();
  const users = await benchUsers(ctx, members, `bg${ctx.run}u`);
  const conv = await createGroup(ctx.target, users[0]!, users.slice(1), `bench ${ctx.run}`);
  console.log(`setup: ${members} members in group ${conv} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const perWorker = split(users, ctx.pool.size);
  const opened = await ctx.pool.all<{ failed: number; errors: string[] }>('connect', (w) => ({
    url: ctx.target,
    concurrency: 100,
    sockets: perWorker[w]!.map((u) => ({ userId: u.id, token: u.token, convs: [conv] })),
  }));
  const failed = opened.reduce((n, o) => n + o.failed, 0);
  if (failed) throw new Error(`${failed} sockets failed to connect: ${opened.flatMap((o) => o.errors).slice(0, 3).join('; ')}`);
  await waitConnected(ctx.pool, members);
  const senderIds = new Set(users.slice(0, senderCount).map((u) => u.id));
  const senders = perWorker.map((list) => list.filter((u) => senderIds.has(u.id)).map((u) => ({ userId: u.id, convId: conv })));
  const ladder = await runLadder(ctx, { senders, defaultStart: 5, defaultFactor: 2, fanout: members - 1 });
  await ctx.pool.all('close', () => ({}));
  return { members, senders: senderCount, conversation_id: conv, ...ladder };
}

export async function group(ctx: Context) {
  return { parameters: { members: num(ctx.opts, 'members', 500), senders: num(ctx.opts, 'senders', 1) }, ...(await groupLadder(ctx)) };
}
