import { sql } from 'kysely';
import type { CallInfo } from '../domain/calls.js';
import type { Db } from './database.js';

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

/** Postgres' unique_violation on a call record's call_id (migrations/000009). */
export function isCallIdConflict(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string; message?: string };
  return e.code === '23505' && `${e.constraint ?? ''} ${e.message ?? ''}`.includes('messages_call_id_idx');
}

export interface OpenCallRecord {
  id: number;
  conversation_id: number;
  call: CallInfo;
}

/**
 * Call records whose outcome still says the call lasts (ringing, connecting, active),
 * written before `before`, oldest first.
 */
export async function openCallRecords(db: Db, before: Date, limit: number): Promise<OpenCallRecord[]> {
  const rows = await db
    .selectFrom('messages as m')
    .select(['m.id', 'm.conversation_id', 'm.call'])
    .where('m.type', '=', 'call')
    .where(sql<string>`m.call->>'outcome'`, 'in', ['ringing', 'connecting', 'active'])
    .where('m.created_at', '<', before)
    .orderBy('m.created_at')
    .limit(limit)
    .execute();
  return rows.flatMap((r) => (r.call === null ? [] : [{ id: r.id, conversation_id: r.conversation_id, call: r.call }]));
}
