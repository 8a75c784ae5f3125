import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { getSystemErrorMap } from 'node:util';

/**
 * True for an error from the operating system (a failed open, read or write), which
 * inspection lets through; everything else a parser or decoder throws is a fact about the
 * content and becomes "not that kind of file".
 */
export function isIoError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** Removes files this module wrote, ignoring ones already gone. */
export async function removeAll(paths: Iterable<string>): Promise<void> {
  await Promise.all([...paths].map((p) => rm(p, { force: true })));
}

/**
 * A new path in the same folder as `path`, so the caller's staging-folder clean-up covers
 * it; the random part keeps two inspections of one upload from writing the same file.
 */
export function besides(path: string, suffix: string): string {
  return `${path}.${randomBytes(4).toString('hex')}.${suffix}`;
}

/**
 * `err` from sharp's `toFile(outPath)` as an I/O error when it is one. Sharp's errors carry
 * only libvips' message, never `syscall`, so a full disk would otherwise look like a file
 * that does not decode (and the upload would silently be stored unstripped, or not at all).
 *
 * The message is reliable here, where a disk probe is not (a small probe write can succeed
 * right after a large one hit ENOSPC). libvips reports a failure to open or write a file
 * target as "<filename>: unable to open for write" or "<filename>: write error", each
 * followed by "\nsystem error: <strerror>" (seen with the bundled libvips against /dev/full
 * and a missing folder). `outPath` is a fresh name of ours with a random part (`besides`),
 * so only an error about the output file contains it; errors about the input name the
 * input path, a strict prefix of `outPath` followed by ": ", which never matches. The
 * result has `syscall: 'write'`, `path`, and the errno `code` when the strerror text is one
 * Node knows (ENOSPC, EACCES, EROFS …), else `EIO`. Any other error is returned unchanged.
 */
export function asWriteError(err: unknown, outPath: string): unknown {
  if (!(err instanceof Error) || isIoError(err) || !err.message.includes(`${outPath}: `)) return err;
  const reason = /system error: ([^\n]+)/.exec(err.message.slice(err.message.indexOf(`${outPath}: `)))?.[1]?.trim().toLowerCase();
  let code = 'EIO';
  let errno: number | undefined;
  for (const [number, [name, text]] of getSystemErrorMap()) {
    if (reason !== undefined && text.toLowerCase() === reason) {
      code = name;
      errno = number;
      break;
    }
  }
  return Object.assign(new Error(`${code}: writing ${outPath} failed: ${err.message}`, { cause: err }), {
    code,
    errno,
    syscall: 'write',
    path: outPath,
  });
}
