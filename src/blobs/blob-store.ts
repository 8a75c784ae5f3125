import type { Readable } from 'node:stream';

/**
 * Where attachment bytes live: a directory on local disk (the one-node default) or any
 * S3-compatible store. Both implementations pass one contract suite
 * (test/blobs/blob-store.test.ts); the database, not the store, knows a blob's size,
 * type and owner.
 *
 * Keys are the caller's: relative paths of `/`-separated segments, each non-empty, not
 * starting with `.` (so no `.`, `..` or hidden names) and free of `\` and control
 * characters. Both stores refuse any other key with an Error, so a key that works on disk
 * works in S3 and back.
 */
export interface BlobStore {
  readonly kind: 'local' | 's3';
  /**
   * Stores the file at sourcePath under key, replacing any blob already there. On success
   * the source file is consumed (moved or deleted); on failure it is left in place for the
   * caller to retry or clean up. A reader sees the old blob or the whole new one, never a
   * part. The content type is kept by S3 (for presigned GETs); the local store ignores it.
   */
  putFile(key: string, sourcePath: string, contentType: string): Promise<void>;
  /**
   * The bytes of key (or a range of them) as a stream. Rejects with BlobNotFound when
   * absent, before any byte is read, so the caller can still answer 404. A range whose end
   * is past the blob's is cut at the last byte (as HTTP does); one that starts past it
   * rejects with RangeError. The caller must consume or destroy the stream: for S3 it
   * holds a pooled connection until then.
   */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Idempotent: deleting a missing key is fine. */
  delete(key: string): Promise<void>;
  /**
   * S3 only (undefined for local): a presigned GET URL valid ttlSeconds that forces these
   * response headers. Signing is local; it does not check that the key exists.
   */
  presignedGet?(key: string, opts: { ttlSeconds: number; contentType: string; contentDisposition: string }): Promise<string>;
  /** Releases sockets (S3); the store is not used afterwards. */
  close(): Promise<void>;
}

/** Inclusive on both ends, like an HTTP Range: `{ start: 0, end: 9 }` is the first 10 bytes. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface S3Settings {
  /** For MinIO, R2, Garage…; unset for AWS. */
  endpoint?: string;
  bucket: string;
  region: string;
  /** With secretAccessKey; when either is unset the SDK's default chain is used (env, profile, IMDS). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `endpoint/bucket/key` instead of `bucket.endpoint/key`: MinIO and Garage need it. */
  forcePathStyle: boolean;
}

export { BlobNotFound } from './keys.js';
export { localBlobStore } from './local.js';
export { s3BlobStore } from './s3.js';
