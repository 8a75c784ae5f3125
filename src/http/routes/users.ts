import { Type } from 'typebox';
import type { AppServer, RouteContext } from '../server.js';
import { caller } from '../auth.js';
import { Cursor, errorResponses, Id, OrNull, PageLimit } from '../../schemas/common.js';
import { AvatarUrl, BlockSchema, Phone, Username, Visibility } from '../../schemas/users.js';

export function userRoutes(app: AppServer, ctx: RouteContext): void {
  const { users, blocks } = ctx.services;
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
    '/users/me/blocks',
    {
      ...secured,
      schema: {
        tags: ['users'],
        summary: 'The users the caller blocks, by id, a page at a time',
        security,
        querystring: Type.Object({ limit: PageLimit(), cursor: Type.Optional(Cursor()) }),
        response: {
          200: Type.Object({
            blocks: Type.Array(BlockSchema),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => blocks.list(caller(request).userId, request.query),
  );

  app.post(
    '/users/:id/block',
    {
      ...secured,
      schema: {
        tags: ['users'],
        summary: 'Block a user',
        description:
          'Answers 201 with the block, or 200 when the caller already blocks them (nothing changes). While you ' +
          'block someone they cannot open a direct conversation with you, send into yours (403 `blocked`) or ' +
          'put you in a group they create; they see you offline with no `last_seen` and never see your reads; ' +
          'typing and presence frames between you stop both ways. Groups you share keep you both. Blocking ' +
          'yourself is 400 `validation_failed`; an unknown user 404.',
        security,
        params: Type.Object({ id: Id() }),
        response: {
          200: Type.Object({ block: BlockSchema }),
          201: Type.Object({ block: BlockSchema }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const { block, created } = await blocks.block(caller(request).userId, request.params.id);
      return reply.code(created ? 201 : 200).send({ block });
    },
  );

  app.delete(
    '/users/:id/block',
    {
      ...secured,
      schema: {
        tags: ['users'],
        summary: 'Unblock a user',
        description:
          'Answers 204, also when there was no block. Everything blocking stopped works again; nothing they ' +
          'tried to send meanwhile was kept.',
        security,
        params: Type.Object({ id: Id() }),
        response: { 204: Type.Null({ description: 'Unblocked' }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await blocks.unblock(caller(request).userId, request.params.id);
      return reply.code(204).send(null);
    },
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
