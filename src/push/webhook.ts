import { createHmac, timingSafeEqual } from 'node:crypto';
import { describeReply, Requests, retryable, retryResult } from './http.js';
import type { PushNotification, PushProvider, PushTarget, SendResult } from './provider.js';

export interface WebhookOptions {
  /** Where every webhook device's notifications are POSTed. */
  url: string;
  /** Shared with the receiver; signs each request. */
  secret: string;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Clock for Natter-Timestamp, in ms; default Date.now. */
  now?: () => number;
}

/** How far a receiver lets a Natter-Timestamp be from its clock, by default. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * A signed HTTP POST to one operator-run URL (a bridge to APNs, a pager, an SMS gateway),
 * for devices registered with platform `webhook`; the device's token tells the receiver
 * whom it is for.
 *
 * Body (JSON): `{device_id, token, notification: {title, body, badge, count, collapse_key,
 * data}}`; a call's ring adds `kind: "call"` and `ttl_seconds` (what is left of the ring
 * window) beside them. Headers: `Natter-Timestamp: <unix seconds>` and
 * `Natter-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. A receiver checks both with
 * verifyWebhookSignature, which also refuses replays older than 5 minutes.
 *
 * Results: 2xx → sent; 410 → gone; 429 and 5xx (and no reply) → retry, with Retry-After;
 * any other status, a redirect included, → failed.
 */
export class WebhookProvider implements PushProvider {
  readonly platform = 'webhook' as const;
  private readonly requests: Requests;
  private readonly now: () => number;

  constructor(private readonly options: WebhookOptions) {
    this.requests = new Requests(options.timeoutMs ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  async send(target: PushTarget, n: PushNotification): Promise<SendResult> {
    if (target.platform !== 'webhook') {
      return { kind: 'failed', reason: `device ${target.deviceId} is not a webhook device` };
    }
    const body = JSON.stringify({
      device_id: target.deviceId,
      token: target.token,
      // Only a ring says so at the top: a gateway can pick VoIP delivery and the expiry from it.
      ...(n.ring ? { kind: 'call', ttl_seconds: n.ring.ttlSeconds } : {}),
      notification: { title: n.title, body: n.body, badge: n.badge, count: n.count, collapse_key: n.collapseKey, data: n.data },
    });
    const timestamp = String(Math.floor(this.now() / 1000));
    const reply = await this.requests.post(
      this.options.url,
      {
        'content-type': 'application/json',
        'natter-timestamp': timestamp,
        'natter-signature': `v1=${sign(this.options.secret, timestamp, body)}`,
      },
      body,
    );
    if (!reply.ok) return reply.result;
    const { status, text } = reply;
    if (status >= 200 && status <= 299) return { kind: 'sent' };
    if (status === 410) return { kind: 'gone' };
    if (retryable(status)) return retryResult(status, reply.headers, text, this.now());
    return { kind: 'failed', reason: describeReply(status, text) };
  }

  async close(): Promise<void> {
    await this.requests.close();
  }
}

function sign(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/**
 * For receivers: true when signatureHeader holds a `v1=` signature (of possibly several,
 * comma-separated, as during a secret rotation) that matches HMAC-SHA256(secret,
 * "<timestamp>.<rawBody>"), and timestamp (unix seconds, digits only) is within
 * toleranceSec of nowMs either way. rawBody must be the bytes as received: re-serialised
 * JSON will not match. Compares in constant time.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string,
  rawBody: string | Buffer,
  signatureHeader: string,
  nowMs: number,
  toleranceSec = WEBHOOK_TOLERANCE_SECONDS,
): boolean {
  if (!/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSec) return false;
  const expected = Buffer.from(sign(secret, timestamp, rawBody), 'hex');
  let match = false;
  for (const part of signatureHeader.split(',')) {
    const [scheme, value] = part.trim().split('=', 2);
    if (scheme !== 'v1' || value === undefined || !/^[0-9a-f]{64}$/i.test(value)) continue;
    // Not short-circuited, so the time taken does not tell which entry matched.
    if (timingSafeEqual(Buffer.from(value, 'hex'), expected)) match = true;
  }
  return match;
}
