import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dimension, durationFromSeconds } from '../../src/media/bounds.js';
import { strippingPlan } from '../../src/media/image.js';
import { findFfmpeg, inspectUpload, type Inspected } from '../../src/media/inspect.js';
import { asWriteError } from '../../src/media/io.js';
import { parseDuration } from '../../src/media/video.js';
import { CAMERA_MAKE, animatedGif, canvas, gpsTags, jpegRotated, jpegWithGps, wav, webm, withPngText } from './make-files.js';

/**
 * inspectUpload on real files made here: what each kind of upload comes out as, that
 * location metadata does not reach storePath, that content problems never throw, and that
 * nothing is left beside the upload but the files the result names.
 */

const ffmpeg = await findFfmpeg();
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'natter-media-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** Writes `bytes` as a staged upload alone in a fresh folder, as the upload route would. */
async function staged(bytes: Buffer | string): Promise<string> {
  const path = join(await mkdtemp(join(root, 'u-')), 'upload.tmp');
  await writeFile(path, bytes);
  return path;
}

const inspect = (path: string, name: string, ffmpegPath: string | null = null) => inspectUpload(path, name, { ffmpegPath });

/** Every file in the upload's folder must be the upload or one the result names. */
async function expectNoStrayFiles(path: string, result: Inspected) {
  const named = new Set([path, result.storePath, result.thumbnailPath].filter((p): p is string => p !== null).map((p) => basename(p)));
  expect((await readdir(dirname(path))).sort()).toEqual([...named].sort());
  for (const p of [result.storePath, result.thumbnailPath]) if (p) expect(dirname(p)).toBe(dirname(path));
}

async function expectPlainFile(path: string, result: Inspected, mimeType: string) {
  expect(result).toEqual({
    kind: 'file',
    mimeType,
    width: null,
    height: null,
    durationMs: null,
    storePath: path,
    size: (await stat(path)).size,
    thumbnailPath: null,
  });
  await expectNoStrayFiles(path, result);
}

describe('images', () => {
  it('strips GPS and camera EXIF from a JPEG, leaving the upload itself untouched', async () => {
    const original = await jpegWithGps();
    const path = await staged(original);
    const before = await sharp(path).metadata();
    expect(gpsTags(before.exif)).toEqual(expect.arrayContaining([1, 2, 3, 4])); // LatitudeRef, Latitude, LongitudeRef, Longitude
    expect(original.includes(CAMERA_MAKE)).toBe(true);

    const result = await inspect(path, 'IMG_0001.JPG');

    expect(result).toMatchObject({ kind: 'image', mimeType: 'image/jpeg', width: 64, height: 48, durationMs: null });
    expect(result.storePath).not.toBe(path);
    const stored = await readFile(result.storePath);
    expect(result.size).toBe(stored.length);
    const after = await sharp(stored).metadata();
    expect(after.format).toBe('jpeg');
    expect(after.exif).toBeUndefined();
    expect(gpsTags(after.exif)).toBeNull();
    expect(stored.includes(CAMERA_MAKE)).toBe(false);
    expect(stored.includes('Exif\0\0')).toBe(false);
    expect(await readFile(path)).toEqual(original);
    await expectNoStrayFiles(path, result);
  });

  it('applies orientation 6: a 40×20 image is reported and stored 20×40, with no orientation left', async () => {
    const path = await staged(await jpegRotated());
    expect((await sharp(path).metadata()).orientation).toBe(6);

    const result = await inspect(path, 'sideways.jpg');

    expect(result).toMatchObject({ kind: 'image', mimeType: 'image/jpeg', width: 20, height: 40 });
    const stored = await sharp(result.storePath).metadata();
    expect([stored.width, stored.height]).toEqual([20, 40]);
    expect(stored.orientation).toBeUndefined();
    expect(stored.exif).toBeUndefined();
    const thumb = await sharp(result.thumbnailPath!).metadata();
    expect([thumb.width, thumb.height]).toEqual([20, 40]);
  });

  it('stores a PNG without metadata as it came: storePath is the upload, bytes identical', async () => {
    const original = await canvas(50, 30).png().toBuffer();
    const path = await staged(original);

    const result = await inspect(path, 'diagram.png');

    expect(result).toMatchObject({ kind: 'image', mimeType: 'image/png', width: 50, height: 30, storePath: path, size: original.length });
    expect(await readFile(result.storePath)).toEqual(original);
    await expectNoStrayFiles(path, result);
  });

  it('strips PNG text chunks', async () => {
    const path = await staged(withPngText(await canvas(50, 30).png().toBuffer(), 'Comment', 'taken at 51.5N 0.1W'));
    expect((await sharp(path).metadata()).comments).toEqual([{ keyword: 'Comment', text: 'taken at 51.5N 0.1W' }]);

    const result = await inspect(path, 'map.png');

    expect(result).toMatchObject({ kind: 'image', mimeType: 'image/png', width: 50, height: 30 });
    expect(result.storePath).not.toBe(path);
    expect((await sharp(result.storePath).metadata()).comments).toBeUndefined();
    expect((await readFile(result.storePath)).includes('51.5N')).toBe(false);
  });

  it('keeps an animated GIF animated and reports one frame’s size', async () => {
    const path = await staged(await animatedGif());

    const result = await inspect(path, 'party.gif');

    expect(result).toMatchObject({ kind: 'image', mimeType: 'image/gif', width: 30, height: 20 });
    const stored = await sharp(result.storePath).metadata();
    expect(stored.pages).toBe(3);
    expect(stored.delay).toEqual([100, 100, 100]);
    const thumb = await sharp(result.thumbnailPath!).metadata();
    expect(thumb.format).toBe('webp');
    expect(thumb.pages ?? 1).toBe(1);
  });

  it('keeps an animated WebP animated when it has to strip its EXIF', async () => {
    const path = await staged(
      await sharp(await animatedGif(), { animated: true })
        .webp()
        .withExif({ IFD0: { Make: CAMERA_MAKE } })
        .toBuffer(),
    );
    expect((await sharp(path).metadata()).exif).toBeDefined();

    const result = await inspect(path, 'party.webp');

    expect(result).toMatchObject({ kind: 'image', mimeType: 'image/webp', width: 30, height: 20 });
    expect(result.storePath).not.toBe(path);
    const stored = await sharp(result.storePath).metadata();
    expect(stored.pages).toBe(3);
    expect(stored.exif).toBeUndefined();
  });

  it('writes a WebP thumbnail that fits inside 320 px, or the given size, and is never enlarged', async () => {
    const big = await staged(await canvas(1000, 600).jpeg().toBuffer());
    const small = await staged(await canvas(40, 20).png().toBuffer());

    const bigResult = await inspect(big, 'big.jpg');
    const custom = await inspectUpload(big, 'big.jpg', { ffmpegPath: null, thumbnailMaxPx: 100 });
    const smallResult = await inspect(small, 'small.png');

    for (const [result, size] of [
      [bigResult, [320, 192]],
      [custom, [100, 60]],
      [smallResult, [40, 20]],
    ] as const) {
      const thumb = await sharp(result.thumbnailPath!).metadata();
      expect(thumb.format).toBe('webp');
      expect([thumb.width, thumb.height]).toEqual(size);
      expect(dirname(result.thumbnailPath!)).toBe(dirname(result.storePath));
    }
  });

  it('trusts the bytes within the image family: a JPEG named .png is an image/jpeg image', async () => {
    const path = await staged(await canvas(10, 10).jpeg().toBuffer());
    expect(await inspect(path, 'photo.png')).toMatchObject({ kind: 'image', mimeType: 'image/jpeg' });
  });

  it('trusts the bytes when the name has no extension', async () => {
    const path = await staged(await canvas(10, 10).png().toBuffer());
    expect(await inspect(path, 'upload')).toMatchObject({ kind: 'image', mimeType: 'image/png' });
  });

  it('makes a truncated JPEG a file without throwing or leaving files behind', async () => {
    const whole = await canvas(400, 300).jpeg().toBuffer();
    const path = await staged(whole.subarray(0, whole.length / 2));
    await expectPlainFile(path, await inspect(path, 'broken.jpg'), 'image/jpeg');
  });

  it('refuses a decompression bomb: a PNG declaring 12000×9000 pixels is a file', async () => {
    const png = Buffer.from(await canvas(8, 8).png().toBuffer());
    png.writeUInt32BE(12000, 16); // IHDR width
    png.writeUInt32BE(9000, 20); // IHDR height
    png.writeUInt32BE(crc32(png.subarray(12, 29)) >>> 0, 29);
    const path = await staged(png);
    expect((await sharp(path).metadata()).width).toBe(12000); // the header is valid; only the limit stops it
    await expectPlainFile(path, await inspect(path, 'huge.png'), 'image/png');
  });
});

describe('names that contradict the bytes', () => {
  it('makes a PNG named notes.txt a file of type image/png', async () => {
    const path = await staged(await canvas(10, 10).png().toBuffer());
    await expectPlainFile(path, await inspect(path, 'notes.txt'), 'image/png');
  });

  it('makes a PNG named report.pdf a file', async () => {
    const path = await staged(await canvas(10, 10).png().toBuffer());
    await expectPlainFile(path, await inspect(path, 'report.pdf'), 'image/png');
  });

  it('still strips GPS and camera EXIF from a JPEG named IMG.txt, which stays a file of type image/jpeg', async () => {
    const original = await jpegWithGps();
    const path = await staged(original);

    const result = await inspect(path, 'IMG.txt');

    expect(result).toMatchObject({ kind: 'file', mimeType: 'image/jpeg', width: null, height: null, durationMs: null, thumbnailPath: null });
    expect(result.storePath).not.toBe(path);
    const stored = await readFile(result.storePath);
    expect(result.size).toBe(stored.length);
    const after = await sharp(stored).metadata();
    expect([after.format, after.width, after.height]).toEqual(['jpeg', 64, 48]);
    expect(after.exif).toBeUndefined();
    expect(stored.includes(CAMERA_MAKE)).toBe(false);
    expect(stored.includes('Exif\0\0')).toBe(false);
    expect(await readFile(path)).toEqual(original);
    await expectNoStrayFiles(path, result);
  });

  it('strips PNG text from a PNG named notes.pdf, and applies the rotation of a JPEG named a.mp3', async () => {
    const png = await staged(withPngText(await canvas(50, 30).png().toBuffer(), 'Comment', 'taken at 51.5N 0.1W'));
    const fromPng = await inspect(png, 'notes.pdf');
    expect(fromPng).toMatchObject({ kind: 'file', mimeType: 'image/png', thumbnailPath: null });
    expect(fromPng.storePath).not.toBe(png);
    expect((await readFile(fromPng.storePath)).includes('51.5N')).toBe(false);
    await expectNoStrayFiles(png, fromPng);

    const jpeg = await staged(await jpegRotated());
    const fromJpeg = await inspect(jpeg, 'a.mp3');
    expect(fromJpeg).toMatchObject({ kind: 'file', mimeType: 'image/jpeg' });
    const stored = await sharp(fromJpeg.storePath).metadata();
    expect([stored.width, stored.height, stored.orientation, stored.exif]).toEqual([20, 40, undefined, undefined]);
  });

  it('stores a misnamed image sharp cannot decode as it came (documented: nothing to re-encode from)', async () => {
    const whole = await jpegWithGps();
    const path = await staged(whole.subarray(0, whole.length - 40)); // EXIF intact, scan data cut short
    await expectPlainFile(path, await inspect(path, 'IMG.txt'), 'image/jpeg');
  });

  it('makes a PDF named photo.jpg a file of type application/pdf', async () => {
    const path = await staged('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
    await expectPlainFile(path, await inspect(path, 'photo.jpg'), 'application/pdf');
  });
});

describe('files', () => {
  it('makes an SVG text/plain and a file, never an image', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>';
    const path = await staged(svg);
    await expectPlainFile(path, await inspect(path, 'a.svg'), 'text/plain');
  });

  it('makes HTML text/plain', async () => {
    const path = await staged('<!doctype html><html><body><script>alert(1)</script></body></html>');
    await expectPlainFile(path, await inspect(path, 'page.html'), 'text/plain');
  });

  it('reads UTF-8 cut mid-character at the 64 KiB window as text', async () => {
    const path = await staged('a' + 'é'.repeat(40_000)); // byte 65535 starts a two-byte character
    await expectPlainFile(path, await inspect(path, 'long.txt'), 'text/plain');
  });

  it('makes text with a NUL byte, and random bytes, application/octet-stream', async () => {
    const nul = await staged('hello\0world');
    await expectPlainFile(nul, await inspect(nul, 'data.txt'), 'application/octet-stream');
    const random = await staged(Buffer.concat([Buffer.from([0xde, 0xad, 0xbe, 0xef]), randomBytes(4096)]));
    await expectPlainFile(random, await inspect(random, 'blob.bin'), 'application/octet-stream');
  });

  it('lets an I/O error through', async () => {
    await expect(inspect(join(root, 'no-such-upload'), 'x.png')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('writing the stripped copy', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /**
   * Makes every sharp `toFile` write into /dev/full, through a symlink at the very path it
   * was given, so libvips reports a real ENOSPC about the real output path; and records the
   * paths written. The stripped copy must go through `toFile`, not a buffer in memory.
   */
  function diskFullOnToFile(): string[] {
    const proto = sharp.prototype as Sharp;
    // Unbound on purpose: the spy calls it on whichever pipeline called toFile.
    const real = Object.getOwnPropertyDescriptor(proto, 'toFile')?.value as (this: Sharp, out: string) => Promise<OutputInfo>;
    const targets: string[] = [];
    vi.spyOn(proto, 'toFile').mockImplementation(async function (this: Sharp, out: string) {
      targets.push(out);
      await symlink('/dev/full', out);
      return real.call(this, out);
    } as Sharp['toFile']);
    return targets;
  }

  it.skipIf(!existsSync('/dev/full'))('lets a full disk through as an I/O error, for an image and for a misnamed one, leaving nothing behind', async () => {
    for (const name of ['IMG_0001.JPG', 'IMG.txt']) {
      const path = await staged(await jpegWithGps());
      const targets = diskFullOnToFile();

      const error: unknown = await inspect(path, name).catch((err: unknown) => err);

      expect(targets).toHaveLength(1);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ code: 'ENOSPC', syscall: 'write', path: targets[0] });
      expect(await readdir(dirname(path))).toEqual([basename(path)]);
      vi.restoreAllMocks();
    }
  });

  it.skipIf(!existsSync('/dev/full'))('tells a write failure from sharp apart from a decode failure by the output path in its message', async () => {
    const full = await canvas(64, 64).jpeg().toFile('/dev/full').catch((err: unknown) => err);
    expect(full).not.toHaveProperty('syscall'); // why the message has to be read at all
    expect(asWriteError(full, '/dev/full')).toMatchObject({ code: 'ENOSPC', syscall: 'write', path: '/dev/full', cause: full });

    const missingDir = join(root, 'no-such-folder', 'out.jpg');
    const open = await canvas(8, 8).jpeg().toFile(missingDir).catch((err: unknown) => err);
    expect(asWriteError(open, missingDir)).toMatchObject({ code: 'ENOENT', syscall: 'write' });

    const whole = await canvas(400, 300).jpeg().toBuffer();
    const input = await staged(whole.subarray(0, whole.length / 2));
    const out = `${input}.out.jpg`;
    const decode = await sharp(input, { failOn: 'warning' }).jpeg().toFile(out).catch((err: unknown) => err);
    expect(decode).toBeInstanceOf(Error);
    expect(asWriteError(decode, out)).toBe(decode);
    await rm(out, { force: true });
  });

  it('re-encodes a format sharp reads but cannot write as JPEG, or PNG with alpha, never keeping the metadata', () => {
    for (const format of ['heif', 'tiff', 'svg'] as const) {
      const compression = format === 'heif' ? ('hevc' as const) : undefined;
      expect(strippingPlan({ format, compression, hasAlpha: false })).toMatchObject({ suffix: 'jpg', mimeType: 'image/jpeg' });
      expect(strippingPlan({ format, compression, hasAlpha: true })).toMatchObject({ suffix: 'png', mimeType: 'image/png' });
    }
    expect(strippingPlan({ format: 'heif', compression: 'av1', hasAlpha: true })).toMatchObject({ suffix: 'avif', mimeType: 'image/avif' });
    const jpeg = strippingPlan({ format: 'jpeg', hasAlpha: false });
    expect([jpeg.suffix, jpeg.mimeType]).toEqual(['jpg', undefined]); // same type as the upload
  });
});

describe('audio', () => {
  it('reads the duration of a hand-written 1.5 s WAV', async () => {
    const path = await staged(wav(1.5));

    const result = await inspect(path, 'memo.wav');

    expect(result).toMatchObject({ kind: 'audio', mimeType: 'audio/wav', width: null, height: null, storePath: path, thumbnailPath: null });
    expect(result.durationMs).toBe(1500);
    await expectNoStrayFiles(path, result);
  });

  it('leaves the duration null when the headers are nonsense', async () => {
    const broken = wav(1.5);
    broken.writeUInt32LE(0, 28); // byte rate 0: no way to tell the time
    broken.writeUInt16LE(0, 32);
    broken.writeUInt16LE(0, 34);
    const path = await staged(broken);
    const result = await inspect(path, 'memo.wav');
    expect(result.kind).toBe('audio');
    expect(result.durationMs).toBeNull();
  });
});

describe('video', () => {
  it('finds ffmpeg once: an absolute path or null', async () => {
    expect(ffmpeg === null || ffmpeg.startsWith('/')).toBe(true);
    expect(await findFfmpeg()).toBe(ffmpeg);
  });

  /** Makes a 1 s, 64×48 MP4 with ffmpeg's test pattern, and a tone when `withSound`. */
  async function testVideo(withSound: boolean): Promise<string> {
    const path = join(await mkdtemp(join(root, 'v-')), 'upload.tmp');
    await promisify(execFile)(ffmpeg!, [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=1'],
      ...(withSound ? ['-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'aac', '-shortest'] : []),
      ...['-c:v', 'mpeg4', '-f', 'mp4', path],
    ]);
    return path;
  }

  it.skipIf(!ffmpeg)('takes a poster frame and the size from ffmpeg, the duration from the headers', async () => {
    const path = await testVideo(true);

    const result = await inspect(path, 'clip.mp4', ffmpeg);

    expect(result).toMatchObject({ kind: 'video', mimeType: 'video/mp4', width: 64, height: 48, storePath: path });
    expect(result.durationMs).toBeGreaterThanOrEqual(950);
    expect(result.durationMs).toBeLessThanOrEqual(1050);
    const poster = await sharp(result.thumbnailPath!).metadata();
    expect([poster.format, poster.width, poster.height]).toEqual(['webp', 64, 48]);
    await expectNoStrayFiles(path, result);

    const without = await inspect(path, 'clip.mp4', null);
    expect(without).toMatchObject({ kind: 'video', width: null, height: null, thumbnailPath: null });
    expect(without.durationMs).toBe(result.durationMs);
  });

  it.skipIf(!ffmpeg)('takes a silent MP4’s duration from ffmpeg: music-metadata times MP4 by its sound track', async () => {
    const path = await testVideo(false);

    const result = await inspect(path, 'clip.mp4', ffmpeg);
    expect(result).toMatchObject({ kind: 'video', width: 64, height: 48, durationMs: 1000 });

    expect(await inspect(path, 'clip.mp4', null)).toMatchObject({ kind: 'video', durationMs: null });
  });

  it('gives a video ffmpeg cannot read no poster, without throwing', async () => {
    // An MP4 "ftyp" box and then nothing: file-type says video/mp4, ffmpeg finds no stream.
    const ftyp = Buffer.alloc(24);
    ftyp.writeUInt32BE(24, 0);
    ftyp.write('ftypisom', 4, 'latin1');
    ftyp.write('isomiso2', 16, 'latin1');
    const path = await staged(Buffer.concat([ftyp, randomBytes(256)]));

    const result = await inspect(path, 'clip.mp4', ffmpeg);

    expect(result).toMatchObject({ kind: 'video', mimeType: 'video/mp4', width: null, height: null, thumbnailPath: null, storePath: path });
    await expectNoStrayFiles(path, result);
  });
});

describe('numbers from headers are bounded', () => {
  it('reads a sane WebM Duration', async () => {
    const path = await staged(webm(1500));
    expect(await inspect(path, 'clip.webm')).toMatchObject({ kind: 'video', mimeType: 'video/webm', durationMs: 1500 });
  });

  it('makes a WebM Duration of 1e300 ms, or one just past 2^31−1 ms, unknown instead of a number no column holds', async () => {
    for (const ticks of [1e300, 2 ** 31]) {
      const path = await staged(webm(ticks));
      const result = await inspect(path, 'clip.webm', ffmpeg);
      expect(result).toMatchObject({ kind: 'video', mimeType: 'video/webm', durationMs: null });
      await expectNoStrayFiles(path, result);
    }
    const longest = await staged(webm(2 ** 31 - 1));
    expect((await inspect(longest, 'clip.webm')).durationMs).toBe(2 ** 31 - 1);
  });

  it('bounds durations to whole ms in 0 … 2^31−1 and sizes to 1 … 100000 px', () => {
    expect(durationFromSeconds(1.5)).toBe(1500);
    expect(durationFromSeconds(0)).toBe(0);
    expect(Object.is(durationFromSeconds(-0.0004), 0)).toBe(true);
    expect(durationFromSeconds((2 ** 31 - 1) / 1000)).toBe(2 ** 31 - 1);
    for (const bad of [2 ** 31 / 1000, 1e300, Number.MAX_VALUE, Infinity, NaN, -1, undefined, null]) expect(durationFromSeconds(bad)).toBeNull();

    expect(dimension(1)).toBe(1);
    expect(dimension(100_000)).toBe(100_000);
    for (const bad of [0, -5, 100_001, 1.5, NaN, Infinity, undefined, null]) expect(dimension(bad)).toBeNull();
  });

  it('bounds the duration ffmpeg prints, which is whatever the container claims', () => {
    expect(parseDuration('  Duration: 00:01:02.50, start: 0.000000, bitrate: 5 kb/s')).toBe(62_500);
    expect(parseDuration('  Duration: 596:31:23.64, start: 0')).toBe(2 ** 31 - 1 - 7); // 2147483.64 s
    expect(parseDuration('  Duration: 596:31:23.65, start: 0')).toBeNull();
    expect(parseDuration('  Duration: 2562047788:00:54.77, start: 0')).toBeNull(); // a 64-bit mvhd duration
    expect(parseDuration('  Duration: N/A, bitrate: N/A')).toBeNull();
  });
});
