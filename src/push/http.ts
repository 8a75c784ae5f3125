import { createHash } from 'node:crypto';
import { parseRetryAfter, type SendResult } from './provider.js';

/** What one POST came to: a response (any status), or why there was none. */
export type HttpOutcome =
  | { ok: true; status: number; headers: Headers; text: string }
  | { ok: false; result: SendResult & { kind: 'retry' } };

/** Longest part of a peer's reply kept in a SendResult reason. */
const REASON_BODY_CHARS = 300;

/**
 * The request plumbing the providers share: a timeout per request, and close() that aborts
 * whatever is in flight and waits for it to settle, so no send outlives its provider.
 */
export class Requests {
  private readonly closing = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly timeoutMs: number) {}

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /**
   * POSTs once and reads the whole reply within timeoutMs. Never rejects: no response
   * (refused, reset, DNS, timeout, closed) is a `retry`. Redirects are not followed: a
   * push endpoint that redirects is misconfigured, and a followed POST could become a GET.
   */
  post(url: string, headers: Record<string, string>, body: string | Uint8Array): Promise<HttpOutcome> {
    if (this.closed) return Promise.resolve({ ok: false, result: closedResult() });
    const run = this.request(url, headers, body);
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
    return run;
  }

  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private async request(url: string, headers: Record<string, string>, body: string | Uint8Array): Promise<HttpOutcome> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([timeout, this.closing.signal]),
      });
      // The body is read under the same signal, so a peer that stalls mid-reply times out too.
      const text = await response.text();
      return { ok: true, status: response.status, headers: response.headers, text };
    } catch (err) {
      if (this.closing.signal.aborted) return { ok: false, result: closedResult() };
      if (timeout.aborted) return { ok: false, result: { kind: 'retry', reason: `no reply within ${this.timeoutMs} ms` } };
      return { ok: false, result: { kind: 'retry', reason: `network error: ${describeFetchError(err)}` } };
    }
  }
}

function closedResult(): SendResult & { kind: 'retry' } {
  return { kind: 'retry', reason: 'provider closed' };
}

/** undici hides the useful part (ECONNREFUSED, ENOTFOUND...) in `cause`. */
function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
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

export function retryResult(status: number, headers: Headers, text: string, now: number): SendResult {
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
