import type { Db } from './database.js';

export interface Pointers {
  last_delivered_seq: number;
  last_read_seq: number;
}

/**
 * Moves a member's pointer forward to `seq`, capped at the conversation's last_seq.
 * `read` moves last_delivered_seq along (reading implies having it). A pointer never
 * moves back: an older `seq` changes nothing. Returns the pointers before and after, or
 * undefined when the user is not a member.
 */
export async function advancePointer(
  db: Db,
  conversationId: number,
  userId: number,
  kind: 'delivered' | 'read',
  seq: number,
): Promise<{ before: Pointers; after: Pointers } | undefined> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('conversation_participants as p')
      .innerJoin('conversations as c', 'c.id', 'p.conversation_id')
      .select(['p.last_delivered_seq', 'p.last_read_seq', 'c.last_seq'])
      .where('p.conversation_id', '=', conversationId)
      .where('p.user_id', '=', userId)
      .forUpdate('p')
      .executeTakeFirst();
    if (!current) return undefined;
    const before = { last_delivered_seq: current.last_delivered_seq, last_read_seq: current.last_read_seq };
    const target = Math.min(seq, current.last_seq);
    const after = {
      last_delivered_seq: Math.max(before.last_delivered_seq, target),
      last_read_seq: kind === 'read' ? Math.max(before.last_read_seq, target) : before.last_read_seq,
    };
    if (after.last_delivered_seq !== before.last_delivered_seq || after.last_read_seq !== before.last_read_seq) {
      await trx
        .updateTable('conversation_participants')
        .set(after)
        .where('conversation_id', '=', conversationId)
        .where('user_id', '=', userId)
        .execute();
    }
    return { before, after };
  });
}

