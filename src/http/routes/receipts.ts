import { Type } from 'typebox';
import { caller } from '../auth.js';
import { errorResponses } from '../schemas.js';
import type { AppServer, RouteContext } from '../server.js';

const ReceiptState = Type.Object({
  conversation_id: Type.Integer(),
  last_delivered_seq: Type.Integer(),
  last_read_seq: Type.Integer(),
  unread_count: Type.Integer(),
});

export function receiptRoutes(app: AppServer, ctx: RouteContext): void {
  const { receipts } = ctx.services;
  const secured = { preHandler: ctx.requireAuth };
  const security = [{ bearer: [] }];

  for (const kind of ['read', 'delivered'] as const) {
    app.post(
      `/conversations/:id/${kind}`,
      {
        ...secured,
        schema: {
          tags: ['receipts'],
          summary: kind === 'read' ? 'Mark messages up to seq as read' : 'Mark messages up to seq as delivered',
          description:
            'Moves the caller\'s pointer forward to `seq` (default: the latest message). An older seq is ' +
            'ignored, a seq past the end is capped.' +
            (kind === 'read' ? ' Reading implies delivered.' : ''),
          security,
          params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
          body: Type.Optional(Type.Object({ seq: Type.Optional(Type.Integer({ minimum: 0 })) })),
          response: { 200: ReceiptState, ...errorResponses(400, 401, 404) },
        },
      },
      async (request) => receipts.advanceAndCount(caller(request).userId, request.params.id, kind, request.body?.seq),
    );
  }

  app.get(
    '/conversations/:id/messages/:messageId/receipts',
    {
      ...secured,
      schema: {
        tags: ['receipts'],
        summary: 'How far one message has got with each other participant',
        security,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }), messageId: Type.Integer({ minimum: 1 }) }),
        response: {
          200: Type.Object({
            message_id: Type.Integer(),
            seq: Type.Integer(),
            receipts: Type.Array(
              Type.Object({
                user_id: Type.Integer(),
                status: Type.Union([Type.Literal('sent'), Type.Literal('delivered'), Type.Literal('read')]),
              }),
            ),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => receipts.detail(caller(request).userId, request.params.id, request.params.messageId),
  );

  app.get(
    '/users/me/unread',
    {
      ...secured,
      schema: {
        tags: ['receipts'],
        summary: 'Unread counts per conversation and in total',
        description: 'Messages after your read pointer, not yours, not deleted. Conversations with none are left out.',
        security,
        response: {
          200: Type.Object({
            total: Type.Integer(),
            conversations: Type.Array(Type.Object({ conversation_id: Type.Integer(), unread_count: Type.Integer() })),
          }),
          ...errorResponses(401),
        },
      },
    },
    async (request) => receipts.unread(caller(request).userId),
  );
}
