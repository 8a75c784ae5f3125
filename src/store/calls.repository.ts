import { sql } from 'kysely';
import type { CallInfo } from '../domain/calls.js';
import type { Db } from './database.js';

/**
 * For a message `m`: it is not a call record nobody has to look at — a call that glare
 * cancelled (nobody missed it), or one the callee answered (they were there). Unread
 * counts and push badges leave those out; missed, declined and busy calls count.
 */
export const notSeenCall = sql<boolean>`not (m.type = 'call' and (m.call->>'outcome' = 'cancelled' or m.call->>'answered_at' is not null))`;

/** Whether some call's record already has this call_id (one call per id, for ever). */
export async function callIdRecorded(db: Db, callId: string): Promise<boolean> {
  const row = await db
    .selectFrom('messages as m')
    .select('m.id')
    .where('m.type', '=', 'call')
    .where(sql<string>`m.call->>'call_id'`, '=', callId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Postgres' unique_violation on a call record's call_id (migrations/000010). */
export function isCallIdConflict(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string; message?: string } | null | undefined;
  return e?.code === '23505' && `${e.constraint ?? ''} ${e.message ?? ''}`.includes('messages_call_id_idx');
}

export interface OpenCallRecord {
  id: number;
  conversation_id: number;
  call: CallInfo;
  created_at: Date;
}

/**
 * Call records whose outcome still says the call lasts (ringing, connecting, active),
 * written more than `olderThanMs` ago by the database's clock, oldest first, after
 * `after` (the last record of the page before).
 */
export async function openCallRecords(
  db: Db,
  olderThanMs: number,
  limit: number,
  after?: Pick<OpenCallRecord, 'created_at' | 'id'>,
): Promise<OpenCallRecord[]> {
  let q = db
    .selectFrom('messages as m')
    .select(['m.id', 'm.conversation_id', 'm.call', 'm.created_at'])
    .where('m.type', '=', 'call')
    .where(sql<string>`m.call->>'outcome'`, 'in', ['ringing', 'connecting', 'active'])
    .where('m.created_at', '<', sql<Date>`now() - ${olderThanMs}::double precision * interval '1 millisecond'`);
  if (after) q = q.where(sql<boolean>`(m.created_at, m.id) > (${after.created_at}, ${after.id})`);
  const rows = await q.orderBy('m.created_at').orderBy('m.id').limit(limit).execute();
  return rows.flatMap((r) => (r.call === null ? [] : [{ id: r.id, conversation_id: r.conversation_id, call: r.call, created_at: r.created_at }]));
}
