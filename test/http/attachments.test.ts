import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, TestClock, type TestApp } from '../harness/app.js';
import { expectError } from '../harness/expect.js';
import { direct, group, newMessageIn, Sockets, type User } from '../realtime/fixtures.js';
import {
  fetchUrl,
  localStorage,
  pdfBytes,
  photoWithLocation,
  png,
  s3Storage,
  upload,
  uploaded,
  type StorageUnderTest,
} from './attachments-fixtures.js';

/**
 * Attachments end to end, on local disk and on a real S3-protocol server: upload, send,
 * the live frame, download by signed URL, who may read, and what is left behind.
 */

const MAX = 256 * 1024;

describe.each([
  ['local', localStorage],
  ['s3', s3Storage],
] as const)('attachments on %s storage', (_name, makeStorage) => {
  let storage: StorageUnderTest;
  let t: TestApp;
  const clock = new TestClock();
  let alice: User, bob: User, eve: User;
  let ab: number;
  const sockets = new Sockets();

  beforeAll(async () => {
    storage = await makeStorage();
    t = await startApp({ ...storage.config(), uploadMaxBytes: MAX }, { clock });
    [alice, bob, eve] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    ab = await direct(t, alice, bob);
  });
  afterEach(() => sockets.closeAll());
  afterAll(async () => {
    await t?.close();
    await storage?.close();
  });

  test('upload → send → the recipient\'s live new_message carries it → its url, fetched with no header, gives the exact bytes', async () => {
    const bytes = Buffer.concat([pdfBytes(), randomBytes(100_000)]);
    const attachment = await uploaded(t, alice, ab, bytes, 'report.pdf');
    expect(attachment).toMatchObject({
      conversation_id: ab,
      uploader_id: alice.user.id,
      kind: 'file',
      mime_type: 'application/pdf',
      size: bytes.length,
      name: 'report.pdf',
      width: null,
      height: null,
      duration_ms: null,
      thumbnail_url: null,
    });

    const bobWs = await sockets.connect(t, bob);
    const sent = await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
      token: alice.token,
      body: { attachment_ids: [attachment.id] },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    expect(sent.body.message.type).toBe('file');
    expect(sent.body.message.content).toBe('');

    const frame = await bobWs.next(newMessageIn(ab));
    const [live] = frame.message.attachments;
    expect(live).toMatchObject({ id: attachment.id, kind: 'file', mime_type: 'application/pdf', size: bytes.length });
    // Clients written for the seed show media_url: it is the first attachment's url.
    expect(frame.message.media_url).toBe(live.url);

    const got = await fetchUrl(t, live.url);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(bytes)).toBe(true);
    expect(got.headers.get('content-type')).toBe('application/pdf');
    expect(got.headers.get('content-length')).toBe(String(bytes.length));
    // Not media: a download, never a page.
    expect(got.headers.get('content-disposition')).toMatch(/^attachment; filename="report.pdf"/);
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('cache-control')).toMatch(/^private/);
  });

  test('a photo: measured, thumbnailed, sent over the WebSocket, and downloaded without its GPS and camera metadata', async () => {
    const photo = await photoWithLocation();
    expect((await sharp(photo).metadata()).exif?.includes(Buffer.from('PhoneMaker'))).toBe(true);

    const attachment = await uploaded(t, alice, ab, photo, 'IMG_0001.jpg');
    expect(attachment).toMatchObject({ kind: 'image', mime_type: 'image/jpeg', width: 64, height: 48 });
    expect(attachment.thumbnail_url).toEqual(expect.stringContaining(`/attachments/${attachment.id}/thumbnail?`));

    const [aliceWs, bobWs] = [await sockets.connect(t, alice), await sockets.connect(t, bob)];
    aliceWs.send({ type: 'message', conversation_id: ab, content: 'look', client_id: 'photo-1', attachment_ids: [attachment.id] });
    const frame = await bobWs.next(newMessageIn(ab, 'look'));
    expect(frame.message.type).toBe('image');
    const [live] = frame.message.attachments;

    const got = await fetchUrl(t, live.url);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-disposition')).toMatch(/^inline/);
    const meta = await sharp(got.bytes).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.exif).toBeUndefined();
    expect(got.bytes.includes(Buffer.from('PhoneMaker'))).toBe(false);

    const thumb = await fetchUrl(t, live.thumbnail_url);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    expect((await sharp(thumb.bytes).metadata()).format).toBe('webp');
  });

  test('Range, ETag and If-None-Match, as video players and caches use them', async () => {
    const bytes = randomBytes(50_000);
    const a = await uploaded(t, alice, ab, bytes, 'blob.bin');
    const part = await fetchUrl(t, a.url, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(part.bytes.equals(bytes.subarray(100, 200))).toBe(true);

    const tail = await fetchUrl(t, a.url, { range: 'bytes=-10' });
    expect(tail.bytes.equals(bytes.subarray(bytes.length - 10))).toBe(true);

    const past = await fetchUrl(t, a.url, { range: `bytes=${bytes.length + 5}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${bytes.length}`);

    const whole = await fetchUrl(t, a.url);
    const etag = whole.headers.get('etag')!;
    expect(etag).toMatch(/^"/);
    expect((await fetchUrl(t, a.url, { 'if-none-match': etag })).status).toBe(304);
  });

  test('an HTML page and an SVG are stored as files and served as downloads of text, never as pages', async () => {
    for (const [name, body] of [
      ['page.html', '<html><script>alert(document.cookie)</script></html>'],
      ['logo.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
    ] as const) {
      const a = await uploaded(t, alice, ab, Buffer.from(body), name);
      expect(a.kind).toBe('file');
      expect(a.mime_type).toBe('text/plain');
      const got = await fetchUrl(t, a.url);
      expect(got.headers.get('content-disposition')).toMatch(/^attachment/);
      expect(got.headers.get('content-type')).toMatch(/^text\/plain/);
    }
    // Bytes that are not what the name says: stored as a file of their real type.
    const fake = await uploaded(t, alice, ab, await png(), 'notes.txt');
    expect(fake).toMatchObject({ kind: 'file', mime_type: 'image/png' });
  });

  test('signed URLs: tampered or for another file is forbidden, expired is url_expired, and a fresh fetch re-signs', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(1000), 'a.bin');
    const b = await uploaded(t, alice, ab, randomBytes(1000), 'b.bin');
    const url = new URL(a.url, t.url);

    const tampered = new URL(url);
    tampered.searchParams.set('signature', `${url.searchParams.get('signature')!.slice(0, -2)}xx`);
    expectErrorBody(await fetchUrl(t, tampered.href), 403, 'forbidden');

    const stretched = new URL(url);
    stretched.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 86_400));
    expectErrorBody(await fetchUrl(t, stretched.href), 403, 'forbidden');

    const otherFile = new URL(url);
    otherFile.pathname = otherFile.pathname.replace(`/${a.id}`, `/${b.id}`);
    expectErrorBody(await fetchUrl(t, otherFile.href), 403, 'forbidden');

    expectErrorBody(await fetchUrl(t, `${url.pathname}?signature=${url.searchParams.get('signature')}`), 403, 'forbidden');
    expectErrorBody(await fetchUrl(t, url.pathname), 401, 'unauthorized');

    clock.advance(2 * 3600_000);
    try {
      expectErrorBody(await fetchUrl(t, a.url), 403, 'url_expired');
      // The message, fetched again, carries a URL that works (with tokens of the new time).
      const login = async (u: User) =>
        (await t.request('POST', '/api/v1/auth/login', { body: { email: u.user.email, password: 'password123' } })).body.token;
      const [aliceNow, bobNow] = [await login(alice), await login(bob)];
      const sent = await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
        token: aliceNow,
        body: { content: 'files', attachment_ids: [a.id, b.id] },
      });
      expect(sent.status).toBe(201);
      const history = await t.request('GET', `/api/v1/conversations/${ab}/messages?limit=1`, { token: bobNow });
      const [m] = history.body.messages;
      expect(m.attachments.map((x: any) => x.id)).toEqual([a.id, b.id]);
      expect(m.attachments[0].url).not.toBe(a.url);
      expect((await fetchUrl(t, m.attachments[0].url)).status).toBe(200);
      // The conversation list's last message too.
      const list = await t.request('GET', '/api/v1/conversations', { token: bobNow });
      const last = list.body.conversations.find((c: any) => c.id === ab).messages[0];
      expect(last.attachments).toHaveLength(2);
      expect((await fetchUrl(t, last.media_url)).status).toBe(200);
    } finally {
      clock.advance(-2 * 3600_000);
    }
  });

  test('a non-member gets 404 on every route; so does a member once they left', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(500), 'x.bin');
    await t.request('POST', `/api/v1/conversations/${ab}/messages`, { token: alice.token, body: { attachment_ids: [a.id] } });

    expectErrorBody(await upload(t, eve, ab, randomBytes(10), 'y.bin'), 404, 'not_found');
    expectError(await t.request('GET', `/api/v1/attachments/${a.id}`, { token: eve.token }), 404, 'not_found');
    expectError(await t.request('GET', `/api/v1/attachments/${a.id}/thumbnail`, { token: eve.token }), 404, 'not_found');
    expectError(await t.request('GET', `/api/v1/attachments/99999999`, { token: eve.token }), 404, 'not_found');
    const tus = await fetch(`${t.url}/api/v1/uploads`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${eve.token}`,
        'tus-resumable': '1.0.0',
        'upload-length': '10',
        'upload-metadata': `conversation_id ${Buffer.from(String(ab)).toString('base64')},filename ${Buffer.from('z').toString('base64')}`,
      },
    });
    expect(tus.status).toBe(404);
    expect(await tus.json()).toMatchObject({ code: 'not_found' });

    // A member reads with their token.
    const mine = await t.request('GET', `/api/v1/attachments/${a.id}`, { token: bob.token });
    expect(mine.status).toBe(200);

    const g = await group(t, alice, [bob], 'leavers');
    const ga = await uploaded(t, alice, g, randomBytes(100), 'g.bin');
    await t.request('POST', `/api/v1/conversations/${g}/messages`, { token: alice.token, body: { attachment_ids: [ga.id] } });
    expect((await t.request('GET', `/api/v1/attachments/${ga.id}`, { token: bob.token })).status).toBe(200);
    await sql`delete from conversation_participants where conversation_id = ${g} and user_id = ${bob.user.id}`.execute(
      t.app.database.db,
    );
    expectError(await t.request('GET', `/api/v1/attachments/${ga.id}`, { token: bob.token }), 404, 'not_found');
  });

  test('an unsent upload is its uploader\'s alone', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(100), 'draft.bin');
    expectError(await t.request('GET', `/api/v1/attachments/${a.id}`, { token: bob.token }), 404, 'not_found');
    expect((await t.request('GET', `/api/v1/attachments/${a.id}`, { token: alice.token })).status).toBe(200);
  });

  test('sending: once only, only your own uploads of this conversation, and a resend by client_id finds its message', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(100), 'once.bin');
    const send = (user: User, conversationId: number, body: object) =>
      t.request('POST', `/api/v1/conversations/${conversationId}/messages`, { token: user.token, body });

    const first = await send(alice, ab, { attachment_ids: [a.id], client_id: 'att-once' });
    expect(first.status).toBe(201);
    const again = await send(alice, ab, { attachment_ids: [a.id], client_id: 'att-once' });
    expect(again.status).toBe(200);
    expect(again.body.message.id).toBe(first.body.message.id);
    expectError(await send(alice, ab, { attachment_ids: [a.id] }), 400, 'validation_failed');

    const bobs = await uploaded(t, bob, ab, randomBytes(100), 'bobs.bin');
    const refused = await send(alice, ab, { content: 'x', attachment_ids: [bobs.id] });
    expectError(refused, 400, 'validation_failed');
    expect(refused.body.field).toBe('attachment_ids');

    const other = await direct(t, alice, eve);
    const elsewhere = await uploaded(t, alice, other, randomBytes(100), 'elsewhere.bin');
    expectError(await send(alice, ab, { attachment_ids: [elsewhere.id] }), 400, 'validation_failed');
    expectError(await send(alice, ab, { attachment_ids: [] }), 400, 'validation_failed');
    expectError(await send(alice, ab, { attachment_ids: Array.from({ length: 11 }, (_, i) => i + 1) }), 400, 'validation_failed');
    expectError(await send(alice, ab, { attachment_ids: [elsewhere.id, elsewhere.id] }), 400, 'validation_failed');
    expectError(await send(alice, ab, { attachment_ids: [String(elsewhere.id)] }), 400, 'validation_failed');
    const both = await send(alice, other, { attachment_ids: [elsewhere.id], media_url: 'https://cdn.example/x.png' });
    expectError(both, 400, 'validation_failed');
    // Nothing of the refused sends was stored: the attachment is still unsent.
    expect((await send(alice, other, { attachment_ids: [elsewhere.id] })).status).toBe(201);
  });

  test('two messages racing for one attachment: one gets it, the other is refused alone', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(100), 'race.bin');
    const ws = await sockets.connect(t, alice);
    ws.send({ type: 'message', conversation_id: ab, content: 'r1', client_id: 'race-1', attachment_ids: [a.id] });
    ws.send({ type: 'message', conversation_id: ab, content: 'r2', client_id: 'race-2', attachment_ids: [a.id] });
    ws.send({ type: 'message', conversation_id: ab, content: 'r3', client_id: 'race-3' });
    const err = await ws.next((f) => f.type === 'error');
    expect(err).toMatchObject({ code: 'validation_failed', client_id: 'race-2' });
    await ws.next(newMessageIn(ab, 'r3'));
    const rows = await sql<{ message_id: number }>`select message_id from attachments where id = ${a.id}`.execute(t.app.database.db);
    const owner = await sql<{ client_id: string }>`select client_id from messages where id = ${rows.rows[0]!.message_id}`.execute(
      t.app.database.db,
    );
    expect(owner.rows[0]!.client_id).toBe('race-1');
  });

  test('over UPLOAD_MAX_BYTES: 413 payload_too_large, and nothing is kept (declared length or not)', async () => {
    const before = await storage.keys(t);
    const rowsBefore = await attachmentCount(t);
    expectErrorBody(await upload(t, alice, ab, randomBytes(MAX + 1), 'big.bin'), 413, 'payload_too_large');

    // Chunked, so the length is only known once the limit is crossed.
    const chunked = await rawUpload(t, alice, ab, randomBytes(MAX + 100_000), { chunked: true });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ code: 'payload_too_large' });

    expect(await storage.keys(t)).toEqual(before);
    expect(await attachmentCount(t)).toBe(rowsBefore);
    expect(await stagingFiles(t)).toEqual([]);
  });

  test('a client that disconnects mid-upload leaves no row and no blob', async () => {
    const before = await storage.keys(t);
    const rowsBefore = await attachmentCount(t);
    await rawUpload(t, alice, ab, randomBytes(200_000), { abortAfter: 100_000 });
    // The server notices the cut; give it a moment to clean up.
    await eventually(async () => expect(await stagingFiles(t)).toEqual([]));
    expect(await storage.keys(t)).toEqual(before);
    expect(await attachmentCount(t)).toBe(rowsBefore);
    // The server is fine afterwards.
    await uploaded(t, alice, ab, randomBytes(10), 'after.bin');
  });

  test('orphans are swept with their blobs after UPLOAD_ORPHAN_TTL, by one node at a time; sent ones stay', async () => {
    const orphan = await uploaded(t, alice, ab, await png(), 'orphan.png');
    const kept = await uploaded(t, alice, ab, randomBytes(100), 'kept.bin');
    await t.request('POST', `/api/v1/conversations/${ab}/messages`, { token: alice.token, body: { attachment_ids: [kept.id] } });
    const keysBefore = await storage.keys(t);
    // As a day later: everything unsent so far is old enough.
    const later = -60;

    // Another node sweeping (holding the lock): this one skips the round. (PGlite has one
    // connection and one node: there is no other to hold it.)
    if (t.app.database.kind === 'postgres') {
      await t.app.database.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(7261033246)`.execute(trx);
        expect(await t.app.attachments.sweep(later)).toBeNull();
      });
    }
    expect(await t.app.attachments.sweep()).toBe(0);

    expect(await t.app.attachments.sweep(later)).toBeGreaterThanOrEqual(1);
    expect((await t.request('GET', `/api/v1/attachments/${orphan.id}`, { token: alice.token })).status).toBe(404);
    expect((await fetchUrl(t, kept.url)).status).toBe(200);
    const keysAfter = await storage.keys(t);
    // The orphan's blob and its thumbnail are gone.
    expect(keysBefore.length - keysAfter.length).toBeGreaterThanOrEqual(2);
    expect(keysAfter.every((k) => keysBefore.includes(k))).toBe(true);
  });

  test('a resumable (tus) upload cut off half way continues from the server\'s offset and completes with the right bytes', async () => {
    const bytes = randomBytes(250_000);
    const meta = (k: string, v: string) => `${k} ${Buffer.from(v).toString('base64')}`;
    const auth = { authorization: `Bearer ${alice.token}`, 'tus-resumable': '1.0.0' };
    const created = await fetch(`${t.url}/api/v1/uploads`, {
      method: 'POST',
      headers: {
        ...auth,
        'upload-length': String(bytes.length),
        'upload-metadata': `${meta('conversation_id', String(ab))},${meta('filename', 'movie.bin')}`,
      },
    });
    expect(created.status).toBe(201);
    const location = new URL(created.headers.get('location')!, t.url);

    // The first PATCH dies with its connection after 120 kB.
    await rawPatch(location, auth, bytes, 0, 120_000);
    const head = await fetch(location, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    const offset = Number(head.headers.get('upload-offset'));
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(120_000);

    // Bob may not touch alice's upload.
    const stranger = await fetch(location, { method: 'HEAD', headers: { ...auth, authorization: `Bearer ${bob.token}` } });
    expect(stranger.status).toBe(404);

    const rest = await fetch(location, {
      method: 'PATCH',
      headers: { ...auth, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      body: bytes.subarray(offset),
    });
    expect(rest.status).toBe(200);
    const { attachment } = (await rest.json()) as any;
    expect(rest.headers.get('natter-attachment-id')).toBe(String(attachment.id));
    expect(attachment).toMatchObject({ name: 'movie.bin', size: bytes.length, uploader_id: alice.user.id });
    expect((await fetchUrl(t, attachment.url)).bytes.equals(bytes)).toBe(true);

    // Should the answer be lost, a tus client's HEAD sees the upload complete (rather than
    // gone, which would make it send the whole file again), and its last PATCH, repeated,
    // gives the same attachment.
    const after = await fetch(location, { method: 'HEAD', headers: auth });
    expect(after.status).toBe(200);
    expect(after.headers.get('upload-offset')).toBe(String(bytes.length));
    expect(after.headers.get('upload-length')).toBe(String(bytes.length));
    expect(after.headers.get('natter-attachment-id')).toBe(String(attachment.id));
    const repeated = await fetch(location, {
      method: 'PATCH',
      headers: { ...auth, 'upload-offset': String(bytes.length), 'content-type': 'application/offset+octet-stream' },
      body: new Uint8Array(0),
    });
    expect(repeated.status).toBe(200);
    expect(((await repeated.json()) as any).attachment.id).toBe(attachment.id);
    const strangerAfter = await fetch(location, { method: 'HEAD', headers: { ...auth, authorization: `Bearer ${bob.token}` } });
    expect(strangerAfter.status).toBe(404);

    const uploadId = location.pathname.split('/').pop();
    const again = await t.request('GET', `/api/v1/uploads/${uploadId}`, { token: alice.token });
    expect(again.body.attachment.id).toBe(attachment.id);
    expectError(await t.request('GET', `/api/v1/uploads/${uploadId}`, { token: bob.token }), 404, 'not_found');

    const sent = await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
      token: alice.token,
      body: { attachment_ids: [attachment.id] },
    });
    expect(sent.status).toBe(201);
  });

  test('tus: a retried last PATCH while the first is processed gives one attachment; nothing of the upload stays behind', async () => {
    const bytes = await png(900, 700);
    const create = await tusCreate(t, alice, ab, bytes.length, 'retried.png');
    const location = new URL(create.headers.get('location')!, t.url);
    const patch = (body: Uint8Array, offset: number) =>
      fetch(location, {
        method: 'PATCH',
        headers: tusHeaders(alice, { 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }),
        body,
      });
    // The whole file, then at once the client's retry of an answer it thinks was lost.
    const first = patch(bytes, 0);
    await new Promise((r) => setTimeout(r, 5));
    const retry = await patch(new Uint8Array(0), bytes.length).catch(() => undefined);
    const done = await first;
    expect(done.status, await done.clone().text()).toBe(200);
    const { attachment } = (await done.json()) as any;
    if (retry && retry.status === 200) expect(((await retry.json()) as any).attachment.id).toBe(attachment.id);
    else if (retry) expect([404, 409]).toContain(retry.status);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from attachments where name = 'retried.png'`.execute(
      t.app.database.db,
    );
    expect(rows[0]!.n).toBe(1);
    expect(await readdir(path.join(t.dataDir, 'uploads', 'tus')).catch(() => [])).toEqual([]);
  });

  test('tus refusals are natter errors: too large, a wrong offset, a bad conversation_id', async () => {
    const tooBig = await tusCreate(t, alice, ab, MAX + 1, 'big.bin');
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ code: 'payload_too_large' });
    for (const bad of [' 1', '1e0', '0x1', '-1', '']) {
      const res = await tusCreate(t, alice, bad as unknown as number, 10, 'x.bin');
      expect(res.status, bad).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'validation_failed' });
    }
    const empty = await tusCreate(t, alice, ab, 0, 'empty.bin');
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ code: 'validation_failed' });
    const created = await tusCreate(t, alice, ab, 10, 'offset.bin');
    const location = new URL(created.headers.get('location')!, t.url);
    const wrong = await fetch(location, {
      method: 'PATCH',
      headers: tusHeaders(alice, { 'upload-offset': '5', 'content-type': 'application/offset+octet-stream' }),
      body: new Uint8Array(5),
    });
    expect(wrong.status).toBe(409);
    expect(await wrong.json()).toMatchObject({ code: 'offset_mismatch' });
  });

  test('HEAD opens nothing; refusals carry no caching headers', async () => {
    const a = await uploaded(t, alice, ab, randomBytes(4000), 'head.bin');
    const head = await fetch(new URL(a.url, t.url), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('4000');
    expect(head.headers.get('etag')).toMatch(/^"/);
    const past = await fetch(new URL(a.url, t.url), { headers: { range: 'bytes=9000-' } });
    expect(past.status).toBe(416);
    expect(past.headers.get('cache-control')).toBeNull();
    expect(past.headers.get('etag')).toBeNull();
    const weak = await fetch(new URL(a.url, t.url), { headers: { 'if-none-match': `"x", W/${head.headers.get('etag')}` } });
    expect(weak.status).toBe(304);
  });

  test('the upload route reads multipart with one part named file, and nothing else', async () => {
    const json = await t.request('POST', `/api/v1/conversations/${ab}/attachments`, { token: alice.token, body: { file: 'x' } });
    expectError(json, 415, 'unsupported_media_type');
    const form = new FormData();
    form.append('document', new Blob([Buffer.from('x')]), 'x.txt');
    const wrong = await fetch(`${t.url}/api/v1/conversations/${ab}/attachments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}` },
      body: form,
    });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ code: 'validation_failed', field: 'file' });
    const noToken = await fetch(`${t.url}/api/v1/conversations/${ab}/attachments`, { method: 'POST', body: form });
    expect(noToken.status).toBe(401);
    for (const contentType of ['multipart/form-data', 'multipart/form-data; boundary=xyz']) {
      const broken = await fetch(`${t.url}/api/v1/conversations/${ab}/attachments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': contentType },
        body: 'not multipart at all',
      });
      expect(broken.status, contentType).toBe(400);
      expect(await broken.json()).toMatchObject({ code: 'validation_failed', field: 'file' });
    }
    // Clients that send null for "none" (the seed's do) may send attachment_ids: null.
    const plain = await t.request('POST', `/api/v1/conversations/${ab}/messages`, {
      token: alice.token,
      body: { content: 'no files', attachment_ids: null },
    });
    expect(plain.status).toBe(201);
    // The name keeps no path.
    const named = await uploaded(t, alice, ab, Buffer.from('hello'), '../../etc/passwd');
    expect(named.name).toBe('passwd');
    const spoofed = await uploaded(t, alice, ab, Buffer.from('hello'), 'invoice\u202Efdp.exe');
    expect(spoofed.name).toBe('invoicefdp.exe');
  });
});

function tusHeaders(user: User, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${user.token}`, 'tus-resumable': '1.0.0', ...extra };
}

/** POST /uploads: a new resumable upload of `length` bytes into `conversationId`. */
function tusCreate(t: TestApp, user: User, conversationId: number, length: number, name: string) {
  const meta = (k: string, v: string) => `${k} ${Buffer.from(v).toString('base64')}`;
  return fetch(`${t.url}/api/v1/uploads`, {
    method: 'POST',
    headers: tusHeaders(user, {
      'upload-length': String(length),
      'upload-metadata': `${meta('conversation_id', String(conversationId))},${meta('filename', name)}`,
    }),
  });
}

function expectErrorBody(res: { status: number; bytes?: Buffer; body?: any }, status: number, code: string): void {
  const body = res.body ?? JSON.parse(res.bytes!.toString('utf8'));
  expect({ status: res.status, code: body.code }).toEqual({ status, code });
  expect(typeof body.error).toBe('string');
}

async function attachmentCount(t: TestApp): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from attachments`.execute(t.app.database.db);
  return rows[0]!.n;
}

async function stagingFiles(t: TestApp): Promise<string[]> {
  return readdir(path.join(t.dataDir, 'uploads', 'tmp')).catch(() => []);
}

async function eventually(check: () => Promise<void>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * A multipart upload written by hand on a raw socket: `chunked` hides its length;
 * `abortAfter` cuts the connection after that many bytes of the file.
 */
function rawUpload(
  t: TestApp,
  user: User,
  conversationId: number,
  bytes: Buffer,
  opts: { chunked?: boolean; abortAfter?: number },
): Promise<{ status: number; body: string }> {
  const boundary = `----natter${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="raw.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL(`/api/v1/conversations/${conversationId}/attachments`, t.url);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${user.token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        ...(opts.chunked ? {} : { 'content-length': String(head.length + bytes.length + tail.length) }),
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (err) => (opts.abortAfter !== undefined ? resolve({ status: 0, body: '' }) : reject(err)));
    req.write(head);
    if (opts.abortAfter !== undefined) {
      req.write(bytes.subarray(0, opts.abortAfter), () => setTimeout(() => req.destroy(), 100));
      return;
    }
    req.write(bytes);
    req.end(tail);
  });
}

/** A tus PATCH whose connection dies after `cutAfter` bytes. */
function rawPatch(location: URL, headers: Record<string, string>, bytes: Buffer, offset: number, cutAfter: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request(location, {
      method: 'PATCH',
      headers: {
        ...headers,
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
        'content-length': String(bytes.length - offset),
      },
    });
    req.on('error', () => resolve());
    req.on('response', () => resolve());
    req.write(bytes.subarray(offset, offset + cutAfter), () => setTimeout(() => (req.destroy(), resolve()), 200));
  });
}
