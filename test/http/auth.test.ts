import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, testConfig, TestClock, type TestApp } from '../harness/app.js';
import { expectError, expectNoPasswordKeys, expectUserFields } from '../harness/expect.js';

function expectUser(user: any): void {
  expectUserFields(user);
  expect(typeof user.username).toBe('string');
  expect(typeof user.email).toBe('string');
  expectNoPasswordKeys(user);
}

function expectAuthResult(body: any): void {
  expect(Object.keys(body).sort()).toEqual(['device_id', 'refresh_token', 'token', 'user']);
  expect(body.device_id).toMatch(/^[0-9a-f]{32}$/);
  expect(body.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  expect(typeof body.refresh_token).toBe('string');
  expect(body.refresh_token.length).toBeGreaterThan(20);
  expectUser(body.user);
  expectNoPasswordKeys(body);
}

let t: TestApp;
let seq = 0;
const unique = (prefix = 'u') => `${prefix}${process.pid}_${++seq}_${Math.random().toString(36).slice(2, 7)}`;

beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const register = (body: unknown) => t.request('POST', '/api/v1/auth/register', { body });
const login = (body: unknown) => t.request('POST', '/api/v1/auth/login', { body });
const refresh = (refresh_token: unknown) => t.request('POST', '/api/v1/auth/refresh', { body: { refresh_token } });
const me = (token: string) => t.request('GET', '/api/v1/users/me', { token });

describe('POST /auth/register', () => {
  test('creates the account: 201 with token, refresh_token and the user; the token works at once', async () => {
    const name = unique('Reg');
    const res = await register({ username: name, email: `${name}@Example.COM`, password: 'password123', phone: '+15551234' });
    expect(res.status).toBe(201);
    expectAuthResult(res.body);
    expect(res.body.user).toMatchObject({
      username: name,
      email: `${name.toLowerCase()}@example.com`,
      phone: '+15551234',
      avatar: null,
      status: 'offline',
      last_seen_visibility: 'everyone',
      share_read_receipts: true,
    });

    const mine = await me(res.body.token);
    expect(mine.status).toBe(200);
    expect(mine.body.user.id).toBe(res.body.user.id);
  });

  test('stores the password as an argon2id hash, never in clear', async () => {
    const { user } = await registerUser(t, { password: 'correct horse battery' });
    const row = await t.app.database.db
      .selectFrom('users')
      .select(['password_hash', 'email'])
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(row.password_hash.startsWith('$argon2id$')).toBe(true);
    expect(row.password_hash).not.toContain('correct horse battery');
    expect(row.email).toBe(user.email);
  });

  test('two users without a phone both register, both with phone null', async () => {
    const a = await register({ username: unique('np'), email: `${unique('np')}@example.com`, password: 'password123' });
    const b = await register({ username: unique('np'), email: `${unique('np')}@example.com`, password: 'password123' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.user.phone).toBeNull();
    expect(b.body.user.phone).toBeNull();
    expect(a.body.user.id).not.toBe(b.body.user.id);
    const rows = await t.app.database.db
      .selectFrom('users')
      .select(['id', 'phone'])
      .where('id', 'in', [a.body.user.id, b.body.user.id])
      .execute();
    expect(rows.map((r) => r.phone)).toEqual([null, null]);
  });

  test('an empty or null phone is stored as null; two users may share a phone number', async () => {
    const a = await register({ username: unique(), email: `${unique()}@example.com`, password: 'password123', phone: '' });
    const b = await register({ username: unique(), email: `${unique()}@example.com`, password: 'password123', phone: null });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.user.phone).toBeNull();
    expect(b.body.user.phone).toBeNull();
    const c = await register({ username: unique(), email: `${unique()}@example.com`, password: 'password123', phone: '+4912345' });
    const d = await register({ username: unique(), email: `${unique()}@example.com`, password: 'password123', phone: '+4912345' });
    expect([c.status, d.status]).toEqual([201, 201]);
  });

  test('duplicate email, in any letter case, is 409 email_taken and creates nothing', async () => {
    const email = `${unique('dup')}@example.com`;
    expect((await register({ username: unique(), email, password: 'password123' })).status).toBe(201);
    const again = await register({ username: unique(), email: email.toUpperCase(), password: 'password123' });
    expectError(again, 409, 'email_taken');
    expect(again.body.error).toMatch(/email/i);
    const rows = await t.app.database.db.selectFrom('users').select('id').where('email', '=', email.toLowerCase()).execute();
    expect(rows).toHaveLength(1);
  });

  test('concurrent registrations of one email: exactly one 201, the rest 409, one row', async () => {
    const email = `${unique('race')}@example.com`;
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => register({ username: unique(`race${i}`), email, password: 'password123' })),
    );
    expect(replies.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    for (const r of replies.filter((r) => r.status === 409)) expect(r.body.code).toBe('email_taken');
    const rows = await t.app.database.db.selectFrom('users').select('id').where('email', '=', email).execute();
    expect(rows).toHaveLength(1);
  });

  test('duplicate username, in any letter case, is 409 username_taken', async () => {
    const username = unique('Case');
    expect((await register({ username, email: `${unique()}@example.com`, password: 'password123' })).status).toBe(201);
    const again = await register({ username: username.toUpperCase(), email: `${unique()}@example.com`, password: 'password123' });
    expectError(again, 409, 'username_taken');
    expect(again.body.error).toMatch(/username/i);
  });

  test.each([
    ['username', { email: 'x@example.com', password: 'password123' }],
    ['email', { username: 'someone_new', password: 'password123' }],
    ['password', { username: 'someone_new', email: 'x@example.com' }],
  ])('missing %s is 400 validation_failed naming the field', async (field, body) => {
    const res = await register(body);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });

  test.each([
    ['username', { username: 'ab' }],
    ['username', { username: 'has space' }],
    ['username', { username: 'x'.repeat(33) }],
    ['username', { username: 'at@sign' }],
    ['username', { username: { nested: true } }],
    ['email', { email: 'not-an-email' }],
    ['email', { email: `${'a'.repeat(250)}@example.com` }],
    ['email', { email: ['a@example.com', 'b@example.com'] }],
    ['password', { password: 'short' }],
    ['password', { password: 'p'.repeat(257) }],
    ['password', { password: null }],
    ['phone', { phone: '1'.repeat(33) }],
    ['phone', { phone: { number: 1 } }],
    ['avatar', { avatar: 'h'.repeat(2049) }],
  ])('bad %s (%j) is 400 validation_failed naming the field', async (field, patch) => {
    const body = { username: unique('v'), email: `${unique('v')}@example.com`, password: 'password123', ...patch };
    const res = await register(body);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });
});

describe('POST /auth/login', () => {
  let account: { username: string; email: string; id: number };
  beforeAll(async () => {
    const name = unique('Login');
    const res = await register({ username: name, email: `${name}@example.com`, password: 'secret-pass-1' });
    account = { username: name, email: res.body.user.email, id: res.body.user.id };
  });

  test('with email and password: 200 with a token pair and the user', async () => {
    const res = await login({ email: account.email, password: 'secret-pass-1' });
    expect(res.status).toBe(200);
    expectAuthResult(res.body);
    expect(res.body.user.id).toBe(account.id);
    expect((await me(res.body.token)).status).toBe(200);
  });

  test('email is matched case-insensitively and trimmed', async () => {
    const res = await login({ email: `  ${account.email.toUpperCase()} `, password: 'secret-pass-1' });
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(account.id);
  });

  test('the email field may hold a username (any case); a username field works too', async () => {
    const viaEmailField = await login({ email: account.username.toLowerCase(), password: 'secret-pass-1' });
    expect(viaEmailField.status).toBe(200);
    expect(viaEmailField.body.user.id).toBe(account.id);
    const viaUsernameField = await login({ username: account.username, password: 'secret-pass-1' });
    expect(viaUsernameField.status).toBe(200);
    expect(viaUsernameField.body.user.id).toBe(account.id);
  });

  test('each login is its own session', async () => {
    const a = await login({ email: account.email, password: 'secret-pass-1' });
    const b = await login({ email: account.email, password: 'secret-pass-1' });
    expect(a.body.refresh_token).not.toBe(b.body.refresh_token);
    const sessions = await t.app.database.db.selectFrom('sessions').select('id').where('user_id', '=', account.id).execute();
    expect(sessions.length).toBeGreaterThanOrEqual(3);
  });

  test('wrong password is 401 invalid_credentials', async () => {
    const res = await login({ email: account.email, password: 'secret-pass-2' });
    expectError(res, 401, 'invalid_credentials');
    expectNoPasswordKeys({ ...res.body });
  });

  test('unknown user is the same 401 invalid_credentials', async () => {
    const wrong = await login({ email: account.email, password: 'nope-nope' });
    const unknownEmail = await login({ email: 'nobody-here@example.com', password: 'nope-nope' });
    const unknownName = await login({ username: 'nobody_here', password: 'nope-nope' });
    expectError(unknownEmail, 401, 'invalid_credentials');
    expectError(unknownName, 401, 'invalid_credentials');
    expect(unknownEmail.body).toEqual(wrong.body);
  });

  test.each([
    ['email', { password: 'secret-pass-1' }],
    ['email', { email: '', password: 'secret-pass-1' }],
    ['password', { email: 'a@example.com' }],
    ['password', { email: 'a@example.com', password: '' }],
    ['email', { email: 'e'.repeat(255), password: 'x' }],
    ['password', { email: 'a@example.com', password: 'p'.repeat(257) }],
    ['email', { email: { $ne: null }, password: 'x' }],
    ['password', { email: 'a@example.com', password: { $gt: '' } }],
  ])('bad input naming %s is 400 validation_failed', async (field, body) => {
    const res = await login(body);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });
});

describe('POST /auth/logout', () => {
  test('200 {message}; the access token is refused on /users/me immediately after', async () => {
    const { token } = await registerUser(t);
    expect((await me(token)).status).toBe(200);
    const res = await t.request('POST', '/api/v1/auth/logout', { token });
    expect(res.status).toBe(200);
    expect(typeof res.body.message).toBe('string');
    expect(Object.keys(res.body)).toEqual(['message']);
    expectError(await me(token), 401, 'unauthorized');
    expectError(await t.request('POST', '/api/v1/auth/logout', { token }), 401, 'unauthorized');
  });

  test('revokes the session row; its refresh token stops working too', async () => {
    const { token, refresh_token } = await registerUser(t);
    expect((await t.request('POST', '/api/v1/auth/logout', { token })).status).toBe(200);
    const sessionId = refresh_token.split('.')[0]!;
    const row = await t.app.database.db
      .selectFrom('sessions')
      .select('revoked_at')
      .where('id', '=', sessionId)
      .executeTakeFirstOrThrow();
    expect(row.revoked_at).not.toBeNull();
    expectError(await refresh(refresh_token), 401, 'invalid_refresh_token');
  });

  test('ends only that session: another login of the same user keeps working', async () => {
    const reg = await registerUser(t);
    const other = await login({ email: reg.user.email, password: 'password123' });
    expect(other.status).toBe(200);
    expect((await t.request('POST', '/api/v1/auth/logout', { token: reg.token })).status).toBe(200);
    expect((await me(other.body.token)).status).toBe(200);
    expectError(await me(reg.token), 401, 'unauthorized');
  });

  test('works with Content-Type: application/json and an empty body (seed clients send that)', async () => {
    const { token } = await registerUser(t);
    const res = await t.request('POST', '/api/v1/auth/logout', {
      token,
      raw: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(typeof res.body.message).toBe('string');
    expectError(await me(token), 401, 'unauthorized');
  });

  test('works with an empty JSON object body', async () => {
    const { token } = await registerUser(t);
    const res = await t.request('POST', '/api/v1/auth/logout', { token, body: {} });
    expect(res.status).toBe(200);
  });

  test('without a token is 401 unauthorized', async () => {
    expectError(await t.request('POST', '/api/v1/auth/logout'), 401, 'unauthorized');
  });
});

describe('POST /auth/refresh', () => {
  test('returns a new pair and user; the old refresh token is refused afterwards', async () => {
    const reg = await registerUser(t);
    const first = await refresh(reg.refresh_token);
    expect(first.status).toBe(200);
    expectAuthResult(first.body);
    expect(first.body.user.id).toBe(reg.user.id);
    expect(first.body.refresh_token).not.toBe(reg.refresh_token);
    expect((await me(first.body.token)).status).toBe(200);

    // The new refresh token chains on.
    const second = await refresh(first.body.refresh_token);
    expect(second.status).toBe(200);
    expect((await me(second.body.token)).status).toBe(200);
  });

  test('reusing a rotated refresh token is refused and revokes the session: the new tokens stop working', async () => {
    const reg = await registerUser(t);
    const rotated = await refresh(reg.refresh_token);
    expect(rotated.status).toBe(200);

    const replay = await refresh(reg.refresh_token);
    expectError(replay, 401, 'invalid_refresh_token');

    expectError(await refresh(rotated.body.refresh_token), 401, 'invalid_refresh_token');
    expectError(await me(rotated.body.token), 401, 'unauthorized');
    expectError(await me(reg.token), 401, 'unauthorized');
    const row = await t.app.database.db
      .selectFrom('sessions')
      .select('revoked_at')
      .where('id', '=', reg.refresh_token.split('.')[0]!)
      .executeTakeFirstOrThrow();
    expect(row.revoked_at).not.toBeNull();
  });

  test('concurrent refreshes with one token: at most one succeeds, none is a server error', async () => {
    const reg = await registerUser(t);
    const replies = await Promise.all(Array.from({ length: 5 }, () => refresh(reg.refresh_token)));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(1);
    for (const r of replies.filter((r) => r.status !== 200)) expectError(r, 401, 'invalid_refresh_token');
    expectError(await refresh(reg.refresh_token), 401, 'invalid_refresh_token');
  });

  test('stores only a hash of the refresh token', async () => {
    const reg = await registerUser(t);
    const [sessionId, secret] = reg.refresh_token.split('.') as [string, string];
    const row = await t.app.database.db
      .selectFrom('sessions')
      .select(['refresh_hash', 'user_id'])
      .where('id', '=', sessionId)
      .executeTakeFirstOrThrow();
    expect(row.user_id).toBe(reg.user.id);
    expect(row.refresh_hash).not.toContain(secret);
  });

  test.each([
    ['garbage', 'not-a-token'],
    ['no secret part', '00000000-0000-0000-0000-000000000000.'],
    ['unknown session', '00000000-0000-0000-0000-000000000000.c2VjcmV0'],
    ['dashes only', `${'-'.repeat(36)}.secret`],
    ['36 hex digits, no dashes', `${'a'.repeat(36)}.secret`],
    ['malformed uuid', `${'0'.repeat(8)}-${'0'.repeat(4)}-${'0'.repeat(4)}-${'0'.repeat(4)}-${'0'.repeat(11)}-.x`],
    ['uuid with wrong grouping', '0000000000000000-0000-0000-00000000.x'],
  ])('%s is 401 invalid_refresh_token', async (_what, token) => {
    expectError(await refresh(token), 401, 'invalid_refresh_token');
  });

  test('a right session with a wrong secret is refused without ending the session', async () => {
    const reg = await registerUser(t);
    const [sessionId] = reg.refresh_token.split('.') as [string];
    expectError(await refresh(`${sessionId}.wrong-secret`), 401, 'invalid_refresh_token');
    expect((await me(reg.token)).status).toBe(200);
    expect((await refresh(reg.refresh_token)).status).toBe(200);
  });

  test.each([
    ['missing', {}],
    ['empty', { refresh_token: '' }],
    ['a number', { refresh_token: { token: 1 } }],
    ['too long', { refresh_token: 'r'.repeat(513) }],
  ])('refresh_token %s is 400 validation_failed', async (_what, body) => {
    const res = await t.request('POST', '/api/v1/auth/refresh', { body });
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain('refresh_token');
  });
});

describe('access tokens', () => {
  const secret = testConfig().jwtSecret;
  const key = new TextEncoder().encode(secret);

  test.each([
    ['no Authorization header', undefined],
    ['a Basic header', 'Basic dXNlcjpwYXNz'],
    ['Bearer with nothing after it', 'Bearer '],
    ['a junk token', 'Bearer abc.def.ghi'],
    ['a token with extra words', 'Bearer a b'],
  ])('%s is 401 unauthorized', async (_what, authorization) => {
    const res = await t.request('GET', '/api/v1/users/me', {
      headers: authorization === undefined ? {} : { authorization },
    });
    expectError(res, 401, 'unauthorized');
  });

  test('the Bearer scheme is case-insensitive', async () => {
    const { token } = await registerUser(t);
    const res = await t.request('GET', '/api/v1/users/me', { headers: { authorization: `bearer ${token}` } });
    expect(res.status).toBe(200);
  });

  test('a token signed with another key is refused', async () => {
    const reg = await registerUser(t);
    const sid = reg.refresh_token.split('.')[0]!;
    const forged = await new SignJWT({ sid })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(reg.user.id))
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('some-other-secret-that-is-also-long-enough'));
    expectError(await me(forged), 401, 'unauthorized');
  });

  test('an unsigned (alg none) token is refused', async () => {
    const reg = await registerUser(t);
    const sid = reg.refresh_token.split('.')[0]!;
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: String(reg.user.id), sid, exp: 9999999999 })}.`;
    expectError(await me(none), 401, 'unauthorized');
  });

  test('an expired token (signed with the right key) is 401 unauthorized', async () => {
    const reg = await registerUser(t);
    const sid = reg.refresh_token.split('.')[0]!;
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ sid })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(reg.user.id))
      .setIssuedAt(now - 120)
      .setExpirationTime(now - 60)
      .sign(key);
    const res = await me(expired);
    expectError(res, 401, 'unauthorized');
    expect(res.body.error).toMatch(/expired/i);
  });

  test('a token naming another user than its session is refused', async () => {
    const a = await registerUser(t);
    const b = await registerUser(t);
    const token = await new SignJWT({ sid: a.refresh_token.split('.')[0]! })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(b.user.id))
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);
    expectError(await me(token), 401, 'unauthorized');
  });

  test.each([
    ['a session id that is not a uuid', { sub: '1', sid: 'not-a-uuid' }],
    ['a session id of the wrong type', { sub: '1', sid: 42 }],
    ['no session id', { sub: '1' }],
    ['a non-numeric subject', { sub: 'alice', sid: '00000000-0000-0000-0000-000000000000' }],
    ['a huge subject', { sub: '1'.repeat(40), sid: '00000000-0000-0000-0000-000000000000' }],
    ['a fractional subject', { sub: '1.5', sid: '00000000-0000-0000-0000-000000000000' }],
  ])('a correctly signed token with %s is 401 unauthorized, not a 500', async (_what, claims) => {
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);
    expectError(await me(token), 401, 'unauthorized');
  });
});

describe('token lifetimes', () => {
  let short: TestApp;
  const clock = new TestClock();
  beforeAll(async () => {
    // Time moves by the test clock: a 15-minute token and a 1-hour session, as configured.
    short = await startApp({ accessTokenTtl: 900, refreshTokenTtl: 3600 }, { clock });
  });
  afterAll(() => short?.close());

  test('an access token past its lifetime is 401 unauthorized; a refresh in time still works', async () => {
    const reg = await registerUser(short);
    expect((await short.request('GET', '/api/v1/users/me', { token: reg.token })).status).toBe(200);
    // exp is whole seconds (the signing second + 900): 898 s on is safely inside.
    clock.advance(898_000);
    expect((await short.request('GET', '/api/v1/users/me', { token: reg.token })).status).toBe(200);
    const renewed = await short.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: reg.refresh_token } });
    expect(renewed.status).toBe(200);
    clock.advance(3_000);
    const res = await short.request('GET', '/api/v1/users/me', { token: reg.token });
    expectError(res, 401, 'unauthorized');
    expect(res.body.error).toMatch(/expired/i);
    // The renewed token's lifetime started at the refresh.
    expect((await short.request('GET', '/api/v1/users/me', { token: renewed.body.token })).status).toBe(200);
  });

  test('a session past its lifetime refuses its refresh token; one refreshed in time lives on', async () => {
    const reg = await registerUser(short);
    const login = await short.request('POST', '/api/v1/auth/login', { body: { email: reg.user.email, password: 'password123' } });
    clock.advance(3_598_000);
    // A refresh moves its session's end a whole lifetime on; the other session keeps its end.
    const renewed = await short.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: login.body.refresh_token } });
    expect(renewed.status).toBe(200);
    clock.advance(3_000);
    const res = await short.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: reg.refresh_token } });
    expectError(res, 401, 'invalid_refresh_token');
    // A session whose refresh came in time lives on.
    const again = await short.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: renewed.body.refresh_token } });
    expect(again.status).toBe(200);
  });
});
