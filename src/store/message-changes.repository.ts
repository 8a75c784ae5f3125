import { sql } from 'kysely';
import type { CallInfo, CallOutcome } from '../domain/calls.js';
import type { ReactionSummary } from '../schemas/messages.js';
import type { Db, Trx } from './database.js';
import type { ViewRow } from './message-views.js';
import { messageColumns, viewedMessages, type MessageRow } from './messages.repository.js';

/**
 * Changes to sent messages: edits, deletes, hides and reactions, and what sync and the
 * message views read of them. Each change runs in one transaction that first takes the
 * conversation's next mod_seq (`takeModSeq`, which locks the conversation row, so a
 * conversation's changes and new messages are stamped in commit order), then locks the
 * message, then changes it.
 */

/** Takes the conversation's next mod_seq (locking its row until the transaction ends); undefined when it is gone. */
export async function takeModSeq(trx: Trx, conversationId: number): Promise<number | undefined> {
  const row = await trx
    .updateTable('conversations')
    .set({ last_mod_seq: sql`last_mod_seq + 1` })
    .where('id', '=', conversationId)
    .returning('last_mod_seq')
    .executeTakeFirst();
  return row?.last_mod_seq;
}

/** Replaces the content, keeping the version it replaces in the edit history. */
export async function applyEdit(trx: Trx, before: MessageRow, content: string, modSeq: number): Promise<MessageRow> {
  await trx
    .insertInto('message_edits')
    .values({ conversation_id: before.conversation_id, message_id: before.id, content: before.content })
    .execute();
  return trx
    .updateTable('messages as m')
    .set({ content, edited_at: sql`now()`, updated_at: sql`now()`, mod_seq: modSeq })
    .where('m.conversation_id', '=', before.conversation_id)
    .where('m.id', '=', before.id)
    .returning(messageColumns)
    .executeTakeFirstOrThrow();
}

/**
 * Turns the message into a tombstone: empty content, no media, and its edit history,
 * reactions and attachment rows deleted. Returns the tombstone and the blob keys of its
 * attachments, for the caller to delete once this commits.
 */
export async function applyDelete(trx: Trx, before: MessageRow, modSeq: number): Promise<{ row: MessageRow; blobKeys: string[] }> {
  const where = { conversation_id: before.conversation_id, message_id: before.id };
  await trx.deleteFrom('message_edits').where('conversation_id', '=', where.conversation_id).where('message_id', '=', where.message_id).execute();
  await trx
    .deleteFrom('message_reactions')
    .where('conversation_id', '=', where.conversation_id)
    .where('message_id', '=', where.message_id)
    .execute();
  const files = await trx
    .deleteFrom('attachments')
    .where('conversation_id', '=', where.conversation_id)
    .where('message_id', '=', where.message_id)
    .returning(['storage_key', 'thumbnail_key'])
    .execute();
  const row = await trx
    .updateTable('messages as m')
    .set({
      content: '',
      media_url: null,
      attachments: null,
      deleted_at: sql`now()`,
      updated_at: sql`now()`,
      mod_seq: modSeq,
    })
    .where('m.conversation_id', '=', before.conversation_id)
    .where('m.id', '=', before.id)
    .returning(messageColumns)
    .executeTakeFirstOrThrow();
  return { row, blobKeys: files.flatMap((f) => (f.thumbnail_key ? [f.storage_key, f.thumbnail_key] : [f.storage_key])) };
}

/** Hides the message from one user; the time it was hidden, or undefined when it already was. */
export async function hide(trx: Trx, userId: number, message: MessageRow, modSeq: number): Promise<Date | undefined> {
  const row = await trx
    .insertInto('message_hidden')
    .values({ conversation_id: message.conversation_id, user_id: userId, message_id: message.id, mod_seq: modSeq })
    .onConflict((oc) => oc.columns(['user_id', 'message_id']).doNothing())
    .returning('hidden_at')
    .executeTakeFirst();
  return row?.hidden_at;
}

/** When `userId` hid each of these messages, and the hide's mod_seq (absent: not hidden). */
export async function hiddenAt(db: Db, userId: number, messageIds: number[]): Promise<Map<number, { at: Date; modSeq: number }>> {
  if (messageIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('message_hidden')
    .select(['message_id', 'hidden_at', 'mod_seq'])
    .where('user_id', '=', userId)
    .where('message_id', 'in', messageIds)
    .execute();
  return new Map(rows.map((r) => [r.message_id, { at: r.hidden_at, modSeq: r.mod_seq }]));
}

/** Everyone who hid the message, with when and the hide's mod_seq. */
export async function hiddenBy(db: Db, message: MessageRow): Promise<Map<number, { at: Date; modSeq: number }>> {
  const rows = await db
    .selectFrom('message_hidden')
    .select(['user_id', 'hidden_at', 'mod_seq'])
    .where('conversation_id', '=', message.conversation_id)
    .where('message_id', '=', message.id)
    .execute();
  return new Map(rows.map((r) => [r.user_id, { at: r.hidden_at, modSeq: r.mod_seq }]));
}

/** The distinct emoji `userId` has on the message. */
export async function reactionsBy(db: Db, message: MessageRow, userId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('message_reactions')
    .select('emoji')
    .where('message_id', '=', message.id)
    .where('user_id', '=', userId)
    .execute();
  return rows.map((r) => r.emoji);
}

/**
 * Adds or removes one reaction and stamps the message, in one statement; returns the
 * emoji's count afterwards. The statement's own reads see the reactions as they were
 * before it (a data-modifying WITH runs on the same snapshot), so the count is that plus
 * or minus the row the WITH changed.
 */
export async function applyReaction(
  trx: Trx,
  message: MessageRow,
  userId: number,
  emoji: string,
  on: boolean,
  modSeq: number,
): Promise<{ row: MessageRow; count: number }> {
  const { count, ...row } = await trx
    .with('changed', (qc) =>
      on
        ? qc
            .insertInto('message_reactions')
            .values({ conversation_id: message.conversation_id, message_id: message.id, user_id: userId, emoji })
            .returning('message_id')
        : qc
            .deleteFrom('message_reactions')
            .where('message_id', '=', message.id)
            .where('user_id', '=', userId)
            .where('emoji', '=', emoji)
            .returning('message_id'),
    )
    .updateTable('messages as m')
    .set({ mod_seq: modSeq, updated_at: sql`now()` })
    .where('m.conversation_id', '=', message.conversation_id)
    .where('m.id', '=', message.id)
    .returning(messageColumns)
    .returning(
      sql<number>`(select count(*) from message_reactions r where r.message_id = m.id and r.emoji = ${emoji})
        ${on ? sql`+` : sql`-`} (select count(*) from changed)`.as('count'),
    )
    .executeTakeFirstOrThrow();
  return { row, count: Number(count) };
}

/**
 * Every (user, emoji) reaction of the messages, in the order they were made (ties by
 * emoji: each emoji's first appearance then comes in the message views' order).
 */
export async function reactionsOf(db: Db, messageIds: number[]): Promise<{ message_id: number; user_id: number; emoji: string }[]> {
  if (messageIds.length === 0) return [];
  return db
    .selectFrom('message_reactions')
    .select(['message_id', 'user_id', 'emoji'])
    .where('message_id', 'in', messageIds)
    .orderBy('created_at')
    .orderBy('emoji')
    .orderBy('user_id')
    .execute();
}

/** Per message, its reactions by emoji as `viewerId` sees them (`me`), in order of first appearance. */
export async function reactionSummaries(db: Db, viewerId: number, messageIds: number[]): Promise<Map<number, ReactionSummary[]>> {
  const out = new Map<number, ReactionSummary[]>();
  if (messageIds.length === 0) return out;
  const rows = await db
    .selectFrom('message_reactions')
    .select([
      'message_id',
      'emoji',
      (eb) => eb.fn.countAll<number>().as('count'),
      sql<boolean>`bool_or(user_id = ${viewerId})`.as('me'),
      (eb) => eb.fn.min('created_at').as('first'),
    ])
    .where('message_id', 'in', messageIds)
    .groupBy(['message_id', 'emoji'])
    .orderBy('message_id')
    .orderBy('first')
    .orderBy('emoji')
    .execute();
  for (const r of rows) {
    const list = out.get(r.message_id) ?? [];
    list.push({ emoji: r.emoji, count: Number(r.count), me: r.me });
    out.set(r.message_id, list);
  }
  return out;
}

/** Who reacted with `emoji`, in reaction order, after the (time in µs, user id) cursor. */
export async function reactors(
  db: Db,
  messageId: number,
  emoji: string,
  opts: { limit: number; after?: { atMicros: number; userId: number } },
): Promise<{ user_id: number; at_us: number }[]> {
  let q = db
    .selectFrom('message_reactions as r')
    .select(['r.user_id', sql<number>`(extract(epoch from r.created_at) * 1000000)::bigint`.as('at_us')])
    .where('r.message_id', '=', messageId)
    .where('r.emoji', '=', emoji);
  if (opts.after) {
    const { atMicros, userId } = opts.after;
    q = q.where(
      sql<boolean>`(r.created_at, r.user_id) > (timestamptz 'epoch' + ${String(atMicros)}::bigint * interval '1 microsecond', ${userId})`,
    );
  }
  const rows = await q.orderBy('r.created_at').orderBy('r.user_id').limit(opts.limit).execute();
  return rows.map((r) => ({ user_id: r.user_id, at_us: Number(r.at_us) }));
}

/** The message's latest `limit` earlier versions, oldest first. */
export async function listEdits(
  db: Db,
  conversationId: number,
  messageId: number,
  limit: number,
): Promise<{ content: string; edited_at: Date }[]> {
  const rows = await db
    .selectFrom('message_edits')
    .select(['content', 'edited_at'])
    .where('conversation_id', '=', conversationId)
    .where('message_id', '=', messageId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse();
}

/**
 * A page of the messages changed after `afterModSeq` (by mod_seq), among those with
 * seq ≤ `upToSeq` (later ones the client gets as new messages), as `viewerId` sees them.
 */
export async function changedSince(
  db: Db,
  viewerId: number,
  conversationId: number,
  opts: { afterModSeq: number; upToSeq: number; limit: number },
): Promise<ViewRow[]> {
  return viewedMessages(db, conversationId, viewerId)
    .where('m.mod_seq', '>', opts.afterModSeq)
    .where('m.seq', '<=', opts.upToSeq)
    .orderBy('m.mod_seq')
    .limit(opts.limit)
    .execute();
}

/** A page of the messages `userId` hid after `afterModSeq` (by the hide's mod_seq), with seq ≤ `upToSeq`, as they see them. */
export async function hiddenSince(
  db: Db,
  userId: number,
  conversationId: number,
  opts: { afterModSeq: number; upToSeq: number; limit: number },
): Promise<ViewRow[]> {
  return viewedMessages(db, conversationId, userId)
    .innerJoin('message_hidden as h', 'h.message_id', 'm.id')
    .where('h.user_id', '=', userId)
    .where('h.conversation_id', '=', conversationId)
    .where('h.mod_seq', '>', opts.afterModSeq)
    .where('m.seq', '<=', opts.upToSeq)
    .orderBy('h.mod_seq')
    .limit(opts.limit)
    .execute();
}

/**
 * Replaces a call record's `call` (stamped with `modSeq`) if its outcome is still one of
 * `fromOutcomes`: a call's updates may commit out of order across nodes, and a later
 * state is never overwritten by an earlier one. Undefined when nothing was updated.
 */
export async function applyCallUpdate(
  trx: Trx,
  conversationId: number,
  messageId: number,
  call: CallInfo,
  modSeq: number,
  fromOutcomes: readonly CallOutcome[],
): Promise<MessageRow | undefined> {
  return trx
    .updateTable('messages as m')
    .set({ call: JSON.stringify(call), updated_at: sql`now()`, mod_seq: modSeq })
    .where('m.conversation_id', '=', conversationId)
    .where('m.id', '=', messageId)
    .where('m.type', '=', 'call')
    .where(sql<string>`m.call->>'outcome'`, 'in', [...fromOutcomes])
    .returning(messageColumns)
    .executeTakeFirst();
}
