import { Type } from 'typebox';
import type { AppServer, RouteContext } from '../server.js';
import { errorResponses, MessageBody, OrNull } from '../../schemas/common.js';
import { AuthResultSchema, AvatarUrl, Email, Phone, Username } from '../../schemas/users.js';
import { caller } from '../auth.js';
import { AppError } from '../../domain/errors.js';

export function authRoutes(app: AppServer, ctx: RouteContext): void {
  const { accounts } = ctx.services;
  const limited = { rateLimit: ctx.authRateLimit };
  const passwordMin = ctx.config.passwordMinLength;

  app.post(
    '/auth/register',
    {
      config: limited,
      schema: {
        tags: ['auth'],
        summary: 'Create an account and log in',
        body: Type.Object({
          username: Username,
          email: Email,
          password: Type.String({ minLength: passwordMin, maxLength: 256 }),
          phone: Type.Optional(OrNull(Phone)),
          avatar: Type.Optional(OrNull(AvatarUrl)),
        }),
        response: { 201: AuthResultSchema, ...errorResponses(400, 409, 429) },
      },
    },
    async (request, reply) => {
      const result = await accounts.register(request.body, request.headers['user-agent'] ?? null);
      return reply.code(201).send(result);
    },
  );

  app.post(
    '/auth/login',
    {
      config: limited,
      schema: {
        tags: ['auth'],
        summary: 'Log in with email (or username) and password',
        description: 'Send `email` (the seed\'s field; a username is accepted there too) or `username`.',
        body: Type.Object({
          email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
          username: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
          password: Type.String({ minLength: 1, maxLength: 256 }),
        }),
        response: { 200: AuthResultSchema, ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const login = request.body.email ?? request.body.username;
      if (!login) {
        throw new AppError('validation_failed', 'email is required', { field: 'email' });
      }
      return accounts.login(login, request.body.password, request.headers['user-agent'] ?? null);
    },
  );

  app.post(
    '/auth/refresh',
    {
      config: limited,
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new token pair',
        body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 512 }) }),
        response: { 200: AuthResultSchema, ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => accounts.refresh(request.body.refresh_token),
  );

  app.post(
    '/auth/logout',
    {
      preHandler: ctx.requireAuth,
      schema: {
        tags: ['auth'],
        summary: 'End this session',
        description: 'Revokes the session: its access and refresh tokens stop working at once.',
        security: [{ bearer: [] }],
        response: { 200: MessageBody, ...errorResponses(401) },
      },
    },
    async (request) => {
      await accounts.logout(caller(request));
      return { message: 'Logged out successfully' };
    },
  );
}
