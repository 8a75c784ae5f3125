import { Type } from 'typebox';
import { AppError } from '../../domain/errors.js';
import { caller } from '../auth.js';
import { errorResponses } from '../schemas.js';
import type { AppServer, RouteContext } from '../server.js';

/**
 * Ids and seqs are bigint columns; a larger number would fail the query (a 500), so the
 * schemas stop at the largest integer JSON numbers carry exactly.
 */
const MAX_INT = Number.MAX_SAFE_INTEGER;
const Id = () => Type.Integer({ minimum: 1, maximum: MAX_INT });
const IdParams = Type.Object({ id: Id() });
const ConversationReply = Type.Object({ conversation: Type.Ref('Conversation') });
const MessageReply = Type.Object({ message: Type.Ref('Message') });

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
        body: Type.Object({
          type: Type.Union([Type.Literal('direct'), Type.Literal('group')]),
          participant_id: Type.Optional(Id()),
          name: Type.Optional(Type.String({ maxLength: 100 })),
          avatar: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
          participant_ids: Type.Optional(Type.Array(Id(), { maxItems: 1000 })),
        }),
        response: { 200: ConversationReply, 201: ConversationReply, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const me = caller(request).userId;
      const body = request.body;
      let result;
      if (body.type === 'direct') {
        if (body.participant_id === undefined) {
          throw new AppError('validation_failed', 'participant_id is required', { field: 'participant_id' });
        }
        result = await conversations.create(me, { type: 'direct', participantId: body.participant_id });
      } else {
        if (body.name === undefined) throw new AppError('validation_failed', 'name is required', { field: 'name' });
        result = await conversations.create(me, {
          type: 'group',
          name: body.name,
          participantIds: body.participant_ids ?? [],
          avatar: body.avatar ?? null,
        });
      }
      return reply.code(result.created ? 201 : 200).send({ conversation: result.conversation });
    },
  );

  app.get(
    '/conversations',
    {
      ...secured,
      schema: {
        tags: ['conversations'],
        summary: 'The caller\'s conversations, most recent activity first',
        security,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 128 })),
        }),
        response: {
          200: Type.Object({
            conversations: Type.Array(Type.Ref('Conversation')),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => conversations.list(caller(request).userId, request.query),
  );

  app.get(
    '/conversations/:id',
    {
      ...secured,
      schema: {
        tags: ['conversations'],
        summary: 'One conversation (404 unless the caller is a participant)',
        security,
        params: IdParams,
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
        params: IdParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
          before_seq: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_INT })),
          after_seq: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_INT })),
        }),
        response: {
          200: Type.Object({ messages: Type.Array(Type.Ref('Message')), has_more: Type.Boolean() }),
          ...errorResponses(400, 401, 404),
        },
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
          'original message and nothing stored twice. Participants receive it as a `new_message` frame.',
        security,
        params: IdParams,
        body: Type.Object({
          content: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          type: Type.Optional(Type.String({ description: 'text (default), image, video, audio or file' })),
          message_type: Type.Optional(Type.String({ description: 'Alias of `type`, as in the WebSocket frame.' })),
          media_url: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
          reply_to_id: Type.Optional(Type.Union([Id(), Type.Null()])),
          client_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        }),
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
      });
      return reply.code(created ? 201 : 200).send({ message });
    },
  );
}
