import { Redis } from 'ioredis';
import type { DeliveryLagObserver } from './bus.js';
import { RemoteBus, type BusLogger } from './remote.js';

export interface RedisBusOptions {
  url: string;
  /** Prepended to every channel name, so several deployments can share one Redis. */
  prefix: string;
  /** Sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7+): scales on Redis Cluster. */
  sharded: boolean;
  /** See RemoteBus: fanouts to this many channels or more go once per node; 0 turns it off. */
  fanoutMin?: number;
  /** See RemoteBus: the delivery lag of each timed event that arrives (metrics). */
  observeLag?: DeliveryLagObserver;
}

/**
 * The bus over Redis pub/sub. One connection publishes, one subscribes; a node
 * subscribes only to the channels of users it has sockets for. ioredis reconnects with
 * backoff; on every (re)connect this bus subscribes again to every channel it has
 * handlers for, including those first asked for while Redis was away. While Redis is
 * away, publishing drops events (counted, logged) instead of queueing them, subscribing
 * resolves at once (the subscription is made on reconnect), and `isReady()` is false.
 */
export class RedisBus extends RemoteBus {
  private readonly pub: Redis;
  private readonly sub: Redis;

  constructor(
    private readonly opts: RedisBusOptions,
    log: BusLogger,
  ) {
    super(log, opts.fanoutMin, opts.observeLag);
    const common = {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    };
    this.pub = new Redis(opts.url, { ...common, enableOfflineQueue: false });
    this.sub = new Redis(opts.url, { ...common, autoResubscribe: true });
    for (const [name, conn] of [
      ['publisher', this.pub],
      ['subscriber', this.sub],
    ] as const) {
      conn.on('error', (err: Error) => log.warn({ err: err.message, connection: name }, 'redis bus connection error'));
      conn.on('ready', () => log.info({ connection: name }, 'redis bus connected'));
    }
    this.sub.on('ready', () => void this.resubscribe());
    const onMessage = (channel: string, message: string) => this.dispatch(channel.slice(opts.prefix.length), message);
    this.sub.on(opts.sharded ? 'smessage' : 'message', onMessage);
  }

  isReady(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  /** Resolves once both connections are up (start-up waits for it, bounded). */
  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isReady() && Date.now() < deadline && !this.closed) await new Promise((r) => setTimeout(r, 20));
    return this.isReady();
  }

  protected async remotePublish(channel: string, payload: string): Promise<void> {
    const name = this.opts.prefix + channel;
    await (this.opts.sharded ? this.pub.spublish(name, payload) : this.pub.publish(name, payload));
  }

  /** A fanout in one pipelined write rather than one round trip per channel. */
  protected override async remotePublishMany(channels: string[], payload: string): Promise<void> {
    if (channels.length === 1) return this.remotePublish(channels[0]!, payload);
    const pipeline = this.pub.pipeline();
    for (const channel of channels) {
      const name = this.opts.prefix + channel;
      if (this.opts.sharded) pipeline.spublish(name, payload);
      else pipeline.publish(name, payload);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0] instanceof Error ? failed[0] : new Error(String(failed[0]));
  }

  protected async remoteSubscribe(channel: string): Promise<void> {
    // Not connected: a queued SUBSCRIBE would fail after a retry or two and never be
    // repeated (ioredis re-subscribes only to what succeeded). `resubscribe` covers it.
    if (this.sub.status !== 'ready') return;
    const name = this.opts.prefix + channel;
    try {
      await (this.opts.sharded ? this.sub.ssubscribe(name) : this.sub.subscribe(name));
    } catch (err) {
      // The connection dropped mid-command: the next 'ready' subscribes again.
      if (this.sub.status === 'ready') throw err;
      this.log.warn({ err: (err as Error).message, channel }, 'redis bus subscribe failed; retrying on reconnect');
    }
  }

  /** Subscribes to every channel with handlers (again: Redis ignores repeats). */
  private async resubscribe(): Promise<void> {
    const names = this.channels().map((c) => this.opts.prefix + c);
    if (names.length === 0 || this.closed) return;
    try {
      // Sharded channels live in different slots (nodes, on a cluster): one at a time.
      if (this.opts.sharded) for (const name of names) await this.sub.ssubscribe(name);
      else await this.sub.subscribe(...names);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, channels: names.length }, 'redis bus resubscribe failed');
    }
  }

  protected async remoteUnsubscribe(channel: string): Promise<void> {
    const name = this.opts.prefix + channel;
    await (this.opts.sharded ? this.sub.sunsubscribe(name) : this.sub.unsubscribe(name));
  }

  protected async shutdown(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
