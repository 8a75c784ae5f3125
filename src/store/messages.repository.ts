import { sql, type Selectable } from 'kysely';
import type { Db } from './database.js';
import type { MessagesTable } from './schema.js';

export type MessageRow = Omit<Selectable<MessagesTable>, 'search'>;

const messageColumns = [
  'm.id',
  'm.conversation_id',
  'm.seq',
  'm.sender_id',
  'm.client_id',
  'm.type',
  'm.content',
  'm.media_url',
  'm.reply_to_id',
  'm.edited_at',
  'm.deleted_at',
  'm.created_at',
  'm.updated_at',
] as const;
const insertColumns = messageColumns.map((c) => c.slice(2) as StripAlias<typeof c>);
type StripAlias<T> = T extends `m.${infer C}` ? C : never;

export interface NewMessage {
  conversationId: number;
  senderId: number;
  clientId: string | null;
  type: MessageRow['type'];
  content: string;
  mediaUrl: string | null;
  replyToId: number | null;
}

/** Postgres' unique_violation on (sender_id, client_id). */
function isClientIdConflict(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string; message?: string };
  return e.code === '23505' && `${e.constraint ?? ''} ${e.message ?? ''}`.includes('client_id');
}

export async function findByClientId(db: Db, senderId: number, clientId: string): Promise<MessageRow | undefined> {
  return db
    .selectFrom('messages as m')
    .select(messageColumns)
    .where('m.sender_id', '=', senderId)
    .where('m.client_id', '=', clientId)
    .executeTakeFirst();
}

/**
 * Commits one message and returns it with its seq. The seq comes from incrementing the
 * conversation's last_seq in the same transaction: the row lock orders concurrent
 * senders, and a rolled-back insert rolls the increment back too, so seq has no gaps.
 *
 * Idempotent on (sender, client_id): when that pair exists already (also when a
 * concurrent call just won the race), returns the stored message and `created: false`.
 */
export async function insertMessage(db: Db, m: NewMessage): Promise<{ row: MessageRow; created: boolean }> {
  if (m.clientId !== null) {
    const existing = await findByClientId(db, m.senderId, m.clientId);
    if (existing) return { row: existing, created: false };
  }
  try {
    const row = await db.transaction().execute(async (trx) => {
      const { last_seq } = await trx
        .updateTable('conversations')
        .set({ last_seq: sql`last_seq + 1`, last_message_at: sql`now()`, updated_at: sql`now()` })
        .where('id', '=', m.conversationId)
        .returning('last_seq')
        .executeTakeFirstOrThrow();
      return trx
        .insertInto('messages')
        .values({
          conversation_id: m.conversationId,
          seq: last_seq,
          sender_id: m.senderId,
          client_id: m.clientId,
          type: m.type,
          content: m.content,
          media_url: m.mediaUrl,
          reply_to_id: m.replyToId,
        })
        .returning(insertColumns)
        .executeTakeFirstOrThrow();
    });
    return { row, created: true };
  } catch (err) {
    if (m.clientId !== null && isClientIdConflict(err)) {
      const existing = await findByClientId(db, m.senderId, m.clientId);
      if (existing) return { row: existing, created: false };
    }
    throw err;
  }
}

export async function findInConversation(db: Db, conversationId: number, messageId: number): Promise<MessageRow | undefined> {
  return db
    .selectFrom('messages as m')
    .select(messageColumns)
    .where('m.conversation_id', '=', conversationId)
    .where('m.id', '=', messageId)
    .executeTakeFirst();
}

/**
 * One page of a conversation's history, oldest first.
 * - neither bound: the latest `limit`;
 * - `beforeSeq`: the `limit` messages just before it (older pages);
 * - `afterSeq`: the `limit` messages just after it (newer pages);
 * - both: the oldest `limit` inside the open range.
 * `hasMore` says whether more messages lie beyond the page in the paging direction.
 */
export async function listPage(
  db: Db,
  conversationId: number,
  opts: { limit: number; beforeSeq?: number; afterSeq?: number },
): Promise<{ rows: MessageRow[]; hasMore: boolean }> {
  const newestFirst = opts.afterSeq === undefined;
  let q = db.selectFrom('messages as m').select(messageColumns).where('m.conversation_id', '=', conversationId);
  if (opts.beforeSeq !== undefined) q = q.where('m.seq', '<', opts.beforeSeq);
  if (opts.afterSeq !== undefined) q = q.where('m.seq', '>', opts.afterSeq);
  const rows = await q
    .orderBy('m.seq', newestFirst ? 'desc' : 'asc')
    .limit(opts.limit + 1)
    .execute();
  const hasMore = rows.length > opts.limit;
  const page = rows.slice(0, opts.limit);
  if (newestFirst) page.reverse();
  return { rows: page, hasMore };
}

/** The latest message of each conversation (by its last_seq). */
export async function latestOf(db: Db, conversations: { id: number; last_seq: number }[]): Promise<Map<number, MessageRow>> {
  const out = new Map<number, MessageRow>();
  const withMessages = conversations.filter((c) => c.last_seq > 0);
  if (withMessages.length === 0) return out;
  const rows = await db
    .selectFrom('messages as m')
    .select(messageColumns)
    .where((eb) =>
      eb.or(withMessages.map((c) => eb.and([eb('m.conversation_id', '=', c.id), eb('m.seq', '=', c.last_seq)]))),
    )
    .execute();
  for (const r of rows) out.set(r.conversation_id, r);
  return out;
}
