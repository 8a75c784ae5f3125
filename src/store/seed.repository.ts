import { sql } from 'kysely';
import type { Db, Trx } from './database.js';

export interface SeedUser {
  username: string;
  email: string;
  phone: string | null;
}

export interface SeedPlan {
  users: SeedUser[];
  passwordHash: string;
  /** Direct conversations as pairs of usernames. */
  directs: [string, string][];
  groups: { name: string; owner: string; members: string[] }[];
  /** Messages by conversation: direct "a:b" or group name → [sender, text][]. */
  messages: Record<string, [string, string][]>;
}

/**
 * Inserts the sample data; the caller runs it in one transaction. Idempotent: users are matched by email,
 * direct conversations by their pair, groups by name and owner, messages by their
 * (sender, client_id), so running it twice changes nothing.
 */
export async function applySeed(trx: Trx, plan: SeedPlan): Promise<{ users: number; conversations: number; messages: number }> {
  const ids = new Map<string, number>();
  let usersCreated = 0;
  for (const u of plan.users) {
    const inserted = await trx
      .insertInto('users')
      .values({ username: u.username, email: u.email, phone: u.phone, password_hash: plan.passwordHash })
      .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) usersCreated++;
    const row = await trx
      .selectFrom('users')
      .select('id')
      .where(sql`lower(email)`, '=', u.email.toLowerCase())
      .executeTakeFirstOrThrow();
    ids.set(u.username, row.id);
  }
  const idOf = (name: string) => {
    const id = ids.get(name);
    if (id === undefined) throw new Error(`seed plan names unknown user ${name}`);
    return id;
  };

  let conversationsCreated = 0;
  const conversationIds = new Map<string, number>();
  for (const [a, b] of plan.directs) {
    const [lo, hi] = [idOf(a), idOf(b)].sort((x, y) => x - y) as [number, number];
    const key = `${lo}:${hi}`;
    let conv = await trx.selectFrom('conversations').select('id').where('direct_key', '=', key).executeTakeFirst();
    if (!conv) {
      conv = await trx
        .insertInto('conversations')
        .values({ type: 'direct', direct_key: key, created_by: idOf(a) })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('conversation_participants')
        .values([
          { conversation_id: conv.id, user_id: lo },
          { conversation_id: conv.id, user_id: hi },
        ])
        .execute();
      conversationsCreated++;
    }
    conversationIds.set(`${a}:${b}`, conv.id);
  }
  for (const g of plan.groups) {
    const owner = idOf(g.owner);
    let conv = await trx
      .selectFrom('conversations')
      .select('id')
      .where('type', '=', 'group')
      .where('name', '=', g.name)
      .where('created_by', '=', owner)
      .executeTakeFirst();
    if (!conv) {
      conv = await trx
        .insertInto('conversations')
        .values({ type: 'group', name: g.name, created_by: owner })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('conversation_participants')
        .values([
          { conversation_id: conv.id, user_id: owner, role: 'owner' },
          ...g.members.filter((m) => m !== g.owner).map((m) => ({ conversation_id: conv!.id, user_id: idOf(m) })),
        ])
        .execute();
      conversationsCreated++;
    }
    conversationIds.set(g.name, conv.id);
  }

  let messagesCreated = 0;
  for (const [conversation, lines] of Object.entries(plan.messages)) {
    const conversationId = conversationIds.get(conversation);
    if (conversationId === undefined) throw new Error(`seed plan names unknown conversation ${conversation}`);
    for (const [i, [sender, content]] of lines.entries()) {
      const clientId = `seed-${conversationId}-${i + 1}`;
      const senderId = idOf(sender);
      const exists = await trx
        .selectFrom('messages')
        .select('id')
        .where('sender_id', '=', senderId)
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      if (exists) continue;
      // A new message is a change too: it takes the next mod_seq (migrations/000004).
      const { last_seq, last_mod_seq } = await trx
        .updateTable('conversations')
        .set({ last_seq: sql`last_seq + 1`, last_mod_seq: sql`last_mod_seq + 1`, last_message_at: sql`now()`, updated_at: sql`now()` })
        .where('id', '=', conversationId)
        .returning(['last_seq', 'last_mod_seq'])
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('messages')
        .values({ conversation_id: conversationId, seq: last_seq, mod_seq: last_mod_seq, sender_id: senderId, client_id: clientId, content })
        .execute();
      messagesCreated++;
    }
  }
  return { users: usersCreated, conversations: conversationsCreated, messages: messagesCreated };
}

/**
 * Drops everything in the current schema and recreates it empty, with PostgreSQL 15's
 * default privileges on `public`.
 */
export async function dropSchema(db: Db): Promise<void> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema ?? 'public';
  await sql`drop schema ${sql.id(schema)} cascade`.execute(db);
  if (schema === 'public') {
    await sql`create schema public authorization pg_database_owner`.execute(db);
    await sql`grant usage on schema public to public`.execute(db);
  } else {
    await sql`create schema ${sql.id(schema)}`.execute(db);
  }
}
