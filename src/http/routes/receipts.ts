import { ConversationParams, errorResponses, MessageParams } from '../../schemas/common.js';
import {
  AdvanceBody,
  MessageReceiptsSchema,
  ReceiptStateSchema,
  UnreadSummarySchema,
} from '../../schemas/receipts.js';
import { caller } from '../auth.js';
import type { AppServer, RouteContext } from '../server.js';

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
          params: ConversationParams,
          body: AdvanceBody,
          response: { 200: ReceiptStateSchema, ...errorResponses(400, 401, 404) },
        },
      },
      async (request) => receipts.advanceAndCount(caller(request).userId, request.params.id, kind, request.body?.seq ?? undefined),
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
        params: MessageParams,
        response: { 200: MessageReceiptsSchema, ...errorResponses(400, 401, 404) },
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
        response: { 200: UnreadSummarySchema, ...errorResponses(401) },
      },
    },
    async (request) => receipts.unread(caller(request).userId),
  );
}
