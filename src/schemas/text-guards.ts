/**
 * Values that pass a schema but that the database cannot take, refused at the edge of
 * both transports so they answer validation_failed instead of failing a query:
 * - NUL characters: PostgreSQL text cannot hold U+0000, and one such value in a group
 *   commit would fail every message of its batch.
 * - Lone UTF-16 surrogates: PostgreSQL stores them as U+FFFD, so two different strings
 *   (two client_ids, say) would become one.
 * - Non-finite numbers: `1e400` parses to Infinity, which no bound check catches.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What is wrong with one parsed value, or null. */
export function inputProblem(value: unknown): string | null {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'must not contain NUL characters';
    if (LONE_SURROGATE.test(value)) return 'must be valid Unicode text (it holds a lone surrogate)';
    return null;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'must be a finite number';
  return null;
}

/** Thrown by `checkedReviver`: the key of the bad value and what is wrong with it. */
export class InputProblem extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field} ${problem}`);
  }
}

/** JSON.parse reviver that throws InputProblem at the first value `inputProblem` refuses. */
export function checkedReviver(key: string, value: unknown): unknown {
  const problem = inputProblem(value);
  if (problem) throw new InputProblem(key || 'body', problem);
  return value;
}
