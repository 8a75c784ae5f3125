import { writeFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import { asWriteError, besides, isIoError, removeAll } from './io.js';

/**
 * The image types stored as `image` (served inline, shown in the timeline) once sharp has
 * decoded them. Anything else, TIFF and SVG included, is a `file`.
 */
export const IMAGE_MIME_TYPES: ReadonlySet<string> = new Set([
  'image/jpeg',
  'image/png',
  'image/apng',
  'image/webp',
  'image/gif',
  'image/avif',
  'image/heic',
  'image/heif',
]);

/**
 * Decoding refuses more pixels than this (width × height over all frames), so a small file
 * that declares 50,000 × 50,000 pixels fails fast instead of allocating gigabytes.
 */
const MAX_INPUT_PIXELS = 100_000_000;
/** Per sharp pipeline; a file that takes longer to decode or encode is not worth showing. */
const SHARP_TIMEOUT_SECONDS = 15;
const INPUT: SharpOptions = { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'warning' };

export interface ImageFacts {
  mimeType: string;
  width: number;
  height: number;
  /** The stripped copy, or null when the original carries nothing to strip. */
  strippedPath: string | null;
  thumbnailPath: string;
}

/**
 * Decodes an image, writes its WebP thumbnail and, when it carries EXIF, XMP, IPTC,
 * Photoshop or PNG text metadata or a rotation, a re-encoded copy without it (rotation
 * applied, ICC profile kept, animation kept). Both files are written beside `path`. The
 * copy is in the same format where sharp can write it, else JPEG (PNG with alpha), and
 * `mimeType` always describes the copy's bytes.
 *
 * Returns null when sharp cannot decode the file (unsupported, corrupt, too many pixels,
 * too slow), having removed anything it wrote; I/O errors writing the outputs propagate,
 * likewise after removing what was written.
 */
export async function inspectImage(path: string, mime: string, thumbnailMaxPx: number): Promise<ImageFacts | null> {
  const written: string[] = [];
  try {
    const meta = await sharp(path, INPUT).metadata();
    const animated = isAnimated(meta);

    // Decoding the first frame is what proves the file is an image at all: metadata() only
    // reads the header, and a truncated JPEG has a perfectly good one.
    const thumbnail = await bounded(
      sharp(path, INPUT)
        .rotate()
        .resize({ width: thumbnailMaxPx, height: thumbnailMaxPx, fit: 'inside', withoutEnlargement: true })
        .webp({ quality: 80 }),
    ).toBuffer();
    const thumbnailPath = besides(path, 'thumb.webp');
    written.push(thumbnailPath);
    await writeFile(thumbnailPath, thumbnail);

    // Sharp cannot rotate a multi-page image, so an animation with an orientation tag is
    // stored unrotated and its size reported as stored.
    const rotates = !animated && (meta.orientation ?? 1) > 1;
    const width = rotates ? meta.autoOrient.width : meta.width;
    const height = rotates ? meta.autoOrient.height : (meta.pageHeight ?? meta.height);
    if (!carriesMetadata(meta)) return { mimeType: mime, width, height, strippedPath: null, thumbnailPath };

    const stripped = await writeStripped(path, meta, written);
    return { mimeType: stripped.mimeType ?? mime, width, height, strippedPath: stripped.path, thumbnailPath };
  } catch (err) {
    await removeAll(written);
    if (isIoError(err)) throw err;
    return null;
  }
}

/**
 * For an image stored as a `file` (its name says it is something else): the same
 * re-encode as `inspectImage` makes, and nothing else. No thumbnail, no size.
 * `strippedPath` is null when the image carries nothing to strip (it is then not decoded
 * at all); the whole result is null when sharp cannot decode it, having removed anything it
 * wrote, and the caller stores it as it came. I/O errors propagate.
 */
export async function stripImage(path: string, mime: string): Promise<{ mimeType: string; strippedPath: string | null } | null> {
  const written: string[] = [];
  try {
    const meta = await sharp(path, INPUT).metadata();
    if (!carriesMetadata(meta)) return { mimeType: mime, strippedPath: null };
    const stripped = await writeStripped(path, meta, written);
    return { mimeType: stripped.mimeType ?? mime, strippedPath: stripped.path };
  } catch (err) {
    await removeAll(written);
    if (isIoError(err)) throw err;
    return null;
  }
}

function isAnimated(meta: Metadata): boolean {
  return (meta.format === 'gif' || meta.format === 'webp') && (meta.pages ?? 1) > 1;
}

/**
 * Writes the re-encoded copy beside `path` (its name pushed onto `written` first, so the
 * caller's clean-up covers a half-written file) and returns its path, plus its type when
 * that differs from the upload's.
 *
 * The copy goes straight to disk with `toFile`: libvips streams the pixels through the
 * encoder, where `toBuffer` would hold the whole encoded file in memory, which for a
 * 100-megapixel PNG is hundreds of MB per upload. Sharp's errors from `toFile` carry no
 * `syscall`, so a failed write is recognised by its message (see `asWriteError`) and
 * thrown as an I/O error; anything else is about the content.
 */
async function writeStripped(path: string, meta: Metadata, written: string[]): Promise<{ path: string; mimeType?: string }> {
  const animated = isAnimated(meta);
  const rotates = !animated && (meta.orientation ?? 1) > 1;
  const plan = strippingPlan(meta);
  let pipeline = sharp(path, { ...INPUT, animated }).keepIccProfile();
  if (rotates) pipeline = pipeline.rotate();
  const strippedPath = besides(path, plan.suffix);
  written.push(strippedPath);
  try {
    await bounded(plan.encode(pipeline)).toFile(strippedPath);
  } catch (err) {
    throw asWriteError(err, strippedPath);
  }
  return { path: strippedPath, mimeType: plan.mimeType };
}

/**
 * Metadata that may say where, when or with what a picture was taken. Orientation counts
 * too: it lives in EXIF, and once the pixels are rotated it would rotate them again.
 */
function carriesMetadata(meta: Metadata): boolean {
  return (
    meta.exif !== undefined ||
    meta.xmp !== undefined ||
    meta.iptc !== undefined ||
    meta.tifftagPhotoshop !== undefined ||
    (meta.comments?.length ?? 0) > 0 ||
    (meta.orientation ?? 1) > 1
  );
}

export interface StrippingPlan {
  encode: (pipeline: Sharp) => Sharp;
  suffix: string;
  /** The copy's type when it is not the upload's (sniffed) type. */
  mimeType?: string;
}

/**
 * How to write an image again without metadata: sharp writes none unless asked, and is
 * asked only for the ICC profile, without which colours shift. The same format where sharp
 * can write it; otherwise (a format it reads but cannot write, such as a HEIF coded other
 * than AV1) JPEG, or PNG when there is an alpha channel JPEG would lose, since keeping the
 * metadata is never the fallback.
 */
export function strippingPlan(meta: Pick<Metadata, 'format' | 'compression' | 'hasAlpha'>): StrippingPlan {
  switch (meta.format) {
    case 'jpeg':
      return { encode: (p) => p.jpeg({ quality: 90 }), suffix: 'jpg' };
    case 'png':
      // libvips writes no APNG: a stripped APNG keeps its first frame only.
      return { encode: (p) => p.png(), suffix: 'png', mimeType: 'image/png' };
    case 'webp':
      return { encode: (p) => p.webp({ quality: 90 }), suffix: 'webp' };
    case 'gif':
      return { encode: (p) => p.gif(), suffix: 'gif' };
    case 'heif':
      if (meta.compression === 'av1') return { encode: (p) => p.avif({ quality: 70 }), suffix: 'avif', mimeType: 'image/avif' };
      break;
  }
  return meta.hasAlpha
    ? { encode: (p) => p.png(), suffix: 'png', mimeType: 'image/png' }
    : { encode: (p) => p.jpeg({ quality: 90 }), suffix: 'jpg', mimeType: 'image/jpeg' };
}

function bounded(pipeline: Sharp): Sharp {
  return pipeline.timeout({ seconds: SHARP_TIMEOUT_SECONDS });
}
