import { createHash } from 'node:crypto';
import { Agent } from 'undici';
import { parseRetryAfter, type SendResult } from './provider.js';

/** The reply headers a provider reads (Retry-After), whatever client fetched them. */
export interface ReplyHeaders {
  get(name: string): string | null;
}

/** What one POST came to: a response (any status), or why there was none. */
export type HttpOutcome =
  | { ok: true; status: number; headers: ReplyHeaders; text: string }
  | { ok: false; result: SendResult & { kind: 'retry' } };

/** Longest part of a peer's reply kept in a SendResult reason. */
const REASON_BODY_CHARS = 300;

/**
 * The request plumbing the providers share: keep-alive connections per origin, a timeout
 * per request, and close() that aborts whatever is in flight and waits for it to settle,
 * so no send outlives its provider.
 *
 * undici's own `Agent.request` rather than the global fetch: a fan-out is thousands of
 * small POSTs to one origin, and fetch's WHATWG Request, streams and composite abort
 * signals were most of a push's CPU (bench/README.md, "Where the fan-out's time goes").
 */
export class Requests {
  // undici's keep-alive defaults (4 s idle, or the peer's Keep-Alive hint): a peer or proxy
  // that drops idle sockets sooner than we would keep them makes the next POST fail on a
  // dead socket, and a POST is not resent by itself.
  private readonly agent = new Agent();
  private readonly inFlight = new Map<Promise<unknown>, AbortController>();
  private closing = false;

  constructor(private readonly timeoutMs: number) {}

  get closed(): boolean {
    return this.closing;
  }

  /**
   * POSTs once and reads the whole reply within timeoutMs. Never rejects: no response
   * (refused, reset, DNS, timeout, closed) is a `retry`. Redirects are not followed: a
   * push endpoint that redirects is misconfigured, and a followed POST could become a GET.
   */
  post(url: string, headers: Record<string, string>, body: string | Uint8Array): Promise<HttpOutcome> {
    if (this.closing) return Promise.resolve({ ok: false, result: closedResult() });
    const abort = new AbortController();
    const run = this.request(url, headers, body, abort);
    this.inFlight.set(run, abort);
    void run.finally(() => this.inFlight.delete(run));
    return run;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const abort of this.inFlight.values()) abort.abort();
    await Promise.allSettled([...this.inFlight.keys()]);
    await this.agent.close();
  }

  private async request(url: string, headers: Record<string, string>, body: string | Uint8Array, abort: AbortController): Promise<HttpOutcome> {
    let timedOut = false;
    // One timer covers the reply's headers and its whole body, so a peer that stalls mid-reply times out too.
    const timer = setTimeout(() => ((timedOut = true), abort.abort()), this.timeoutMs);
    try {
      const target = new URL(url);
      const reply = await this.agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        headers,
        body,
        signal: abort.signal,
      });
      const text = await reply.body.text();
      return { ok: true, status: reply.statusCode, headers: replyHeaders(reply.headers), text };
    } catch (err) {
      if (timedOut) return { ok: false, result: { kind: 'retry', reason: `no reply within ${this.timeoutMs} ms` } };
      if (this.closing) return { ok: false, result: closedResult() };
      return { ok: false, result: { kind: 'retry', reason: `network error: ${describeNetworkError(err)}` } };
    } finally {
      clearTimeout(timer);
    }
  }
}

function replyHeaders(raw: Record<string, string | string[] | undefined>): ReplyHeaders {
  return {
    get: (name) => {
      const value = raw[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

function closedResult(): SendResult & { kind: 'retry' } {
  return { kind: 'retry', reason: 'provider closed' };
}

/** The useful part of a failed connection (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET...), which undici may keep in `cause`. */
function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const own = (err as { code?: unknown }).code;
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (typeof own === 'string') return own;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err.message;
}

/** `HTTP 400: <start of the reply>`, for reasons a person reads in logs. */
export function describeReply(status: number, text: string): string {
  const snippet = text.length > REASON_BODY_CHARS ? `${text.slice(0, REASON_BODY_CHARS)}…` : text;
  return snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status}`;
}

/** 429 and every 5xx are worth another try later, at the peer's Retry-After if it gave one. */
export function retryable(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

export function retryResult(status: number, headers: ReplyHeaders, text: string, now: number): SendResult {
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'), now);
  const reason = describeReply(status, text);
  return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', retryAfterMs, reason };
}

/**
 * key itself when it is already 1..max base64url characters; otherwise a fixed-length
 * base64url digest of it. Deterministic, so one conversation always gets one topic, and
 * two different keys do not collide the way character replacement would ("a:b", "a.b").
 */
export function safeCollapseKey(key: string, max: number): string {
  if (key.length > 0 && key.length <= max && /^[A-Za-z0-9_-]+$/.test(key)) return key;
  return createHash('sha256').update(key).digest('base64url').slice(0, max);
}
