import webpush from 'web-push';
import { describeReply, Requests, retryable, retryResult, safeCollapseKey } from './http.js';
import type { PushNotification, PushProvider, PushTarget, SendResult } from './provider.js';

export interface WebPushOptions {
  /** Base64url keys as `web-push generate-vapid-keys` prints them; subject is mailto: or https:. */
  vapid: { publicKey: string; privateKey: string; subject: string };
  /** How long the push service keeps an undelivered message. */
  ttlSeconds: number;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

/**
 * Push services accept at most 4096 bytes of encrypted body (RFC 8030 §7.2). aes128gcm
 * adds 86 bytes of header (salt, record size, the 65-byte sender key), a padding
 * delimiter and a 16-byte tag, so this is the most plaintext one record carries.
 */
export const WEBPUSH_MAX_PLAINTEXT = 4096 - 86 - 1 - 16;
/** RFC 8030 §5.4: a Topic is at most 32 base64url characters. */
const TOPIC_MAX = 32;

/**
 * Web Push (RFC 8030) to a browser's PushSubscription, with VAPID (RFC 8292) and aes128gcm
 * payload encryption (RFC 8291) done by the web-push library; the request itself is sent
 * here, so http:// endpoints work too (web-push's sender speaks https only).
 *
 * The payload is JSON `{title, body, badge, count, data, collapse_key}` for the service
 * worker. When it would exceed WEBPUSH_MAX_PLAINTEXT bytes the body, then the title, is cut
 * (ending in "…"); if data alone is too big the send is `failed`. Urgency is high; TTL is
 * ttlSeconds, or for a call's ring what is left of its ring window; the Topic
 * header is the collapse key (a digest of it when it is not 1-32 base64url characters), so
 * the push service keeps only the newest undelivered message of a conversation.
 *
 * Results: 200/201/202 → sent; 404/410 → gone; 429 and 5xx (and no reply) → retry, with
 * Retry-After; any other status, or a subscription web-push cannot encrypt to → failed.
 */
export class WebPushProvider implements PushProvider {
  readonly platform = 'webpush' as const;
  private readonly requests: Requests;

  constructor(private readonly options: WebPushOptions) {
    this.requests = new Requests(options.timeoutMs ?? 10_000);
  }

  async send(target: PushTarget, n: PushNotification): Promise<SendResult> {
    const subscription = target.subscription;
    if (target.platform !== 'webpush' || !subscription) {
      return { kind: 'failed', reason: `device ${target.deviceId} is not a Web Push device with a subscription` };
    }
    const payload = fitPayload(n);
    if (payload === undefined) {
      return { kind: 'failed', reason: `notification data alone exceeds ${WEBPUSH_MAX_PLAINTEXT} bytes` };
    }
    let details: webpush.RequestDetails;
    try {
      details = webpush.generateRequestDetails(subscription, payload, {
        vapidDetails: this.options.vapid,
        // A ring is worth delivering only while the call still rings.
        TTL: n.ring?.ttlSeconds ?? this.options.ttlSeconds,
        topic: safeCollapseKey(n.collapseKey, TOPIC_MAX),
        urgency: 'high',
        contentEncoding: 'aes128gcm',
      });
    } catch (err) {
      // A malformed subscription (bad key lengths) or VAPID settings: no request can help.
      return { kind: 'failed', reason: `web-push: ${(err as Error).message}` };
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) {
      // The HTTP client computes Content-Length itself and refuses a mismatch; web-push sets numbers.
      if (name.toLowerCase() !== 'content-length' && value !== undefined) headers[name] = String(value);
    }
    const reply = await this.requests.post(details.endpoint, headers, details.body ?? new Uint8Array());
    if (!reply.ok) return reply.result;
    const { status, text } = reply;
    if (status === 200 || status === 201 || status === 202) return { kind: 'sent' };
    if (status === 404 || status === 410) return { kind: 'gone' };
    if (retryable(status)) return retryResult(status, reply.headers, text, Date.now());
    return { kind: 'failed', reason: describeReply(status, text) };
  }

  async close(): Promise<void> {
    await this.requests.close();
  }
}

/** The payload JSON within WEBPUSH_MAX_PLAINTEXT bytes, or undefined when it cannot fit. */
function fitPayload(n: PushNotification): string | undefined {
  let title = n.title;
  let body = n.body;
  const encode = () =>
    JSON.stringify({ title, body, badge: n.badge, count: n.count, data: n.data, collapse_key: n.collapseKey });
  const fits = () => Buffer.byteLength(encode()) <= WEBPUSH_MAX_PLAINTEXT;
  // Body first: a cut message still reads as the message; a cut title much less so.
  for (const field of ['body', 'title'] as const) {
    const original = field === 'body' ? n.body : n.title;
    if (fits()) break;
    if (original === null) continue;
    // Code points, so no emoji is split; the longest prefix that fits, by bisection, as
    // escapes and multi-byte characters make bytes per code point vary.
    const chars = Array.from(original);
    const set = (keep: number) => {
      const cut = keep === 0 ? '' : `${chars.slice(0, keep).join('')}…`;
      if (field === 'body') body = cut;
      else title = cut;
    };
    let lo = 0;
    let hi = chars.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      set(mid);
      if (fits()) lo = mid;
      else hi = mid - 1;
    }
    set(lo);
  }
  return fits() ? encode() : undefined;
}
