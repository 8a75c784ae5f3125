import { stat } from 'node:fs/promises';
import { durationMs } from './duration.js';
import { IMAGE_MIME_TYPES, inspectImage, stripImage } from './image.js';
import { removeAll } from './io.js';
import { nameContradicts, sniffMime } from './sniff.js';
import { videoPoster } from './video.js';

export { findFfmpeg } from './video.js';

// The kinds are the domain's: one list for the wire, the table and the inspection.
import type { AttachmentKind } from '../domain/attachments.js';
export type { AttachmentKind };

export interface Inspected {
  /** `image` only for a type browsers show safely and sharp has decoded; `file` for anything in doubt. */
  kind: AttachmentKind;
  /** Of the bytes at storePath: sniffed, never from the client (a stripped copy's own type). */
  mimeType: string;
  /** Images: after orientation is applied. Video: when ffmpeg could read a frame. */
  width: number | null;
  height: number | null;
  /** Audio and video, where the headers (or ffmpeg) tell. */
  durationMs: number | null;
  /**
   * The file to store: `path` itself, or a new file beside it (same folder) with metadata
   * stripped, for an `image` and for a `file` that is a misnamed image alike.
   */
  storePath: string;
  /** Size in bytes of storePath. */
  size: number;
  /** A small WebP thumbnail file beside `path` (images; a video poster frame when ffmpeg exists), or null. */
  thumbnailPath: string | null;
}

export interface InspectOptions {
  /** From `findFfmpeg()`; null means videos get no poster and no size. */
  ffmpegPath: string | null;
  /** The longer side of a thumbnail, at most; thumbnails are never enlarged. Default 320. */
  thumbnailMaxPx?: number;
}

/**
 * Decides what an upload staged at `path` is and prepares it for storage. `name` is the
 * client's file name and is used for one thing only: a name whose extension claims another
 * kind of content than the bytes hold (a PNG called `notes.txt`) makes the upload a
 * `file`, keeping its real type, so nobody is shown an image they were told was text.
 *
 * Metadata (EXIF with GPS, XMP, IPTC, PNG text, orientation) is stripped from every upload
 * that sniffs as one of IMAGE_MIME_TYPES and that sharp can decode, whether it becomes an
 * `image` or, misnamed, a `file`: storePath is then a re-encoded copy. When sharp can read a
 * format but not write it, the copy is JPEG (PNG with alpha) and mimeType says so; mimeType
 * always describes the bytes at storePath.
 *
 * Not stripped, stored exactly as uploaded metadata and all: an image sharp cannot decode
 * with the limits in image.ts. That is HEVC-coded HEIC/HEIF (most iPhone photos; the prebuilt
 * libvips has no HEVC decoder), and also a truncated or corrupt file, one over the pixel
 * limit or too slow to decode. It becomes a `file`. Types outside IMAGE_MIME_TYPES (TIFF,
 * camera raw, PDF …) are never re-encoded either.
 *
 * Files it returns other than `path` (storePath when stripped, thumbnailPath) are new files
 * in the same folder and belong to the caller, who deletes them with the upload. Content
 * problems (corrupt, unsupported, oversized, slow to decode) never throw: they make the
 * upload a `file`, or leave out the poster or duration. Only I/O errors propagate (a disk
 * that fills while the stripped copy is written included), after removing anything written
 * so far. `path` itself is never modified.
 */
export async function inspectUpload(path: string, name: string, opts: InspectOptions): Promise<Inspected> {
  const thumbnailMaxPx = opts.thumbnailMaxPx ?? 320;
  const mimeType = await sniffMime(path);
  const plain = async (kind: AttachmentKind, mime: string): Promise<Inspected> => ({
    kind,
    mimeType: mime,
    width: null,
    height: null,
    durationMs: null,
    storePath: path,
    size: (await stat(path)).size,
    thumbnailPath: null,
  });

  if (nameContradicts(name, mimeType)) {
    if (!IMAGE_MIME_TYPES.has(mimeType)) return plain('file', mimeType);
    // Still a photo, whatever it is called: its location must go all the same.
    const stripped = await stripImage(path, mimeType);
    if (!stripped?.strippedPath) return plain('file', mimeType);
    try {
      return { ...(await plain('file', stripped.mimeType)), storePath: stripped.strippedPath, size: (await stat(stripped.strippedPath)).size };
    } catch (err) {
      await removeAll([stripped.strippedPath]);
      throw err;
    }
  }

  if (IMAGE_MIME_TYPES.has(mimeType)) {
    const image = await inspectImage(path, mimeType, thumbnailMaxPx);
    if (!image) return plain('file', mimeType);
    const storePath = image.strippedPath ?? path;
    try {
      return {
        kind: 'image',
        mimeType: image.mimeType,
        width: image.width,
        height: image.height,
        durationMs: null,
        storePath,
        size: (await stat(storePath)).size,
        thumbnailPath: image.thumbnailPath,
      };
    } catch (err) {
      await removeAll([image.thumbnailPath, ...(image.strippedPath ? [image.strippedPath] : [])]);
      throw err;
    }
  }

  if (mimeType.startsWith('audio/')) return { ...(await plain('audio', mimeType)), durationMs: await durationMs(path) };

  if (mimeType.startsWith('video/')) {
    const duration = await durationMs(path);
    const poster = opts.ffmpegPath ? await videoPoster(opts.ffmpegPath, path, mimeType, thumbnailMaxPx) : null;
    try {
      return {
        ...(await plain('video', mimeType)),
        width: poster?.width ?? null,
        height: poster?.height ?? null,
        durationMs: duration ?? poster?.durationMs ?? null,
        thumbnailPath: poster?.thumbnailPath ?? null,
      };
    } catch (err) {
      if (poster?.thumbnailPath) await removeAll([poster.thumbnailPath]);
      throw err;
    }
  }

  return plain('file', mimeType);
}
