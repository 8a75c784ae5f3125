/**
 * Publish/subscribe between the services and every node's gateway.
 *
 * Guarantee: at most once, in publish order per channel and publisher. The bus carries
 * hints; the database is the log. A subscriber that misses an event (a dropped message,
 * a node restart) recovers through history and `seq`, never through the bus.
 *
 * Channels are per user (`user:<id>`), so a node subscribes only for the users it serves,
 * plus one channel all nodes share for cache invalidation (CACHE_CHANNEL).
 */
export interface Bus {
  publish(channel: string, event: BusEvent): Promise<void>;
  /**
   * The same event on each channel, as one operation: encoded once, one microtask (memory)
   * or one pipelined write (Redis) for a whole fanout. Same guarantees as `publish`.
   */
  publishMany(channels: string[], event: BusEvent): Promise<void>;
  /** Handler runs for every event published on `channel` after the returned promise resolves. */
  subscribe(channel: string, handler: (event: BusEvent) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  /** False while a remote bus is disconnected (then /ready answers 503). */
  isReady?(): boolean;
  /** Events published (one per channel) and those that could not be, since start (metrics). */
  readonly published: number;
  readonly dropped: number;
}

/** What travels on a user's channel. Frames are serialised once, before publishing. */
export type BusEvent =
  /** A ready-made server frame (JSON text) for every socket of the user. */
  | {
      kind: 'frame';
      frame: string;
      /** For a `new_message` frame: where the message sits, so receivers need not parse it. */
      position?: MessagePosition;
      /** For a `message_updated` or `reaction` frame: the change's place, so receivers need not parse it. */
      change?: ChangePosition;
      /** Only the user's sockets of this device (or, `except`, all others): call signalling. */
      device?: DeviceTarget;
    }
  /** The session ended (logout, revocation): close that session's sockets. */
  | { kind: 'session_revoked'; sessionId: string }
  /** On the cache channel: a user's profile changed; drop cached copies. */
  | { kind: 'user_changed'; userId: number }
  /** On the cache channel: a conversation's members changed; drop cached copies. */
  | { kind: 'conversation_changed'; conversationId: number };

/**
 * Told the seconds from an event's publish (on any node, by that node's clock) to its
 * arrival here through a remote bus, for the events that carry their publish time.
 */
export type DeliveryLagObserver = (seconds: number) => void;

/** Which of a user's devices a frame is for: `only` that one, or all `except` these. */
export type DeviceTarget = { only: string } | { except: readonly string[] };

export const userChannel = (userId: number) => `user:${userId}`;
/**
 * Every node listens here for changes that invalidate its per-node cache (see NodeCache).
 * The name on the wire stays `directory`, as nodes of earlier versions listen for it.
 */
export const CACHE_CHANNEL = 'directory';

/** A change's place in the log: its conversation and mod_seq. */
export interface ChangePosition {
  conversation_id: number;
  mod_seq: number;
}

/** A message's place in the log: its conversation and seq. */
export interface MessagePosition {
  conversation_id: number;
  seq: number;
}
