import { sql } from 'kysely';
import type { Db } from './database.js';

/**
 * The database server's version string and its clock, for `natter doctor`. `localAtMs` is
 * this machine's clock halfway through the round trip, the moment `now` best compares to.
 */
export async function serverInfo(db: Db): Promise<{ version: string; now: Date; localAtMs: number; roundTripMs: number }> {
  const sent = Date.now();
  const { rows } = await sql<{ version: string; now: Date | string }>`select version() as version, now() as now`.execute(db);
  const received = Date.now();
  const row = rows[0]!;
  return {
    version: row.version,
    now: row.now instanceof Date ? row.now : new Date(row.now),
    localAtMs: (sent + received) / 2,
    roundTripMs: received - sent,
  };
}
