import type { FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';
import { inputProblem, InputProblem, parseCheckedJson } from '../schemas/text-guards.js';

/**
 * REST's use of the shared text guards (src/schemas/text-guards.ts): the JSON body parser,
 * and a preHandler for path and query values, which Ajv coerces (so "Infinity" or "1e400"
 * there becomes Infinity, which its minimum/maximum checks skip).
 */

const invalid = (field: string, problem: string) => new AppError('validation_failed', `${field} ${problem}`, { field });

/** JSON.parse for request bodies: a refused value throws AppError('validation_failed') naming its path. */
export function parseSafeJson(text: string): unknown {
  try {
    return parseCheckedJson(text);
  } catch (err) {
    if (err instanceof InputProblem) throw invalid(err.field, err.problem);
    throw err;
  }
}

/** preHandler for every route: checks the (already coerced) path and query values. */
export async function guardPathAndQuery(request: FastifyRequest): Promise<void> {
  for (const part of [request.params, request.query]) {
    if (!part || typeof part !== 'object') continue;
    for (const [field, value] of Object.entries(part)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        const problem = inputProblem(v);
        if (problem) throw invalid(field, problem);
      }
    }
  }
}
