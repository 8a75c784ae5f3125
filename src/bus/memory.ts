import type { Bus, BusEvent } from './bus.js';

/**
 * The one-node bus: subscribers in this process. Events are delivered on a later
 * microtask, in publish order, never inside the publisher's call stack. A handler that
 * unsubscribed, or a bus that closed, before that microtask runs gets nothing.
 */
export class MemoryBus implements Bus {
  private readonly channels = new Map<string, Set<(event: BusEvent) => void>>();
  private closed = false;
  /** Events published, one per channel (with or without a subscriber). */
  published = 0;
  /** Nothing is ever dropped in one process. */
  readonly dropped = 0;

  publish(channel: string, event: BusEvent): Promise<void> {
    return this.publishMany([channel], event);
  }

  async publishMany(channels: string[], event: BusEvent): Promise<void> {
    if (this.closed) return;
    this.published += channels.length;
    // Who is subscribed is taken now; whether they still are, at delivery.
    const targets: [Set<(event: BusEvent) => void>, ((event: BusEvent) => void)[]][] = [];
    for (const channel of channels) {
      const handlers = this.channels.get(channel);
      if (handlers && handlers.size > 0) targets.push([handlers, [...handlers]]);
    }
    if (targets.length === 0) return;
    queueMicrotask(() => {
      // Checked at delivery, not at publish: unsubscribe and close are final.
      if (this.closed) return;
      for (const [handlers, snapshot] of targets) for (const handler of snapshot) if (handlers.has(handler)) handler(event);
    });
  }

  async subscribe(channel: string, handler: (event: BusEvent) => void): Promise<() => Promise<void>> {
    let handlers = this.channels.get(channel);
    if (!handlers) this.channels.set(channel, (handlers = new Set()));
    handlers.add(handler);
    return async () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.channels.get(channel) === handlers) this.channels.delete(channel);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
  }
}
