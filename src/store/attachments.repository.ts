import { sql, type Insertable, type Selectable } from 'kysely';
import type { StoredAttachment } from '../domain/attachments.js';
import { inTransaction, type Db } from './database.js';
import type { AttachmentsTable } from './schema.js';

export type AttachmentRow = Selectable<AttachmentsTable>;
export type NewAttachment = Omit<Insertable<AttachmentsTable>, 'id' | 'message_id' | 'position' | 'created_at'>;

/** What a message and the wire show of a row (the storage keys stay here). */
export function storedAttachment(r: AttachmentRow): StoredAttachment {
  return {
    id: r.id,
    conversation_id: r.conversation_id,
    uploader_id: r.uploader_id,
    kind: r.kind,
    mime_type: r.mime_type,
    size: r.size,
    name: r.name,
    width: r.width,
    height: r.height,
    duration_ms: r.duration_ms,
    has_thumbnail: r.thumbnail_key !== null,
    created_at: r.created_at.toISOString(),
  };
}

export async function insertAttachment(db: Db, a: NewAttachment): Promise<AttachmentRow> {
  return db.insertInto('attachments').values(a).returningAll().executeTakeFirstOrThrow();
}

export async function deleteAttachment(db: Db, id: number): Promise<void> {
  await db.deleteFrom('attachments').where('id', '=', id).execute();
}

export async function findAttachment(db: Db, id: number): Promise<AttachmentRow | undefined> {
  return db.selectFrom('attachments').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findByUploadId(db: Db, uploadId: string): Promise<AttachmentRow | undefined> {
  return db.selectFrom('attachments').selectAll().where('upload_id', '=', uploadId).executeTakeFirst();
}

/** These attachments, in no particular order (missing ids are simply absent). */
export async function findAttachments(db: Db, ids: number[]): Promise<AttachmentRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('attachments').selectAll().where('id', 'in', ids).execute();
}

/**
 * Whether `userId` may read this attachment's bytes: a member of its conversation who is
 * either its uploader or sees it on a message (an unsent upload is its uploader's alone).
 */
export async function canRead(db: Db, userId: number, a: AttachmentRow): Promise<boolean> {
  if (a.message_id === null && a.uploader_id !== userId) return false;
  const row = await db
    .selectFrom('conversation_participants as p')
    .select(['p.visible_from_seq'])
    .select((eb) => eb.selectFrom('messages as m').select('m.seq').where('m.id', '=', a.message_id).as('seq'))
    .where('p.conversation_id', '=', a.conversation_id)
    .where('p.user_id', '=', userId)
    .executeTakeFirst();
  // A sent attachment is the reader's only if its message is: after where their view of
  // the conversation begins (a member who joined a group hiding its history).
  return row !== undefined && (a.message_id === null || (row.seq !== null && Number(row.seq) > Number(row.visible_from_seq)));
}

// Arbitrary but fixed: identifies the orphan sweep among advisory locks.
const SWEEP_LOCK_KEY = 7_261_033_246;

/**
 * One round of the orphan sweep, run by one node at a time: under a transaction-scoped
 * advisory lock (another node holding it means this round is skipped), deletes up to
 * `limit` attachments created more than `olderThanSeconds` ago (by the database's clock,
 * which every node shares) and never sent, and returns their storage keys for the caller
 * to delete the blobs once this has committed. Rows first: a send racing the sweep either
 * claimed its attachment before (the row is no orphan then) or finds it gone, so no
 * message is ever stored with an attachment whose bytes are missing; a crash between the
 * commit and the blob deletes leaves unreferenced blobs, never a broken message.
 * Null: another node is sweeping.
 */
export async function sweepOrphans(db: Db, olderThanSeconds: number, limit: number): Promise<string[] | null> {
  return inTransaction(db, async (trx) => {
    const { rows: lock } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${SWEEP_LOCK_KEY}) as locked`.execute(trx);
    if (!lock[0]?.locked) return null;
    const { rows } = await sql<{ storage_key: string; thumbnail_key: string | null }>`
      delete from attachments
       where id in (select id from attachments
                     where message_id is null and created_at < now() - make_interval(secs => ${olderThanSeconds})
                     order by created_at limit ${limit}
                     for update skip locked)
      returning storage_key, thumbnail_key`.execute(trx);
    return rows.flatMap((o) => (o.thumbnail_key ? [o.storage_key, o.thumbnail_key] : [o.storage_key]));
  });
}
