import { afterAll, beforeAll, expect, test } from 'vitest';
import { MemoryBus } from '../../src/bus/memory.js';
import { NodeCache } from '../../src/services/node-cache.js';
import type { Database } from '../../src/store/database.js';
import { testDatabase } from '../harness/app.js';

/** The per-node caches and their invalidation, against the real database. */

let database: Database;
let userId: number;
let conversationId: number;
const opts = { membersTtlMs: 60_000, usersTtlMs: 10_000, max: 100 };

beforeAll(async () => {
  database = await testDatabase();
  const { id } = await database.db
    .insertInto('users')
    .values({ username: 'dir0', email: 'dir0@example.com', password_hash: 'x' })
    .returning('id')
    .executeTakeFirstOrThrow();
  userId = id;
  const conv = await database.db
    .insertInto('conversations')
    .values({ type: 'group', name: 'g', created_by: id })
    .returning('id')
    .executeTakeFirstOrThrow();
  conversationId = conv.id;
  await database.db.insertInto('conversation_participants').values({ conversation_id: conv.id, user_id: id }).execute();
});
afterAll(() => database?.close());

test('a change announced while a profile is being read answers with a fresh read, not an error', async () => {
  const bus = new MemoryBus();
  const here = new NodeCache(database.db, opts, bus);
  const elsewhere = new NodeCache(database.db, opts, bus);
  await here.start();

  // Changed on this node while the read is in flight.
  const reading = here.profile(userId);
  const changed = here.userChanged(userId);
  expect(await reading).toMatchObject({ id: userId, username: 'dir0' });
  await changed;

  // Changed on another node after a read started: whatever that read returns, the change
  // is committed before it is announced, so no later read sees the old profile.
  await here.userChanged(userId);
  const inFlight = here.profile(userId);
  await database.db.updateTable('users').set({ username: 'dir0-renamed' }).where('id', '=', userId).execute();
  await elsewhere.userChanged(userId);
  expect(await inFlight).toMatchObject({ id: userId });
  await new Promise((r) => setTimeout(r, 10));
  expect(await here.profile(userId)).toMatchObject({ username: 'dir0-renamed' });
  await bus.close();
});

test('the same holds for a conversation’s members', async () => {
  const here = new NodeCache(database.db, opts, new MemoryBus());
  const reading = here.memberIds(conversationId);
  await here.conversationChanged(conversationId);
  expect(await reading).toEqual([userId]);
});
