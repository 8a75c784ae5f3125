import { errorResponses, MessageParams } from '../../schemas/common.js';
import {
  DeleteMessageQuery,
  EditMessageBody,
  EditsReply,
  MessageReply,
  ReactionParams,
  ReactorsPageSchema,
  ReactorsQuery,
} from '../../schemas/messages.js';
import { caller } from '../auth.js';
import type { AppServer, RouteContext } from '../server.js';

/** Edits, deletes and reactions: the same service calls as the `edit`, `delete` and `react` frames. */
export function messageChangeRoutes(app: AppServer, ctx: RouteContext): void {
  const { changes } = ctx.services;
  const secured = { preHandler: ctx.requireAuth };
  const security = [{ bearer: [] }];
  const tags = ['messages'];

  app.patch(
    '/conversations/:id/messages/:messageId',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Edit a message (its sender, within MESSAGE_EDIT_WINDOW)',
        description:
          'Replaces the content (a text, or the caption of a message with attachments) and sets `edited_at`; ' +
          'the version it replaces is kept (`GET …/edits`). Members receive `message_updated`. The same ' +
          'content again changes nothing. 403 `forbidden` for someone else\'s message, 403 ' +
          '`edit_window_passed` past the window, 409 `message_deleted` for a deleted one.',
        security,
        params: MessageParams,
        body: EditMessageBody,
        response: { 200: MessageReply, ...errorResponses(400, 401, 403, 404, 409, 413) },
      },
    },
    async (request) => ({
      message: await changes.edit(caller(request).userId, request.params.id, request.params.messageId, request.body.content),
    }),
  );

  app.get(
    '/conversations/:id/messages/:messageId/edits',
    {
      ...secured,
      schema: {
        tags,
        summary: 'The earlier versions of an edited message, oldest first',
        description:
          'Each is a content an edit replaced, with when; the latest 100. Empty for a message never edited, or ' +
          'deleted; 404 for one you deleted for yourself.',
        security,
        params: MessageParams,
        response: { 200: EditsReply, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => ({
      edits: await changes.edits(caller(request).userId, request.params.id, request.params.messageId),
    }),
  );

  app.delete(
    '/conversations/:id/messages/:messageId',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Delete a message for everyone (its sender), or for your own devices (`?for=me`)',
        description:
          'For everyone, the message stays in the sequence as a tombstone: `deleted_at` set, `deleted_for: ' +
          '"everyone"`, empty content, its attachments (and their files), edit history and reactions gone; ' +
          'members receive `message_updated`. `?for=me` hides it from the caller\'s devices only (they receive ' +
          '`message_updated` with `deleted_for: "me"`). Deleting again changes nothing. Answers the message as ' +
          'the caller now sees it.',
        security,
        params: MessageParams,
        querystring: DeleteMessageQuery,
        response: { 200: MessageReply, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => ({
      message: await changes.delete(
        caller(request).userId,
        request.params.id,
        request.params.messageId,
        request.query.for ?? 'everyone',
      ),
    }),
  );

  for (const [method, on] of [
    ['PUT', true],
    ['DELETE', false],
  ] as const) {
    app.route({
      method,
      url: '/conversations/:id/messages/:messageId/reactions/:emoji',
      ...secured,
      schema: {
        tags,
        summary: on ? 'React to a message with one emoji' : 'Take your reaction back',
        description:
          'The emoji is URL-encoded in the path and must be one emoji (a skin tone or ZWJ sequence is one); a ' +
          'text-style symbol is stored in its emoji form ("❤" as "❤️"). Idempotent. At most 20 different ' +
          'reactions per user and message (422 `too_many_reactions`). Members receive a `reaction` frame. ' +
          'Answers the message with its `reactions`.',
        security,
        params: ReactionParams,
        response: { 200: MessageReply, ...errorResponses(400, 401, 404, 409, 422) },
      },
      handler: async (request) => {
        const { id, messageId, emoji } = request.params as { id: number; messageId: number; emoji: string };
        return { message: await changes.react(caller(request).userId, id, messageId, emoji, on) };
      },
    });
  }

  app.get(
    '/conversations/:id/messages/:messageId/reactions/:emoji',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Who reacted with this emoji, in the order they did',
        description: '404 for a message you deleted for yourself.',
        security,
        params: ReactionParams,
        querystring: ReactorsQuery,
        response: { 200: ReactorsPageSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) =>
      changes.reactors(caller(request).userId, request.params.id, request.params.messageId, request.params.emoji, {
        limit: request.query.limit,
        cursor: request.query.cursor,
      }),
  );
}
