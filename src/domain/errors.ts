/**
 * The one error vocabulary. Services throw AppError; each transport maps the code once
 * (HTTP: src/http/errors.ts). Every code is documented in docs/errors.md, and a test
 * fails when one is missing there.
 */
export const ERROR_CODES = [
  'validation_failed',
  'invalid_json',
  'invalid_frame',
  'unknown_type',
  'payload_too_large',
  'message_too_large',
  'unsupported_media_type',
  'unauthorized',
  'invalid_credentials',
  'invalid_refresh_token',
  'forbidden',
  'url_expired',
  'edit_window_passed',
  'blocked',
  'range_not_satisfiable',
  'not_found',
  'route_not_found',
  'email_taken',
  'username_taken',
  'offset_mismatch',
  'message_deleted',
  'call_in_progress',
  'too_many_reactions',
  'too_many_devices',
  'not_a_group',
  'unknown_users',
  'group_full',
  'invite_invalid',
  'rate_limited',
  'not_ready',
  'shutting_down',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Machine-readable detail: the request field at fault, for validation errors. */
    readonly details?: { field?: string },
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
