import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MessageWriter } from '../../src/services/message-writer.js';
import type { Database } from '../../src/store/database.js';
import type { NewMessage } from '../../src/store/messages.repository.js';
import { testDatabase } from '../harness/app.js';
import { testDatabaseUrl } from '../harness/postgres.js';

/** Group commit, at the store level: batching, gapless seq, idempotency, a failing message failing alone, lanes. */

let database: Database;
let users: number[];

beforeAll(async () => {
  database = await testDatabase();
  const rows = await database.db
    .insertInto('users')
    .values(Array.from({ length: 4 }, (_, i) => ({ username: `w${i}`, email: `w${i}@example.com`, password_hash: 'x' })))
    .returning('id')
    .execute();
  users = rows.map((r) => r.id);
});
afterAll(() => database?.close());

async function newGroup(): Promise<number> {
  const { id } = await database.db
    .insertInto('conversations')
    .values({ type: 'group', name: 'g', created_by: users[0]! })
    .returning('id')
    .executeTakeFirstOrThrow();
  await database.db
    .insertInto('conversation_participants')
    .values(users.map((u) => ({ conversation_id: id, user_id: u })))
    .execute();
  return id;
}

const msg = (conversationId: number, senderId: number, content: string, clientId: string | null = null): NewMessage => ({
  conversationId,
  senderId,
  clientId,
  type: 'text',
  attachments: [],
  content,
  mediaUrl: null,
  replyToId: null,
});

/** A conversation's messages in seq order. */
const inSeqOrder = (conversationId: number) =>
  database.db.selectFrom('messages').select(['seq', 'content']).where('conversation_id', '=', conversationId).orderBy('seq').execute();
const contents = async (conversationId: number) => (await inSeqOrder(conversationId)).map((r) => r.content);
const seqs = async (conversationId: number) => (await inSeqOrder(conversationId)).map((r) => r.seq);

test('two writers (two nodes) under concurrency: batched, gapless seq per conversation, each client_id stored once', async () => {
  const convs = await Promise.all([newGroup(), newGroup(), newGroup()]);
  const opts = { maxBatch: 50, delayMs: 2, concurrency: 2 };
  const writers = [new MessageWriter(database.db, opts), new MessageWriter(database.db, opts)];

  const writes: Promise<{ row: { id: number; seq: number; conversation_id: number; client_id: string | null }; created: boolean }>[] = [];
  for (let i = 0; i < 600; i++) {
    const conv = convs[i % 3]!;
    const sender = users[i % 4]!;
    // Every 5th message repeats a client_id: sometimes on the same writer, sometimes on the other.
    const clientId = i % 5 === 0 ? `dup-${Math.floor(i / 10)}` : `c-${i}`;
    const sameSenderAndConv = i % 5 === 0 ? msg(convs[0], users[0]!, `m${i}`, clientId) : msg(conv, sender, `m${i}`, clientId);
    writes.push(writers[i % 2]!.write(sameSenderAndConv));
  }
  const results = await Promise.all(writes);

  for (const conv of convs) {
    const s = await seqs(conv);
    expect(s).toEqual(Array.from({ length: s.length }, (_, i) => i + 1));
    const { last_seq } = await database.db.selectFrom('conversations').select('last_seq').where('id', '=', conv).executeTakeFirstOrThrow();
    expect(last_seq).toBe(s.length);
  }
  // 600 writes, of which 120 share 60 client_ids pairwise: 540 distinct messages.
  const stored = await database.db.selectFrom('messages').select('id').where('conversation_id', 'in', convs).execute();
  expect(stored).toHaveLength(540);
  const byKey = new Map<string, Set<number>>();
  for (const r of results) {
    const key = r.row.client_id!;
    byKey.set(key, (byKey.get(key) ?? new Set()).add(r.row.id));
  }
  for (const ids of byKey.values()) expect(ids.size).toBe(1);
  expect(results.filter((r) => r.created)).toHaveLength(540);

  const stats = writers.map((w) => w.stats);
  const batches = stats.reduce((n, s) => n + s.batches, 0);
  expect(batches).toBeLessThan(600 / 4); // commits were shared
});

test('a message to a conversation that is gone fails alone: the rest of its batch commits, seq stays gapless', async () => {
  const conv = await newGroup();
  const writer = new MessageWriter(database.db, { maxBatch: 100, delayMs: 20, concurrency: 1 });
  await writer.write(msg(conv, users[0]!, 'before'));

  const outcomes = await Promise.allSettled([
    writer.write(msg(conv, users[1]!, 'a', 'gone-a')),
    writer.write(msg(999_999_999, users[1]!, 'doomed')),
    writer.write(msg(conv, users[2]!, 'b', 'gone-b')),
  ]);
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'not_found' });

  await writer.write(msg(conv, users[0]!, 'after'));
  expect(await contents(conv)).toEqual(['before', 'a', 'b', 'after']);
  expect(await seqs(conv)).toEqual([1, 2, 3, 4]);
});

test('a message the database refuses fails alone, wherever it sits in its batch; every other message commits in order', async () => {
  // Stands for any input the validators miss: PostgreSQL refuses the row inside the
  // shared transaction.
  await sql`alter table messages add constraint test_no_poison check (content not like 'poison%')`.execute(database.db);
  try {
    const conv = await newGroup();
    const writer = new MessageWriter(database.db, { maxBatch: 64, delayMs: 30, concurrency: 1 });
    const texts = Array.from({ length: 40 }, (_, i) => ([0, 7, 8, 39].includes(i) ? `poison ${i}` : `fine ${i}`));
    const outcomes = await Promise.allSettled(texts.map((t, i) => writer.write(msg(conv, users[i % 4]!, t, `p-${i}`))));

    expect(outcomes.map((o) => o.status)).toEqual(texts.map((t) => (t.startsWith('poison') ? 'rejected' : 'fulfilled')));
    const fine = texts.filter((t) => t.startsWith('fine'));
    expect(await contents(conv)).toEqual(fine);
    expect(await seqs(conv)).toEqual(fine.map((_, i) => i + 1));
    // Split to find the culprits, not one by one: a 40-message batch with 4 of them.
    expect(writer.stats.batches).toBeLessThan(20);
  } finally {
    await sql`alter table messages drop constraint test_no_poison`.execute(database.db);
  }
});

test('lanes: each conversation resolves in seq order while several conversations commit in parallel', async () => {
  const convs = await Promise.all([newGroup(), newGroup(), newGroup(), newGroup(), newGroup()]);
  const writer = new MessageWriter(database.db, { maxBatch: 8, delayMs: 1, concurrency: 3 });
  const resolved = new Map<number, number[]>(convs.map((c) => [c, []]));
  await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      writer.write(msg(convs[i % 5]!, users[i % 4]!, `m${i}`)).then(({ row }) => resolved.get(row.conversation_id)!.push(row.seq)),
    ),
  );
  for (const conv of convs) {
    expect(resolved.get(conv)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(await contents(conv)).toEqual(Array.from({ length: 60 }, (_, i) => `m${i * 5 + convs.indexOf(conv)}`));
  }
});

describe.skipIf(!testDatabaseUrl())('with PostgreSQL (needs TEST_DATABASE_URL)', () => {
  test('killing the database connection mid-batch: no acknowledgement for an uncommitted message', async () => {
    const conv = await newGroup();
    const writer = new MessageWriter(database.db, { maxBatch: 500, delayMs: 5, concurrency: 1 });
    await writer.write(msg(conv, users[0]!, 'warm-up'));

    // Hold the conversation row so the batch blocks inside its transaction, then kill
    // the backend running it.
    let killed = 0;
    await database.db.connection().execute(async (holder) => {
      await holder.transaction().execute(async (trx) => {
        await trx.selectFrom('conversations').select('id').where('id', '=', conv).forUpdate().execute();
        const pending = Array.from({ length: 200 }, (_, i) => writer.write(msg(conv, users[i % 4]!, `k${i}`, `kill-${i}`)));
        const settled = Promise.allSettled(pending);
        for (let tries = 0; tries < 200 && killed === 0; tries++) {
          await new Promise((r) => setTimeout(r, 10));
          const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity
              where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`.execute(trx);
          for (const { pid } of rows) {
            await sql`select pg_terminate_backend(${pid})`.execute(trx);
            killed++;
          }
        }
        const outcomes = await settled;
        const acked = outcomes.filter((o) => o.status === 'fulfilled');
        expect(killed).toBeGreaterThan(0);
        expect(acked).toEqual([]);
      });
    });
    const stored = await database.db.selectFrom('messages').select('id').where('client_id', 'like', 'kill-%').execute();
    expect(stored).toEqual([]);

    // The pool replaces the dead connection; sending goes on with no gap in seq.
    await writer.write(msg(conv, users[0]!, 'after the kill'));
    expect(await seqs(conv)).toEqual([1, 2]);
  });
});

test('a batch stores every field exactly as sent, whatever characters it holds', async () => {
  const conv = await newGroup();
  const writer = new MessageWriter(database.db, { maxBatch: 50, delayMs: 5, concurrency: 1 });
  const awkward = ['say "hi"', 'back\\slash', 'NULL', '{a,b}', '', 'line\nbreak', 'emoji 🎉 ünïcödé', 'comma, and ) paren'];
  const sent = awkward.map((text, i) => ({
    ...msg(conv, users[i % users.length]!, text, i % 2 ? `id "${text}"` : null),
    type: (i === 4 ? 'image' : 'text') as NewMessage['type'],
    mediaUrl: i === 4 ? 'https://cdn.example.com/a{1}.png' : null,
  }));
  const results = await Promise.all(sent.map((m) => writer.write(m)));
  expect(writer.stats.batches).toBe(1);
  const stored = await database.db
    .selectFrom('messages')
    .select(['seq', 'sender_id', 'client_id', 'type', 'content', 'media_url', 'reply_to_id'])
    .where('conversation_id', '=', conv)
    .orderBy('seq')
    .execute();
  expect(stored).toEqual(
    sent.map((m, i) => ({
      seq: i + 1,
      sender_id: m.senderId,
      client_id: m.clientId,
      type: m.type,
      content: m.content,
      media_url: m.mediaUrl,
      reply_to_id: null,
    })),
  );
  expect(results.map((r) => [r.row.seq, r.row.content, r.created])).toEqual(sent.map((m, i) => [i + 1, m.content, true]));
  // The same client_ids again: answered from the lookup, nothing stored twice.
  const again = await Promise.all(sent.filter((m) => m.clientId !== null).map((m) => writer.write(m)));
  expect(again.every((r) => !r.created)).toBe(true);
  expect(again.map((r) => r.row.content)).toEqual(sent.filter((m) => m.clientId !== null).map((m) => m.content));
  expect(await seqs(conv)).toHaveLength(awkward.length);
});
