/**
 * What time it is, for everything with a lifetime (access tokens, sessions). Injected at
 * the composition root, so tests move time forward instead of sleeping through it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
