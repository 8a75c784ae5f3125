import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';

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
