import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { memoryTokenStore } from '../../client/src/index.js';
import { startApp, TestClock, type TestApp } from '../harness/app.js';
import { Clients, eventually, recordingFetch, sleep } from './fixtures.js';

/**
 * Sessions racing each other against a real natter: tabs sharing one token store (two
 * clients over one store stand in for a browser's localStorage), sign-in and sign-out
 * while a refresh is on its way, a client closed mid-refresh.
 */

let t: TestApp;
const clock = new TestClock();
const clients = new Clients();

// Access tokens live 2 s, so a refresh before expiry is seen within a test.
beforeAll(async () => {
  t = await startApp({ accessTokenTtl: 2 }, { clock });
});
afterEach(() => clients.closeAll());
afterAll(() => t?.close());

const credentials = () => {
  const n = `${process.pid}${randomBytes(3).toString('hex')}`;
  return { username: `tabs${n}`, email: `tabs${n}@example.com`, password: 'password123' };
};

describe('tabs and refreshes', () => {
  test('a tab wakes after the pair another tab refreshed has expired too: it refreshes with the stored refresh token, not its spent one', async () => {
    clock.advance(60_000); // tokens issued now outlive the test as the clients see them
    const store = memoryTokenStore();
    const first = recordingFetch();
    const second = recordingFetch();
    const tab1 = clients.make(t.url, { tokenStore: store, fetch: first.fetchFn });
    await tab1.register(credentials());
    const tab2 = clients.make(t.url, { tokenStore: store, fetch: second.fetchFn });
    await tab2.restore();
    clock.advance(60_000);
    expect((await tab1.api.GET('/api/v1/users/me')).response.status).toBe(200);
    expect(first.calls).toContain('POST /api/v1/auth/refresh 200');
    tab1.close(); // the tab that refreshed goes away

    // Time passes: the stored pair's access token expires too (natter's clock and the stored expiry say so).
    clock.advance(60_000);
    const refreshed = (await store.load())!;
    await store.save({ ...refreshed, expires_at: Date.now() - 1000 });
    second.calls.length = 0;
    expect((await tab2.api.GET('/api/v1/users/me')).response.status).toBe(200);
    expect(second.calls).toEqual(['GET /api/v1/users/me 401', 'POST /api/v1/auth/refresh 200', 'GET /api/v1/users/me 200']);
    // Spending tab2's own (spent) refresh token would have ended the session for every tab.
    expect(tab2.user).not.toBeNull();
    const now = (await store.load())!;
    expect(now.refresh_token).not.toBe(refreshed.refresh_token);
    expect((await fetch(`${t.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${now.access_token}` } })).status).toBe(200);
  });

  test('another tab signs out and in as someone else: this tab signs out, never uses their tokens, never sends its outbox as them', async () => {
    clock.advance(60_000);
    const store = memoryTokenStore();
    const alice = credentials();
    const bob = credentials();
    const bobId = (await clients.make(t.url).register(bob)).id;
    const tabA = clients.make(t.url, { tokenStore: store });
    const aliceId = (await tabA.register(alice)).id;
    const other = clients.make(t.url);
    await other.register(credentials());
    const { data } = await tabA.api.POST('/api/v1/conversations', { body: { type: 'direct', participant_id: other.user!.id } });
    const c = data!.conversation.id;
    tabA.send(c, { content: 'from alice' });
    const users: unknown[] = [];
    tabA.onUser((u) => users.push(u));

    const tabB = clients.make(t.url, { tokenStore: store });
    await tabB.restore();
    await tabB.logout();
    expect((await tabB.login({ email: bob.email, password: bob.password })).id).toBe(bobId);
    const bobs = (await store.load())!;

    // Tab A's next connect is refused (its session is over); the refresh finds Bob's pair in the store.
    await expect(tabA.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(tabA.user).toBeNull();
    expect(users).toEqual([null]);
    expect(tabA.state).toBe('idle');
    expect(await store.load()).toEqual(bobs);
    expect((await tabB.api.GET('/api/v1/users/me')).data?.user.id).toBe(bobId);
    expect((await other.history(c)).map((m) => m.content)).toEqual([]);
    expect(aliceId).not.toBe(bobId);
  });

  test('a refresh that answers after the client signed in as someone else is dropped', async () => {
    clock.advance(60_000);
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let rec!: ReturnType<typeof recordingFetch>;
    const seen = new Promise<void>((resolve) => {
      rec = recordingFetch(async (call) => {
        if (call.startsWith('POST /api/v1/auth/refresh')) {
          resolve();
          await gate;
        }
      });
    });
    const store = memoryTokenStore();
    const bob = credentials();
    const bobId = (await clients.make(t.url).register(bob)).id;
    const a = clients.make(t.url, { tokenStore: store, fetch: rec.fetchFn });
    await a.register(credentials());
    const users: (number | null)[] = [];
    a.onUser((u) => users.push(u?.id ?? null));
    clock.advance(60_000);
    const pending = a.api.GET('/api/v1/users/me'); // 401: a refresh goes out
    await seen;
    expect((await a.login({ email: bob.email, password: bob.password })).id).toBe(bobId);
    release();
    await pending;
    expect(a.user?.id).toBe(bobId);
    expect(users).toEqual([bobId]);
    const held = (await store.load())!;
    expect((await fetch(`${t.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${held.access_token}` } }).then((r) => r.json() as Promise<{ user: { id: number } }>)).user.id).toBe(bobId);
  });

  test('a client closed while a refresh is on its way arms no timer: it refreshes no more', async () => {
    clock.advance(Date.now() - clock.now()); // natter's time is the clients' again: tokens live 2 s as they see them
    const made: { client?: ReturnType<Clients['make']> } = {};
    const rec = recordingFetch((call) => {
      if (call.startsWith('POST /api/v1/auth/refresh')) made.client?.close();
    });
    const a = (made.client = clients.make(t.url, { fetch: rec.fetchFn }));
    await a.register(credentials());
    // The timer refreshes 1.5 s in; the client is closed before that answer reaches it.
    await eventually(() => expect(rec.calls).toContain('POST /api/v1/auth/refresh 200'), 4000);
    await sleep(2500); // a live client would have refreshed the new pair 1.5 s in
    expect(rec.calls.filter((c) => c.startsWith('POST /api/v1/auth/refresh'))).toEqual(['POST /api/v1/auth/refresh 200']);
  });

});
