import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';
import type { AccountsService, Authenticated } from '../services/accounts.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireAuth` on protected routes. */
    auth: Authenticated | null;
  }
}

/** The token from `Authorization: Bearer <token>`, or null. */
export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** preHandler for protected routes: 401 unless the token and its session are live. */
export function requireAuth(accounts: AccountsService) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) throw new AppError('unauthorized', 'Missing Authorization: Bearer token');
    request.auth = await accounts.authenticate(token);
  };
}

/** The caller's claims on a route behind requireAuth. */
export function caller(request: FastifyRequest): Authenticated {
  if (!request.auth) throw new AppError('unauthorized', 'Not authenticated');
  return request.auth;
}
