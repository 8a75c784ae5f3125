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

/**
 * JSON.parse with the guards. A reviver sees only a value's own key, so on a refusal the
 * text is parsed again without them to name the whole path as validation errors do
 * (`participant_ids.0`, `since.7`, not `0` or `7`). Throws InputProblem, or JSON.parse's
 * SyntaxError.
 */
export function parseCheckedJson(text: string): unknown {
  try {
    return JSON.parse(text, checkedReviver);
  } catch (err) {
    if (err instanceof InputProblem) throw locateProblem(JSON.parse(text)) ?? err;
    throw err;
  }
}

/**
 * The first refused value in the order the reviver meets them (JSON.parse visits the
 * keys of an object in `Object.keys` order), named by its dotted path; `body` for the
 * whole value. Iterative, so deep nesting cannot overflow the stack.
 */
function locateProblem(root: unknown): InputProblem | null {
  const stack: { value: unknown; path: string[] }[] = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    const problem = inputProblem(value);
    if (problem) return new InputProblem(path.join('.') || 'body', problem);
    if (value && typeof value === 'object') {
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ value: (value as Record<string, unknown>)[keys[i]!], path: [...path, keys[i]!] });
      }
    }
  }
  return null;
}
