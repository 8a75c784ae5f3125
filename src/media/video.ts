import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { dimension, durationFromSeconds } from './bounds.js';
import { besides, isIoError, removeAll } from './io.js';

/** ffmpeg is killed after this long; a file that needs more for one frame gets no poster. */
const FFMPEG_TIMEOUT_MS = 15_000;
/** Cap on the PNG frame ffmpeg hands back (a 4K frame is ~25 MB); bigger means no poster. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const MAX_FRAME_PIXELS = 100_000_000;

/**
 * The ffmpeg demuxer for each video type `file-type` reports. ffmpeg is told the format
 * instead of guessing it, so a file that sniffs as MP4 is read as MP4 and nothing else.
 * AVI and ASF are left out on purpose: AVI's embedded sub-demuxers are the classic way to
 * make ffmpeg read a playlist naming local files and paint them into the poster.
 */
const DEMUXERS: ReadonlyMap<string, string> = new Map([
  ['video/mp4', 'mov'],
  ['video/quicktime', 'mov'],
  ['video/x-m4v', 'mov'],
  ['video/3gpp', 'mov'],
  ['video/3gpp2', 'mov'],
  ['video/webm', 'matroska'],
  ['video/matroska', 'matroska'],
  ['video/ogg', 'ogg'],
  ['video/mp2t', 'mpegts'],
  ['video/mpeg', 'mpeg'],
  ['video/x-flv', 'flv'],
]);

export interface PosterFacts {
  width: number | null;
  height: number | null;
  /** From ffmpeg's own reading of the container, for when music-metadata had none. */
  durationMs: number | null;
  thumbnailPath: string | null;
}

const NO_POSTER: PosterFacts = { width: null, height: null, durationMs: null, thumbnailPath: null };

/**
 * Takes the first frame of a video with ffmpeg and writes it beside `path` as a WebP
 * thumbnail; the frame's size (ffmpeg applies the rotation flag) is the video's size.
 * A video ffmpeg cannot read, one without a picture, a type it is not trusted with, or a
 * run past the timeout (the process is killed) all mean no poster. Only an I/O error
 * writing the thumbnail propagates.
 */
export async function videoPoster(ffmpeg: string, path: string, mime: string, maxPx: number): Promise<PosterFacts> {
  const demuxer = DEMUXERS.get(mime);
  if (!demuxer) return NO_POSTER;
  const run = await runFfmpeg(ffmpeg, [
    '-hide_banner',
    '-nostdin',
    // Only the one local file: no network, no pipes, no concat of other files.
    '-protocol_whitelist',
    'file',
    '-f',
    demuxer,
    '-ss',
    '0',
    // The "file:" prefix keeps a path with a colon from being read as a protocol.
    '-i',
    `file:${path}`,
    '-frames:v',
    '1',
    '-an',
    '-sn',
    '-dn',
    '-f',
    'image2pipe',
    '-c:v',
    'png',
    'pipe:1',
  ]);
  const durationMs = parseDuration(run.stderr);
  if (run.frame.length === 0) return { ...NO_POSTER, durationMs };

  let thumbnailPath: string | null = null;
  try {
    const frame = sharp(run.frame, { limitInputPixels: MAX_FRAME_PIXELS });
    const { width, height } = await frame.metadata();
    const thumbnail = await frame
      .resize({ width: maxPx, height: maxPx, fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .timeout({ seconds: 15 })
      .toBuffer();
    thumbnailPath = besides(path, 'poster.webp');
    await writeFile(thumbnailPath, thumbnail);
    return { width: dimension(width), height: dimension(height), durationMs, thumbnailPath };
  } catch (err) {
    if (thumbnailPath) await removeAll([thumbnailPath]);
    if (isIoError(err)) throw err;
    return { ...NO_POSTER, durationMs };
  }
}

/**
 * ffmpeg's "Duration: 00:01:02.50" line, in milliseconds, or null when there is none or it
 * is out of bounds: ffmpeg prints whatever the container claims, up to billions of hours.
 */
export function parseDuration(stderr: string): number | null {
  const m = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
  if (!m) return null;
  return durationFromSeconds(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
}

/** Runs ffmpeg to completion or the timeout; a failed run yields an empty frame. */
function runFfmpeg(ffmpeg: string, args: string[]): Promise<{ frame: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      ffmpeg,
      args,
      { encoding: 'buffer', timeout: FFMPEG_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: MAX_FRAME_BYTES, windowsHide: true },
      (err, stdout, stderr) => {
        // A missing or broken ffmpeg binary lands here too: the upload is still stored,
        // just without a poster.
        resolve({ frame: err ? Buffer.alloc(0) : stdout, stderr: stderr.toString('utf8') });
      },
    );
  });
}

let located: Promise<string | null> | undefined;

/**
 * The absolute path of the ffmpeg on PATH, or null when there is none or it does not run.
 * Looked up once per process (PATH does not change under a running server); the answer is
 * meant to be passed to `inspectUpload` as `ffmpegPath`.
 */
export function findFfmpeg(): Promise<string | null> {
  located ??= locateFfmpeg();
  return located;
}

async function locateFfmpeg(): Promise<string | null> {
  // The shell does the PATH search, so the server never reads its environment here.
  const found = await new Promise<string | null>((resolve) => {
    execFile('sh', ['-c', 'command -v ffmpeg'], { timeout: 5_000 }, (err, stdout) => {
      const line = err ? '' : stdout.trim();
      resolve(line.startsWith('/') ? line : null);
    });
  });
  if (!found) return null;
  return new Promise((resolve) => {
    execFile(found, ['-version'], { timeout: 5_000, killSignal: 'SIGKILL' }, (err) => resolve(err ? null : found));
  });
}
