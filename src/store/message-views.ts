import { sql, type RawBuilder } from 'kysely';
import type { PointerSummary } from '../domain/messages.js';
import type { ReactionSummary } from '../schemas/messages.js';
import type { MessageRow } from './messages.repository.js';

/**
 * A message row with what one viewer sees of it besides, read in the same statement:
 * the reactions (with `me` for the viewer), the viewer's own hide, and the facts about
 * the conversation's pointers that the message's status for the viewer depends on.
 */
export type ViewRow = MessageRow & PointerSummary & {
  reactions: ReactionSummary[];
  /** When the viewer hid the message for themselves, and the hide's mod_seq; null: not hidden. */
  hidden_at: Date | null;
  hidden_mod_seq: number | null;
};

/**
 * Whether member `p` (user `u`) shows their reads to `readerId`: they share read receipts
 * and do not block the reader (domain/messages.ts, readSeqShownToOthers).
 */
const sharesReadsWith = (readerId: number) =>
  sql`(u.share_read_receipts and not exists (select 1 from user_blocks b where b.blocker_id = p.user_id and b.blocked_id = ${readerId}))`;

/**
 * The PointerSummary of the conversation(s) over `conversation_participants p` joined to
 * `users u`: the facts `messageStatus` needs, not the rule. One row per group. Besides,
 * `my_visible_from_seq`: the reader sees the messages after it (null: not a member, sees
 * none).
 */
function pointerAggregates(readerId: number): RawBuilder<unknown> {
  return sql`coalesce(max(p.last_read_seq) filter (where p.user_id = ${readerId}), 0) as my_read_seq,
    max(p.visible_from_seq) filter (where p.user_id = ${readerId}) as my_visible_from_seq,
    count(*) filter (where p.user_id <> ${readerId}) as others,
    min(p.last_read_seq) filter (where p.user_id <> ${readerId} and ${sharesReadsWith(readerId)}) as others_min_shared_read_seq,
    coalesce(bool_or(not ${sharesReadsWith(readerId)}) filter (where p.user_id <> ${readerId}), false) as others_hide_reads,
    min(p.last_delivered_seq) filter (where p.user_id <> ${readerId}) as others_min_delivered_seq`;
}

/**
 * One conversation's pointer summary for `readerId`, as a one-row table `v` to join
 * (`innerJoin(pointersOf(…), (j) => j.onTrue())`) to a query over its messages `m`: the
 * aggregate is computed once, not per message.
 */
export function pointersOf(conversationId: number, readerId: number) {
  return sql<PointerSummary>`(select ${pointerAggregates(readerId)}
      from conversation_participants p join users u on u.id = p.user_id
     where p.conversation_id = ${conversationId})`.as('v');
}

/**
 * The pointer summaries of the conversations `conversationIds` (a subquery yielding
 * them) names, as a table with `conversation_id`, for raw statements that read messages
 * of several conversations: each conversation's aggregate once.
 */
export function pointersByConversation(readerId: number, conversationIds: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(select p.conversation_id, ${pointerAggregates(readerId)}
      from conversation_participants p join users u on u.id = p.user_id
     where p.conversation_id in (${conversationIds})
     group by p.conversation_id)`;
}

/**
 * The ViewRow columns beyond the message's own, for a statement that reads messages as
 * `m` and has joined a pointer table as `v` (pointersOf, pointersByConversation).
 * Reactions come as one JSON array per message, in the order of each emoji's first use;
 * the hide from message_hidden's primary key.
 */
export function viewColumns(viewerId: number) {
  return [
    sql<ReactionSummary[]>`coalesce((
      select json_agg(json_build_object('emoji', r.emoji, 'count', r.count, 'me', r.me) order by r.first, r.emoji)
        from (select emoji, count(*) as count, bool_or(user_id = ${viewerId}) as me, min(created_at) as first
                from message_reactions
               where message_id = m.id
               group by emoji) r), '[]'::json)`.as('reactions'),
    sql<Date | null>`(select h.hidden_at from message_hidden h where h.user_id = ${viewerId} and h.message_id = m.id)`.as(
      'hidden_at',
    ),
    sql<number | null>`(select h.mod_seq from message_hidden h where h.user_id = ${viewerId} and h.message_id = m.id)`.as(
      'hidden_mod_seq',
    ),
    sql<number>`v.my_read_seq`.as('my_read_seq'),
    sql<number>`v.others`.as('others'),
    sql<number | null>`v.others_min_shared_read_seq`.as('others_min_shared_read_seq'),
    sql<boolean>`v.others_hide_reads`.as('others_hide_reads'),
    sql<number | null>`v.others_min_delivered_seq`.as('others_min_delivered_seq'),
  ] as const;
}
