import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { S3Settings } from '../../src/blobs/blob-store.js';

/**
 * A real S3-protocol server (s3rver, in a child process: s3rver-process.js) on 127.0.0.1, a
 * free port, a fresh temp directory and one bucket, for tests of the S3 blob store. What s3rver 3.7 does and does not check:
 * - path-style URLs (`forcePathStyle`), so no bucket name needs to resolve.
 * - it does not decode `aws-chunked` bodies, which SDK >= 3.729 sends by default for a
 *   stream body (a CRC32 trailer): the framing is stored as the bytes. The store sets
 *   `requestChecksumCalculation: 'WHEN_REQUIRED'`; lib-storage's buffered parts are fine
 *   either way.
 * - V4 signatures are parsed, never verified: only the access key id must be `S3RVER`, so
 *   a wrong secret, a zeroed signature or an edited URL all pass, and an unsigned GET is
 *   served too. Presigned URLs work (the expiry is checked; response-* overrides are
 *   applied, refused on anonymous GETs), but a test here cannot prove a signature right.
 * - `Range: bytes=0-0` returns the whole object (its `end || Infinity`); real S3 returns
 *   one byte.
 */
const SCRIPT = fileURLToPath(new URL('./s3rver-process.js', import.meta.url));

export async function startS3(): Promise<{ settings: S3Settings; close(): Promise<void> }> {
  const directory = await mkdtemp(path.join(tmpdir(), 'natter-s3rver-'));
  const bucket = 'natter-test';
  const child = spawn(process.execPath, [SCRIPT, directory, bucket], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    // Whichever comes first settles it; the later ones are no-ops.
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${String(code)} before it listened`)));
    createInterface({ input: child.stdout }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return {
    settings: {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      region: 'us-east-1',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
    },
    async close() {
      child.stdin.end();
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
