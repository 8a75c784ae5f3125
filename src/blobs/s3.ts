import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { BlobStore, S3Settings } from './blob-store.js';
import { BlobNotFound, checkKey, checkRange } from './keys.js';

/**
 * Upload memory is bounded by PART_SIZE × (QUEUE_SIZE + 1): the parts in flight plus the one
 * being filled. 8 MiB parts allow 80 GB objects within S3's 10,000-part limit.
 */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 4;

/**
 * Blobs as objects in one bucket of any S3-compatible store (AWS, MinIO, R2, Garage). Files
 * are streamed up, one PutObject below PART_SIZE and a multipart upload above it, whose
 * parts are aborted on failure. Object keys are the blob keys as they are.
 */
export function s3BlobStore(s: S3Settings): BlobStore {
  const client = new S3Client({
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.accessKeyId && s.secretAccessKey
      ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } }
      : {}),
    // Since 3.729 the SDK checksums every upload by default (CRC32); a stream body then goes
    // as an `aws-chunked` body with a checksum trailer. Stores that do not decode that
    // (s3rver; older MinIO, Garage and other S3-compatibles) refuse it or, worse, keep the
    // chunk framing as the object's bytes: s3rver stored 100,053 bytes for 100,000. Only
    // where the API demands one (DeleteObjects and the like) is a checksum sent. Upload's
    // parts are buffers, which carry a checksum header instead, so this guards any stream
    // body sent here now or later.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const bucket = s.bucket;

  return {
    kind: 's3',

    async putFile(key, sourcePath, contentType) {
      checkKey(key);
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: createReadStream(sourcePath), ContentType: contentType },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
        leavePartsOnError: false,
      });
      await upload.done();
      await unlink(sourcePath);
    },

    async read(key, range) {
      checkKey(key);
      if (range) checkRange(range);
      try {
        const out = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
        );
        // In Node the body is the response's IncomingMessage (a Readable); resolving here
        // means the status and headers are in and the bytes are not yet read.
        if (!(out.Body instanceof Readable)) throw new Error('S3 GetObject returned no stream body');
        return out.Body;
      } catch (err) {
        if (isMissingKey(err)) throw new BlobNotFound(key);
        if (err instanceof S3ServiceException && (err.name === 'InvalidRange' || err.$metadata.httpStatusCode === 416)) throw new RangeError(`range ${range?.start}-${range?.end} starts past the end of ${key}`);
        throw err;
      }
    },

    async delete(key) {
      checkKey(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (err) {
        // S3 answers 204 for a missing key; some compatible stores answer 404.
        if (!isMissingKey(err)) throw err;
      }
    },

    async presignedGet(key, opts) {
      checkKey(key);
      const command = new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ResponseContentType: opts.contentType,
        ResponseContentDisposition: opts.contentDisposition,
      });
      return getSignedUrl(client, command, { expiresIn: opts.ttlSeconds });
    },

    async close() {
      client.destroy();
    },
  };
}

/** NoSuchKey, or a bare 404 (a HEAD-like reply without a body); a missing bucket is a misconfiguration, not a missing blob. */
function isMissingKey(err: unknown): boolean {
  if (!(err instanceof S3ServiceException) || err.name === 'NoSuchBucket') return false;
  return err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404;
}
