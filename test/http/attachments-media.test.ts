import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { jpegRotated, wav } from '../media/make-files.js';
import { direct, newMessageIn, Sockets, type User } from '../realtime/fixtures.js';
import { fetchUrl, s3Storage, uploaded, type StorageUnderTest } from './attachments-fixtures.js';

/**
 * What the rest of the attachment tests leave aside: voice notes and rotated photos
 * through the whole route, sync after a reconnect, absolute URLs, HEAD, and S3 redirects.
 */

describe('attachments in messages', () => {
  let t: TestApp;
  let alice: User, bob: User;
  let ab: number;
  const sockets = new Sockets();

  beforeAll(async () => {
    t = await startApp({ publicUrl: 'https://chat.example.com/natter' });
    [alice, bob] = [await registerUser(t), await registerUser(t)];
    ab = await direct(t, alice, bob);
  });
  afterEach(() => sockets.closeAll());
  afterAll(() => t?.close());

  test('a voice note is audio with its duration, and the message becomes an audio message', async () => {
    const a = await uploaded(t, alice, ab, wav(1.5), 'voice.wav');
    expect(a).toMatchObject({ kind: 'audio', mime_type: expect.stringMatching(/^audio\//), thumbnail_url: null });
    expect(a.duration_ms).toBeGreaterThanOrEqual(1450);
    expect(a.duration_ms).toBeLessThanOrEqual(1550);
    const sent = await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
      token: alice.token,
      body: { attachment_ids: [a.id] },
    });
    expect(sent.body.message).toMatchObject({ type: 'audio', content: '' });
  });

  test('a photo taken sideways is stored upright, with its upright size', async () => {
    const a = await uploaded(t, alice, ab, await jpegRotated(), 'sideways.jpg');
    expect(a.kind).toBe('image');
    // jpegRotated is 40×20 pixels with EXIF orientation 6 (turn 90°): upright it is 20×40.
    expect([a.width, a.height]).toEqual([20, 40]);
  });

  test('with PUBLIC_URL the URLs are absolute, under its path', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(10), 'x.bin');
    expect(a.url).toMatch(new RegExp(`^https://chat\\.example\\.com/natter/api/v1/attachments/${a.id}\\?expires=\\d+&signature=`));
    // The same URL, asked of this server directly, gives the bytes.
    const local = new URL(a.url);
    expect((await fetchUrl(t, `${local.pathname.replace('/natter', '')}${local.search}`)).status).toBe(200);
  });

  test('a resumable upload\'s Location is under PUBLIC_URL', async () => {
    const res = await fetch(`${t.url}/api/v1/uploads`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice.token}`,
        'tus-resumable': '1.0.0',
        'upload-length': '10',
        'upload-metadata': `conversation_id ${Buffer.from(String(ab)).toString('base64')}`,
      },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toMatch(/^https:\/\/chat\.example\.com\/natter\/api\/v1\/uploads\/[0-9a-f]{32}$/);
  });

  test('HEAD tells the size and type without the bytes', async () => {
    const bytes = randomBytes(3000);
    const a = await uploaded(t, alice, ab, bytes, 'y.bin');
    const path = new URL(a.url).pathname.replace('/natter', '') + new URL(a.url).search;
    const res = await fetch(new URL(path, t.url), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('3000');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment/);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  test('a device syncing after a reconnect gets the attachments with fresh URLs', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(50), 'while-away.bin');
    const lastSeq = (await t.request('GET', `/api/v1/conversations/${ab}`, { token: bob.token })).body.conversation.last_seq;
    await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
      token: alice.token,
      body: { content: 'while you were away', attachment_ids: [a.id] },
    });
    const ws = await sockets.connect(t, bob);
    ws.send({ type: 'sync', since: { [ab]: lastSeq } });
    const frame = await ws.next(newMessageIn(ab, 'while you were away'));
    expect(frame.message.attachments).toEqual([expect.objectContaining({ id: a.id, name: 'while-away.bin', size: 50 })]);
    expect(frame.message.media_url).toBe(frame.message.attachments[0].url);
  });
});

describe('resumable uploads from a browser', () => {
  let t: TestApp;
  let alice: User, bob: User;
  let ab: number;
  beforeAll(async () => {
    t = await startApp({ corsOrigins: ['https://app.example.com'] });
    [alice, bob] = [await registerUser(t), await registerUser(t)];
    ab = await direct(t, alice, bob);
  });
  afterAll(() => t?.close());

  test('tus answers with CORS_ORIGINS like every other route, and exposes its headers', async () => {
    const post = (origin: string) =>
      fetch(`${t.url}/api/v1/uploads`, {
        method: 'POST',
        headers: {
          origin,
          authorization: `Bearer ${alice.token}`,
          'tus-resumable': '1.0.0',
          'upload-length': '10',
          'upload-metadata': `conversation_id ${Buffer.from(String(ab)).toString('base64')}`,
        },
      });
    const allowed = await post('https://app.example.com');
    expect(allowed.status).toBe(201);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-expose-headers')).toMatch(/Location/i);
    const other = await post('https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).not.toBe('*');

    const preflight = await fetch(`${t.url}/api/v1/uploads/0123456789abcdef0123456789abcdef`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'upload-offset, tus-resumable, content-type, authorization',
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/PATCH/);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Upload-Offset/i);
  });
});

describe('S3 downloads with S3_REDIRECT', () => {
  let storage: StorageUnderTest;
  let t: TestApp;
  let alice: User, bob: User;
  let ab: number;

  beforeAll(async () => {
    storage = await s3Storage();
    t = await startApp({ ...storage.config(), s3Redirect: true });
    [alice, bob] = [await registerUser(t), await registerUser(t)];
    ab = await direct(t, alice, bob);
  });
  afterAll(async () => {
    await t?.close();
    await storage?.close();
  });

  test('answer 302 to a presigned URL after the access check; following it gives the bytes as a download', async () => {
    const bytes = randomBytes(20_000);
    const a = await uploaded(t, alice, ab, bytes, 'report.bin');
    const res = await fetch(new URL(a.url, t.url), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;
    expect(location).toMatch(/X-Amz-Signature=/);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);

    const got = await fetch(location);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    expect(got.headers.get('content-disposition')).toMatch(/^attachment; filename="report.bin"/);

    // No redirect for anyone who may not read it.
    const stranger = await registerUser(t);
    const denied = await fetch(`${t.url}/api/v1/attachments/${a.id}`, {
      headers: { authorization: `Bearer ${stranger.token}` },
      redirect: 'manual',
    });
    expect(denied.status).toBe(404);
  });
});
