import { open } from 'node:fs/promises';
import { fileTypeFromFile } from 'file-type';
import { isIoError } from './io.js';

/** How much of a file decides "text or binary" when `file-type` recognises nothing. */
const TEXT_WINDOW = 64 * 1024;

/**
 * The media type of a file from its bytes alone: `file-type`'s answer, else `text/plain`
 * for valid UTF-8 without NUL bytes in the first 64 KiB, else `application/octet-stream`.
 * Text-based formats (SVG, HTML, JSON) are deliberately text/plain: nothing downstream may
 * treat them as something a browser renders. I/O errors propagate; a parser that chokes on
 * the content counts as "not recognised".
 */
export async function sniffMime(path: string): Promise<string> {
  try {
    const found = await fileTypeFromFile(path);
    if (found) return found.mime;
  } catch (err) {
    if (isIoError(err)) throw err;
  }
  return (await looksLikeText(path)) ? 'text/plain' : 'application/octet-stream';
}

async function looksLikeText(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  let bytes: Uint8Array;
  let wholeFile: boolean;
  try {
    const buffer = Buffer.alloc(TEXT_WINDOW + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    wholeFile = bytesRead <= TEXT_WINDOW;
    bytes = buffer.subarray(0, Math.min(bytesRead, TEXT_WINDOW));
  } finally {
    await handle.close();
  }
  if (bytes.includes(0)) return false;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    // `stream: true` holds back a character cut in half by the window instead of failing;
    // only when the window is the whole file must the last character be complete.
    decoder.decode(bytes, { stream: true });
    if (wholeFile) decoder.decode();
    return true;
  } catch {
    return false;
  }
}

/**
 * The top-level media types a file name's extension admits. Containers that carry either
 * sound or pictures (mp4, webm, ogg, …) admit both, because `file-type` names an audio-only
 * MP4 or WebM `video/…`. Only the common extensions are listed: an unknown one says nothing.
 */
const EXTENSION_TYPES: ReadonlyMap<string, readonly string[]> = (() => {
  // A Map, not an object literal: a name like "x.constructor" must not find a prototype key.
  const map = new Map<string, readonly string[]>();
  const add = (types: readonly string[], exts: string) => {
    for (const ext of exts.split(' ')) map.set(ext, types);
  };
  add(['image'], 'jpg jpeg jpe jfif png apng gif webp heic heif avif bmp tif tiff ico svg jxl');
  add(['video'], 'mov avi wmv flv mpg mpeg m2ts mts');
  add(['video', 'audio'], 'mp4 m4v mkv webm weba 3gp 3g2 ogv ogg oga m4a');
  add(['audio'], 'mp3 aac opus wav flac aif aiff amr wma mid midi');
  add(['text'], 'txt text md csv tsv log ics vcf');
  add(
    ['application'],
    'pdf doc docx xls xlsx ppt pptx odt ods odp rtf epub zip gz tgz bz2 xz 7z rar tar ' +
      'json xml exe msi apk dmg iso jar wasm',
  );
  return map;
})();

/** The extension of a client-supplied file name, lower-cased, or null when it has none. */
export function extensionOf(name: string): string | null {
  const base = name.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  // A leading dot (".bashrc") names a hidden file, not an extension.
  if (dot <= 0 || dot === base.length - 1) return null;
  return base.slice(dot + 1).toLowerCase();
}

/**
 * Whether the name claims a different kind of content than the bytes hold: `notes.txt`
 * holding a PNG does, `photo.png` holding a JPEG does not (same top-level type), and a name
 * without a known extension never does.
 */
export function nameContradicts(name: string, mime: string): boolean {
  const ext = extensionOf(name);
  const admitted = ext === null ? undefined : EXTENSION_TYPES.get(ext);
  if (!admitted) return false;
  const topLevel = mime.slice(0, mime.indexOf('/'));
  return !admitted.includes(topLevel);
}
