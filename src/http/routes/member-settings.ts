import { ConversationParams, errorResponses } from '../../schemas/common.js';
import { ConversationReply } from '../../schemas/conversations.js';
import { MemberSettingsBody } from '../../schemas/member-settings.js';
import { caller } from '../auth.js';
import type { AppServer, RouteContext } from '../server.js';

export function memberSettingsRoutes(app: AppServer, ctx: RouteContext): void {
  const { conversations, memberSettings } = ctx.services;

  app.patch(
    '/conversations/:id/settings',
    {
      preHandler: ctx.requireAuth,
      schema: {
        tags: ['conversations'],
        summary: 'Mute, archive or pin a conversation for yourself',
        description:
          'Only the fields sent change (at least one). `muted_until`: an ISO-8601 time (muted while it lies ahead; ' +
          'a time past is kept as given and means not muted), `9999-12-31T23:59:59.999Z` for until unmuted, null ' +
          'to unmute. `pinned: true` pins it (an already pinned one keeps its `pinned_at`), false unpins it. ' +
          'These settings are the caller\'s alone: the answer is the conversation with its `my_settings`, and ' +
          'the caller\'s sockets get a `conversation_settings` frame when something changed. Direct ' +
          'conversations and groups alike; 404 unless the caller is a member.',
        security: [{ bearer: [] }],
        params: ConversationParams,
        body: MemberSettingsBody,
        response: { 200: ConversationReply, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const me = caller(request).userId;
      await memberSettings.update(me, request.params.id, request.body);
      return { conversation: await conversations.get(me, request.params.id) };
    },
  );
}
