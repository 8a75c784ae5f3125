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

/** The participants' read and delivery pointers as one reader sees them (see statusView). */
export interface PointerSummary {
  /** The reader's own read pointer. */
  my_read_seq: number;
  /** Lowest read pointer among the others, counting private readers as 0; null: no others. */
  others_read_seq: number | null;
  others_delivered_seq: number | null;
}

/**
 * One page of a conversation's history, oldest first.
 * - neither bound: the latest `limit`;
 * - `beforeSeq`: the `limit` messages just before it (older pages);
 * - `afterSeq`: the `limit` messages just after it (newer pages);
 * - both: the oldest `limit` inside the open range.
 * The pointers needed for the page's statuses come in the same round trip: one
 * aggregate row over the participants, computed once and joined to every page row.
 * `hasMore` says whether more messages lie beyond the page in the paging direction.
 */
export async function listPage(
  db: Db,
  conversationId: number,
  readerId: number,
  opts: { limit: number; beforeSeq?: number; afterSeq?: number },
): Promise<{ rows: MessageRow[]; hasMore: boolean; pointers: PointerSummary | null }> {
  const newestFirst = opts.afterSeq === undefined;
  const pointers = db
    .selectFrom('conversation_participants as p')
    .innerJoin('users as u', 'u.id', 'p.user_id')
    .where('p.conversation_id', '=', conversationId)
    .select([
      sql<number>`coalesce(max(p.last_read_seq) filter (where p.user_id = ${readerId}), 0)`.as('my_read_seq'),
      sql<number | null>`min(case when u.share_read_receipts then p.last_read_seq else 0 end) filter (where p.user_id <> ${readerId})`.as(
        'others_read_seq',
      ),
      sql<number | null>`min(p.last_delivered_seq) filter (where p.user_id <> ${readerId})`.as('others_delivered_seq'),
    ])
    .as('v');
  let q = db
    .selectFrom('messages as m')
    .innerJoin(pointers, (join) => join.onTrue())
    .select(messageColumns)
    .select(['v.my_read_seq', 'v.others_read_seq', 'v.others_delivered_seq'])
    .where('m.conversation_id', '=', conversationId);
  if (opts.beforeSeq !== undefined) q = q.where('m.seq', '<', opts.beforeSeq);
  if (opts.afterSeq !== undefined) q = q.where('m.seq', '>', opts.afterSeq);
  const rows = await q
    .orderBy('m.seq', newestFirst ? 'desc' : 'asc')
    .limit(opts.limit + 1)
    .execute();
  const hasMore = rows.length > opts.limit;
  const page = rows.slice(0, opts.limit);
  if (newestFirst) page.reverse();
  const first = page[0];
  return {
    rows: page,
    hasMore,
    pointers: first
      ? { my_read_seq: first.my_read_seq, others_read_seq: first.others_read_seq, others_delivered_seq: first.others_delivered_seq }
      : null,
  };
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

/** A batch insert lost a race on (sender_id, client_id) with another writer; nothing was written. */
export class ClientIdRace extends Error {
  constructor() {
    super('client_id inserted concurrently by another writer');
  }
}

/**
 * Commits many messages in one transaction: one lookup of repeated client_ids, one
 * `last_seq` range update per conversation (rows locked in id order, so concurrent
 * batches on other nodes cannot deadlock), one multi-row INSERT. Results come back in
 * input order. Idempotent like insertMessage: an existing (sender, client_id), or one
 * repeated inside the batch, yields the stored or first message with `created: false`.
 * Throws ClientIdRace (nothing written) when another writer inserted one of the
 * client_ids meanwhile; any other error means nothing of the batch was committed.
 */
export async function insertBatch(db: Db, items: NewMessage[]): Promise<{ row: MessageRow; created: boolean }[]> {
  const keyOf = (m: NewMessage) => (m.clientId === null ? null : `${m.senderId}\u0000${m.clientId}`);
  const existing = new Map<string, MessageRow>();
  const keyed = items.filter((m) => m.clientId !== null);
  if (keyed.length > 0) {
    const { rows } = await sql<MessageRow>`
      select ${sql.join(messageColumns.map((c) => sql.ref(c)))}
        from messages m
        join unnest(${keyed.map((m) => m.senderId)}::bigint[], ${keyed.map((m) => m.clientId)}::text[]) as k(sender_id, client_id)
          on m.sender_id = k.sender_id and m.client_id = k.client_id`.execute(db);
    for (const r of rows) existing.set(`${r.sender_id}\u0000${r.client_id}`, r);
  }

  // The first occurrence of each new client_id is inserted; repeats point at it.
  const fresh: NewMessage[] = [];
  const firstIndex = new Map<string, number>();
  type Step = { kind: 'stored'; row: MessageRow } | { kind: 'repeat' | 'insert'; index: number };
  const plan = items.map((m): Step => {
    const key = keyOf(m);
    if (key !== null) {
      const stored = existing.get(key);
      if (stored) return { kind: 'stored', row: stored };
      const seen = firstIndex.get(key);
      if (seen !== undefined) return { kind: 'repeat', index: seen };
      firstIndex.set(key, fresh.length);
    }
    fresh.push(m);
    return { kind: 'insert', index: fresh.length - 1 };
  });

  let inserted: MessageRow[] = [];
  if (fresh.length > 0) {
    const counts = new Map<number, number>();
    for (const m of fresh) counts.set(m.conversationId, (counts.get(m.conversationId) ?? 0) + 1);
    const ids = [...counts.keys()].sort((a, b) => a - b);
    try {
      inserted = await db.transaction().execute(async (trx) => {
        // Row locks in id order, so concurrent batches (on any node) never deadlock.
        await sql`select id from conversations where id = any(${ids}::bigint[]) order by id for update`.execute(trx);
        const { rows: updated } = await sql<{ id: number; last_seq: number }>`
          update conversations c
             set last_seq = c.last_seq + v.n, last_message_at = now(), updated_at = now()
            from unnest(${ids}::bigint[], ${ids.map((id) => counts.get(id)!)}::bigint[]) as v(id, n)
           where c.id = v.id
          returning c.id, c.last_seq`.execute(trx);
        const next = new Map(updated.map((u) => [u.id, u.last_seq - counts.get(u.id)! + 1]));
        const seqs = fresh.map((m) => {
          const seq = next.get(m.conversationId);
          if (seq === undefined) throw new Error(`conversation ${m.conversationId} vanished`);
          next.set(m.conversationId, seq + 1);
          return seq;
        });
        // Columns as arrays: the statement's text is the same for every batch size, so it
        // is prepared once per connection (a multi-row VALUES list would be planned anew).
        const { rows: out } = await sql<MessageRow>`
          insert into messages (conversation_id, seq, sender_id, client_id, type, content, media_url, reply_to_id)
          select * from unnest(
            ${fresh.map((m) => m.conversationId)}::bigint[], ${seqs}::bigint[], ${fresh.map((m) => m.senderId)}::bigint[],
            ${fresh.map((m) => m.clientId)}::text[], ${fresh.map((m) => m.type)}::text[], ${fresh.map((m) => m.content)}::text[],
            ${fresh.map((m) => m.mediaUrl)}::text[], ${fresh.map((m) => m.replyToId)}::bigint[])
          returning ${sql.join(insertColumns.map((c) => sql.ref(c)))}`.execute(trx);
        const bySeq = new Map(out.map((r) => [`${r.conversation_id}:${r.seq}`, r]));
        return fresh.map((m, i) => bySeq.get(`${m.conversationId}:${seqs[i]}`)!);
      });
    } catch (err) {
      if (isClientIdConflict(err)) throw new ClientIdRace();
      throw err;
    }
  }

  return plan.map((p) =>
    p.kind === 'stored' ? { row: p.row, created: false } : { row: inserted[p.index]!, created: p.kind === 'insert' },
  );
}
