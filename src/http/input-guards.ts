import type { FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';

/**
 * Values that pass schema validation but that the database cannot take, refused at the
 * edge so they answer 400 instead of failing a query with a 500:
 * - NUL characters: PostgreSQL text cannot hold U+0000.
 * - Non-finite numbers: Ajv coerces "Infinity" or "1e400" in a query string or path to
 *   Infinity, and its minimum/maximum checks skip non-finite numbers.
 */
function problemWith(value: unknown): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? 'must not contain NUL characters' : null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'must be a finite number';
  return null;
}

function invalid(field: string, problem: string): AppError {
  return new AppError('validation_failed', `${field || 'body'} ${problem}`, { field: field || 'body' });
}

/** JSON.parse reviver for request bodies: throws AppError('validation_failed'). */
export function reviveSafeJson(key: string, value: unknown): unknown {
  const problem = problemWith(value);
  if (problem) throw invalid(key, problem);
  return value;
}

/** preHandler for every route: checks the (already coerced) path and query values. */
export async function guardPathAndQuery(request: FastifyRequest): Promise<void> {
  for (const part of [request.params, request.query]) {
    if (!part || typeof part !== 'object') continue;
    for (const [field, value] of Object.entries(part)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        const problem = problemWith(v);
        if (problem) throw invalid(field, problem);
      }
    }
  }
}
