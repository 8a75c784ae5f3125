import type { PushPlatform, WebPushSubscription } from '../domain/devices.js';

/**
 * Push senders: one provider per platform (FCM, Web Push, a signed webhook), each turning
 * one decided notification into one HTTP request to the platform and its answer into a
 * SendResult. They keep no queue and retry nothing themselves (except FCM's one resend
 * after a stale access token): the outbox worker owns retries, backoff and removal of gone
 * devices. Delivery is at most once per send() call; a `retry` result may still have been
 * delivered (a timeout after the peer accepted it), so a retried push can arrive twice and
 * the collapse key is what makes the device show it once.
 *
 * Providers take explicit options (no environment reads); tests run each against a real
 * loopback peer (test/harness/push-peers.ts).
 */

/** One notification for one device, already decided (preview applied, badge counted). */
export interface PushNotification {
  conversationId: number;
  /** Same for every notification of one conversation: a newer one replaces the older on the device. */
  collapseKey: string;
  /** null when the preview setting hides it */
  title: string | null;
  body: string | null;
  /** The user's total unread count. */
  badge: number;
  /** Messages this notification stands for (collapsed). */
  count: number;
  /** Flat string map delivered to the app (conversation_id, seq, message_id, kind ...). */
  data: Record<string, string>;
  /**
   * Set for an incoming call's ring (data kind "call"), unset for messages: the platform
   * keeps it at most ttlSeconds (1 or more) for a device it cannot reach now — the rest of
   * the ring window, as a later ring is of no use — and delivers it at its highest
   * priority, as a call rather than a message notification.
   */
  ring?: { ttlSeconds: number };
}

export interface PushTarget {
  deviceId: number;
  platform: PushPlatform; // 'fcm' | 'webpush' | 'webhook'
  token: string | null; // fcm and webhook
  subscription: WebPushSubscription | null; // webpush: {endpoint, keys:{p256dh, auth}}
}

export type SendResult =
  | { kind: 'sent' }
  | { kind: 'gone' } // provider says the token/subscription no longer exists: remove the device
  | { kind: 'retry'; retryAfterMs?: number; reason: string } // 429, 5xx, timeout, network error; retryAfterMs from Retry-After (seconds or HTTP date)
  | { kind: 'failed'; reason: string }; // permanent refusal that is not "gone" (e.g. 400 bad payload): give up this job, keep the device

export interface PushProvider {
  readonly platform: PushPlatform;
  /**
   * Sends n to target once. Never throws for provider or network errors, nor for a target
   * of the wrong platform or without its token/subscription (that is `failed`): every
   * outcome is a SendResult. Safe to call concurrently.
   */
  send(target: PushTarget, n: PushNotification): Promise<SendResult>;
  /**
   * Aborts sends in flight (they resolve `retry`, reason "provider closed") and resolves
   * once they have. A send after close resolves `retry` at once without a request.
   */
  close(): Promise<void>;
}

/**
 * The wait a Retry-After header asks for, in ms from now: delay-seconds (`7` → 7000) or an
 * HTTP date (a past one → 0). undefined when absent or unparseable, so the caller's own
 * backoff applies.
 */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Only the date forms HTTP allows start with a letter; Date.parse alone would take "12".
  if (!/^[A-Za-z]/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
