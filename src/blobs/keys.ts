import type { ByteRange } from './blob-store.js';

/** The key has no blob. Services turn it into `not_found`. */
export class BlobNotFound extends Error {
  constructor(key: string) {
    super(`no blob under key ${JSON.stringify(key)}`);
    this.name = 'BlobNotFound';
  }
}

// Control characters and backslashes are refused outright: a backslash is a separator on
// Windows and some S3-compatible stores treat control characters differently.
// eslint-disable-next-line no-control-regex
const BAD_CHARS = /[\u0000-\u001f\u007f\\]/;

/**
 * Throws unless key is a relative `/`-separated path whose segments are non-empty and do
 * not start with `.`: that refuses `..` (escaping the root), `.`, `a//b`, absolute keys and
 * the local store's own `.incoming/` directory in one rule.
 */
export function checkKey(key: string): void {
  if (key.length === 0 || key.length > 1024 || BAD_CHARS.test(key) || key.split('/').some((s) => s === '' || s.startsWith('.'))) {
    throw new Error(`invalid blob key ${JSON.stringify(key)}`);
  }
}

/** Throws RangeError unless 0 <= start <= end, both safe integers. */
export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}
