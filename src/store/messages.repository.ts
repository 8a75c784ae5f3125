import { sql, type Selectable } from 'kysely';
import type { StoredAttachment } from '../domain/attachments.js';
import type { CallInfo } from '../domain/calls.js';
import type { SystemEvent } from '../domain/system-messages.js';
import { AppError } from '../domain/errors.js';
import type { Db, Trx } from './database.js';
import { pointersOf, viewColumns, type ViewRow } from './message-views.js';
import type { MessagesTable } from './schema.js';

export type MessageRow = Omit<Selectable<MessagesTable>, 'search'>;

/** Every column of a message row, for queries that read messages as `m`. */
export const messageColumns = [
  'm.id',
  'm.conversation_id',
  'm.seq',
  'm.mod_seq',
  'm.sender_id',
  'm.client_id',
  'm.type',
  'm.content',
  'm.media_url',
  'm.reply_to_id',
  'm.edited_at',
  'm.deleted_at',
  'm.attachments',
  'm.system',
  'm.call',
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
  /**
   * The attachments to claim, in order, as read when the send was checked: stored with
   * the message if the claim succeeds (it is still unsent, by this sender, here).
   */
  attachments: StoredAttachment[];
  /** What a system message tells (type `system` only). */
  system?: SystemEvent;
  /** A call's record (type `call` only). */
  call?: CallInfo;
  /**
   * The roster version the sender was checked against (membership, posting rights);
   * when the committed one differs the writer checks again (see MessageWriter).
   */
  rosterVersion?: number;
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

/** The message, if it is in the conversation; `lock`: locked (FOR UPDATE) for the rest of the transaction `db` is. */
export async function findInConversation(
  db: Db | Trx,
  conversationId: number,
  messageId: number,
  opts: { lock?: boolean } = {},
): Promise<MessageRow | undefined> {
  const q = db
    .selectFrom('messages as m')
    .select(messageColumns)
    .where('m.conversation_id', '=', conversationId)
    .where('m.id', '=', messageId);
  return (opts.lock ? q.forUpdate() : q).executeTakeFirst();
}

/**
 * The messages of a conversation as `viewerId` sees them (ViewRow): every message column,
 * the viewer's view columns, only the messages after their visible_from_seq (a member who
 * joined a group that hides its history sees from their joining on; a non-member none).
 * A query to narrow, order and page.
 */
export function viewedMessages(db: Db | Trx, conversationId: number, viewerId: number) {
  return db
    .selectFrom('messages as m')
    .innerJoin(pointersOf(conversationId, viewerId), (join) => join.onTrue())
    .select(messageColumns)
    .select(viewColumns(viewerId))
    .where('m.conversation_id', '=', conversationId)
    .where(sql<boolean>`m.seq > v.my_visible_from_seq`);
}

/**
 * One page of a conversation's history, oldest first.
 * - neither bound: the latest `limit`;
 * - `beforeSeq`: the `limit` messages just before it (older pages);
 * - `afterSeq`: the `limit` messages just after it (newer pages);
 * - both: the oldest `limit` inside the open range.
 * What the reader sees of each message besides (see ViewRow) comes in the same round
 * trip: the conversation's pointer summary is computed once and joined to every row.
 * `hasMore` says whether more messages lie beyond the page in the paging direction.
 */
export async function listPage(
  db: Db,
  conversationId: number,
  readerId: number,
  opts: { limit: number; beforeSeq?: number; afterSeq?: number },
): Promise<{ rows: ViewRow[]; hasMore: boolean }> {
  const newestFirst = opts.afterSeq === undefined;
  let q = viewedMessages(db, conversationId, readerId);
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

/**
 * Whether the message is in the conversation and `viewerId` sees it (a member whose view
 * begins before it): what viewedMessages decides, in one indexed lookup, for callers that
 * need only the yes or no.
 */
export async function isVisibleTo(db: Db | Trx, viewerId: number, conversationId: number, messageId: number): Promise<boolean> {
  const row = await db
    .selectFrom('messages as m')
    .innerJoin('conversation_participants as p', (join) =>
      join.onRef('p.conversation_id', '=', 'm.conversation_id').on('p.user_id', '=', viewerId),
    )
    .select('m.id')
    .where('m.conversation_id', '=', conversationId)
    .where('m.id', '=', messageId)
    .whereRef('m.seq', '>', 'p.visible_from_seq')
    .executeTakeFirst();
  return row !== undefined;
}

/** One message of the conversation as `viewerId` sees it (see viewedMessages), hidden or not. */
export async function findViewed(db: Db | Trx, viewerId: number, conversationId: number, messageId: number): Promise<ViewRow | undefined> {
  return viewedMessages(db, conversationId, viewerId).where('m.id', '=', messageId).executeTakeFirst();
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

/** An insert lost a race on (sender_id, client_id) with another writer; the transaction is spoilt. */
export class ClientIdRace extends Error {
  constructor() {
    super('client_id inserted concurrently by another writer');
  }
}

/** Stored messages for these (sender, client_id) pairs, in no particular order. */
export async function findByClientIds(db: Db, keys: { senderId: number; clientId: string }[]): Promise<MessageRow[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql<MessageRow>`
    select ${sql.join(messageColumns.map((c) => sql.ref(c)))}
      from messages m
      join unnest(${keys.map((k) => k.senderId)}::bigint[], ${keys.map((k) => k.clientId)}::text[]) as k(sender_id, client_id)
        on m.sender_id = k.sender_id and m.client_id = k.client_id`.execute(db);
  return rows;
}

/**
 * Takes the next `n` seqs (and as many mod_seqs: a new message is a change) of each
 * conversation: locks the rows in id order (so concurrent batches, on any node, never
 * deadlock) and advances last_seq, last_mod_seq and the activity time. Returns each
 * conversation's first new seq and mod_seq, and its roster version. Must run in the transaction that inserts the
 * messages, so a rollback returns them and seq stays gapless.
 */
export async function takeSeqs(
  trx: Trx,
  counts: Map<number, number>,
): Promise<Map<number, { seq: number; modSeq: number; rosterVersion: number }>> {
  const ids = [...counts.keys()].sort((a, b) => a - b);
  await sql`select id from conversations where id = any(${ids}::bigint[]) order by id for update`.execute(trx);
  const { rows } = await sql<{ id: number; last_seq: number; last_mod_seq: number; roster_version: number }>`
    update conversations c
       set last_seq = c.last_seq + v.n, last_mod_seq = c.last_mod_seq + v.n, last_message_at = now(), updated_at = now()
      from unnest(${ids}::bigint[], ${ids.map((id) => counts.get(id)!)}::bigint[]) as v(id, n)
     where c.id = v.id
    returning c.id, c.last_seq, c.last_mod_seq, c.roster_version`.execute(trx);
  return new Map(
    rows.map((r) => {
      const n = counts.get(r.id)!;
      return [r.id, { seq: r.last_seq - n + 1, modSeq: r.last_mod_seq - n + 1, rosterVersion: Number(r.roster_version) }];
    }),
  );
}

/**
 * Inserts messages with the seqs `takeSeqs` handed out; returns the rows in input order.
 * Throws ClientIdRace when another writer stored one of the (sender, client_id) pairs
 * meanwhile (the transaction must then be rolled back).
 */
export async function insertMessages(trx: Trx, items: (NewMessage & { seq: number; modSeq: number })[]): Promise<MessageRow[]> {
  try {
    // Columns as arrays: the statement's text is the same for every batch size, so it is
    // prepared once per connection (a multi-row VALUES list would be planned anew).
    const { rows } = await sql<MessageRow>`
      insert into messages (conversation_id, seq, mod_seq, sender_id, client_id, type, content, media_url, reply_to_id, attachments, system, call)
      select * from unnest(
        ${items.map((m) => m.conversationId)}::bigint[], ${items.map((m) => m.seq)}::bigint[], ${items.map((m) => m.modSeq)}::bigint[],
        ${items.map((m) => m.senderId)}::bigint[], ${items.map((m) => m.clientId)}::text[],
        ${items.map((m) => m.type)}::text[], ${items.map((m) => m.content)}::text[],
        ${items.map((m) => m.mediaUrl)}::text[], ${items.map((m) => m.replyToId)}::bigint[],
        ${items.map((m) => (m.attachments.length > 0 ? JSON.stringify(m.attachments) : null))}::jsonb[],
        ${items.map((m) => (m.system ? JSON.stringify(m.system) : null))}::jsonb[],
        ${items.map((m) => (m.call ? JSON.stringify(m.call) : null))}::jsonb[])
      returning ${sql.join(insertColumns.map((c) => sql.ref(c)))}`.execute(trx);
    const bySeq = new Map(rows.map((r) => [`${r.conversation_id}:${r.seq}`, r]));
    const out = items.map((m) => bySeq.get(`${m.conversationId}:${m.seq}`)!);
    await claimAttachments(trx, items, out);
    return out;
  } catch (err) {
    if (isClientIdConflict(err)) throw new ClientIdRace();
    throw err;
  }
}

/** A message natter writes itself (a group's system message, a call's record), as insertMessages takes it. */
export type OwnMessage = Pick<NewMessage, 'type' | 'content' | 'system' | 'call'>;

/**
 * Messages natter writes itself into one conversation, from `senderId`, taking their
 * seqs (in the caller's transaction: the conversation's write lane or its group lock).
 * Undefined when the conversation is gone.
 */
export async function insertOwnMessages(trx: Trx, conversationId: number, senderId: number, messages: OwnMessage[]): Promise<MessageRow[] | undefined> {
  const taken = (await takeSeqs(trx, new Map([[conversationId, messages.length]]))).get(conversationId);
  if (!taken) return undefined;
  return insertMessages(
    trx,
    messages.map((m, i) => ({
      ...m,
      conversationId,
      senderId,
      clientId: null,
      mediaUrl: null,
      replyToId: null,
      attachments: [],
      seq: taken.seq + i,
      modSeq: taken.modSeq + i,
    })),
  );
}

/**
 * Marks the batch's attachments as sent with their messages, in the inserting
 * transaction. Each must still be unsent, uploaded by the message's sender into its
 * conversation (it may have been sent meanwhile by another message, or swept): if one is
 * not, the message is refused (validation_failed) and the transaction rolls back, which
 * the writer narrows down to that message alone.
 */
async function claimAttachments(trx: Trx, items: (NewMessage & { seq: number })[], rows: MessageRow[]): Promise<void> {
  const claims = items.flatMap((m, i) =>
    m.attachments.map((a, position) => ({ attachmentId: a.id, messageId: rows[i]!.id, position, m })),
  );
  if (claims.length === 0) return;
  const refuse = (id: number) =>
    new AppError('validation_failed', `attachment ${id} was sent already or is no longer available`, {
      field: 'attachment_ids',
    });
  // Two messages of one batch naming the same attachment: the later one cannot have it.
  const seen = new Set<number>();
  for (const c of claims) {
    if (seen.has(c.attachmentId)) throw refuse(c.attachmentId);
    seen.add(c.attachmentId);
  }
  const { rows: claimed } = await sql<{ id: number }>`
    update attachments a
       set message_id = v.message_id, position = v.position
      from unnest(${claims.map((c) => c.attachmentId)}::bigint[], ${claims.map((c) => c.messageId)}::bigint[],
                  ${claims.map((c) => c.position)}::smallint[], ${claims.map((c) => c.m.senderId)}::bigint[],
                  ${claims.map((c) => c.m.conversationId)}::bigint[])
           as v(id, message_id, position, sender_id, conversation_id)
     where a.id = v.id and a.message_id is null and a.uploader_id = v.sender_id and a.conversation_id = v.conversation_id
    returning a.id`.execute(trx);
  if (claimed.length === claims.length) return;
  const got = new Set(claimed.map((r) => r.id));
  throw refuse(claims.find((c) => !got.has(c.attachmentId))!.attachmentId);
}
