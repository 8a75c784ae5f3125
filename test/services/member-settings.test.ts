import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MemoryBus } from '../../src/bus/memory.js';
import { Access } from '../../src/services/access.js';
import { Fanout } from '../../src/services/fanout.js';
import { MemberSettingsService } from '../../src/services/member-settings.js';
import { NodeCache } from '../../src/services/node-cache.js';
import type { Database } from '../../src/store/database.js';
import { mutedMemberIds } from '../../src/store/member-settings.repository.js';
import { testDatabase } from '../harness/app.js';

/** Who has a conversation muted (what push notifications will ask), against the real database. */

let database: Database;
let bus: MemoryBus;
let service: MemberSettingsService;
let conversationId: number;
let otherConversationId: number;
/** forever, until a future time, until a past time, unmuted, muted only in the other conversation. */
let u: { forever: number; future: number; past: number; never: number; elsewhere: number; outsider: number };

const FUTURE = new Date('2090-01-01T00:00:00Z');
const PAST = new Date('2001-01-01T00:00:00Z');

beforeAll(async () => {
  database = await testDatabase();
  const { db } = database;
  const ids: number[] = [];
  for (const name of ['forever', 'future', 'past', 'never', 'elsewhere', 'outsider']) {
    const row = await db
      .insertInto('users')
      .values({ username: `mute_${name}`, email: `mute_${name}@example.com`, password_hash: 'x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.push(row.id);
  }
  const [forever, future, past, never, elsewhere, outsider] = ids as [number, number, number, number, number, number];
  u = { forever, future, past, never, elsewhere, outsider };
  const conv = async () =>
    (await db.insertInto('conversations').values({ type: 'group', name: 'g', created_by: forever }).returning('id').executeTakeFirstOrThrow()).id;
  conversationId = await conv();
  otherConversationId = await conv();
  await db
    .insertInto('conversation_participants')
    .values([forever, future, past, never, elsewhere].map((user_id) => ({ conversation_id: conversationId, user_id })))
    .execute();
  await db.insertInto('conversation_participants').values({ conversation_id: otherConversationId, user_id: elsewhere }).execute();

  bus = new MemoryBus();
  const cache = new NodeCache(db, { membersTtlMs: 60_000, usersTtlMs: 10_000, max: 100 });
  service = new MemberSettingsService(db, new Access(db, cache), new Fanout(bus, cache));
  await service.update(forever, conversationId, { muted_until: '9999-12-31T23:59:59.999Z' });
  await service.update(future, conversationId, { muted_until: FUTURE.toISOString() });
  await service.update(past, conversationId, { muted_until: PAST.toISOString() });
  await service.update(never, conversationId, { archived: true, pinned: true });
  await service.update(elsewhere, otherConversationId, { muted_until: FUTURE.toISOString() });
});
afterAll(async () => {
  await bus?.close();
  await database?.close();
});

const everyone = () => Object.values(u);

describe('mutedMemberIds', () => {
  test('the members among the ids whose mute lies ahead now, by id', async () => {
    const muted = await mutedMemberIds(database.db, conversationId, everyone());
    expect(muted).toEqual([u.forever, u.future].sort((a, b) => a - b));
    expect(await mutedMemberIds(database.db, conversationId, [u.never, u.past, u.outsider])).toEqual([]);
    expect(await mutedMemberIds(database.db, conversationId, [])).toEqual([]);
    expect(await mutedMemberIds(database.db, otherConversationId, everyone())).toEqual([u.elsewhere]);
  });

  test('at a given time: a mute that has ended by then no longer counts; one without end always does', async () => {
    const before = (d: Date, ms: number) => new Date(d.getTime() - ms);
    expect(await mutedMemberIds(database.db, conversationId, everyone(), before(PAST, 1000))).toEqual(
      [u.forever, u.future, u.past].sort((a, b) => a - b),
    );
    expect(await mutedMemberIds(database.db, conversationId, everyone(), FUTURE)).toEqual([u.forever]);
    expect(await mutedMemberIds(database.db, conversationId, everyone(), new Date('9999-06-01T00:00:00Z'))).toEqual([u.forever]);
  });
});

describe('MemberSettingsService', () => {
  test('isMuted and mutedAmong follow the stored mutes; unmuting ends them', async () => {
    expect(await service.isMuted(u.forever, conversationId)).toBe(true);
    expect(await service.isMuted(u.future, conversationId)).toBe(true);
    expect(await service.isMuted(u.past, conversationId)).toBe(false);
    expect(await service.isMuted(u.never, conversationId)).toBe(false);
    expect(await service.isMuted(u.elsewhere, conversationId)).toBe(false);
    expect(await service.isMuted(u.elsewhere, otherConversationId)).toBe(true);
    expect(await service.isMuted(u.outsider, conversationId)).toBe(false);
    expect(await service.mutedAmong(conversationId, [u.future, u.never, u.outsider])).toEqual([u.future]);

    const settings = await service.update(u.future, conversationId, { muted_until: null });
    expect(settings.muted_until).toBeNull();
    expect(await service.isMuted(u.future, conversationId)).toBe(false);
    await service.update(u.future, conversationId, { muted_until: FUTURE.toISOString() });
  });

  test('the forever mute is stored as infinity, and a migrated infinity reads back as the forever time', async () => {
    const row = await database.db
      .selectFrom('conversation_participants')
      .select(sql<boolean>`muted_until = 'infinity'`.as('forever'))
      .where('conversation_id', '=', conversationId)
      .where('user_id', '=', u.forever)
      .executeTakeFirstOrThrow();
    expect(row.forever).toBe(true);
    const same = await service.update(u.forever, conversationId, { archived: false });
    expect(same.muted_until).toBe('9999-12-31T23:59:59.999Z');
  });

  test('update refuses an empty change and a non-member, changing nothing', async () => {
    await expect(service.update(u.never, conversationId, {})).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(service.update(u.outsider, conversationId, { archived: true })).rejects.toMatchObject({ code: 'not_found' });
    const rows = await database.db.selectFrom('conversation_participants').select('user_id').where('user_id', '=', u.outsider).execute();
    expect(rows).toEqual([]);
  });
});
