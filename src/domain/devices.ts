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
