import { crc32 } from 'node:zlib';
import sharp from 'sharp';

/** Builders for the uploads the inspection tests feed in, all made at run time. */

/** A solid-colour image of the given size; sharp's `create` gives exact pixels without a fixture. */
export function canvas(width: number, height: number, background = '#3a7bd5') {
  return sharp({ create: { width, height, channels: 3, background } });
}

export const CAMERA_MAKE = 'NatterCam';

/** A JPEG as a phone writes it: camera make and model in IFD0, a position in the GPS IFD. */
export function jpegWithGps(): Promise<Buffer> {
  return canvas(64, 48)
    .jpeg()
    .withExif({
      IFD0: { Make: CAMERA_MAKE, Model: 'X1' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 12/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 39/1' },
    })
    .toBuffer();
}

/** A 40×20 JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6). */
export function jpegRotated(): Promise<Buffer> {
  return canvas(40, 20).jpeg().withMetadata({ orientation: 6 }).toBuffer();
}

/** A GIF of three 30×20 frames, 100 ms each, looping. */
export async function animatedGif(): Promise<Buffer> {
  // sharp's types take only encoded images for a join, so each frame is a PNG first.
  const frames = await Promise.all(['#f00', '#0f0', '#00f'].map((colour) => canvas(30, 20, colour).png().toBuffer()));
  return sharp(frames, { join: { animated: true } }).gif({ delay: [100, 100, 100], loop: 0 }).toBuffer();
}

/** `png` with a tEXt chunk inserted after IHDR, as image editors write "Comment" or "GPS" notes. */
export function withPngText(png: Buffer, keyword: string, text: string): Buffer {
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]);
  const type = Buffer.from('tEXt', 'latin1');
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  type.copy(chunk, 4);
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(Buffer.concat([type, data])) >>> 0, 8 + data.length);
  const afterIhdr = 8 + 12 + png.readUInt32BE(8); // signature, then IHDR's length+type+data+crc
  return Buffer.concat([png.subarray(0, afterIhdr), chunk, png.subarray(afterIhdr)]);
}

/** A mono 16-bit PCM WAV of a 440 Hz tone, written byte by byte (RIFF header + samples). */
export function wav(seconds: number, sampleRate = 8000): Buffer {
  const samples = Math.round(seconds * sampleRate);
  const out = Buffer.alloc(44 + samples * 2);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + samples * 2, 4);
  out.write('WAVE', 8, 'latin1');
  out.write('fmt ', 12, 'latin1');
  out.writeUInt32LE(16, 16); // fmt chunk size
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // channels
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28); // byte rate
  out.writeUInt16LE(2, 32); // block align
  out.writeUInt16LE(16, 34); // bits per sample
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) out.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / sampleRate) * 8000), 44 + i * 2);
  return out;
}

/**
 * The tag numbers in the GPS IFD of a raw EXIF block as sharp's metadata() returns it, or
 * null when IFD0 has no GPS pointer. Parses just enough TIFF to prove a position is there,
 * so the test does not trust a byte search alone.
 */
export function gpsTags(exif: Buffer | undefined): number[] | null {
  if (!exif) return null;
  const tiff = exif.subarray(exif.subarray(0, 6).toString('latin1') === 'Exif\0\0' ? 6 : 0);
  const little = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const entries = (ifd: number) => Array.from({ length: u16(ifd) }, (_, i) => ifd + 2 + i * 12);
  const gpsPointer = entries(u32(4)).find((entry) => u16(entry) === 0x8825);
  if (gpsPointer === undefined) return null;
  return entries(u32(gpsPointer + 8)).map((entry) => u16(entry));
}

/**
 * The smallest WebM music-metadata and file-type accept: an EBML header with DocType
 * "webm" and a Segment holding only Info, whose Duration float (in TimecodeScale units of
 * 1 ms) is `durationTicks`. Every size is written as 8 bytes, which EBML allows.
 */
export function webm(durationTicks: number): Buffer {
  const element = (id: string, payload: Buffer) => {
    const size = Buffer.alloc(8);
    size.writeBigUInt64BE(BigInt(payload.length));
    size[0] = 0x01; // length marker: an 8-byte size
    return Buffer.concat([Buffer.from(id, 'hex'), size, payload]);
  };
  const uint = (value: number) => Buffer.from([value]);
  const float64 = (value: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value);
    return b;
  };
  const header = element(
    '1a45dfa3',
    Buffer.concat([
      element('4286', uint(1)), // EBMLVersion
      element('42f7', uint(1)), // EBMLReadVersion
      element('42f2', uint(4)), // EBMLMaxIDLength
      element('42f3', uint(8)), // EBMLMaxSizeLength
      element('4282', Buffer.from('webm', 'latin1')), // DocType
      element('4287', uint(4)), // DocTypeVersion
      element('4285', uint(2)), // DocTypeReadVersion
    ]),
  );
  const timecodeScale = element('2ad7b1', Buffer.from([0x0f, 0x42, 0x40])); // 1,000,000 ns
  const info = element('1549a966', Buffer.concat([timecodeScale, element('4489', float64(durationTicks))]));
  return Buffer.concat([header, element('18538067', info)]);
}
