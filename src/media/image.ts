import { writeFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import { besides, isIoError, removeAll } from './io.js';

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
 * applied, ICC profile kept, animation kept). Both files are written beside `path`.
 *
 * Returns null when sharp cannot decode the file (unsupported, corrupt, too many pixels,
 * too slow), having removed anything it wrote; I/O errors writing the outputs propagate,
 * likewise after removing what was written.
 */
export async function inspectImage(path: string, mime: string, thumbnailMaxPx: number): Promise<ImageFacts | null> {
  const written: string[] = [];
  try {
    const meta = await sharp(path, INPUT).metadata();
    const animated = (meta.format === 'gif' || meta.format === 'webp') && (meta.pages ?? 1) > 1;

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

    const encoded = reencode(path, meta, animated, rotates);
    if (!encoded) {
      await removeAll(written);
      return null;
    }
    const stripped = await bounded(encoded.pipeline).toBuffer();
    const strippedPath = besides(path, encoded.suffix);
    written.push(strippedPath);
    await writeFile(strippedPath, stripped);
    return { mimeType: encoded.mimeType ?? mime, width, height, strippedPath, thumbnailPath };
  } catch (err) {
    await removeAll(written);
    if (isIoError(err)) throw err;
    return null;
  }
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

/**
 * The same format again without metadata: sharp writes none unless asked, and is asked
 * only for the ICC profile, without which colours shift. Null for a format sharp can read
 * but not write back (HEVC-coded HEIC in the prebuilt binaries).
 */
function reencode(
  path: string,
  meta: Metadata,
  animated: boolean,
  rotates: boolean,
): { pipeline: Sharp; suffix: string; mimeType?: string } | null {
  let pipeline = sharp(path, { ...INPUT, animated }).keepIccProfile();
  if (rotates) pipeline = pipeline.rotate();
  switch (meta.format) {
    case 'jpeg':
      return { pipeline: pipeline.jpeg({ quality: 90 }), suffix: 'jpg' };
    case 'png':
      // libvips writes no APNG: a stripped APNG keeps its first frame only.
      return { pipeline: pipeline.png(), suffix: 'png', mimeType: 'image/png' };
    case 'webp':
      return { pipeline: pipeline.webp({ quality: 90 }), suffix: 'webp' };
    case 'gif':
      return { pipeline: pipeline.gif(), suffix: 'gif' };
    case 'heif':
      if (meta.compression !== 'av1') return null;
      return { pipeline: pipeline.avif({ quality: 70 }), suffix: 'avif', mimeType: 'image/avif' };
    default:
      return null;
  }
}

function bounded(pipeline: Sharp): Sharp {
  return pipeline.timeout({ seconds: SHARP_TIMEOUT_SECONDS });
}
