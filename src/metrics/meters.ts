import type { CallEndReason } from '../domain/calls.js';

/**
 * What the transports report to metrics, as plain interfaces: src/http and src/realtime
 * call these on their hot paths and never see prom-client. The implementations
 * (src/metrics/metrics.ts) keep one pre-made child per label value, so a call is a map
 * lookup and an increment.
 */

/** The WebSocket gateway's events. */
export interface RealtimeMeter {
  opened(): void;
  /** A socket closed, with the close code it ended with (1006: no close frame). */
  closed(code: number): void;
  /** The server closed a socket as a slow consumer (4008). */
  slowConsumer(): void;
  /** A client frame of this type was read (`invalid`: refused before its type was known). */
  frameIn(type: string): void;
  /** A serialised server frame (JSON text, `{"type":"…"` first) was handed to the socket. */
  frameOut(frame: string | Buffer): void;
}

/** An HTTP reply: the route's template (never the raw URL), method, status, seconds. */
export type HttpObserver = (route: string, method: string, status: number, seconds: number) => void;

/** The REST limits: per user (RATE_LIMIT_USER), per address (RATE_LIMIT_IP), the credential routes' (AUTH_RATE_LIMIT). */
export const RATE_LIMITS = ['user', 'ip', 'auth'] as const;
export type RateLimitName = (typeof RATE_LIMITS)[number];
/** A request was refused (429) by this limit. */
export type RateLimitObserver = (limit: RateLimitName) => void;

export const NO_REALTIME_METER: RealtimeMeter = {
  opened: () => {},
  closed: () => {},
  slowConsumer: () => {},
  frameIn: () => {},
  frameOut: () => {},
};

/** Calls placed and ended (CallsService). */
export interface CallMeter {
  started(): void;
  ended(reason: CallEndReason): void;
}

export const NO_CALL_METER: CallMeter = { started: () => {}, ended: () => {} };
