import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobStore, ByteRange } from './blob-store.js';
import { BlobNotFound, checkKey, checkRange } from './keys.js';

/** Where a cross-device copy is written before it is renamed into place. */
const INCOMING = '.incoming';

/**
 * Blobs as files under root: key `a/b` is `root/a/b`. Parent directories are made on
 * demand and never pruned. Writes are renames, so they are atomic; a staging file on
 * another filesystem is first copied into `root/.incoming/` (which no key can name) and
 * renamed from there.
 */
export function localBlobStore(root: string): BlobStore {
  const base = path.resolve(root);

  const fileOf = (key: string): string => {
    checkKey(key);
    const file = path.resolve(base, key);
    // checkKey already refuses `..`; this is the belt to its braces.
    if (!file.startsWith(base + path.sep)) throw new Error(`blob key ${JSON.stringify(key)} escapes the store`);
    return file;
  };

  return {
    kind: 'local',

    async putFile(key, sourcePath, _contentType) {
      const file = fileOf(key);
      await mkdir(path.dirname(file), { recursive: true });
      try {
        await rename(sourcePath, file);
        return;
      } catch (err) {
        if (code(err) !== 'EXDEV') throw err;
      }
      // Another filesystem: copy next to the target, then rename, so the key never names a
      // half-written file. copyFile runs in the kernel (copy_file_range), no buffers here.
      const incoming = path.join(base, INCOMING);
      await mkdir(incoming, { recursive: true });
      const partial = path.join(incoming, `${randomBytes(12).toString('hex')}.part`);
      try {
        await copyFile(sourcePath, partial, constants.COPYFILE_EXCL);
        await rename(partial, file);
      } catch (err) {
        await unlink(partial).catch(() => {});
        throw err;
      }
      await unlink(sourcePath);
    },

    async read(key, range?: ByteRange): Promise<Readable> {
      const file = fileOf(key);
      if (range) checkRange(range);
      // Opened (and checked) here, not by the stream, so absence is a rejection the caller
      // sees before it sends headers, and a later unlink cannot race the first read.
      let handle;
      try {
        handle = await open(file, 'r');
      } catch (err) {
        if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') throw new BlobNotFound(key);
        throw err;
      }
      try {
        const stat = await handle.stat();
        // `a` is a directory once `a/b` is stored; to S3 it is no object, so not here either.
        if (!stat.isFile()) throw new BlobNotFound(key);
        if (range && range.start >= stat.size) {
          throw new RangeError(`range ${range.start}-${range.end} starts past the end of ${stat.size} bytes`);
        }
      } catch (err) {
        await handle.close();
        throw err;
      }
      return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
    },

    async delete(key) {
      try {
        await unlink(fileOf(key));
      } catch (err) {
        // EISDIR: `a` while `a/b` is stored, which is no blob (as in S3).
        if (code(err) !== 'ENOENT' && code(err) !== 'ENOTDIR' && code(err) !== 'EISDIR') throw err;
      }
    },

    async close() {},
  };
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
