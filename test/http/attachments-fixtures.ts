import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { expect } from 'vitest';
import type { Config } from '../../src/config/config.js';
import type { TestApp } from '../harness/app.js';
import { startS3 } from '../harness/s3.js';
import type { User } from '../realtime/fixtures.js';

/** The two places bytes can live, as a test sees them: the config to start an app with, and what is stored. */
export interface StorageUnderTest {
  name: 'local' | 's3';
  config(): Partial<Config>;
  /** Every blob key stored (staging and partial uploads excluded). */
  keys(t: TestApp): Promise<string[]>;
  close(): Promise<void>;
}

export async function localStorage(): Promise<StorageUnderTest> {
  return {
    name: 'local',
    config: () => ({ storage: 'local' }),
    keys: async (t) => {
      const root = path.join(t.dataDir, 'uploads', 'conversations');
      const files = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
      return files.filter((f) => f.isFile()).map((f) => path.relative(root, path.join(f.parentPath, f.name)));
    },
    close: async () => {},
  };
}

export async function s3Storage(): Promise<StorageUnderTest> {
  const s3 = await startS3();
  const { settings } = s3;
  const client = new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: true,
    credentials: { accessKeyId: settings.accessKeyId!, secretAccessKey: settings.secretAccessKey! },
  });
  return {
    name: 's3',
    config: () => ({
      storage: 's3',
      s3Endpoint: settings.endpoint,
      s3Bucket: settings.bucket,
      s3Region: settings.region,
      s3AccessKeyId: settings.accessKeyId,
      s3SecretAccessKey: settings.secretAccessKey,
      s3ForcePathStyle: true,
    }),
    keys: async () => {
      const res = await client.send(new ListObjectsV2Command({ Bucket: settings.bucket }));
      return (res.Contents ?? []).map((o) => o.Key!);
    },
    close: async () => {
      client.destroy();
      await s3.close();
    },
  };
}

/** Uploads bytes as multipart `file`, as a browser's FormData would. */
export async function upload(
  t: TestApp,
  user: User,
  conversationId: number,
  bytes: Uint8Array,
  name: string,
  contentType = 'application/octet-stream',
) {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type: contentType }), name);
  const res = await fetch(`${t.url}/api/v1/conversations/${conversationId}/attachments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}` },
    body: form,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

/** `upload` that must succeed; returns the attachment. */
export async function uploaded(t: TestApp, user: User, conversationId: number, bytes: Uint8Array, name: string) {
  const res = await upload(t, user, conversationId, bytes, name);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.attachment;
}

/** Fetches an attachment URL (root-relative or absolute) with no Authorization header. */
export async function fetchUrl(t: TestApp, url: string, headers: Record<string, string> = {}) {
  const res = await fetch(new URL(url, t.url), { headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** A JPEG photo with camera and GPS metadata, as phones write them. */
export async function photoWithLocation(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .jpeg()
    .withExif({
      IFD0: { Make: 'PhoneMaker', Model: 'Phone 12' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2400/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 300/100' },
    })
    .toBuffer();
}

export async function png(width = 40, height = 30): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 0, g: 120, b: 255, alpha: 1 } } }).png().toBuffer();
}

/** Something that is no image: a PDF's opening bytes and some body. */
export const pdfBytes = () => Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
