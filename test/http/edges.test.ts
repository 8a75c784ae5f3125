import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ERROR_CODES } from '../../src/domain/errors.js';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { expectError, expectNoPasswordKeys } from '../harness/expect.js';


/** The error envelope: status, JSON, `error` a non-empty string, `code` the given one. */

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startApp();
  ({ token } = await registerUser(t));
});
afterAll(() => t?.close());

describe('health and readiness', () => {
  test('GET /health is 200 {status: ok}', async () => {
    const res = await t.request('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  test('GET /ready checks the database: 200 {status: ready, database: ok}', async () => {
    const res = await t.request('GET', '/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', database: 'ok' });
  });

  test('HEAD /health answers without a body', async () => {
    const res = await t.request('HEAD', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toBeUndefined();
  });
});

describe('OpenAPI document', () => {
  let doc: any;
  beforeAll(async () => {
    const res = await t.request('GET', '/docs/json');
    expect(res.status).toBe(200);
    doc = res.body;
  });

  test('is OpenAPI 3 and lists every auth, users and health route with its method', () => {
    expect(doc.openapi).toMatch(/^3\./);
    const expected: [string, string][] = [
      ['/api/v1/auth/register', 'post'],
      ['/api/v1/auth/login', 'post'],
      ['/api/v1/auth/logout', 'post'],
      ['/api/v1/auth/refresh', 'post'],
      ['/api/v1/users/me', 'get'],
      ['/api/v1/users/me', 'patch'],
      ['/api/v1/users', 'get'],
      ['/api/v1/users/{id}', 'get'],
      ['/health', 'get'],
      ['/ready', 'get'],
    ];
    for (const [path, method] of expected) {
      expect(doc.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
    }
  });

  test('protected routes declare bearer security; credential routes do not', () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/api/v1/users/me'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/auth/logout'].post.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/auth/login'].post.security).toBeUndefined();
  });

  test('the Error schema lists every error code there is', () => {
    const code = doc.components.schemas.Error.properties.code;
    const listed: string[] = code.enum ?? (code.anyOf ?? code.oneOf).map((c: any) => c.const ?? c.enum?.[0]);
    expect([...listed].sort()).toEqual([...ERROR_CODES].sort());
  });

  test('the User and Me schemas carry no password field', () => {
    expectNoPasswordKeys(doc.components.schemas.User.properties);
    expectNoPasswordKeys(doc.components.schemas.Me.properties);
    expect(Object.keys(doc.components.schemas.User.properties).sort()).toEqual(
      ['avatar', 'created_at', 'email', 'id', 'last_seen', 'phone', 'status', 'updated_at', 'username'],
    );
  });

  test('the docs UI is served', async () => {
    const res = await fetch(`${t.url}/docs`, { redirect: 'follow' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });
});

describe('CORS', () => {
  test('a preflight is answered with the allowed origin, methods and headers', async () => {
    const res = await t.request('OPTIONS', '/api/v1/users/me', {
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(['*', 'https://app.example.com']).toContain(res.headers.get('access-control-allow-origin'));
    expect(res.headers.get('access-control-allow-methods')).toContain('PATCH');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(res.headers.get('access-control-max-age')).toBe('600');
  });

  test('an actual request, even a failing one, carries the allow-origin header', async () => {
    const ok = await t.request('GET', '/api/v1/users/me', { token, headers: { origin: 'https://app.example.com' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBeTruthy();
    const denied = await t.request('GET', '/api/v1/users/me', { headers: { origin: 'https://app.example.com' } });
    expectError(denied, 401, 'unauthorized');
    expect(denied.headers.get('access-control-allow-origin')).toBeTruthy();
  });
});

describe('unknown routes', () => {
  test.each([
    ['GET', '/api/v1/nope'],
    ['GET', '/api/v2/users/me'],
    ['DELETE', '/api/v1/users/me'],
    ['PUT', '/api/v1/auth/login'],
    ['GET', '/api/v1/auth/login'],
    ['POST', '/'],
    ['GET', '/api/v1/users/1/extra'],
  ])('%s %s is 404 route_not_found', async (method, path) => {
    const res = await t.request(method, `${path}?token=secret-value`, { token });
    expectError(res, 404, 'route_not_found');
    expect(res.body.error).not.toContain('secret-value');
  });
});

describe('malformed and unwelcome bodies', () => {
  test.each([
    ['an unclosed object', '{'],
    ['a missing value', '{"email":}'],
    ['single quotes', "{'email':'a@example.com'}"],
    ['trailing garbage', '{"email":"a@example.com"}x'],
    ['a bare word', 'undefined'],
    ['a trailing comma', '{"email":"a@example.com",}'],
  ])('%s is 400 invalid_json', async (_what, raw) => {
    expectError(await t.request('POST', '/api/v1/auth/login', { raw }), 400, 'invalid_json');
  });

  test('malformed JSON on a protected route is refused too (never a 500)', async () => {
    const res = await t.request('PATCH', '/api/v1/users/me', { token, raw: '{"phone": "+1"' });
    expectError(res, 400, 'invalid_json');
  });

  test.each([
    ['an array', '[]'],
    ['an array of objects', '[{"email":"a@example.com","password":"password123"}]'],
    ['a string', '"email"'],
    ['a number', '42'],
    ['null', 'null'],
    ['true', 'true'],
    ['whitespace only', '   '],
  ])('%s where an object is expected is 400 validation_failed', async (_what, raw) => {
    for (const path of ['/api/v1/auth/register', '/api/v1/auth/login', '/api/v1/auth/refresh']) {
      expectError(await t.request('POST', path, { raw }), 400, 'validation_failed');
    }
    expectError(await t.request('PATCH', '/api/v1/users/me', { token, raw }), 400, 'validation_failed');
  });

  test('a body over the size limit is 413 payload_too_large', async () => {
    const raw = JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(2 * 1024 * 1024) });
    const res = await t.request('POST', '/api/v1/auth/login', { raw });
    expectError(res, 413, 'payload_too_large');
  });

  test('huge strings under the size limit are 400 validation_failed', async () => {
    const big = 'a'.repeat(500_000);
    for (const [path, body] of [
      ['/api/v1/auth/register', { username: big, email: 'big@example.com', password: 'password123' }],
      ['/api/v1/auth/register', { username: 'bigpassword', email: 'big@example.com', password: big }],
      ['/api/v1/auth/login', { email: big, password: 'password123' }],
      ['/api/v1/auth/refresh', { refresh_token: big }],
    ] as const) {
      expectError(await t.request('POST', path, { body }), 400, 'validation_failed');
    }
    expectError(await t.request('PATCH', '/api/v1/users/me', { token, body: { avatar: big } }), 400, 'validation_failed');
  });

  test('deeply nested JSON is refused without a 500', async () => {
    const depth = 50_000;
    const raw = `{"email":${'['.repeat(depth)}${']'.repeat(depth)},"password":"x"}`;
    const res = await t.request('POST', '/api/v1/auth/login', { raw });
    expect(res.status).toBe(400);
    expect(['invalid_json', 'validation_failed']).toContain(res.body.code);
  });

  test('a form body is 415 unsupported_media_type; so is plain text', async () => {
    const form = await t.request('POST', '/api/v1/auth/login', {
      raw: 'email=a%40example.com&password=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(form, 415, 'unsupported_media_type');
    const text = await t.request('POST', '/api/v1/auth/login', { raw: 'hello', headers: { 'content-type': 'text/plain' } });
    expectError(text, 415, 'unsupported_media_type');
  });

  test('every route that takes a body refuses every non-JSON content type with 415, even a JSON-looking body', async () => {
    const doc = (await t.request('GET', '/docs/json')).body;
    const conversation = await t.request('POST', '/api/v1/conversations', { token, body: { type: 'group', name: 'media types' } });
    const id = conversation.body.conversation.id as number;
    const bodies: [string, string][] = [
      ['application/x-www-form-urlencoded', 'content=hi&seq=1'],
      ['text/plain', '{"content":"hi"}'],
      ['text/plain; charset=utf-8', '{"content":"hi"}'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="content"\r\n\r\nhi\r\n--x--\r\n'],
      ['application/xml', '<content>hi</content>'],
      ['application/octet-stream', '{"content":"hi"}'],
    ];
    const routes: string[] = [];
    const failures: string[] = [];
    for (const [template, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        if (!op?.requestBody) continue;
        const path = template.replace(/\{\w+\}/g, String(id));
        routes.push(`${method.toUpperCase()} ${template}`);
        for (const [type, raw] of bodies) {
          const res = await t.request(method.toUpperCase(), path, { token, raw, headers: { 'content-type': type } });
          if (res.status !== 415 || res.body?.code !== 'unsupported_media_type') {
            failures.push(`${method.toUpperCase()} ${template} as ${type}: ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
          }
        }
      }
    }
    expect(routes).toEqual(expect.arrayContaining(['POST /api/v1/auth/login', 'PATCH /api/v1/users/me', 'POST /api/v1/conversations/{id}/messages']));
    expect(failures).toEqual([]);
    const stored = await t.app.database.db.selectFrom('messages').select('id').where('conversation_id', '=', id).execute();
    expect(stored).toEqual([]);
  });

  test('application/json with a charset parameter is accepted', async () => {
    const u = await registerUser(t);
    const res = await t.request('POST', '/api/v1/auth/login', {
      body: { email: u.user.email, password: 'password123' },
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(res.status).toBe(200);
  });

  test('logout with Content-Type: application/json and a whitespace-only body works', async () => {
    const u = await registerUser(t);
    const res = await t.request('POST', '/api/v1/auth/logout', {
      token: u.token,
      raw: ' \n',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(typeof res.body.message).toBe('string');
  });
});

describe('junk values', () => {
  test.each([
    ['register', 'username', { username: 'nul\u0000user', email: 'nul1@example.com', password: 'password123' }],
    ['register', 'phone', { username: 'nulphone', email: 'nul2@example.com', password: 'password123', phone: '+1\u00002' }],
    ['register', 'avatar', { username: 'nulavatar', email: 'nul3@example.com', password: 'password123', avatar: 'x\u0000' }],
    ['register', 'password', { username: 'nulpass', email: 'nul4@example.com', password: 'password\u0000123' }],
    ['login', 'email', { email: 'nul\u0000@example.com', password: 'password123' }],
    ['login', 'email', { email: 'nul\u0000name', password: 'password123' }],
    ['login', 'username', { username: '\u0000', password: 'password123' }],
    ['refresh', 'refresh_token', { refresh_token: '00000000-0000-0000-0000-000000000000.\u0000' }],
  ])('%s with a NUL character in %s is 400 validation_failed naming it', async (route, field, body) => {
    const res = await t.request('POST', `/api/v1/auth/${route}`, { body });
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });

  test.each([
    ['phone', { phone: '\u0000' }],
    ['avatar', { avatar: 'https://x.example/\u0000.png' }],
    ['username', { username: 'a\u0000b' }],
  ])('PATCH /users/me with a NUL character in %s is 400 validation_failed and changes nothing', async (field, body) => {
    const res = await t.request('PATCH', '/api/v1/users/me', { token, body });
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });

  test('numbers too large for JSON (1e400) are 400 validation_failed, not a 500', async () => {
    const login = await t.request('POST', '/api/v1/auth/login', { raw: '{"email":1e400,"password":"password123"}' });
    expectError(login, 400, 'validation_failed');
    const patch = await t.request('PATCH', '/api/v1/users/me', { token, raw: '{"share_read_receipts":-1e400}' });
    expectError(patch, 400, 'validation_failed');
  });

  test.each([
    ['email', { username: 'typeuser1', email: 12345, password: 'password123' }],
    ['email', { username: 'typeuser2', email: true, password: 'password123' }],
    ['username', { username: ['a', 'b'], email: 'type3@example.com', password: 'password123' }],
    ['username', { username: null, email: 'type4@example.com', password: 'password123' }],
    ['password', { username: 'typeuser5', email: 'type5@example.com', password: { length: 12 } }],
    ['phone', { username: 'typeuser6', email: 'type6@example.com', password: 'password123', phone: [1, 2] }],
  ])('register with a wrong type for %s is 400 validation_failed', async (field, body) => {
    const res = await t.request('POST', '/api/v1/auth/register', { body });
    expectError(res, 400, 'validation_failed');
    expect(res.body.error).toContain(field);
  });

  test('unicode is stored and read back intact; a lone surrogate (which PostgreSQL would turn into U+FFFD) is 400', async () => {
    const u = await registerUser(t, { phone: '☎️ +81 3 1234' });
    expect((await t.request('GET', '/api/v1/users/me', { token: u.token })).body.user.phone).toBe('☎️ +81 3 1234');
    const res = await t.request('PATCH', '/api/v1/users/me', { token: u.token, raw: '{"avatar":"pic-\\ud800.png"}' });
    expectError(res, 400, 'validation_failed');
    expect(res.body.field).toBe('avatar');
    expect((await t.request('GET', '/api/v1/users/me', { token: u.token })).body.user.avatar).toBeNull();
  });

  test('a URL path that does not decode (a lone surrogate) is 400 validation_failed naming the path, on any route', async () => {
    for (const path of ['/%ED%A0%80', '/api/v1/users/%ED%A0%80', '/api/v1/conversations/1/messages%ED%A0%80']) {
      const res = await t.request('GET', path);
      expectError(res, 400, 'validation_failed');
      expect(res.body.field).toBe('path');
      expect(res.body).not.toHaveProperty('message');
    }
  });

  test('a __proto__ key neither breaks the request nor leaks into the user', async () => {
    const res = await t.request('POST', '/api/v1/auth/register', {
      raw: '{"username":"protouser","email":"proto@example.com","password":"password123","__proto__":{"status":"online","id":1}}',
    });
    expect(res.status).toBe(201);
    expect(res.body.user.status).toBe('offline');
    expect(res.body.user.username).toBe('protouser');
  });

  test('a wrong-typed Authorization header value is 401, not a 500', async () => {
    for (const authorization of ['Bearer null', 'Bearer undefined', 'Bearer {}', `Bearer ${'x'.repeat(8000)}`]) {
      expectError(await t.request('GET', '/api/v1/users/me', { headers: { authorization } }), 401, 'unauthorized');
    }
  });

  test('no reply to any of the above carries a password field', async () => {
    const u = await registerUser(t);
    for (const res of [
      await t.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'password123' } }),
      await t.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: u.refresh_token } }),
      await t.request('GET', '/api/v1/users/me', { token: u.token }),
      await t.request('GET', '/api/v1/users', { token: u.token }),
      await t.request('GET', `/api/v1/users/${u.user.id}`, { token }),
      await t.request('PATCH', '/api/v1/users/me', { token: u.token, body: { password: 'x', password_hash: 'y' } }),
      await t.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'wrong-one' } }),
    ]) {
      expect(res.status).toBeLessThan(500);
      expectNoPasswordKeys(res.body);
      expect(JSON.stringify(res.body)).not.toContain('$argon2');
    }
  });
});

describe('auth rate limit', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await startApp({ authRateLimit: 3 });
  });
  afterAll(() => limited?.close());

  test('the 4th login in a minute is 429 rate_limited with the JSON envelope; other routes still answer', async () => {
    const u = await registerUser(limited);
    for (let i = 0; i < 3; i++) {
      const res = await limited.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'password123' } });
      expect(res.status).toBe(200);
    }
    const fourth = await limited.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'password123' } });
    expectError(fourth, 429, 'rate_limited');
    expect(Object.keys(fourth.body).sort()).toEqual(['code', 'error']);
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(0);

    // Wrong passwords count too, and are refused before the password is checked.
    const fifth = await limited.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'nope' } });
    expectError(fifth, 429, 'rate_limited');

    // Not the protected routes, and not logout.
    expect((await limited.request('GET', '/api/v1/users/me', { token: u.token })).status).toBe(200);
    expect((await limited.request('POST', '/api/v1/auth/logout', { token: u.token })).status).toBe(200);
  });

  test('register and refresh are limited as well', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await limited.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: 'nope' } });
      codes.push(res.status);
    }
    expect(codes).toEqual([401, 401, 401, 429]);
    // registerUser above used one register; three more get through at most.
    const reg: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await limited.request('POST', '/api/v1/auth/register', {
        body: { username: `limited${i}`, email: `limited${i}@example.com`, password: 'password123' },
      });
      reg.push(res.status);
    }
    expect(reg.at(-1)).toBe(429);
    expect(reg.filter((s) => s === 201).length).toBeLessThanOrEqual(2);
  });
});
