import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type BlobStore, localBlobStore, s3BlobStore } from '../../src/blobs/blob-store.js';
import { startS3 } from './s3.js';

export interface BlobStoreFixture {
  store: BlobStore;
  /** Where upload handlers stage files for this store. */
  staging: string;
  close(): Promise<void>;
}

/**
 * Every BlobStore, fresh: a directory laid out as the app does (`DATA_DIR/uploads`, staging
 * in `uploads/tmp`, so puts are renames) and S3 against s3rver on loopback.
 */
export const blobStoreFactories: Record<'local' | 's3', () => Promise<BlobStoreFixture>> = {
  local: async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'natter-blobs-'));
    const root = path.join(dataDir, 'uploads');
    const staging = path.join(root, 'tmp');
    await mkdir(staging, { recursive: true });
    return { store: localBlobStore(root), staging, close: () => rm(dataDir, { recursive: true, force: true }) };
  },
  s3: async () => {
    const s3 = await startS3();
    const staging = await mkdtemp(path.join(tmpdir(), 'natter-staging-'));
    const store = s3BlobStore(s3.settings);
    return {
      store,
      staging,
      async close() {
        await store.close();
        await s3.close();
        await rm(staging, { recursive: true, force: true });
      },
    };
  },
};

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let staged = 0;
/** A file of these bytes in dir, as an upload handler leaves it. */
export async function stage(dir: string, bytes: Buffer): Promise<string> {
  const file = path.join(dir, `upload-${process.pid}-${++staged}`);
  await writeFile(file, bytes);
  return file;
}
