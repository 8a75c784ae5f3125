/**
 * Numbers read from an upload's headers are whatever the uploader wrote there: a WebM
 * Duration is a float that may say 1e300, an MP4 mvhd duration is 64 bits. Everything
 * inspection reports goes through these, so a crafted header yields "unknown" (null)
 * instead of a value the database rejects (duration_ms is bigint, width/height integer).
 */

/** 2^31 − 1 ms, about 24.8 days: longer than any real recording, and fits every integer column. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** Longer side of any real picture or video frame, with room to spare. */
export const MAX_DIMENSION_PX = 100_000;

/** Seconds (as the parsers give them) to whole milliseconds in 0 … MAX_DURATION_MS, else null. */
export function durationFromSeconds(seconds: number | null | undefined): number | null {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return null;
  const ms = Math.round(seconds * 1000);
  // `seconds * 1000` may overflow to Infinity, which isInteger rejects; `+ 0` turns the -0
  // that -0.0004 s rounds to into 0.
  return Number.isInteger(ms) && ms >= 0 && ms <= MAX_DURATION_MS ? ms + 0 : null;
}

/** A width or height: a positive integer up to MAX_DIMENSION_PX, else null. */
export function dimension(px: number | null | undefined): number | null {
  return typeof px === 'number' && Number.isInteger(px) && px > 0 && px <= MAX_DIMENSION_PX ? px : null;
}
