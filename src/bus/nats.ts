import { connect, Events, type NatsConnection, type Subscription } from 'nats';
import type { DeliveryLagObserver } from './bus.js';
import { RemoteBus, type BusLogger } from './remote.js';

export interface NatsBusOptions {
  url: string;
  /** Subject prefix (e.g. `natter`), so several deployments can share one NATS. */
  prefix: string;
  /** See RemoteBus: fanouts to this many channels or more go once per node; 0 turns it off. */
  fanoutMin?: number;
  /** See RemoteBus: the delivery lag of each timed event that arrives (metrics). */
  observeLag?: DeliveryLagObserver;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The bus over NATS core subjects (`<prefix>.user.<id>`); JetStream is not needed since
 * the database is the log. The client reconnects forever with backoff and restores its
 * subscriptions. While it is disconnected, publishing drops the event (counted, logged):
 * nats.js would accept it but discards its outbound buffer on every reconnect attempt,
 * so it would be lost anyway, silently.
 */
export class NatsBus extends RemoteBus {
  private readonly subs = new Map<string, Subscription>();
  private reconnecting = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly opts: NatsBusOptions,
    log: BusLogger,
  ) {
    super(log, opts.fanoutMin, opts.observeLag);
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === Events.Disconnect) this.reconnecting = true;
        if (status.type === Events.Reconnect) this.reconnecting = false;
        log.info({ type: status.type }, 'nats bus status');
      }
    })().catch(() => {});
  }

  static async connect(opts: NatsBusOptions, log: BusLogger): Promise<NatsBus> {
    const nc = await connect({
      servers: opts.url.split(',').map((u) => u.trim()),
      name: 'natter',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
    });
    return new NatsBus(nc, opts, log);
  }

  isReady(): boolean {
    return !this.nc.isClosed() && !this.reconnecting;
  }

  private subject(channel: string): string {
    return `${this.opts.prefix}.${channel.replace(/:/g, '.')}`;
  }

  protected async remotePublish(channel: string, payload: string): Promise<void> {
    if (!this.isReady()) throw new Error('nats is disconnected');
    this.nc.publish(this.subject(channel), encoder.encode(payload));
  }

  protected async remoteSubscribe(channel: string): Promise<void> {
    const sub = this.nc.subscribe(this.subject(channel), {
      callback: (err, msg) => {
        if (!err) this.dispatch(channel, decoder.decode(msg.data));
      },
    });
    this.subs.set(channel, sub);
    // A round trip makes sure the server has the subscription before we say so. While
    // disconnected there is no server to ask: the client sends the subscription when it
    // reconnects, and nothing is delivered to anyone meanwhile.
    if (!this.isReady()) return;
    await this.nc.flush().catch((err: unknown) => {
      if (this.isReady()) throw err;
    });
  }

  protected async remoteUnsubscribe(channel: string): Promise<void> {
    this.subs.get(channel)?.unsubscribe();
    this.subs.delete(channel);
  }

  protected async shutdown(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
