/**
 * A refusal from natter: the HTTP status (0 when the request never got an answer) and the
 * `{"error","code"}` body every natter error carries (docs/errors.md), or an `error`
 * frame's code for a refused real-time action.
 */
export class NatterError extends Error {
  override readonly name = 'NatterError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /** From a REST answer's status and parsed body (whatever it is). */
  static from(status: number, body: unknown): NatterError {
    if (body && typeof body === 'object') {
      const { error, code, field } = body as { error?: unknown; code?: unknown; field?: unknown };
      if (typeof code === 'string') {
        return new NatterError(status, code, typeof error === 'string' ? error : code, typeof field === 'string' ? field : undefined);
      }
    }
    return new NatterError(status, status === 401 ? 'unauthorized' : 'http_error', `natter answered HTTP ${status}`);
  }
}

/** Reads an openapi-fetch result: the data, or a NatterError with the status and error body. */
export function must<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) throw NatterError.from(result.response.status, result.error);
  return result.data as T;
}
