import { sql, type Selectable } from 'kysely';
import type { PushPlatform, WebPushSubscription } from '../domain/devices.js';
import type { Db, Trx } from './database.js';
import type { PushDevicesTable } from './schema.js';

/**
 * push_devices: one row per push address (an FCM or webhook token, or a Web Push
 * endpoint), unique per platform, owned by the session that registered it last.
 */

export type DeviceRow = Selectable<PushDevicesTable>;

export interface DeviceInput {
  userId: number;
  sessionId: string;
  platform: PushPlatform;
  token: string | null;
  subscription: WebPushSubscription | null;
  address: string;
  locale: string | null;
  appVersion: string | null;
}

/**
 * Locks the session's row for the rest of the transaction and tells whether it is live
 * at `at`. Registration and revocation both hold this lock, so a device is never added to
 * a session that a concurrent logout has just emptied, and the per-session count cannot be
 * overrun by registrations racing each other.
 */
export async function lockLiveSession(trx: Trx, sessionId: string, userId: number, at: Date): Promise<boolean> {
  const row = await trx
    .selectFrom('sessions')
    .select(['revoked_at', 'expires_at'])
    .where('id', '=', sessionId)
    .where('user_id', '=', userId)
    .forUpdate()
    .executeTakeFirst();
  return row !== undefined && row.revoked_at === null && row.expires_at > at;
}

/** How many devices the session has besides the one at (platform, address). */
export async function countOtherSessionDevices(trx: Trx, sessionId: string, platform: PushPlatform, address: string): Promise<number> {
  const row = await trx
    .selectFrom('push_devices')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('session_id', '=', sessionId)
    .where((eb) => eb.not(eb.and([eb('platform', '=', platform), eb('address', '=', address)])))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Inserts the device, or — when its (platform, address) is already registered, by this
 * session or any other — takes that row over in the same statement: it moves to this
 * session and user, and its token, subscription, locale and app version are replaced;
 * notifications still waiting for another user on it are dropped.
 * `created` is false for a takeover.
 */
export async function upsertDevice(db: Db, d: DeviceInput): Promise<{ row: DeviceRow; created: boolean }> {
  const row = await db
    .insertInto('push_devices')
    .values({
      user_id: d.userId,
      session_id: d.sessionId,
      platform: d.platform,
      token: d.token,
      subscription: d.subscription === null ? null : JSON.stringify(d.subscription),
      address: d.address,
      locale: d.locale,
      app_version: d.appVersion,
    })
    .onConflict((oc) =>
      oc.columns(['platform', 'address']).doUpdateSet((eb) => ({
        user_id: eb.ref('excluded.user_id'),
        session_id: eb.ref('excluded.session_id'),
        token: eb.ref('excluded.token'),
        subscription: eb.ref('excluded.subscription'),
        locale: eb.ref('excluded.locale'),
        app_version: eb.ref('excluded.app_version'),
        updated_at: sql<Date>`now()`,
      })),
    )
    .returningAll()
    // xmax is 0 only on a row this statement inserted (PostgreSQL's usual upsert tell).
    .returning(sql<boolean>`xmax = 0`.as('created'))
    .executeTakeFirstOrThrow();
  const { created, ...device } = row;
  // Taken over by another account: what was waiting for the previous one must not reach it.
  if (!created) await db.deleteFrom('push_outbox').where('device_id', '=', device.id).where('user_id', '<>', d.userId).execute();
  return { row: device, created };
}

/** The user's devices on sessions live at `at`, newest first. */
export async function listLiveDevices(db: Db, userId: number, at: Date): Promise<DeviceRow[]> {
  return db
    .selectFrom('push_devices as d')
    .innerJoin('sessions as s', 's.id', 'd.session_id')
    .selectAll('d')
    .where('d.user_id', '=', userId)
    .where('s.revoked_at', 'is', null)
    .where('s.expires_at', '>', at)
    .orderBy('d.created_at', 'desc')
    .orderBy('d.id', 'desc')
    .execute();
}

/** Deletes the device if it is the user's; false when it is not (or does not exist). */
export async function deleteUserDevice(db: Db, userId: number, id: number): Promise<boolean> {
  const result = await db.deleteFrom('push_devices').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Deletes every device of the session (it was revoked). */
export async function deleteSessionDevices(db: Db, sessionId: string): Promise<void> {
  await db.deleteFrom('push_devices').where('session_id', '=', sessionId).execute();
}
