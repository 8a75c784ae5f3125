import { sql, type RawBuilder } from 'kysely';
import { HIGHLIGHT_REPLACEMENT, HIGHLIGHT_START, HIGHLIGHT_STOP } from '../domain/search.js';
import type { Db } from './database.js';
import { pointersByConversation, viewColumns, type ViewRow } from './message-views.js';
import { messageColumns } from './messages.repository.js';
import { PLAN_EACH_CALL } from './prepared.js';

/** A found message as the searcher sees it, and its `ts_headline` (with the raw marks of domain/search.ts). */
export type SearchRow = ViewRow & { headline: string };

export interface SearchFilter {
  /** Whose search: only their conversations, without what they hid. */
  callerId: number;
  /** The text search configuration messages.search is built with (SEARCH_LANGUAGE). */
  language: string;
  /** websearch_to_tsquery syntax: words (AND), "phrases", `or`, `-word`. */
  q: string;
  /** Match the query's last term as a prefix (see endsInPrefix in domain/search.ts). */
  prefix: boolean;
  conversationId?: number;
  senderId?: number;
  /** created_at strictly before / after, compared in milliseconds. */
  before?: Date;
  after?: Date;
  /** Only messages with a smaller id (the cursor: the last id of the previous page). */
  belowId?: number;
  limit: number;
}

/**
 * The tsquery's text form ends in a term that is a plain lexeme, not negated: `'wor'` at
 * the start, after a space or after `(`, but not after `!`. Lexemes are quoted with `'`
 * doubled inside.
 */
const LAST_LEXEME = "(^|[ (])('(?:[^']|'')*')$";

/**
 * The caller's query as a tsquery. With `prefix`, its last lexeme becomes a prefix
 * lexeme (`'hel':*`) by rewriting the text form and casting it back. Every part is
 * immutable, so PostgreSQL computes it once, while planning, and its statistics on
 * messages.search see the actual words.
 */
function tsquery(f: SearchFilter): RawBuilder<unknown> {
  const parsed = sql`websearch_to_tsquery(${f.language}::regconfig, ${f.q})`;
  return f.prefix ? sql`regexp_replace(${parsed}::text, ${LAST_LEXEME}, ${'\\1\\2:*'})::tsquery` : parsed;
}

const HEADLINE_OPTIONS = `StartSel="${HIGHLIGHT_START}", StopSel="${HIGHLIGHT_STOP}"`;
/** The marks' own characters in the content → U+FFFD, and a space after `<` (see domain/search.ts). */
const MARKS = `${HIGHLIGHT_START}${HIGHLIGHT_STOP}`;
const MARKS_REPLACED = HIGHLIGHT_REPLACEMENT.repeat(2);

/**
 * Messages matching the query, newest first (by id, which grows with time), at most
 * `limit`: only in conversations the caller is a member of and from where their view of
 * it begins, never deleted ones, never ones the caller hid for themselves, never system
 * messages. Each comes with its `ts_headline`.
 *
 * One statement. It is planned with its values on every call (PLAN_EACH_CALL), because
 * the plan depends on the words: for a word in many messages PostgreSQL walks the
 * primary key newest first and stops at `limit` matches; for a rarer one it asks the GIN
 * index for every match and sorts those. The headline, the reactions and the pointers
 * the statuses need are computed for the page only (the pointers once per conversation).
 */
export async function searchMessages(db: Db, f: SearchFilter): Promise<SearchRow[]> {
  return (await searchStatement(f).execute(db)).rows;
}

/** The statement `searchMessages` runs (the benchmark runs it straight against the database too). */
export function searchStatement(f: SearchFilter): RawBuilder<SearchRow> {
  const query = tsquery(f);
  const where = [
    sql`m.search @@ ${query}`,
    sql`m.conversation_id in (select p.conversation_id from conversation_participants p where p.user_id = ${f.callerId})`,
    sql`m.deleted_at is null`,
    sql`m.type <> 'system'`,
    sql`not exists (select 1 from message_hidden h where h.user_id = ${f.callerId} and h.message_id = m.id)`,
    // The history a member was not shown (they joined a group that hides it from new
    // members): an anti-join, so the membership test above keeps its plan.
    sql`not exists (select 1 from conversation_participants vp
                     where vp.user_id = ${f.callerId} and vp.conversation_id = m.conversation_id and m.seq <= vp.visible_from_seq)`,
  ];
  if (f.conversationId !== undefined) where.push(sql`m.conversation_id = ${f.conversationId}`);
  if (f.senderId !== undefined) where.push(sql`m.sender_id = ${f.senderId}`);
  // At the precision clients see times in (milliseconds): `after` = a message's own
  // created_at must leave that message out, though it was stored with microseconds.
  const sentAt = sql`date_trunc('milliseconds', m.created_at)`;
  if (f.before !== undefined) where.push(sql`${sentAt} < ${f.before.toISOString()}::timestamptz`);
  if (f.after !== undefined) where.push(sql`${sentAt} > ${f.after.toISOString()}::timestamptz`);
  if (f.belowId !== undefined) where.push(sql`m.id < ${f.belowId}`);
  const columns = sql.join(messageColumns.map((c) => sql.ref(c)));
  return sql<SearchRow>`${sql.raw(PLAN_EACH_CALL)}
    with page as (
      select ${columns}
        from messages m
       where ${sql.join(where, sql` and `)}
       order by m.id desc
       limit ${f.limit})
    select ${columns}, ${sql.join(viewColumns(f.callerId))},
           ts_headline(${f.language}::regconfig, replace(translate(m.content, ${MARKS}, ${MARKS_REPLACED}), '<', '< '), ${query},
                       ${HEADLINE_OPTIONS}) as headline
      from page m
      join ${pointersByConversation(f.callerId, sql`select conversation_id from page`)} v on v.conversation_id = m.conversation_id
     order by m.id desc`;
}
