import type { Bus, BusEvent, DeliveryLagObserver } from './bus.js';

/**
 * Bus events on the wire: one marker character, then the frame text (`f`), or the
 * message position and the frame (`m<conversation>,<seq>,<sent at>;<frame>`), or a change
 * position and the frame (`x<conversation>,<mod_seq>,<sent at>;<frame>`), or a session id
 * (`r`), or the id of a changed user (`u`) or conversation (`c`).
 *
 * `<sent at>` is the publishing node's clock (ms since the epoch) when it published, for
 * the delivery-lag metric. It rides in the position list because nodes of earlier
 * versions read the first two numbers of that list and ignore the rest, so both
 * versions understand each other's events during a rolling upgrade; an event from an
 * earlier node has no third number and is delivered all the same, just not timed.
 * Other kinds carry no time (no field an earlier node would skip), so only messages and
 * message changes are timed.
 *
 * A frame for some of a user's devices (call signalling) is `d+<device>;<frame>` (that
 * device only) or `d-<device>,<device>…;<frame>` (all but those). Nodes of earlier versions drop it
 * as an unknown kind, which is right: they serve no calls.
 */
export function encodeEvent(event: BusEvent, sentAt?: number): string {
  if (event.kind === 'session_revoked') return `r${event.sessionId}`;
  if (event.kind === 'user_changed') return `u${event.userId}`;
  if (event.kind === 'conversation_changed') return `c${event.conversationId}`;
  const d = event.device;
  if (d) return 'only' in d ? `d+${d.only};${event.frame}` : `d-${d.except.join(',')};${event.frame}`;
  const at = sentAt === undefined ? '' : `,${sentAt}`;
  const p = event.position;
  if (p) return `m${p.conversation_id},${p.seq}${at};${event.frame}`;
  const c = event.change;
  return c ? `x${c.conversation_id},${c.mod_seq}${at};${event.frame}` : `f${event.frame}`;
}

/** An event off the wire, and when it was published (ms, the publisher's clock) if it says. */
export interface Envelope {
  event: BusEvent;
  sentAt?: number;
}

export function decodeEnvelope(payload: string): Envelope | undefined {
  switch (payload[0]) {
    case 'f':
      return { event: { kind: 'frame', frame: payload.slice(1) } };
    case 'm':
    case 'x': {
      const end = payload.indexOf(';');
      const [conversation, n, sentAt] = payload.slice(1, end).split(',').map(Number);
      if (end < 0 || !Number.isSafeInteger(conversation) || !Number.isSafeInteger(n)) return undefined;
      const frame = payload.slice(end + 1);
      const event: BusEvent =
        payload[0] === 'm'
          ? { kind: 'frame', frame, position: { conversation_id: conversation!, seq: n! } }
          : { kind: 'frame', frame, change: { conversation_id: conversation!, mod_seq: n! } };
      // A time that is not a positive integer (a later version's field?) is no time.
      return Number.isSafeInteger(sentAt) && sentAt! > 0 ? { event, sentAt: sentAt! } : { event };
    }
    case 'd': {
      const end = payload.indexOf(';');
      const sign = payload[1];
      if (end < 2 || (sign !== '+' && sign !== '-')) return undefined;
      const devices = payload.slice(2, end);
      const frame = payload.slice(end + 1);
      if (sign === '+') return devices === '' ? undefined : { event: { kind: 'frame', frame, device: { only: devices } } };
      return { event: { kind: 'frame', frame, device: { except: devices === '' ? [] : devices.split(',') } } };
    }
    case 'r':
      return { event: { kind: 'session_revoked', sessionId: payload.slice(1) } };
    case 'u':
    case 'c': {
      const id = Number(payload.slice(1));
      if (!Number.isSafeInteger(id) || id <= 0) return undefined;
      return { event: payload[0] === 'u' ? { kind: 'user_changed', userId: id } : { kind: 'conversation_changed', conversationId: id } };
    }
    default:
      return undefined;
  }
}

export function decodeEvent(payload: string): BusEvent | undefined {
  return decodeEnvelope(payload)?.event;
}

/**
 * Every node of a deployment listens on this channel. A fanout to at least `FANOUT_MIN`
 * channels is sent there once — the channel list and the event — instead of once per
 * channel, and each node hands the event to its own handlers of the listed channels.
 * A message to a group of 500 was 499 copies of the frame through Redis; now it is one
 * copy per node. Both paths leave through the same publisher connection and arrive
 * through the same subscriber connection, so events keep their publish order.
 */
export const FANOUT_CHANNEL = 'fanout';
export const FANOUT_MIN = 16;
/** Channels per fanout message, so one stays far below NATS's 1 MB message limit. */
export const FANOUT_CHUNK = 1000;

/** `F<channel>,<channel>,…\n<event>`; channel names hold neither ',' nor a newline. */
export function encodeFanout(channels: string[], event: BusEvent, sentAt?: number): string {
  return `F${channels.join(',')}\n${encodeEvent(event, sentAt)}`;
}

export function decodeFanout(payload: string): ({ channels: string[] } & Envelope) | undefined {
  const end = payload.indexOf('\n');
  if (payload[0] !== 'F' || end < 0) return undefined;
  const envelope = decodeEnvelope(payload.slice(end + 1));
  return envelope && { channels: payload.slice(1, end).split(','), ...envelope };
}

export interface BusLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * What the Redis and NATS buses share: local handlers per channel, one remote
 * subscription per channel while any local handler wants it, and publishing that never
 * throws (the bus is at most once; a lost event is repaired by sync, and a send that has
 * committed must not fail because the bus is down).
 */
export abstract class RemoteBus implements Bus {
  private readonly handlers = new Map<string, Set<(event: BusEvent) => void>>();
  /** Remote (un)subscriptions per channel, chained so they apply in order. */
  private readonly pending = new Map<string, Promise<void>>();
  protected closed = false;
  /** Events that could not be published (bus unreachable); exposed for metrics. */
  dropped = 0;
  /** Events handed to the remote bus, one per channel (a fanout counts its channels). */
  published = 0;

  /**
   * `fanoutMin` 0: every event goes to its channels one by one (e.g. while old nodes run).
   * `observeLag` is told, for each timed event that arrives (see encodeEvent), the
   * seconds since it was published: by this node's clock against the publisher's, so
   * across nodes it includes their clock skew; a negative difference counts as 0.
   */
  constructor(
    protected readonly log: BusLogger,
    private readonly fanoutMin = FANOUT_MIN,
    private readonly observeLag?: DeliveryLagObserver,
  ) {}

  abstract isReady(): boolean;
  protected abstract remotePublish(channel: string, payload: string): Promise<void>;
  /** One payload on many channels; a bus that can batch the writes overrides this. */
  protected remotePublishMany(channels: string[], payload: string): Promise<unknown> {
    return Promise.all(channels.map((channel) => this.remotePublish(channel, payload)));
  }
  protected abstract remoteSubscribe(channel: string): Promise<void>;
  protected abstract remoteUnsubscribe(channel: string): Promise<void>;
  protected abstract shutdown(): Promise<void>;

  async publish(channel: string, event: BusEvent): Promise<void> {
    if (this.closed) return;
    try {
      await this.remotePublish(channel, encodeEvent(event, Date.now()));
      this.published++;
    } catch (err) {
      this.dropped++;
      this.log.warn({ err, channel }, 'bus publish failed; clients will catch up by seq');
    }
  }

  async publishMany(channels: string[], event: BusEvent): Promise<void> {
    if (this.closed || channels.length === 0) return;
    try {
      const sentAt = Date.now();
      if (this.fanoutMin > 0 && channels.length >= this.fanoutMin) {
        const chunks = [];
        for (let i = 0; i < channels.length; i += FANOUT_CHUNK) {
          chunks.push(encodeFanout(channels.slice(i, i + FANOUT_CHUNK), event, sentAt));
        }
        await Promise.all(chunks.map((payload) => this.remotePublish(FANOUT_CHANNEL, payload)));
      } else await this.remotePublishMany(channels, encodeEvent(event, sentAt));
      this.published += channels.length;
    } catch (err) {
      this.dropped += channels.length;
      this.log.warn({ err, channels: channels.length }, 'bus publish failed; clients will catch up by seq');
    }
  }

  async subscribe(channel: string, handler: (event: BusEvent) => void): Promise<() => Promise<void>> {
    // Listening for fanouts starts with the first subscription and never stops: a node
    // that serves a user must hear the fanouts that name them.
    if (!this.handlers.has(FANOUT_CHANNEL)) {
      this.handlers.set(FANOUT_CHANNEL, new Set());
      await this.chain(FANOUT_CHANNEL, () => this.remoteSubscribe(FANOUT_CHANNEL));
    } else await this.pending.get(FANOUT_CHANNEL);
    let set = this.handlers.get(channel);
    const first = !set;
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
    if (first) await this.chain(channel, () => this.remoteSubscribe(channel));
    else await this.pending.get(channel);
    return async () => {
      const current = this.handlers.get(channel);
      if (!current?.delete(handler) || current.size > 0) return;
      this.handlers.delete(channel);
      if (!this.closed) await this.chain(channel, () => this.remoteUnsubscribe(channel)).catch(() => {});
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    await this.shutdown();
  }

  /** Channels that have at least one local handler (what should be subscribed remotely). */
  protected channels(): string[] {
    return [...this.handlers.keys()];
  }

  /** Called by the implementation for each message that arrives on `channel`. */
  protected dispatch(channel: string, payload: string): void {
    if (this.closed) return;
    if (channel === FANOUT_CHANNEL) {
      const fanout = decodeFanout(payload);
      if (!fanout) return;
      this.timed(fanout.sentAt);
      for (const target of fanout.channels) {
        const set = target === FANOUT_CHANNEL ? undefined : this.handlers.get(target);
        if (set) for (const handler of [...set]) handler(fanout.event);
      }
      return;
    }
    const set = this.handlers.get(channel);
    if (!set) return;
    const envelope = decodeEnvelope(payload);
    if (!envelope) return;
    this.timed(envelope.sentAt);
    for (const handler of [...set]) handler(envelope.event);
  }

  private timed(sentAt: number | undefined): void {
    if (sentAt !== undefined && this.observeLag) this.observeLag(Math.max(0, Date.now() - sentAt) / 1000);
  }

  private chain(channel: string, op: () => Promise<void>): Promise<void> {
    const next = (this.pending.get(channel) ?? Promise.resolve()).then(op, op);
    const tracked = next.catch(() => {});
    this.pending.set(channel, tracked);
    void tracked.finally(() => {
      if (this.pending.get(channel) === tracked) this.pending.delete(channel);
    });
    return next;
  }
}
