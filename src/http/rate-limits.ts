import type { RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AppError } from '../domain/errors.js';
import { bearerToken } from './auth.js';
import type { AppServer } from './server.js';

/** What a limited reply tells a client; browsers may read them only when CORS exposes them. */
export const RATE_LIMIT_HEADERS = ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];

/** Every REST limit counts requests in windows of this length. */
export const RATE_WINDOW = '1 minute';

/**
 * The options @fastify/rate-limit is registered with, shared by the auth routes' limit
 * and the REST limit below. With `redis` every node counts in the same keys (under
 * `<prefix>:ratelimit:`), so a budget is one for the whole cluster; without, each node
 * counts in memory. `skipOnError`: when Redis does not answer, requests are let through
 * uncounted rather than refused — a limit is protection, not a reason to go down.
 * A refusal is the one error body, `429 rate_limited`, with Retry-After.
 */
export function rateLimitOptions(redis: Redis | undefined, prefix: string): RateLimitPluginOptions {
  return {
    global: false,
    skipOnError: true,
    ...(redis ? { redis, nameSpace: `${prefix}:ratelimit:` } : {}),
    errorResponseBuilder: (_request, context) =>
      new AppError('rate_limited', `Too many requests; try again in ${context.after}`),
  };
}

/**
 * The Redis connection the limits count in: commands fail at once while it is down
 * (no offline queue, one retry, a short timeout), so a Redis outage costs a request
 * nothing but its count. Its errors are logged once per outage, not per reconnect attempt.
 */
export function rateLimitRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 2_000,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ err: err.message }, 'redis for rate limits is not reachable; requests are not counted until it is back');
  });
  redis.on('ready', () => {
    if (down) log.info('redis for rate limits is back');
    down = false;
  });
  return redis;
}

export interface RestLimits {
  /** Requests per minute per user, for requests with a valid access token (0 = no limit). */
  perUser: number;
  /** Requests per minute per client address, for requests without one (0 = no limit). */
  perIp: number;
  /** The user a bearer token was signed for (signature and expiry only, no database), or null. */
  tokenUser: (token: string) => Promise<number | null>;
  /** Told of every refusal, with the budget that ran out (metrics). */
  refused: (limit: 'user' | 'ip') => void;
}

/**
 * The REST limit, on every route registered in `api` after this call except the
 * WebSocket upgrade (frames have their own limit, WS_RATE_LIMIT) and routes that carry a
 * limit of their own (the credential routes, AUTH_RATE_LIMIT). Health, readiness, docs
 * and metrics live outside the API prefix and are never counted.
 *
 * It runs first, in onRequest, before the body is read or the session looked up: a
 * request whose bearer token verifies counts against its user's budget (one budget per
 * user, however many devices and addresses), any other against its client address
 * (behind a proxy, set TRUST_PROXY so that is the client's). Resumable uploads count one
 * request per tus request, as any other.
 */
export function installRestLimits(api: AppServer, limits: RestLimits): void {
  if (limits.perUser === 0 && limits.perIp === 0) return;
  const keyOf = async (request: FastifyRequest): Promise<string> => {
    const token = bearerToken(request);
    const userId = token ? await limits.tokenUser(token) : null;
    return userId === null ? `ip:${request.ip}` : `user:${userId}`;
  };
  const maxOf = (key: string) => (key.startsWith('user:') ? limits.perUser : limits.perIp);
  const hook = api.rateLimit({
    timeWindow: RATE_WINDOW,
    keyGenerator: keyOf,
    max: (_request, key) => maxOf(key),
    allowList: (_request, key) => maxOf(key) === 0,
    onExceeded: (_request, key) => limits.refused(key.startsWith('user:') ? 'user' : 'ip'),
  }) as onRequestAsyncHookHandler;
  api.addHook('onRoute', (route) => {
    if ((route as { websocket?: boolean }).websocket) return;
    const own = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit;
    if (own !== undefined && own !== false) return;
    const existing = route.onRequest;
    route.onRequest = existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])];
  });
}
