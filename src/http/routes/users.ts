import { Type } from 'typebox';
import type { AppServer, RouteContext } from '../server.js';
import { caller } from '../auth.js';
import { Cursor, errorResponses, Id, OrNull, PageLimit } from '../../schemas/common.js';
import { AvatarUrl, Phone, Username, Visibility } from '../../schemas/users.js';

export function userRoutes(app: AppServer, ctx: RouteContext): void {
  const { users } = ctx.services;
  const secured = { preHandler: ctx.requireAuth };
  const security = [{ bearer: [] }];

  app.get(
    '/users/me',
    {
      ...secured,
      schema: {
        tags: ['users'],
        summary: 'The caller\'s own profile',
        security,
        response: { 200: Type.Object({ user: Type.Ref('Me') }), ...errorResponses(401) },
      },
    },
    async (request) => ({ user: await users.me(caller(request).userId) }),
  );

  app.patch(
    '/users/me',
    {
      ...secured,
      schema: {
        tags: ['users'],
        summary: 'Change the caller\'s profile and privacy settings',
        description: 'Only the fields sent change. `phone` or `avatar` set to null (or "") clears it.',
        security,
        body: Type.Object({
          username: Type.Optional(Username),
          phone: Type.Optional(OrNull(Phone)),
          avatar: Type.Optional(OrNull(AvatarUrl)),
          last_seen_visibility: Type.Optional(Visibility),
          share_read_receipts: Type.Optional(Type.Boolean()),
        }),
        response: { 200: Type.Object({ user: Type.Ref('Me') }), ...errorResponses(400, 401, 409) },
      },
    },
    async (request) => ({ user: await users.update(caller(request).userId, request.body) }),
  );

  app.get(
    '/users',
    {
      ...secured,
      schema: {
        tags: ['users'],
        summary: 'Everyone but the caller, by id, a page at a time',
        security,
        querystring: Type.Object({
          search: Type.Optional(Type.String({ maxLength: 100, description: 'Substring of username or email.' })),
          limit: PageLimit(),
          cursor: Type.Optional(Cursor()),
        }),
        response: {
          200: Type.Object({
            users: Type.Array(Type.Ref('User')),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => users.list(caller(request).userId, request.query),
  );

  app.get(
    '/users/:id',
    {
      ...secured,
      schema: {
        tags: ['users'],
        summary: 'One user',
        security,
        params: Type.Object({ id: Id() }),
        response: { 200: Type.Object({ user: Type.Ref('User') }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => ({ user: await users.get(caller(request).userId, request.params.id) }),
  );
}
