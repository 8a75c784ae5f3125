import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import type { Database } from '../../src/store/database.js';
import { registerUser, startApp, testConfig, testDatabase, type TestApp } from '../harness/app.js';
import { expectError } from '../harness/expect.js';

/** GET /search/messages against the running app and a real database (PGlite or PostgreSQL). */

type Account = Awaited<ReturnType<typeof registerUser>>;

let t: TestApp;
/** `me` searches; `friend` shares the direct and the group with me; `stranger` is in neither. */
let me: Account, friend: Account, third: Account, stranger: Account;
let direct: number;
let group: number;
/** friend ↔ stranger: not mine. */
let elsewhere: number;

async function conversation(t: TestApp, who: Account, body: unknown): Promise<number> {
  const res = await t.request('POST', '/api/v1/conversations', { token: who.token, body });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.conversation.id as number;
}

async function send(t: TestApp, who: Account, conversationId: number, content: string): Promise<any> {
  const res = await t.request('POST', `/api/v1/conversations/${conversationId}/messages`, { token: who.token, body: { content } });
  if (res.status !== 201) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.message;
}

function searchIn(t: TestApp, who: Account, params: Record<string, string | number>) {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  return t.request('GET', `/api/v1/search/messages?${query.toString()}`, { token: who.token });
}
const search = (who: Account, params: Record<string, string | number>) => searchIn(t, who, params);

/** The ids found, in the order returned; fails on anything but 200. */
async function found(who: Account, params: Record<string, string | number>, app = t): Promise<number[]> {
  const res = await searchIn(app, who, params);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.results.map((r: any) => r.message.id as number);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await startApp();
  [me, friend, third, stranger] = (await Promise.all(Array.from({ length: 4 }, () => registerUser(t)))) as [
    Account,
    Account,
    Account,
    Account,
  ];
  direct = await conversation(t, me, { type: 'direct', participant_id: friend.user.id });
  group = await conversation(t, me, { type: 'group', name: 'Team', participant_ids: [friend.user.id, third.user.id] });
  elsewhere = await conversation(t, friend, { type: 'direct', participant_id: stranger.user.id });
});
afterAll(() => t?.close());

describe('who finds what', () => {
  test('messages of conversations the caller is not in are never found, with or without conversation_id', async () => {
    const theirs = await send(t, stranger, elsewhere, 'zebracrossing at noon');
    const mine = await send(t, friend, direct, 'zebracrossing at dawn');
    expect(await found(stranger, { q: 'zebracrossing' })).toEqual([theirs.id]);
    expect(await found(friend, { q: 'zebracrossing' })).toEqual([mine.id, theirs.id]);
    expect(await found(me, { q: 'zebracrossing' })).toEqual([mine.id]);
    expect(await found(me, { q: 'noon' })).toEqual([]);

    const notMine = await search(me, { q: 'zebracrossing', conversation_id: elsewhere });
    const missing = await search(me, { q: 'zebracrossing', conversation_id: 9_007_199_254_740_991 });
    expectError(notMine, 404, 'not_found');
    expectError(missing, 404, 'not_found');
    // Not a member and no such conversation look the same.
    expect(notMine.body).toEqual(missing.body);
  });

  test('conversation_id narrows to one of the caller\'s conversations', async () => {
    const inDirect = await send(t, me, direct, 'marmalade in the direct one');
    const inGroup = await send(t, me, group, 'marmalade in the group');
    expect(await found(me, { q: 'marmalade' })).toEqual([inGroup.id, inDirect.id]);
    expect(await found(me, { q: 'marmalade', conversation_id: direct })).toEqual([inDirect.id]);
    expect(await found(third, { q: 'marmalade' })).toEqual([inGroup.id]);
  });

  test('a message the caller hid for themselves is not found by them, still by the others', async () => {
    const m = await send(t, friend, direct, 'hideable pineapple');
    expect(await found(me, { q: 'pineapple' })).toEqual([m.id]);
    const hid = await t.request('DELETE', `/api/v1/conversations/${direct}/messages/${m.id}?for=me`, { token: me.token });
    expect(hid.status).toBe(200);
    expect(await found(me, { q: 'pineapple' })).toEqual([]);
    expect(await found(friend, { q: 'pineapple' })).toEqual([m.id]);
  });

  test('a message deleted for everyone is found by nobody', async () => {
    const m = await send(t, friend, group, 'deletable coconut');
    const kept = await send(t, friend, group, 'kept coconut');
    expect(await found(third, { q: 'coconut' })).toEqual([kept.id, m.id]);
    const deleted = await t.request('DELETE', `/api/v1/conversations/${group}/messages/${m.id}`, { token: friend.token });
    expect(deleted.status).toBe(200);
    for (const who of [me, friend, third]) expect(await found(who, { q: 'coconut' })).toEqual([kept.id]);
  });

  test('sender_id keeps the messages of one sender', async () => {
    const mine = await send(t, me, group, 'quokka from me');
    const theirs = await send(t, third, group, 'quokka from third');
    expect(await found(me, { q: 'quokka', sender_id: third.user.id })).toEqual([theirs.id]);
    expect(await found(me, { q: 'quokka', sender_id: me.user.id })).toEqual([mine.id]);
    expect(await found(me, { q: 'quokka', sender_id: stranger.user.id })).toEqual([]);
  });

  test('before and after bound created_at, both exclusive at the millisecond the API shows', async () => {
    const sent = [];
    for (const word of ['one', 'two', 'three']) {
      sent.push(await send(t, me, direct, `timeline ${word}`));
      await sleep(5);
    }
    const [first, second, last] = sent as [any, any, any];
    expect(await found(me, { q: 'timeline', before: second.created_at })).toEqual([first.id]);
    expect(await found(me, { q: 'timeline', after: second.created_at })).toEqual([last.id]);
    expect(await found(me, { q: 'timeline', after: first.created_at, before: last.created_at })).toEqual([second.id]);
    expect(await found(me, { q: 'timeline', before: first.created_at })).toEqual([]);
    // Any offset, not only Z.
    const inParis = new Date(Date.parse(last.created_at) + 1).toISOString().replace('Z', '+00:00');
    expect(await found(me, { q: 'timeline', before: inParis })).toEqual([last.id, second.id, first.id]);
  });
});

describe('the query language', () => {
  let hello: any, helloWorld: any, help: any;
  beforeAll(async () => {
    hello = await send(t, me, direct, 'hello there');
    helloWorld = await send(t, friend, group, 'hello world, said the program');
    help = await send(t, friend, direct, 'I need help with the world');
  });

  test('the last word is a prefix while it is typed: "hel" finds hello and help', async () => {
    expect(await found(me, { q: 'hel' })).toEqual([help.id, helloWorld.id, hello.id]);
    expect(await found(me, { q: 'hell' })).toEqual([helloWorld.id, hello.id]);
    expect(await found(me, { q: 'hello' })).toEqual([helloWorld.id, hello.id]);
    expect(await found(me, { q: 'helloo' })).toEqual([]);
  });

  test('a last word shorter than three letters is matched whole, not as a prefix', async () => {
    expect(await found(me, { q: 'he' })).toEqual([]);
    expect(await found(me, { q: 'hello wo' })).toEqual([]);
    const short = await send(t, me, group, 'he is here');
    expect(await found(me, { q: 'he' })).toEqual([short.id]);
  });

  test('only the last word is a prefix', async () => {
    expect(await found(me, { q: 'hello wor' })).toEqual([helloWorld.id]);
    expect(await found(me, { q: 'hel world' })).toEqual([]);
    // Typing went on after a space: the last word is complete, but a prefix of itself too.
    expect(await found(me, { q: 'world hel' })).toEqual([help.id, helloWorld.id]);
  });

  test('two words: both must occur, anywhere in the message', async () => {
    expect(await found(me, { q: 'world hello' })).toEqual([helloWorld.id]);
    expect(await found(me, { q: 'there world' })).toEqual([]);
  });

  test('a quoted phrase: the words in that order, and a quoted last word is not a prefix', async () => {
    const quick = await send(t, me, group, 'the quick fox');
    await send(t, me, group, 'quick brown fox');
    expect(await found(me, { q: '"quick fox"' })).toEqual([quick.id]);
    expect(await found(me, { q: '"fox quick"' })).toEqual([]);
    expect(await found(me, { q: '"hello world"' })).toEqual([helloWorld.id]);
    expect(await found(me, { q: '"hello wor"' })).toEqual([]);
    expect(await found(me, { q: '"hello wor' })).toEqual([]);
  });

  test('-word excludes messages holding it (exactly, not as a prefix); `or` takes either', async () => {
    expect(await found(me, { q: 'hello -world' })).toEqual([hello.id]);
    expect(await found(me, { q: 'hello -wor' })).toEqual([helloWorld.id, hello.id]);
    expect(await found(me, { q: 'there or program' })).toEqual([helloWorld.id, hello.id]);
    expect(await found(me, { q: 'there or progr' })).toEqual([helloWorld.id, hello.id]);
  });

  test('a query without a word to search (punctuation, quotes, operators) finds nothing and is no error', async () => {
    for (const q of ['!!!', '-', '""', '"', '&|!():*', "'", '\\', '<->', 'or', '- -', '  ,  ']) {
      const res = await search(me, { q });
      expect(res.status, `${q}: ${JSON.stringify(res.body)}`).toBe(200);
      expect(res.body, q).toEqual({ results: [], next_cursor: null });
    }
  });

  test('odd characters are taken as text, never as query syntax that fails', async () => {
    const odd = await send(t, me, direct, "it's l'amour: a:b 'quoted' and ümlaut café 東京");
    for (const q of ["it's", "l'amour", 'a:b', "'quoted'", 'ümlaut', 'CAFÉ', 'caf', '東京', "it''s", 'a:*', 'amour)']) {
      const ids = await found(me, { q });
      expect(ids, q).toContain(odd.id);
    }
    for (const q of ['(', ')', 'a & b', 'x | y', '!z', "'''", 'foo:A', 'x <2> y', '\uFDD0', '\uFFFF']) {
      const res = await search(me, { q });
      expect(res.status, `${q}: ${JSON.stringify(res.body)}`).toBe(200);
    }
  });
});

describe('pages', () => {
  test('newest first; the cursor walks every match once, without gaps, across conversations', async () => {
    const sent: number[] = [];
    for (let i = 0; i < 25; i++) sent.push((await send(t, i % 3 ? friend : me, i % 2 ? direct : group, `pagination item ${i}`)).id);
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await search(me, { q: 'pagination', limit: 10, ...(cursor ? { cursor } : {}) });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.results.length).toBe(pages < 2 ? 10 : 5);
      seen.push(...res.body.results.map((r: any) => r.message.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...sent].reverse());
  });

  test('an exact last page says so: next_cursor null', async () => {
    for (let i = 0; i < 4; i++) await send(t, me, direct, `evenpage ${i}`);
    const first = await search(me, { q: 'evenpage', limit: 2 });
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await search(me, { q: 'evenpage', limit: 2, cursor: first.body.next_cursor });
    expect(second.body.results).toHaveLength(2);
    expect(second.body.next_cursor).toBeNull();
  });

  test('the page holds each message as history shows it to the caller, with the sender, status and reactions', async () => {
    const mine = await send(t, me, direct, 'shapely walrus');
    const theirs = await send(t, friend, group, 'shapely walrus too');
    const react = async (who: Account, conv: number, id: number, emoji: string) => {
      const res = await t.request('PUT', `/api/v1/conversations/${conv}/messages/${id}/reactions/${encodeURIComponent(emoji)}`, {
        token: who.token,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    };
    // 👍 first, then 🎉: by first use, not by code point (🎉 U+1F389 sorts before 👍 U+1F44D).
    await react(friend, direct, mine.id, '👍');
    await react(me, direct, mine.id, '🎉');
    await react(me, direct, mine.id, '👍');
    await react(friend, group, theirs.id, '🎉');
    const res = await search(me, { q: 'walrus' });
    expect(Object.keys(res.body).sort()).toEqual(['next_cursor', 'results']);
    for (const [conv, id] of [
      [direct, mine.id],
      [group, theirs.id],
    ] as const) {
      const history = await t.request('GET', `/api/v1/conversations/${conv}/messages?limit=100`, { token: me.token });
      const shown = history.body.messages.find((m: any) => m.id === id);
      const result = res.body.results.find((r: any) => r.message.id === id);
      expect(Object.keys(result).sort()).toEqual(['highlight', 'message']);
      expect(result.message).toEqual(shown);
    }
    expect(res.body.results.map((r: any) => r.message.status)).toEqual(['delivered', 'sent']);
    expect(res.body.results[0].message.sender.id).toBe(friend.user.id);
    expect(res.body.results.map((r: any) => r.message.reactions)).toEqual([
      [{ emoji: '🎉', count: 1, me: false }],
      [
        { emoji: '👍', count: 2, me: true },
        { emoji: '🎉', count: 1, me: true },
      ],
    ]);
  });
});

describe('highlight', () => {
  const mark = (s: string) => `<mark>${s}</mark>`;

  test('the matched words are marked, the rest of the text is there as written', async () => {
    await send(t, me, direct, 'Bright lanterns and bright stars');
    const res = await search(me, { q: 'bright star' });
    expect(res.body.results[0].highlight).toBe(`${mark('Bright')} lanterns and ${mark('bright')} ${mark('stars')}`);
  });

  test('HTML in a message comes back escaped; only the marks are markup', async () => {
    const m = await send(t, me, direct, '<b>klaxon</b> & "friends" <script>alert(\'x\')</script>');
    const [result] = (await search(me, { q: 'klaxon' })).body.results;
    expect(result.message.id).toBe(m.id);
    expect(result.message.content).toBe(m.content);
    expect(result.highlight).toBe(
      `&lt;b&gt;${mark('klaxon')}&lt;/b&gt; &amp; &quot;friends&quot; &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;`,
    );
  });

  test('a message holding the marker characters cannot forge a mark', async () => {
    await send(t, me, direct, 'forged \uFDD0evil\uFDD1 but real gazelle < b');
    const [result] = (await search(me, { q: 'gazelle' })).body.results;
    expect(result.highlight).toBe(`forged \uFFFDevil\uFFFD but real ${mark('gazelle')} &lt; b`);
  });

  test('a long message is cut to the part around the match', async () => {
    const filler = Array.from({ length: 200 }, (_, i) => `filler${i}`).join(' ');
    await send(t, me, group, `${filler} needle ${filler}`);
    const [result] = (await search(me, { q: 'needle' })).body.results;
    expect(result.highlight).toContain(mark('needle'));
    expect(result.highlight.length).toBeLessThan(600);
  });
});

describe('bad input: 400 validation_failed naming the field, never 500', () => {
  const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
  const cases: [string, Record<string, string | number>, string][] = [
    ['q missing', {}, 'q'],
    ['q empty', { q: '' }, 'q'],
    ['q blank', { q: '   \t ' }, 'q'],
    ['q only no-break spaces', { q: '\u00A0\u00A0' }, 'q'],
    ['q too long', { q: 'a'.repeat(257) }, 'q'],
    ['cursor not base64 of ours', { q: 'x', cursor: 'garbage' }, 'cursor'],
    ['cursor with a non-number', { q: 'x', cursor: cursorOf('s:abc') }, 'cursor'],
    ['cursor beyond 2^53', { q: 'x', cursor: cursorOf(`s:${'9'.repeat(16)}`) }, 'cursor'],
    ['cursor too long', { q: 'x', cursor: 'a'.repeat(129) }, 'cursor'],
    ['limit 0', { q: 'x', limit: 0 }, 'limit'],
    ['limit 101', { q: 'x', limit: 101 }, 'limit'],
    ['limit not a number', { q: 'x', limit: 'ten' }, 'limit'],
    ['conversation_id 1e20', { q: 'x', conversation_id: '1e20' }, 'conversation_id'],
    ['conversation_id 0', { q: 'x', conversation_id: 0 }, 'conversation_id'],
    ['sender_id -1', { q: 'x', sender_id: -1 }, 'sender_id'],
    ['sender_id Infinity', { q: 'x', sender_id: 'Infinity' }, 'sender_id'],
    ['before not a time', { q: 'x', before: 'yesterday' }, 'before'],
    ['after without a zone', { q: 'x', after: '2026-01-01T00:00:00' }, 'after'],
    ['before a leap second', { q: 'x', before: '2026-12-31T23:59:60Z' }, 'before'],
    ['q with NUL', { q: 'a\u0000b' }, 'q'],
  ];
  test.each(cases)('%s', async (_name, params, field) => {
    const res = await search(me, params);
    expectError(res, 400, 'validation_failed');
    expect(res.body.field).toBe(field);
  });

  test('256 characters of q are fine, and a search needs a token', async () => {
    expect((await search(me, { q: 'a'.repeat(256) })).status).toBe(200);
    expect((await search(me, { q: 'hello world '.repeat(21).slice(0, 256) })).status).toBe(200);
    expectError(await t.request('GET', '/api/v1/search/messages?q=hello'), 401, 'unauthorized');
  });
});

describe('SEARCH_LANGUAGE', () => {
  test('english stems: "running" finds "run"; with simple it does not', async () => {
    const english = await startApp({ searchLanguage: 'english' });
    try {
      const [a, b] = [await registerUser(english), await registerUser(english)];
      const conv = await conversation(english, a, { type: 'direct', participant_id: b.user.id });
      const m = await send(english, a, conv, 'we run daily');
      await send(english, a, conv, 'the and of');
      expect(await found(b, { q: 'running' }, english)).toEqual([m.id]);
      expect(await found(b, { q: 'runs' }, english)).toEqual([m.id]);
      // Stop words only: nothing to search for.
      expect(await found(b, { q: 'the of' }, english)).toEqual([]);
      const { rows } = await sql<{ t: string }>`select to_tsvector('english', 'running')::text as t`.execute(english.app.database.db);
      expect(rows[0]!.t).toBe("'run':1");
    } finally {
      await english.close();
    }
    const m = await send(t, me, direct, 'we run daily');
    expect(await found(me, { q: 'running' })).toEqual([]);
    expect(await found(me, { q: 'run' })).toContain(m.id);
  });

  test('two nodes starting together on one database with a new language rebuild the column once', async () => {
    const database = await testDatabase();
    const dirs: string[] = [];
    const apps: App[] = [];
    const start = (db: Database) => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'natter-search-'));
      dirs.push(dataDir);
      return createApp(testConfig({ dataDir, searchLanguage: 'english' }), { database: db });
    };
    // Each dropped and re-added column leaves a dropped attribute behind in pg_attribute.
    const rebuilds = async () => {
      const { rows } = await sql<{ n: number; language: string }>`
        select (select count(*)::int from pg_attribute where attrelid = 'messages'::regclass and attisdropped) as n,
               (select generation_expression from information_schema.columns
                 where table_name = 'messages' and column_name = 'search') as language`.execute(database.db);
      return rows[0]!;
    };
    try {
      const before = await rebuilds();
      expect(before.language).toContain("'simple'");
      // The second shares the first's handle; only the last one out may close it.
      const shared = { ...database, close: async () => {} };
      apps.push(...(await Promise.all([start(database), start(shared)])));
      const after = await rebuilds();
      expect(after.language).toBe("to_tsvector('english'::regconfig, content)");
      expect(after.n).toBe(before.n + 1);
      const index = await sql<{ def: string }>`select indexdef as def from pg_indexes where indexname = 'messages_search_idx'`.execute(
        database.db,
      );
      expect(index.rows[0]!.def).toContain('USING gin (search)');
      // The rebuilt column keeps the statistics the planner needs to tell frequent words from rare ones.
      const stats = await sql<{ target: number }>`
        select attstattarget::int as target from pg_attribute where attrelid = 'messages'::regclass and attname = 'search'`.execute(
        database.db,
      );
      expect(stats.rows[0]!.target).toBe(1000);
      // Starting again with the same language changes nothing.
      apps.push(await start(shared));
      expect((await rebuilds()).n).toBe(before.n + 1);
    } finally {
      for (const app of apps.reverse()) await app.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a language the database does not have stops start-up, naming those it has', async () => {
    const database = await testDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'natter-search-'));
    try {
      await expect(createApp(testConfig({ dataDir, searchLanguage: 'klingon' }), { database })).rejects.toThrow(
        /SEARCH_LANGUAGE "klingon" is not a text search configuration of this database \(it has: .*english.*simple/,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
