import { parseFile } from 'music-metadata';
import { isIoError } from './io.js';

/**
 * Longest we wait for music-metadata. Finding the duration of an MP3 without a Xing header
 * means reading every frame; past this the answer is "unknown". The parse cannot be
 * cancelled, so it runs on to the end of the file in the background, which bounds it.
 */
const PARSE_TIMEOUT_MS = 15_000;

/**
 * The playing time of an audio or video file in whole milliseconds, from its headers (or a
 * full scan where the format needs one), or null when the parser cannot tell. I/O errors
 * propagate.
 */
export async function durationMs(path: string): Promise<number | null> {
  const parse = parseFile(path, { duration: true, skipCovers: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), PARSE_TIMEOUT_MS);
  });
  try {
    const meta = await Promise.race([parse, timeout]);
    const seconds = meta?.format.duration;
    return seconds !== undefined && Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : null;
  } catch (err) {
    if (isIoError(err)) throw err;
    return null;
  } finally {
    clearTimeout(timer);
    // After a timeout nobody awaits the parse; its failure must not surface as unhandled.
    parse.catch(() => undefined);
  }
}
