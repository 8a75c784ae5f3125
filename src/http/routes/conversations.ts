import { ConversationParams, errorResponses } from '../../schemas/common.js';
import {
  ConversationListQuery,
  ConversationPageSchema,
  ConversationReply,
  CreateConversationBody,
} from '../../schemas/conversations.js';
import { HistoryPageSchema, HistoryQuery, MessageReply, SendMessageBody } from '../../schemas/messages.js';
import { caller } from '../auth.js';
import type { AppServer, RouteContext } from '../server.js';

export function conversationRoutes(app: AppServer, ctx: RouteContext): void {
  const { conversations, messages } = ctx.services;
  const secured = { preHandler: ctx.requireAuth };
  const security = [{ bearer: [] }];

  app.post(
    '/conversations',
    {
      ...secured,
      schema: {
        tags: ['conversations'],
        summary: 'Start a direct conversation (or get the existing one) or create a group',
        description:
          '`{"type":"direct","participant_id":2}` answers 200 with the existing conversation between the two ' +
          'users, or 201 with a new one. `{"type":"group","name":"…","participant_ids":[2,3]}` answers 201; ' +
          'the caller becomes its owner.',
        security,
        body: CreateConversationBody,
        response: { 200: ConversationReply, 201: ConversationReply, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const me = caller(request).userId;
      const body = request.body;
      const result =
        body.type === 'direct'
          ? await conversations.create(me, { type: 'direct', participantId: body.participant_id })
          : await conversations.create(me, {
              type: 'group',
              name: body.name,
              participantIds: body.participant_ids ?? [],
              avatar: body.avatar ?? null,
            });
      return reply.code(result.created ? 201 : 200).send({ conversation: result.conversation });
    },
  );

  app.get(
    '/conversations',
    {
      ...secured,
      schema: {
        tags: ['conversations'],
        summary: 'The caller\'s conversations: pinned ones first, then by most recent activity',
        description:
          'Pinned conversations come first, the latest pinned first; then the rest, most recent activity first. ' +
          '`archived=true` lists only those the caller archived, `archived=false` only the others; without it, all.',
        security,
        querystring: ConversationListQuery,
        response: { 200: ConversationPageSchema, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { archived, ...page } = request.query;
      return conversations.list(caller(request).userId, { ...page, archived: archived === undefined ? undefined : archived === 'true' });
    },
  );

  app.get(
    '/conversations/:id',
    {
      ...secured,
      schema: {
        tags: ['conversations'],
        summary: 'One conversation (404 unless the caller is a participant)',
        security,
        params: ConversationParams,
        response: { 200: ConversationReply, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => ({ conversation: await conversations.get(caller(request).userId, request.params.id) }),
  );

  app.get(
    '/conversations/:id/messages',
    {
      ...secured,
      schema: {
        tags: ['messages'],
        summary: 'A page of history, oldest first',
        description:
          'No bounds: the latest `limit` messages. `before_seq`: the page just before it (older). ' +
          '`after_seq`: the page just after it (newer). `has_more` says whether more lie beyond the page ' +
          'in that direction.',
        security,
        params: ConversationParams,
        querystring: HistoryQuery,
        response: { 200: HistoryPageSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) =>
      messages.history(caller(request).userId, request.params.id, {
        limit: request.query.limit,
        beforeSeq: request.query.before_seq,
        afterSeq: request.query.after_seq,
      }),
  );

  app.post(
    '/conversations/:id/messages',
    {
      ...secured,
      schema: {
        tags: ['messages'],
        summary: 'Send a message (the same path as the WebSocket `message` frame)',
        description:
          'Answers 201 with the stored message; with a `client_id` already used by the caller, 200 with the ' +
          'original message and nothing stored twice. Participants receive it as a `new_message` frame. ' +
          'Files go first to `POST /conversations/:id/attachments`; their ids are sent here as `attachment_ids`.',
        security,
        params: ConversationParams,
        body: SendMessageBody,
        response: { 200: MessageReply, 201: MessageReply, ...errorResponses(400, 401, 404, 413) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const { message, created } = await messages.send(caller(request).userId, {
        conversationId: request.params.id,
        content: body.content,
        type: body.type ?? body.message_type,
        clientId: body.client_id,
        replyToId: body.reply_to_id,
        mediaUrl: body.media_url,
        attachmentIds: body.attachment_ids,
      });
      return reply.code(created ? 201 : 200).send({ message });
    },
  );
}

