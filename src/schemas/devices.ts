import { Type, type Static } from 'typebox';
import { MAX_DEVICES_PER_SESSION, PUSH_PLATFORMS } from '../domain/devices.js';
import { nullable, OrNull, stringEnum, Timestamp } from './common.js';

/** Push devices on the wire: `POST /devices` bodies and the device object. */

/** An FCM registration token or a webhook token: 1–4096 characters, no whitespace. */
const PushToken = Type.String({
  minLength: 1,
  maxLength: 4096,
  pattern: '^\\S+$',
  description: 'The registration token (1–4096 characters, no whitespace).',
});

const base64url = (min: number, max: number, description: string) =>
  Type.String({ pattern: `^[A-Za-z0-9_-]{${min},${max}}$`, description });

/** What the browser's `PushSubscription.toJSON()` gives, less `expirationTime`. */
const WebPushSubscriptionBody = Type.Object(
  {
    endpoint: Type.String({
      maxLength: 2048,
      format: 'uri',
      pattern: '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#]\\S*)?$',
      description: 'The push service URL (at most 2048 characters), on a push service WEBPUSH_ENDPOINTS lists.',
    }),
    keys: Type.Object(
      {
        p256dh: base64url(80, 100, 'The subscription\'s P-256 public key, base64url.'),
        auth: base64url(16, 32, 'The subscription\'s auth secret, base64url.'),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** BCP 47-like: `en`, `pt-BR`, `zh-Hant-TW`. */
const Locale = Type.String({
  maxLength: 35,
  pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$',
  description: 'The device\'s language, BCP 47 (`en`, `pt-BR`), for the notification texts.',
});
/** No control characters. */
const AppVersion = Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\p{C}]+$', description: 'The app\'s version (1–64 characters).' });

const optional = { locale: Type.Optional(OrNull(Locale)), app_version: Type.Optional(OrNull(AppVersion)) };

const TokenDeviceBody = (platform: 'fcm' | 'webhook', title: string) =>
  Type.Object({ platform: Type.Literal(platform), token: PushToken, ...optional }, { title, additionalProperties: false });

export const FcmDeviceBody = TokenDeviceBody('fcm', 'FCM device');
export const WebhookDeviceBody = TokenDeviceBody('webhook', 'Webhook device');
export const WebPushDeviceBody = Type.Object(
  { platform: Type.Literal('webpush'), subscription: WebPushSubscriptionBody, ...optional },
  { title: 'Web Push device', additionalProperties: false },
);

/**
 * `POST /devices`: told apart by `platform`, so a bad body is reported against its own
 * platform's fields; each closes its object, so a token with webpush (or a subscription
 * with fcm) is refused rather than ignored.
 */
export const RegisterDeviceBody = Type.Unsafe<Static<ReturnType<typeof TokenDeviceBody>> | Static<typeof WebPushDeviceBody>>({
  type: 'object',
  oneOf: [FcmDeviceBody, WebPushDeviceBody, WebhookDeviceBody],
  discriminator: { propertyName: 'platform' },
  description: `At most ${MAX_DEVICES_PER_SESSION} devices per session.`,
});
export type RegisterDevice = Static<typeof RegisterDeviceBody>;

export const DeviceSchema = Type.Object(
  {
    id: Type.Integer(),
    platform: stringEnum(PUSH_PLATFORMS),
    token: nullable<string>(Type.String({ description: 'fcm and webhook: the token; webpush: null.' })),
    subscription_endpoint: nullable<string>(Type.String({ description: 'webpush: the endpoint; otherwise null.' })),
    locale: nullable<string>(Type.String()),
    app_version: nullable<string>(Type.String()),
    current: Type.Boolean({ description: 'Registered by the session making this request.' }),
    created_at: Timestamp(),
    updated_at: Timestamp(),
  },
  { title: 'Device' },
);
export type Device = Static<typeof DeviceSchema>;
