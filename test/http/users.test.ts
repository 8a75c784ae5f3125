import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { ISO, USER_KEYS, expectError, expectNoPasswordKeys, expectUserFields } from '../harness/expect.js';

/** The public user object: exactly these keys, with these types. */
function expectPublicUser(user: any): void {
  expect(Object.keys(user).sort()).toEqual(USER_KEYS);
  expectUserFields(user);
}

let t: TestApp;
type Account = Awaited<ReturnType<typeof registerUser>>;
let alice: Account;

beforeAll(async () => {
  t = await startApp();
  alice = await registerUser(t, { phone: '+4930123456' });
});
afterAll(() => t?.close());

const get = (path: string, token: string) => t.request('GET', `/api/v1${path}`, { token });
const patchMe = (token: string, body: unknown) => t.request('PATCH', '/api/v1/users/me', { token, body });

describe('GET /users/me', () => {
  test('returns {user} with the caller\'s profile and privacy settings, no password', async () => {
    const res = await get('/users/me', alice.token);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['user']);
    const { user } = res.body;
    expect(Object.keys(user).sort()).toEqual([...USER_KEYS, 'last_seen_visibility', 'share_read_receipts'].sort());
    expect(user).toMatchObject({
      id: alice.user.id,
      username: alice.user.username,
      email: alice.user.email,
      phone: '+4930123456',
      avatar: null,
      status: 'offline',
      last_seen_visibility: 'everyone',
      share_read_receipts: true,
    });
    expect(user.last_seen).toMatch(ISO);
    expectNoPasswordKeys(res.body);
  });

  test('without a token is 401 unauthorized', async () => {
    expectError(await t.request('GET', '/api/v1/users/me'), 401, 'unauthorized');
  });
});

describe('PATCH /users/me', () => {
  test('changes only the fields sent and answers {user}; the row agrees', async () => {
    const u = await registerUser(t, { phone: '+111' });
    const before = (await get('/users/me', u.token)).body.user;
    const res = await patchMe(u.token, { avatar: 'https://cdn.example.com/a.png' });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ ...before, avatar: 'https://cdn.example.com/a.png', updated_at: expect.any(String) });
    expect(Date.parse(res.body.user.updated_at)).toBeGreaterThanOrEqual(Date.parse(before.updated_at));
    expectNoPasswordKeys(res.body);

    const row = await t.app.database.db
      .selectFrom('users')
      .select(['avatar', 'phone', 'username'])
      .where('id', '=', u.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ avatar: 'https://cdn.example.com/a.png', phone: '+111', username: u.user.username });
  });

  test('changes username, phone, visibility and read receipts together', async () => {
    const u = await registerUser(t);
    const newName = `renamed_${u.user.id}`;
    const res = await patchMe(u.token, {
      username: newName,
      phone: '+49 170 1234567',
      last_seen_visibility: 'nobody',
      share_read_receipts: false,
    });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({
      username: newName,
      phone: '+49 170 1234567',
      last_seen_visibility: 'nobody',
      share_read_receipts: false,
    });
    expect((await get('/users/me', u.token)).body.user).toMatchObject(res.body.user);
    // The new username logs in; the old one no longer does.
    const byNew = await t.request('POST', '/api/v1/auth/login', { body: { username: newName, password: 'password123' } });
    expect(byNew.status).toBe(200);
    const byOld = await t.request('POST', '/api/v1/auth/login', {
      body: { username: u.user.username, password: 'password123' },
    });
    expectError(byOld, 401, 'invalid_credentials');
  });

  test('null (or "") clears phone and avatar', async () => {
    const u = await registerUser(t, { phone: '+222' });
    await patchMe(u.token, { avatar: 'https://x.example/p.jpg' });
    const cleared = await patchMe(u.token, { phone: null, avatar: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body.user.phone).toBeNull();
    expect(cleared.body.user.avatar).toBeNull();

    await patchMe(u.token, { phone: '+333', avatar: 'https://x.example/q.jpg' });
    const blank = await patchMe(u.token, { phone: '', avatar: '   ' });
    expect(blank.status).toBe(200);
    expect(blank.body.user.phone).toBeNull();
    expect(blank.body.user.avatar).toBeNull();
    const row = await t.app.database.db
      .selectFrom('users')
      .select(['phone', 'avatar'])
      .where('id', '=', u.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ phone: null, avatar: null });
  });

  test('phone is stored trimmed, as at registration', async () => {
    const u = await registerUser(t);
    const res = await patchMe(u.token, { phone: '  +44 20 7946 0000 ' });
    expect(res.status).toBe(200);
    expect(res.body.user.phone).toBe('+44 20 7946 0000');
  });

  test('an empty object changes nothing and answers the profile', async () => {
    const u = await registerUser(t);
    const before = (await get('/users/me', u.token)).body.user;
    const res = await patchMe(u.token, {});
    expect(res.status).toBe(200);
    expect(res.body.user).toEqual(before);
  });

  test('the caller may change the letter case of their own username', async () => {
    const u = await registerUser(t);
    const res = await patchMe(u.token, { username: u.user.username.toUpperCase() });
    expect(res.status).toBe(200);
    expect(res.body.user.username).toBe(u.user.username.toUpperCase());
  });

  test('a username taken by someone else (any case) is 409 username_taken and changes nothing', async () => {
    const u = await registerUser(t);
    const res = await patchMe(u.token, { username: alice.user.username.toUpperCase(), phone: '+999' });
    expectError(res, 409, 'username_taken');
    const row = await t.app.database.db
      .selectFrom('users')
      .select(['username', 'phone'])
      .where('id', '=', u.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ username: u.user.username, phone: null });
  });

  test('fields outside the profile (email, password_hash, id, status, timestamps) are ignored', async () => {
    const u = await registerUser(t);
    const hashBefore = await t.app.database.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', u.user.id)
      .executeTakeFirstOrThrow();
    const res = await patchMe(u.token, {
      email: alice.user.email,
      password_hash: 'plaintext',
      password: 'new-password-1',
      id: alice.user.id,
      status: 'online',
      created_at: '2000-01-01T00:00:00Z',
      avatar: 'https://x.example/ok.png',
    });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ id: u.user.id, email: u.user.email, status: 'offline', avatar: 'https://x.example/ok.png' });
    const row = await t.app.database.db
      .selectFrom('users')
      .select(['email', 'password_hash', 'status', 'created_at'])
      .where('id', '=', u.user.id)
      .executeTakeFirstOrThrow();
    expect(row.email).toBe(u.user.email);
    expect(row.password_hash).toBe(hashBefore.password_hash);
    expect(row.status).toBe('offline');
    expect(row.created_at.getUTCFullYear()).not.toBe(2000);
    // The old password still works, the one smuggled in does not.
    const ok = await t.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'password123' } });
    expect(ok.status).toBe(200);
  });

  test('a status outside online/offline cannot be smuggled in (no 500)', async () => {
    const u = await registerUser(t);
    const res = await patchMe(u.token, { status: 'bogus', last_seen: null });
    expect(res.status).toBe(200);
    expect(res.body.user.status).toBe('offline');
    expect(res.body.user.last_seen).toMatch(ISO);
  });

  test.each([
    ['username', { username: 'no' }],
    ['username', { username: 'bad name!' }],
    ['username', { username: null }],
    ['username', { username: 'u'.repeat(100_000) }],
    ['phone', { phone: '9'.repeat(33) }],
    ['phone', { phone: ['+1', '+2'] }],
    ['avatar', { avatar: 'a'.repeat(2049) }],
    ['avatar', { avatar: { url: 'x' } }],
    ['last_seen_visibility', { last_seen_visibility: 'friends' }],
    ['last_seen_visibility', { last_seen_visibility: null }],
    ['share_read_receipts', { share_read_receipts: 'maybe' }],
    ['share_read_receipts', { share_read_receipts: { yes: true } }],
  ])('bad %s (%j) is 400 validation_failed naming the field', async (field, body) => {
    const res = await patchMe(alice.token, body);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });

  test('without a token is 401 unauthorized', async () => {
    expectError(await t.request('PATCH', '/api/v1/users/me', { body: { phone: '+1' } }), 401, 'unauthorized');
  });
});

describe('GET /users', () => {
  let caller: Account;
  let others: Account[];
  let search: TestApp;

  beforeAll(async () => {
    // A separate app so the user set is exactly known.
    search = await startApp();
    caller = await registerUser(search, { username: 'zz_caller', email: 'caller@natter.test' });
    others = [];
    for (const [username, email] of [
      ['Alice_Smith', 'alice@wonder.land'],
      ['bob', 'bob@builder.example'],
      ['carol', 'CAROL@Smith.example'],
      ['dave.smithers', 'dave@example.org'],
      ['eve_100', 'eve@example.org'],
      ['frank', 'frank@example.org'],
      ['grace', 'grace@example.org'],
    ] as const) {
      others.push(await registerUser(search, { username, email }));
    }
  });
  afterAll(() => search?.close());

  const list = (query = '', token = caller.token) => search.request('GET', `/api/v1/users${query}`, { token });

  test('{users, next_cursor}: everyone but the caller, by id, no password', async () => {
    const res = await list();
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['next_cursor', 'users']);
    expect(res.body.next_cursor).toBeNull();
    expect(res.body.users.map((u: any) => u.id)).toEqual(others.map((o) => o.user.id));
    expect(res.body.users.some((u: any) => u.id === caller.user.id)).toBe(false);
    for (const u of res.body.users) expectPublicUser(u);
    expectNoPasswordKeys(res.body);
  });

  test('another caller sees the first caller but not themselves', async () => {
    const res = await list('', others[0]!.token);
    const ids = res.body.users.map((u: any) => u.id);
    expect(ids).toContain(caller.user.id);
    expect(ids).not.toContain(others[0]!.user.id);
    expect(ids).toHaveLength(others.length);
  });

  test.each([
    ['smith', ['Alice_Smith', 'carol', 'dave.smithers']],
    ['SMITH', ['Alice_Smith', 'carol', 'dave.smithers']],
    ['example.org', ['dave.smithers', 'eve_100', 'frank', 'grace']],
    ['BOB', ['bob']],
    ['@wonder', ['Alice_Smith']],
    ['caller', []],
    ['nobody-matches', []],
    ['_', ['Alice_Smith', 'eve_100']],
    ['%', []],
    ['\\', []],
    ["'; drop table users; --", []],
  ])('?search=%s matches username or email case-insensitively, literally', async (q, names) => {
    const res = await list(`?search=${encodeURIComponent(q)}`);
    expect(res.status).toBe(200);
    expect(res.body.users.map((u: any) => u.username)).toEqual(names);
  });

  test('a blank search lists everyone', async () => {
    const res = await list('?search=%20%20');
    expect(res.body.users).toHaveLength(others.length);
  });

  test('limit and cursor page through every user exactly once', async () => {
    for (const limit of [1, 2, 3, 7, 100]) {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await list(q);
        expect(res.status).toBe(200);
        expect(res.body.users.length).toBeLessThanOrEqual(limit);
        seen.push(...res.body.users.map((u: any) => u.id));
        cursor = res.body.next_cursor;
        pages++;
        expect(pages).toBeLessThan(20);
      } while (cursor);
      expect(seen).toEqual(others.map((o) => o.user.id));
      expect(pages).toBe(Math.max(1, Math.ceil(others.length / limit)));
    }
  });

  test('paging combines with search', async () => {
    const first = await list('?search=example.org&limit=3');
    expect(first.body.users.map((u: any) => u.username)).toEqual(['dave.smithers', 'eve_100', 'frank']);
    const next = await list(`?search=example.org&limit=3&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    expect(next.body.users.map((u: any) => u.username)).toEqual(['grace']);
    expect(next.body.next_cursor).toBeNull();
  });

  test.each([
    ['limit', '?limit=0'],
    ['limit', '?limit=101'],
    ['limit', '?limit=-5'],
    ['limit', '?limit=abc'],
    ['limit', '?limit=2.5'],
    ['limit', '?limit=1&limit=2'],
    ['limit', '?limit=1e400'],
    ['limit', '?limit=Infinity'],
    ['limit', '?limit=-Infinity'],
    ['search', '?search=%00'],
    ['search', '?search=a%00b'],
    ['search', `?search=${'s'.repeat(101)}`],
    ['cursor', '?cursor=not-a-cursor'],
    ['cursor', `?cursor=${'x'.repeat(65)}`],
    ['cursor', `?cursor=${Buffer.from('u:-1').toString('base64url')}`],
    ['cursor', `?cursor=${Buffer.from('u:1.5').toString('base64url')}`],
    ['cursor', `?cursor=${Buffer.from(`u:${'9'.repeat(46)}`).toString('base64url')}`],
    ['cursor', `?cursor=${Buffer.from('u:99999999999999999999').toString('base64url')}`],
  ])('bad %s (%s) is 400 validation_failed naming it', async (field, q) => {
    const res = await list(q);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });

  test('a cursor past the last id is an empty last page', async () => {
    const res = await list(`?cursor=${Buffer.from('u:9007199254740991').toString('base64url')}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ users: [], next_cursor: null });
  });

  test('without a token is 401 unauthorized', async () => {
    expectError(await search.request('GET', '/api/v1/users'), 401, 'unauthorized');
  });
});

describe('GET /users/:id', () => {
  test('returns {user} (public fields only) for any user', async () => {
    const bob = await registerUser(t);
    const res = await get(`/users/${bob.user.id}`, alice.token);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['user']);
    expectPublicUser(res.body.user);
    expect(res.body.user).toMatchObject({ id: bob.user.id, username: bob.user.username, email: bob.user.email });
    expectNoPasswordKeys(res.body);
  });

  test('the caller can look themselves up', async () => {
    const res = await get(`/users/${alice.user.id}`, alice.token);
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(alice.user.id);
  });

  test('an id that does not exist is 404 not_found', async () => {
    expectError(await get('/users/987654321', alice.token), 404, 'not_found');
  });

  test.each([
    ['abc'],
    ['1.5'],
    ['0'],
    ['-3'],
    ['1e400'],
    ['99999999999999999999'],
    ['9223372036854775808'],
    ['Infinity'],
    ['-Infinity'],
    ['NaN'],
    ['%20'],
  ])('a malformed id (%s) is 400 validation_failed naming id', async (id) => {
    const res = await get(`/users/${id}`, alice.token);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain('id');
  });

  test('without a token is 401 unauthorized (before the id is looked at)', async () => {
    expectError(await t.request('GET', `/api/v1/users/${alice.user.id}`), 401, 'unauthorized');
  });
});
