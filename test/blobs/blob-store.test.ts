import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlobNotFound, localBlobStore } from '../../src/blobs/blob-store.js';
import { type BlobStoreFixture, blobStoreFactories, readAll, stage } from '../harness/blob-stores.js';

/**
 * One contract, every BlobStore: a directory (with its staging dir inside, as the app lays
 * it out) and S3 against a real S3-protocol server (s3rver) on loopback. The memory bound
 * of a big put is checked in blob-store-memory.test.ts, in a process of its own.
 */
describe.each(Object.entries(blobStoreFactories))('BlobStore contract: %s', (name, factory) => {
  let f: BlobStoreFixture;
  beforeAll(async () => {
    f = await factory();
  });
  afterAll(() => f.close());

  // 20 MiB is three parts of 8 MiB: S3 goes multipart; small stays one PutObject.
  test.each([
    ['small', 1000],
    ['multipart-sized', 20 * 1024 * 1024],
  ])('put then read returns the exact bytes, whole and a range (%s)', async (_size, size) => {
    const bytes = randomBytes(size);
    const key = `t/${size}/blob.bin`;
    const source = await stage(f.staging, bytes);
    await f.store.putFile(key, source, 'application/octet-stream');
    expect(existsSync(source)).toBe(false);

    expect((await readAll(await f.store.read(key))).equals(bytes)).toBe(true);
    const start = Math.floor(size / 3);
    const end = size - 7;
    expect((await readAll(await f.store.read(key, { start, end }))).equals(bytes.subarray(start, end + 1))).toBe(true);
    expect(await readAll(await f.store.read(key, { start: 5, end: 5 }))).toEqual(bytes.subarray(5, 6));
  });

  test('a put from a missing source rejects and stores nothing', async () => {
    await expect(f.store.putFile('from/nowhere', path.join(f.staging, 'no-such-upload'), 'text/plain')).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(f.store.read('from/nowhere')).rejects.toBeInstanceOf(BlobNotFound);
  });

  test('a second put replaces the blob', async () => {
    await f.store.putFile('replace/me', await stage(f.staging, Buffer.from('first')), 'text/plain');
    await f.store.putFile('replace/me', await stage(f.staging, Buffer.from('second')), 'text/plain');
    expect((await readAll(await f.store.read('replace/me'))).toString()).toBe('second');
  });

  test('a range past the end is cut at the last byte; one starting past it is a RangeError', async () => {
    await f.store.putFile('range/ten', await stage(f.staging, Buffer.from('0123456789')), 'text/plain');
    expect((await readAll(await f.store.read('range/ten', { start: 7, end: 100 }))).toString()).toBe('789');
    await expect(f.store.read('range/ten', { start: 10, end: 20 })).rejects.toBeInstanceOf(RangeError);
    await expect(f.store.read('range/ten', { start: 3, end: 2 })).rejects.toBeInstanceOf(RangeError);
  });

  test('a missing key rejects with BlobNotFound, also when it is a prefix of stored keys', async () => {
    await expect(f.store.read('no/such/key')).rejects.toBeInstanceOf(BlobNotFound);
    await expect(f.store.read('no/such/key', { start: 0, end: 10 })).rejects.toBeInstanceOf(BlobNotFound);
    await f.store.putFile('dir/child', await stage(f.staging, Buffer.from('x')), 'text/plain');
    await expect(f.store.read('dir')).rejects.toBeInstanceOf(BlobNotFound);
  });

  test('delete removes the blob and is idempotent', async () => {
    await f.store.putFile('gone/soon', await stage(f.staging, Buffer.from('bye')), 'text/plain');
    await f.store.delete('gone/soon');
    await expect(f.store.read('gone/soon')).rejects.toBeInstanceOf(BlobNotFound);
    await f.store.delete('gone/soon');
    await f.store.delete('never/was');
    await f.store.delete('dir');
  });

  test.each(['../escape', '/etc/passwd', 'a/../../escape', 'a/./b', 'a//b', '', '.incoming/x', 'a\\..\\b', 'nul\u0000byte'])(
    'refuses the key %j, leaving the source in place',
    async (key) => {
      const source = await stage(f.staging, Buffer.from('nope'));
      await expect(f.store.putFile(key, source, 'text/plain')).rejects.toThrow(/invalid blob key/);
      expect(existsSync(source)).toBe(true);
      await expect(f.store.read(key)).rejects.toThrow(/invalid blob key/);
      await expect(f.store.delete(key)).rejects.toThrow(/invalid blob key/);
    },
  );

  test.runIf(name === 'local')('has no presignedGet (the app streams local blobs itself)', () => {
    expect(f.store.kind).toBe('local');
    expect('presignedGet' in f.store).toBe(false);
  });

  test.runIf(name === 's3')('presignedGet: a plain fetch gets the bytes with the forced headers', async () => {
    const bytes = randomBytes(4096);
    await f.store.putFile('signed/photo', await stage(f.staging, bytes), 'application/octet-stream');
    const url = await f.store.presignedGet!('signed/photo', {
      ttlSeconds: 60,
      contentType: 'image/png',
      contentDisposition: 'attachment; filename="photo.png"',
    });
    const reply = await fetch(url);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('image/png');
    expect(reply.headers.get('content-disposition')).toBe('attachment; filename="photo.png"');
    expect(Buffer.from(await reply.arrayBuffer()).equals(bytes)).toBe(true);
  });
});

describe('local blob store', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'natter-blobs-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  test('a refused key writes nothing outside the root', async () => {
    const store = localBlobStore(path.join(dataDir, 'uploads'));
    await mkdir(path.join(dataDir, 'uploads'), { recursive: true });
    const source = path.join(dataDir, 'uploads', 'staged');
    await writeFile(source, 'x');
    await expect(store.putFile('../outside', source, 'text/plain')).rejects.toThrow();
    expect(existsSync(path.join(dataDir, 'outside'))).toBe(false);
  });

  // /dev/shm is a tmpfs on Linux, so a rename from there to the temp dir crosses devices.
  const otherDevice = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tmpdir()).dev;
  test.skipIf(!otherDevice)('a staging file on another filesystem is copied in, then removed', async () => {
    const root = path.join(dataDir, 'exdev');
    const store = localBlobStore(root);
    const staging = await mkdtemp('/dev/shm/natter-staging-');
    try {
      const bytes = randomBytes(3 * 1024 * 1024);
      const source = await stage(staging, bytes);
      await store.putFile('moved/across', source, 'application/octet-stream');
      expect(existsSync(source)).toBe(false);
      expect((await readAll(await store.read('moved/across'))).equals(bytes)).toBe(true);
      // The copy was renamed into place: nothing is left half-written in .incoming.
      expect(await readdir(path.join(root, '.incoming'))).toEqual([]);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
});
