import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BusLogger } from '../bus/remote.js';
import type { PresenceStore } from './presence-store.js';

export interface RedisPresenceOptions {
  url: string;
  /** Key prefix shared by every node of one deployment. */
  prefix: string;
  /** This node's id; a random one by default. */
  nodeId?: string;
  /** A node whose heartbeat is older than this is taken for dead (ms). */
  ttlMs: number;
}

// KEYS: 1 user hash, 2 nodes set, 3 node's user set, 4 node heartbeat. ARGV: node, user, delta, ttl ms.
// Returns the user's socket count across all nodes after the change, or -1 for a
// disconnect this node has no socket counted for (nothing changes).
const CHANGE = `
if tonumber(ARGV[3]) < 0 and (tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') <= 0) then return -1 end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[3])
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[2])
else
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[2])
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[4])
end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
return total`;

// KEYS: 1 nodes set, 2 dead node's user set, 3 dead node's heartbeat. ARGV: dead node, user key prefix.
// Removes a dead node's sockets once (the caller that wins SREM does it); returns the
// users left with no socket anywhere.
const REAP = `
if redis.call('EXISTS', KEYS[3]) == 1 then return {} end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end
local gone = {}
for _, user in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[2] .. user
  redis.call('HDEL', key, ARGV[1])
  if redis.call('HLEN', key) == 0 then table.insert(gone, user) end
end
redis.call('DEL', KEYS[2])
return gone`;

/**
 * Who is online across every node, in Redis. Each node counts its sockets per user in a
 * hash (`<prefix>presence:u:<user>` → node → count) and keeps a heartbeat key that
 * expires after `ttlMs`. Every node sweeps now and then: a node whose heartbeat expired
 * (it crashed or lost Redis) has its counts removed — exactly once, by whichever node
 * gets there first — and the users left with no socket anywhere are reported through
 * `onGone`, so they go offline within about ttl + ttl/3 of the crash.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly nodeId: string;
  private readonly redis: Redis;
  private readonly timer: NodeJS.Timeout;
  private onGone: (userId: number) => void = () => {};
  /** This node's own counts, to restore them if Redis lost them (restart, or we were reaped). */
  private readonly local = new Map<number, number>();

  constructor(
    private readonly opts: RedisPresenceOptions,
    private readonly log: BusLogger,
  ) {
    this.nodeId = opts.nodeId ?? randomUUID();
    this.redis = new Redis(opts.url, {
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    });
    this.redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis presence connection error'));
    // Every (re)connect writes this node's counts back: Redis may have lost them, or they
    // changed while it was away.
    this.redis.on('ready', () => void this.restore());
    this.redis.defineCommand('natterPresenceChange', { numberOfKeys: 4, lua: CHANGE });
    this.redis.defineCommand('natterPresenceReap', { numberOfKeys: 3, lua: REAP });
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(opts.ttlMs / 3)));
    this.timer.unref();
  }

  /** Called with each user whose last socket was on a node that died. */
  setGoneHandler(handler: (userId: number) => void): void {
    this.onGone = handler;
  }

  isReady(): boolean {
    return this.redis.status === 'ready';
  }

  async connect(userId: number): Promise<boolean> {
    return (await this.change(userId, 1)) === 1;
  }

  async disconnect(userId: number): Promise<boolean> {
    return (await this.change(userId, -1)) === 0;
  }

  /** Sockets the user has open across all live nodes. */
  async count(userId: number): Promise<number> {
    const values = await this.redis.hvals(this.userKey(userId));
    return values.reduce((sum, v) => sum + Number(v), 0);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.redis.disconnect();
  }

  // One hash tag for all presence keys: the scripts touch several keys, which Redis
  // Cluster allows only within one slot.
  private key(...parts: string[]): string {
    return `${this.opts.prefix}{presence}:${parts.join(':')}`;
  }

  private userKey(userId: number | string): string {
    return this.key('u', String(userId));
  }

  private async change(userId: number, delta: 1 | -1): Promise<number> {
    const before = this.local.get(userId) ?? 0;
    const mine = before + delta;
    if (mine > 0) this.local.set(userId, mine);
    else this.local.delete(userId);
    if (!this.isReady()) return this.unreachable(delta, mine);
    const run = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<number>>).natterPresenceChange!;
    try {
      const total = await this.runChange(run, userId, delta);
      // Redis holds no socket of ours although we had one: it lost our counts (a restart
      // before restore() wrote them back). The socket was real, so the cluster's total
      // decides whether it was the user's last.
      if (total === -1 && before > 0) return this.count(userId);
      return total;
    } catch (err) {
      if (this.isReady()) throw err;
      return this.unreachable(delta, mine);
    }
  }

  /**
   * Redis is away (restore() writes the counts back when it returns). A connect answers
   * from this node's own count, so the socket is served: a wrong "first" costs nothing,
   * since an online user is not made online twice. A disconnect cannot know about the
   * other nodes, so it fails rather than take offline someone who is online elsewhere.
   */
  private unreachable(delta: 1 | -1, mine: number): number {
    if (delta === 1) return mine;
    throw new Error('presence store (redis) is not reachable');
  }

  private async runChange(run: (...args: unknown[]) => Promise<number>, userId: number, delta: 1 | -1): Promise<number> {
    return Number(
      await run.call(
        this.redis,
        this.userKey(userId),
        this.key('nodes'),
        this.key('nu', this.nodeId),
        this.key('hb', this.nodeId),
        this.nodeId,
        String(userId),
        String(delta),
        String(this.opts.ttlMs),
      ),
    );
  }

  /** Writes this node's counts back after Redis came back (it may have lost or reaped them). */
  private async restore(): Promise<void> {
    try {
      // Users whose last socket here closed while Redis was away still have our count there.
      const listed = await this.redis.smembers(this.key('nu', this.nodeId));
      const multi = this.redis.multi();
      for (const user of listed) {
        if (this.local.has(Number(user))) continue;
        multi.hdel(this.userKey(user), this.nodeId);
        multi.srem(this.key('nu', this.nodeId), user);
      }
      multi.set(this.key('hb', this.nodeId), '1', 'PX', this.opts.ttlMs);
      multi.sadd(this.key('nodes'), this.nodeId);
      for (const [userId, count] of this.local) {
        multi.hset(this.userKey(userId), this.nodeId, count);
        multi.sadd(this.key('nu', this.nodeId), String(userId));
      }
      await multi.exec();
      this.log.info({ users: this.local.size }, 'presence restored after reconnecting to redis');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'presence restore failed');
    }
  }

  /** Heartbeat for this node, then reap nodes whose heartbeat has expired. */
  private async tick(): Promise<void> {
    try {
      const alive = await this.redis.set(this.key('hb', this.nodeId), '1', 'PX', this.opts.ttlMs, 'XX');
      // No heartbeat to renew: we were away long enough to be reaped; put our counts back.
      if (alive === null) await this.restore();
      const nodes = await this.redis.smembers(this.key('nodes'));
      const reap = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<string[]>>).natterPresenceReap!;
      for (const node of nodes) {
        if (node === this.nodeId) continue;
        const gone = await reap.call(
          this.redis,
          this.key('nodes'),
          this.key('nu', node),
          this.key('hb', node),
          node,
          this.key('u', ''),
        );
        for (const user of gone) this.onGone(Number(user));
        if (gone.length > 0) this.log.info({ node, users: gone.length }, 'removed the sockets of a dead node');
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'presence heartbeat failed');
    }
  }
}
