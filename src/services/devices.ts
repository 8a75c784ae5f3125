import { systemClock, type Clock } from '../domain/clock.js';
import { endpointAllowed, MAX_DEVICES_PER_SESSION } from '../domain/devices.js';
import { AppError, notFound } from '../domain/errors.js';
import type { Device, RegisterDevice } from '../schemas/devices.js';
import { inTransaction, type Db } from '../store/database.js';
import {
  countOtherSessionDevices,
  deleteUserDevice,
  listLiveDevices,
  lockLiveSession,
  upsertDevice,
  type DeviceRow,
} from '../store/devices.repository.js';
import type { AccessClaims } from './tokens.js';

/**
 * Push devices: each belongs to the session that registered it (a session is a device),
 * and goes when that session ends (AccountsService deletes them with the revocation).
 */
export class DevicesService {
  constructor(
    private readonly db: Db,
    /** VAPID_PUBLIC_KEY, or undefined when Web Push is not configured. */
    private readonly webPushPublicKey: string | undefined,
    private readonly clock: Clock = systemClock,
    /** WEBPUSH_ENDPOINTS: the push services a subscription's endpoint may be on. */
    private readonly webPushEndpoints: readonly string[] = [],
  ) {}

  /**
   * Registers a device for the caller's session. An address (token or endpoint) already
   * registered — by this session, another of the user's, or another account's — is taken
   * over in one statement: same id, now this session's, `created` false. Throws
   * too_many_devices when the session already has MAX_DEVICES_PER_SESSION others, and
   * unauthorized when the session ended meanwhile, and validation_failed for a Web Push
   * endpoint on a push service WEBPUSH_ENDPOINTS does not list; either way nothing changes.
   */
  async register(claims: AccessClaims, body: RegisterDevice): Promise<{ device: Device; created: boolean }> {
    const token = body.platform === 'webpush' ? null : body.token;
    const subscription = body.platform === 'webpush' ? body.subscription : null;
    const address = body.platform === 'webpush' ? body.subscription.endpoint : body.token;
    if (subscription && !endpointAllowed(subscription.endpoint, this.webPushEndpoints)) {
      throw new AppError('validation_failed', 'subscription.endpoint is not on a push service this server sends to (WEBPUSH_ENDPOINTS)', {
        field: 'subscription.endpoint',
      });
    }
    const { row, created } = await inTransaction(this.db, async (trx) => {
      if (!(await lockLiveSession(trx, claims.sessionId, claims.userId, new Date(this.clock.now())))) {
        throw new AppError('unauthorized', 'Session has ended; log in again');
      }
      if ((await countOtherSessionDevices(trx, claims.sessionId, body.platform, address)) >= MAX_DEVICES_PER_SESSION) {
        throw new AppError(
          'too_many_devices',
          `A session may register at most ${MAX_DEVICES_PER_SESSION} devices; delete one first`,
        );
      }
      return upsertDevice(trx, {
        userId: claims.userId,
        sessionId: claims.sessionId,
        platform: body.platform,
        token,
        subscription: subscription && { endpoint: subscription.endpoint, keys: { p256dh: subscription.keys.p256dh, auth: subscription.keys.auth } },
        address,
        locale: body.locale ?? null,
        appVersion: body.app_version ?? null,
      });
    });
    return { device: toDevice(row, claims.sessionId), created };
  }

  /** The user's devices on live sessions (any of theirs), newest first. */
  async list(claims: AccessClaims): Promise<Device[]> {
    const rows = await listLiveDevices(this.db, claims.userId, new Date(this.clock.now()));
    return rows.map((row) => toDevice(row, claims.sessionId));
  }

  /** Removes one of the user's devices. Throws not_found for an unknown id or another user's. */
  async remove(claims: AccessClaims, id: number): Promise<void> {
    if (!(await deleteUserDevice(this.db, claims.userId, id))) throw notFound('Device');
  }

  /** The VAPID public key browsers subscribe with. Throws not_found when Web Push is not configured. */
  webPushKey(): string {
    if (this.webPushPublicKey === undefined) {
      throw new AppError('not_found', 'Web Push is not configured on this server (VAPID_PUBLIC_KEY is not set)');
    }
    return this.webPushPublicKey;
  }
}

/** Never the session id, never the Web Push keys. */
function toDevice(row: DeviceRow, callerSessionId: string): Device {
  return {
    id: row.id,
    platform: row.platform,
    token: row.token,
    subscription_endpoint: row.subscription?.endpoint ?? null,
    locale: row.locale,
    app_version: row.app_version,
    current: row.session_id === callerSessionId,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
