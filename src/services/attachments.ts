import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { contentDisposition, toAttachment, type StoredAttachment } from '../domain/attachments.js';
import { AppError, notFound } from '../domain/errors.js';
import { inspectUpload } from '../media/inspect.js';
import type { Attachment } from '../schemas/attachments.js';
import {
  canRead,
  deleteAttachment,
  findAttachment,
  findAttachments,
  findByUploadId,
  insertAttachment,
  storedAttachment,
  sweepOrphans,
  type AttachmentRow,
} from '../store/attachments.repository.js';
import type { Db } from '../store/database.js';
import { BlobNotFound, type BlobStore, type ByteRange } from '../blobs/blob-store.js';
import type { Access } from './access.js';
import type { AttachmentSigner, LinkVariant } from './attachment-links.js';

export interface AttachmentsOptions {
  /** Local folder where uploads land before they are inspected and stored. */
  stagingDir: string;
  maxBytes: number;
  /** An unsent attachment older than this is swept (ms). */
  orphanTtlMs: number;
  /** ffmpeg for video posters, or null. */
  ffmpegPath: string | null;
  /** Answer downloads with a presigned URL where the blob store has them (S3_REDIRECT). */
  redirect: boolean;
}

/** What a download sends. */
export interface Download {
  key: string;
  size: number;
  mimeType: string;
  disposition: string;
  etag: string;
}

/** Who asks for an attachment's bytes: a signed-in user, or the holder of a signed URL. */
export type Reader = { userId: number } | { expires: number; signature: string };

/**
 * Attachments: an upload is streamed to a staging file (never held in memory), inspected
 * (real type from the bytes; images measured, thumbnailed and stripped of location and
 * camera metadata; audio/video durations), recorded, and its bytes put in the blob store.
 * It belongs to its uploader until a message claims it (store/messages.repository.ts);
 * unclaimed ones are swept after `orphanTtlMs`.
 */
export class AttachmentsService {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
    private readonly blobs: BlobStore,
    private readonly signer: AttachmentSigner,
    private readonly opts: AttachmentsOptions,
    private readonly log: Logger,
  ) {}

  /**
   * How many uploads are inspected at once. Decoding a photo or running ffmpeg takes a
   * core and tens of MB; beyond the cores, more at once only queue inside libvips while
   * holding their memory.
   */
  /** Attachments stored and their bytes (thumbnails not counted), for metrics. */
  readonly stats = { uploads: 0, bytes: 0 };
  private readonly inspecting = pLimit(Math.max(2, availableParallelism()));

  /** Only members upload into a conversation (not_found otherwise). */
  async requireUploader(userId: number, conversationId: number): Promise<void> {
    await this.access.requireMember(userId, conversationId);
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /** A fresh staging path (the folder is created on first use). */
  async stagingPath(): Promise<string> {
    await mkdir(this.opts.stagingDir, { recursive: true });
    return path.join(this.opts.stagingDir, randomUUID());
  }

  /**
   * Streams `source` to a staging file. `truncated` tells whether the source stopped at
   * the size limit (the multipart parser cuts a part there): the file is then deleted and
   * payload_too_large thrown. A source that fails (the client went away) leaves no file.
   */
  async stage(source: Readable, truncated: () => boolean): Promise<string> {
    const file = await this.stagingPath();
    try {
      await pipeline(source, createWriteStream(file, { flags: 'wx' }));
      if (truncated()) throw this.tooLarge();
      return file;
    } catch (err) {
      await rm(file, { force: true });
      // The body ended before the file did (the parser says so; a disk error has a syscall).
      if (!(err instanceof AppError) && !(err as { syscall?: unknown }).syscall) {
        throw new AppError('validation_failed', 'The upload ended before the file did', { field: 'file' });
      }
      throw err;
    }
  }

  tooLarge(): AppError {
    return new AppError('payload_too_large', `The file is larger than ${this.opts.maxBytes} bytes`);
  }

  /**
   * Turns a staged upload into an attachment of `conversationId`, consuming the staged
   * file (unless `keepStagedOnFailure` and it fails: a resumable upload can then be
   * finished again). With `uploadId` (a finished resumable upload) it is idempotent: the
   * same upload always gives the same attachment.
   */
  async create(
    uploaderId: number,
    conversationId: number,
    staged: string,
    name: string,
    opts: { uploadId?: string; uploadLength?: number; keepStagedOnFailure?: boolean } = {},
  ): Promise<Attachment> {
    const uploadId = opts.uploadId ?? null;
    const leftovers = new Set([staged]);
    let done = false;
    try {
      await this.access.requireMember(uploaderId, conversationId);
      if (uploadId !== null) {
        const finished = await findByUploadId(this.db, uploadId);
        if (finished) {
          done = true;
          return this.toWire(finished);
        }
      }
      const media = await this.inspecting(() => inspectUpload(staged, name, { ffmpegPath: this.opts.ffmpegPath }));
      leftovers.add(media.storePath);
      if (media.thumbnailPath) leftovers.add(media.thumbnailPath);

      const key = `conversations/${conversationId}/${randomUUID()}`;
      // The row first: should this node die before the blobs are stored, the sweep finds
      // the row and cleans up; a blob stored first could be left with nothing pointing at it.
      const row = await insertAttachment(this.db, {
        conversation_id: conversationId,
        uploader_id: uploaderId,
        kind: media.kind,
        mime_type: media.mimeType,
        size: media.size,
        name,
        width: media.width,
        height: media.height,
        duration_ms: media.durationMs,
        storage_key: key,
        thumbnail_key: media.thumbnailPath ? `${key}.thumb.webp` : null,
        thumbnail_size: media.thumbnailPath ? (await stat(media.thumbnailPath)).size : null,
        upload_id: uploadId,
        upload_length: opts.uploadLength ?? null,
      });
      try {
        await this.blobs.putFile(key, media.storePath, media.mimeType);
        leftovers.delete(media.storePath);
        if (media.thumbnailPath) {
          await this.blobs.putFile(`${key}.thumb.webp`, media.thumbnailPath, 'image/webp');
          leftovers.delete(media.thumbnailPath);
        }
      } catch (err) {
        await this.blobs.delete(key).catch(() => {});
        await deleteAttachment(this.db, row.id).catch(() => {});
        throw err;
      }
      done = true;
      this.stats.uploads++;
      this.stats.bytes += media.size;
      return this.toWire(row);
    } finally {
      if (!done && opts.keepStagedOnFailure) leftovers.delete(staged);
      await Promise.all([...leftovers].map((f) => rm(f, { force: true })));
    }
  }

  /**
   * What a download sends, once the reader may have it: a signed URL must be ours and
   * unexpired (forbidden / url_expired); a signed-in user must be a member who can see it
   * (not_found otherwise, as for an attachment that does not exist).
   */
  async download(id: number, variant: LinkVariant, reader: Reader): Promise<Download> {
    if ('signature' in reader) this.signer.verify(id, variant, reader.expires, reader.signature);
    const row = await findAttachment(this.db, id);
    if (!row || (variant === 'thumbnail' && row.thumbnail_key === null)) throw notFound('Attachment');
    if ('userId' in reader && !(await canRead(this.db, reader.userId, row))) throw notFound('Attachment');
    const thumb = variant === 'thumbnail';
    return {
      key: thumb ? row.thumbnail_key! : row.storage_key,
      size: thumb ? row.thumbnail_size! : row.size,
      mimeType: thumb ? 'image/webp' : row.mime_type,
      disposition: thumb ? 'inline' : contentDisposition(row),
      // An attachment's bytes never change: its id is a strong validator.
      etag: `"${thumb ? 't' : 'a'}${row.id}"`,
    };
  }

  /** The bytes of a download (one range of them), or not_found if the blob is gone. */
  async bytes(d: Download, range?: ByteRange): Promise<Readable> {
    try {
      return await this.blobs.read(d.key, range);
    } catch (err) {
      if (err instanceof BlobNotFound) throw notFound('Attachment');
      throw err;
    }
  }

  /** With S3_REDIRECT on S3: a presigned URL to send the reader to instead (else null). */
  async redirect(d: Download, ttlSeconds: number): Promise<string | null> {
    if (!this.opts.redirect || !this.blobs.presignedGet) return null;
    return this.blobs.presignedGet(d.key, { ttlSeconds, contentType: d.mimeType, contentDisposition: d.disposition });
  }

  /**
   * The attachments a send names, in its order, once checked: each exists, was uploaded
   * by the sender into this conversation. Whether they are still unsent is settled when
   * the message is written (a resend with the same client_id finds its stored message).
   */
  async forSend(senderId: number, conversationId: number, ids: number[]): Promise<StoredAttachment[]> {
    const rows = new Map((await findAttachments(this.db, ids)).map((r) => [r.id, r]));
    return ids.map((id) => {
      const row = rows.get(id);
      if (!row || row.uploader_id !== senderId || row.conversation_id !== conversationId) {
        throw new AppError('validation_failed', `attachment ${id} is not an upload of yours in this conversation`, {
          field: 'attachment_ids',
        });
      }
      return storedAttachment(row);
    });
  }

  /**
   * One round of the orphan sweep (see sweepOrphans; null when another node holds it) for
   * attachments older than `olderThanSeconds` (UPLOAD_ORPHAN_TTL), and this node's staging
   * files left by a crash mid-upload. Returns how many attachments went.
   */
  async sweep(olderThanSeconds = this.opts.orphanTtlMs / 1000): Promise<number | null> {
    const keys = await sweepOrphans(this.db, olderThanSeconds, 500);
    if (keys === null) return null;
    for (const key of keys) {
      await this.blobs.delete(key).catch((err: unknown) => this.log.warn({ err, key }, 'could not delete a swept blob'));
    }
    const swept = keys.filter((k) => !k.endsWith('.thumb.webp')).length;
    if (swept) this.log.info({ swept }, 'swept unsent attachments');
    const before = Date.now() - olderThanSeconds * 1000;
    const staged = await readdir(this.opts.stagingDir).catch(() => []);
    for (const name of staged) {
      const file = path.join(this.opts.stagingDir, name);
      const info = await stat(file).catch(() => undefined);
      if (info && info.mtimeMs < before) await rm(file, { force: true });
    }
    return swept;
  }

  /** Sweeps every `intervalMs` (and once soon after start) until `stop`. */
  startSweeping(intervalMs: number): { stop(): void } {
    const round = () => {
      this.sweep().catch((err: unknown) => this.log.warn({ err }, 'attachment sweep failed; next round retries'));
    };
    const first = setTimeout(round, 5_000).unref();
    const every = setInterval(round, intervalMs).unref();
    return {
      stop: () => {
        clearTimeout(first);
        clearInterval(every);
      },
    };
  }

  /** A finished resumable upload of `userId`: its attachment and its length (undefined: none such). */
  async finishedUpload(userId: number, uploadId: string): Promise<{ attachment: Attachment; length: number } | undefined> {
    const row = await findByUploadId(this.db, uploadId);
    if (!row || row.uploader_id !== userId) return undefined;
    return { attachment: this.toWire(row), length: row.upload_length ?? row.size };
  }

  /** The attachment a finished resumable upload of `userId` became (not_found otherwise). */
  async fromUpload(userId: number, uploadId: string): Promise<Attachment> {
    const row = await findByUploadId(this.db, uploadId);
    if (!row || row.uploader_id !== userId) throw notFound('Upload');
    return this.toWire(row);
  }

  toWire(row: AttachmentRow): Attachment {
    return toAttachment(storedAttachment(row), this.signer);
  }
}
