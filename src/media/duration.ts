import { parseFile } from 'music-metadata';
import { durationFromSeconds } from './bounds.js';
import { isIoError } from './io.js';

/**
 * Longest we wait for music-metadata. Finding the duration of an MP3 without a Xing header
 * means reading every frame; past this the answer is "unknown". The parse cannot be
 * cancelled, so it runs on to the end of the file in the background, which bounds it.
 */
const PARSE_TIMEOUT_MS = 15_000;

/**
 * The playing time of an audio or video file in whole milliseconds, from its headers (or a
 * full scan where the format needs one), or null when the parser cannot tell or the headers
 * claim more than MAX_DURATION_MS (see bounds.ts). I/O errors propagate.
 */
export async function durationMs(path: string): Promise<number | null> {
  const parse = parseFile(path, { duration: true, skipCovers: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), PARSE_TIMEOUT_MS);
  });
  try {
    const meta = await Promise.race([parse, timeout]);
    return durationFromSeconds(meta?.format.duration);
  } catch (err) {
    if (isIoError(err)) throw err;
    return null;
  } finally {
    clearTimeout(timer);
    // After a timeout nobody awaits the parse; its failure must not surface as unhandled.
    parse.catch(() => undefined);
  }
}
