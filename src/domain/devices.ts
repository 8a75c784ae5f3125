/** Push devices: what a session registers to be reached while it has no open socket. */

export const PUSH_PLATFORMS = ['fcm', 'webpush', 'webhook'] as const;
export type PushPlatform = (typeof PUSH_PLATFORMS)[number];

/** A Web Push subscription as the browser's PushManager hands it out (the fields natter keeps). */
export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** Most devices one session may register; more is refused (too_many_devices). */
export const MAX_DEVICES_PER_SESSION = 20;

/**
 * The push services browsers subscribe with (Chrome and Edge's FCM, Firefox's autopush,
 * Safari's, Windows'): a Web Push endpoint must be one of these, so that a client cannot
 * have natter POST to any address it likes (an internal service, say).
 */
export const DEFAULT_WEBPUSH_ENDPOINTS = [
  'https://fcm.googleapis.com',
  'https://*.push.services.mozilla.com',
  'https://*.push.apple.com',
  'https://*.notify.windows.com',
];

/**
 * Whether `endpoint` is on a push service `patterns` allow. A pattern is an origin whose
 * host may begin with `*.` (any subdomain) and whose port may be `*`; the scheme must match.
 */
export function endpointAllowed(endpoint: string, patterns: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  return patterns.some((pattern) => {
    const m = /^(https?):\/\/(\*\.)?([^:/]+)(?::(\d+|\*))?$/.exec(pattern);
    if (!m || url.protocol !== `${m[1]}:`) return false;
    const host = url.hostname.toLowerCase();
    const want = m[3]!.toLowerCase();
    if (m[2] ? !host.endsWith(`.${want}`) : host !== want) return false;
    return m[4] === '*' || url.port === (m[4] ?? '');
  });
}
