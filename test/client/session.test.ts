import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { localStorageTokenStore, memoryTokenStore, NatterError, type StorageLike } from '../../client/src/index.js';
import { startApp, TestClock, type TestApp } from '../harness/app.js';
import { Clients, eventually } from './fixtures.js';

/** The SDK's session against a real natter: sign-up, sign-in, restore, logout, token refresh. */

let t: TestApp;
const clock = new TestClock();
const clients = new Clients();

// Access tokens live 2 s, so the refresh before expiry is seen within a test.
beforeAll(async () => {
  t = await startApp({ accessTokenTtl: 2 }, { clock });
});
afterEach(() => clients.closeAll());
afterAll(() => t?.close());

/** A fetch that records what the client asked and what natter answered. */
function recordingFetch() {
  const calls: string[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const req = new Request(input, init);
    const res = await fetch(req);
    calls.push(`${req.method} ${new URL(req.url).pathname} ${res.status}`);
    return res;
  };
  return { calls, fetchFn };
}

const credentials = () => {
  const n = `${process.pid}${randomBytes(3).toString('hex')}`;
  return { username: `sess${n}`, email: `sess${n}@example.com`, password: 'password123' };
};

describe('sign-up, sign-in, restore, logout', () => {
  test('register keeps the tokens in the store; a new client restores from it; login works; logout ends the session', async () => {
    const store = memoryTokenStore();
    const body = credentials();
    const a = clients.make(t.url, { tokenStore: store });
    const me = await a.register(body);
    expect(me).toMatchObject({ username: body.username, email: body.email });
    expect(a.user?.id).toBe(me.id);
    const saved = await store.load();
    expect(saved?.access_token).toMatch(/^ey/);
    expect(saved?.expires_at).toBeGreaterThan(Date.now());

    // The "reload": a new client over the same store is signed in without a password.
    const b = clients.make(t.url, { tokenStore: store });
    expect((await b.restore())?.id).toBe(me.id);
    expect(b.user?.username).toBe(body.username);

    const c = clients.make(t.url);
    expect((await c.login({ email: body.email, password: body.password })).id).toBe(me.id);
    await expect(c.login({ email: body.email, password: 'wrong-password' })).rejects.toMatchObject({
      status: 401,
      code: 'invalid_credentials',
    });

    const signedOut: unknown[] = [];
    b.onUser((u) => signedOut.push(u));
    await b.logout();
    expect(b.user).toBeNull();
    expect(signedOut).toEqual([null]);
    expect(await store.load()).toBeNull();
    // The session is over on the server too: its token is refused.
    const res = await fetch(`${t.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${saved!.access_token}` } });
    expect(res.status).toBe(401);
    // A client over an empty store restores nothing.
    expect(await clients.make(t.url, { tokenStore: store }).restore()).toBeNull();
  });

  test('register refused: a NatterError with the status, code and field', async () => {
    const c = clients.make(t.url);
    const err = await c.register({ ...credentials(), email: 'not-an-email' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NatterError);
    expect(err).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(c.user).toBeNull();
  });

  test('localStorageTokenStore keeps tokens as JSON under its key and forgets them on sign-out', async () => {
    const items = new Map<string, string>();
    const storage: StorageLike = {
      getItem: (k) => items.get(k) ?? null,
      setItem: (k, v) => void items.set(k, v),
      removeItem: (k) => void items.delete(k),
    };
    const store = localStorageTokenStore('app.tokens', storage);
    const a = clients.make(t.url, { tokenStore: store });
    const me = await a.register(credentials());
    expect(JSON.parse(items.get('app.tokens')!)).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) });
    expect((await clients.make(t.url, { tokenStore: localStorageTokenStore('app.tokens', storage) }).restore())?.id).toBe(me.id);
    await a.logout();
    expect(items.has('app.tokens')).toBe(false);
    expect(() => localStorageTokenStore().load()).toThrow(/no localStorage/);
  });
});

describe('token refresh', () => {
  test('the access token is refreshed before it expires: requests never see a 401', async () => {
    const { calls, fetchFn } = recordingFetch();
    const store = memoryTokenStore();
    const a = clients.make(t.url, { tokenStore: store, fetch: fetchFn });
    await a.register(credentials());
    const first = (await store.load())!;
    await a.connect();

    const second = await eventually(async () => {
      const now = (await store.load())!;
      expect(now.access_token).not.toBe(first.access_token);
      return now;
    }, 4000);
    // Refreshed ahead of time: the first token had not expired yet.
    expect(Date.now()).toBeLessThan(first.expires_at!);
    expect(second.expires_at).toBeGreaterThan(first.expires_at!);
    expect(calls).toContain('POST /api/v1/auth/refresh 200');

    // And again, past the first token's lifetime: REST and the socket keep working.
    await eventually(async () => expect(Date.now()).toBeGreaterThan(first.expires_at! + 500), 4000);
    expect((await a.api.GET('/api/v1/users/me')).response.status).toBe(200);
    expect(a.state).toBe('online');
    expect(calls.filter((c) => c.endsWith(' 401'))).toEqual([]);
  });

  test('a 401 (the server thinks the token expired) is refreshed once and the request retried', async () => {
    const { calls, fetchFn } = recordingFetch();
    const a = clients.make(t.url, { fetch: fetchFn });
    await a.register(credentials());
    calls.length = 0;
    clock.advance(60_000); // the server's clock moves past the access token's expiry
    const res = await a.api.GET('/api/v1/users/me');
    expect(res.response.status).toBe(200);
    expect(res.data?.user.id).toBe(a.user!.id);
    expect(calls).toEqual(['GET /api/v1/users/me 401', 'POST /api/v1/auth/refresh 200', 'GET /api/v1/users/me 200']);
  });

  test('two clients over one token store (two tabs): the second takes the pair the first refreshed instead of reusing its refresh token', async () => {
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
    second.calls.length = 0;
    // tab2 still holds the old pair; its 401 finds the new one in the store.
    expect((await tab2.api.GET('/api/v1/users/me')).response.status).toBe(200);
    expect(second.calls).toEqual(['GET /api/v1/users/me 401', 'GET /api/v1/users/me 200']);
    // Had it spent the old refresh token, natter would have ended the session for both.
    expect((await tab1.api.GET('/api/v1/users/me')).response.status).toBe(200);
    expect(tab1.user).not.toBeNull();

    // Both at once: one refresh between them.
    clock.advance(60_000);
    first.calls.length = 0;
    second.calls.length = 0;
    const replies = await Promise.all([tab1.api.GET('/api/v1/users/me'), tab2.api.GET('/api/v1/users/me')]);
    expect(replies.map((r) => r.response.status)).toEqual([200, 200]);
    expect([...first.calls, ...second.calls].filter((c) => c.startsWith('POST /api/v1/auth/refresh'))).toEqual([
      'POST /api/v1/auth/refresh 200',
    ]);
    expect([tab1.user, tab2.user].every((u) => u !== null)).toBe(true);
  });

  test('a reconnect whose upgrade is refused (the server thinks the token expired) refreshes and gets back online', async () => {
    const { calls, fetchFn } = recordingFetch();
    const a = clients.make(t.url, { fetch: fetchFn });
    await a.register(credentials());
    await a.connect();
    clock.advance(60_000);
    calls.length = 0;
    const states: string[] = [];
    a.onState((s) => states.push(s));
    const conns = [...(t.app.gateway as any).sockets.all()].filter((conn: any) => conn.userId === a.user!.id);
    conns[0].socket.terminate();
    await eventually(() => expect(states.at(-1)).toBe('online'));
    // The first attempt went with the old token and was refused; the check over REST refreshed it.
    expect(states.filter((s) => s === 'connecting')).toHaveLength(2);
    expect(calls.slice(0, 3)).toEqual(['GET /api/v1/users/me 401', 'POST /api/v1/auth/refresh 200', 'GET /api/v1/users/me 200']);
  });

  test('a session ended elsewhere: one refresh attempt, then signed out; connect is refused', async () => {
    const { calls, fetchFn } = recordingFetch();
    const store = memoryTokenStore();
    const a = clients.make(t.url, { fetch: fetchFn, tokenStore: store });
    await a.register(credentials());
    const token = (await store.load())!.access_token;
    const users: unknown[] = [];
    a.onUser((u) => users.push(u));
    // The session is revoked behind the client's back (logout on another device).
    expect((await fetch(`${t.url}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    calls.length = 0;

    const res = await a.api.GET('/api/v1/users/me');
    expect(res.response.status).toBe(401);
    expect(calls).toEqual(['GET /api/v1/users/me 401', 'POST /api/v1/auth/refresh 401']);
    expect(a.user).toBeNull();
    expect(users).toEqual([null]);
    expect(await store.load()).toBeNull();
    await expect(a.connect()).rejects.toMatchObject({ code: 'unauthorized' });
  });

  test('an open socket whose session ends (4001) signs the client out and stops reconnecting', async () => {
    const store = memoryTokenStore();
    const a = clients.make(t.url, { tokenStore: store });
    await a.register(credentials());
    await a.connect();
    const states: string[] = [];
    a.onState((s) => states.push(s));
    const token = (await store.load())!.access_token;
    await fetch(`${t.url}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    await eventually(() => expect(a.user).toBeNull());
    expect(a.state).toBe('idle');
    expect(states.at(-1)).toBe('idle');
    expect(states).not.toContain('connecting');
  });
});
