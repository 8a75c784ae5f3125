import type { Pointers } from '../domain/messages.js';
import type { Trx } from './database.js';

/**
 * A member's pointers and the conversation's last seq, with the member's row locked until
 * the transaction ends, so concurrent receipts of one member apply one after another.
 * Undefined when the user is not a member.
 */
export async function lockPointers(
  trx: Trx,
  conversationId: number,
  userId: number,
): Promise<(Pointers & { last_seq: number }) | undefined> {
  return trx
    .selectFrom('conversation_participants as p')
    .innerJoin('conversations as c', 'c.id', 'p.conversation_id')
    .select(['p.last_delivered_seq', 'p.last_read_seq', 'c.last_seq'])
    .where('p.conversation_id', '=', conversationId)
    .where('p.user_id', '=', userId)
    .forUpdate('p')
    .executeTakeFirst();
}

export async function setPointers(trx: Trx, conversationId: number, userId: number, pointers: Pointers): Promise<void> {
  await trx
    .updateTable('conversation_participants')
    .set({ last_delivered_seq: pointers.last_delivered_seq, last_read_seq: pointers.last_read_seq })
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .execute();
}
