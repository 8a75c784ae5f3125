import { Type } from 'typebox';
import { ConversationParams, errorResponses } from '../../schemas/common.js';
import {
  AddMembersBody,
  ConversationReply,
  CreateInviteBody,
  EditGroupBody,
  InviteListReply,
  InviteParams,
  InvitePreviewReply,
  InviteReply,
  MemberParams,
  SetRoleBody,
} from '../../schemas/conversations.js';
import { caller } from '../auth.js';
import type { AppServer, RouteContext } from '../server.js';

/** Group administration: the group's info and rules, members and roles, invite links. */
export function groupRoutes(app: AppServer, ctx: RouteContext): void {
  const { groups } = ctx.services;
  const secured = { preHandler: ctx.requireAuth };
  const security = [{ bearer: [] }];
  const tags = ['groups'];

  app.patch(
    '/conversations/:id',
    {
      ...secured,
      schema: {
        tags,
        summary: "Change a group's name, description, avatar or settings",
        description:
          'Admins may change everything; other members the name, description and avatar unless ' +
          '`settings.only_admins_can_edit_info`. Each change is told in the group as a system message ' +
          '(`renamed`, `info_changed`); a field sent with its current value changes nothing.',
        security,
        params: ConversationParams,
        body: EditGroupBody,
        response: { 200: ConversationReply, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => ({
      conversation: await groups.edit(caller(request).userId, request.params.id, request.body),
    }),
  );

  app.post(
    '/conversations/:id/participants',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Add members to a group',
        description:
          'Admins, or any member unless `settings.only_admins_can_add`. Users already in the group are left as ' +
          'they are. Unknown ids: 422 `unknown_users` naming them; someone who blocks the caller: 403 `blocked`; ' +
          'past `GROUP_MAX_MEMBERS`: 422 `group_full` — nobody is added then.',
        security,
        params: ConversationParams,
        body: AddMembersBody,
        response: { 200: ConversationReply, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => ({
      conversation: await groups.addMembers(caller(request).userId, request.params.id, request.body.user_ids),
    }),
  );

  app.delete(
    '/conversations/:id/participants/:userId',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Remove a member from a group, or leave it (your own id)',
        description:
          'Admins remove members; only the owner removes admins; nobody removes the owner. An owner who leaves ' +
          'hands ownership to the longest-serving admin, else the longest-serving member. The removed member ' +
          'loses access at once, on every node.',
        security,
        params: MemberParams,
        response: { 204: Type.Null({ description: 'Removed (or left).' }), ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      await groups.removeMember(caller(request).userId, request.params.id, request.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.patch(
    '/conversations/:id/participants/:userId',
    {
      ...secured,
      schema: {
        tags,
        summary: "Change a member's role (the owner)",
        description: '`admin` or `member`; `owner` hands ownership to that member and makes the caller an admin.',
        security,
        params: MemberParams,
        body: SetRoleBody,
        response: { 200: ConversationReply, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => ({
      conversation: await groups.setRole(caller(request).userId, request.params.id, request.params.userId, request.body.role),
    }),
  );

  app.post(
    '/conversations/:id/invites',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Create an invite link (admins)',
        security,
        params: ConversationParams,
        body: CreateInviteBody,
        response: { 201: InviteReply, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const invite = await groups.createInvite(caller(request).userId, request.params.id, {
        expiresIn: request.body?.expires_in,
        maxUses: request.body?.max_uses,
      });
      return reply.code(201).send({ invite });
    },
  );

  app.get(
    '/conversations/:id/invites',
    {
      ...secured,
      schema: {
        tags,
        summary: "The group's invite links still usable (admins)",
        security,
        params: ConversationParams,
        response: { 200: InviteListReply, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (request) => ({ invites: await groups.invites(caller(request).userId, request.params.id) }),
  );

  app.get(
    '/invites/:code',
    {
      ...secured,
      schema: {
        tags,
        summary: 'What an invite link leads to: the group and its member count',
        description: '404 for a code that never existed; 410 `invite_invalid` once revoked, expired or used up.',
        security,
        params: InviteParams,
        response: { 200: InvitePreviewReply, ...errorResponses(400, 401, 404, 410) },
      },
    },
    async (request) => groups.preview(request.params.code),
  );

  app.post(
    '/invites/:code/join',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Join a group by its invite link',
        description: 'Joining a group you are in changes nothing and counts no use.',
        security,
        params: InviteParams,
        response: { 200: ConversationReply, ...errorResponses(400, 401, 404, 410, 422) },
      },
    },
    async (request) => ({ conversation: await groups.join(caller(request).userId, request.params.code) }),
  );

  app.delete(
    '/invites/:code',
    {
      ...secured,
      schema: {
        tags,
        summary: 'Revoke an invite link (the group\'s admins)',
        security,
        params: InviteParams,
        response: { 204: Type.Null({ description: 'Revoked.' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await groups.revoke(caller(request).userId, request.params.code);
      return reply.code(204).send(null);
    },
  );
}
