import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../domain/errors.js';

/** The one AppError → HTTP mapping. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  invalid_json: 400,
  invalid_frame: 400,
  unknown_type: 400,
  payload_too_large: 413,
  message_too_large: 413,
  unsupported_media_type: 415,
  unauthorized: 401,
  invalid_credentials: 401,
  invalid_refresh_token: 401,
  forbidden: 403,
  url_expired: 403,
  edit_window_passed: 403,
  blocked: 403,
  range_not_satisfiable: 416,
  not_found: 404,
  route_not_found: 404,
  email_taken: 409,
  username_taken: 409,
  offset_mismatch: 409,
  message_deleted: 409,
  call_in_progress: 409,
  too_many_reactions: 422,
  too_many_devices: 422,
  not_a_group: 422,
  unknown_users: 422,
  group_full: 422,
  invite_invalid: 410,
  rate_limited: 429,
  not_ready: 503,
  shutting_down: 503,
  internal: 500,
};

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** "body/email must match format" → { field: 'email', message: 'email must be a valid email address' }. */
function describeValidation(issue: ValidationIssue, context: string): { field: string; message: string } {
  const pathParts = issue.instancePath.split('/').filter(Boolean);
  if (issue.keyword === 'required') pathParts.push(String(issue.params.missingProperty));
  // A oneOf told apart by a tag (POST /conversations' `type`): the tag is at fault.
  if (issue.keyword === 'discriminator') pathParts.push(String(issue.params.tag));
  if (issue.keyword === 'additionalProperties') pathParts.push(String(issue.params.additionalProperty));
  const field = pathParts.join('.') || context;
  switch (issue.keyword) {
    case 'required':
      return { field, message: `${field} is required` };
    case 'format':
      return { field, message: `${field} must be a valid ${String(issue.params.format).replace('-', ' ')}` };
    case 'pattern':
      return { field, message: `${field} has characters or a length that are not allowed` };
    case 'type':
      return { field, message: `${field} must be ${String(issue.params.type).replace(',', ' or ')}` };
    case 'discriminator':
      return { field, message: `${field} is missing or not one of the accepted values` };
    case 'additionalProperties':
      return { field, message: `${field} is not a field this request takes` };
    case 'minProperties':
      return { field, message: `${field} must have at least one field` };
    default:
      return { field, message: `${field} ${issue.message ?? 'is not valid'}` };
  }
}

function toAppError(err: FastifyError | AppError | Error, log: FastifyRequest['log']): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (fe.validation && fe.validation.length > 0) {
    const { field, message } = describeValidation(fe.validation[0]!, fe.validationContext ?? 'body');
    return new AppError('validation_failed', message, { field });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('invalid_json', 'Request body is not valid JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'Request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(
        'unsupported_media_type',
        'Send the request body as application/json (files: multipart/form-data to /conversations/:id/attachments)',
      );
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) {
    return new AppError('invalid_json', 'Request body is not valid JSON');
  }
  if (fe.statusCode === 429) return new AppError('rate_limited', 'Too many requests; slow down and retry later');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new AppError('validation_failed', fe.message);
  }
  log.error({ err }, 'unhandled error');
  return new AppError('internal', 'Internal server error');
}

export function sendError(reply: FastifyReply, err: AppError): FastifyReply {
  const field = err.details?.field;
  return reply
    .code(HTTP_STATUS[err.code])
    .type('application/json')
    .send({ error: err.message, code: err.code, ...(field ? { field } : {}) });
}

/**
 * Installs the error and not-found handlers. A not-found request is first offered to
 * `pages.fallback` (the web app's index.html for page requests, set once it is registered);
 * when that passes, it gets the JSON 404.
 */
export function installErrorHandlers(
  app: FastifyInstance,
  pages: { fallback?: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined } = {},
): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const appError = toAppError(err, request.log);
    if (appError.code === 'rate_limited' && err.statusCode === 429) {
      const headers = (err as { headers?: Record<string, string> }).headers;
      if (headers) reply.headers(headers);
    }
    return sendError(reply, appError);
  });
  app.setNotFoundHandler(
    (request, reply) =>
      pages.fallback?.(request, reply) ??
      sendError(reply, new AppError('route_not_found', `No route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
