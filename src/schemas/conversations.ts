import { Type, type Static } from 'typebox';
import { Cursor, Id, nullable, OrNull, PageLimit, stringEnum, Timestamp, Url } from './common.js';
import type { MemberSettings } from './member-settings.js';
import type { Message } from './messages.js';
import type { User } from './users.js';

/** Conversations on the wire. */

const NullableString = nullable<string>(Type.String());

import { ROLES, type Role } from '../domain/system-messages.js';

export { ROLES, type Role };

export const ParticipantSchema = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    email: Type.String(),
    phone: NullableString,
    avatar: NullableString,
    status: stringEnum(['online', 'offline'] as const),
    last_seen: nullable<string>(Timestamp()),
    created_at: Timestamp(),
    updated_at: Timestamp(),
    role: stringEnum(ROLES),
  },
  { $id: 'Participant', title: 'Participant' },
);
export type Participant = User & { role: Role };

export const GroupSettingsSchema = Type.Object(
  {
    only_admins_can_post: Type.Boolean({ description: 'Only the owner and admins may send messages.' }),
    only_admins_can_edit_info: Type.Boolean({ description: 'Only the owner and admins may change the name, description and avatar.' }),
    only_admins_can_add: Type.Boolean({ description: 'Only the owner and admins may add members.' }),
    history_visible_to_new_members: Type.Boolean({
      description: 'New members see the messages from before they joined (false: from their joining on).',
    }),
  },
  { $id: 'GroupSettings', title: 'GroupSettings', description: "A group's rules (a direct conversation shows the defaults)." },
);

export const ConversationSchema = Type.Object(
  {
    id: Type.Integer(),
    type: stringEnum(['direct', 'group'] as const),
    name: NullableString,
    description: NullableString,
    avatar: NullableString,
    settings: Type.Ref('GroupSettings'),
    created_by: nullable<number>(Type.Integer()),
    last_seq: Type.Integer({ description: 'seq of the latest message (0: none yet).' }),
    mod_seq: Type.Integer({ description: 'The latest change (new message, edit, delete, reaction): `changes_since` in `sync`.' }),
    unread_count: Type.Integer(),
    participants: Type.Array(Type.Ref('Participant')),
    messages: Type.Array(Type.Ref('Message'), { description: 'The latest message, as a list of at most one.' }),
    last_message_at: nullable<string>(Timestamp()),
    created_at: Timestamp(),
    updated_at: Timestamp(),
    /** The caller's own mute, archive and pin: shown only to them. */
    my_settings: Type.Ref('MemberSettings'),
  },
  { $id: 'Conversation', title: 'Conversation' },
);
/** Refs resolve to `unknown` in Static, so the nested lists are typed here. */
export type GroupSettings = Static<typeof GroupSettingsSchema>;
export type Conversation = Omit<Static<typeof ConversationSchema>, 'participants' | 'messages' | 'settings' | 'my_settings'> & {
  settings: GroupSettings;
  participants: Participant[];
  /** The latest message as a list of at most one (clients read messages[0] as the preview). */
  messages: Message[];
  my_settings: MemberSettings;
};

export const DirectBody = Type.Object(
  { type: Type.Literal('direct'), participant_id: Id({ description: 'The other user.' }) },
  { title: 'Direct conversation' },
);

export const GroupBody = Type.Object(
  {
    type: Type.Literal('group'),
    name: Type.String({ maxLength: 100 }),
    avatar: Type.Optional(OrNull(Url())),
    participant_ids: Type.Optional(Type.Array(Id(), { maxItems: 1000, description: 'Members besides the caller.' })),
  },
  { title: 'Group' },
);

/**
 * `POST /conversations`: a direct or a group body, told apart by `type`. A discriminator
 * (not a plain anyOf) so a bad body is reported against its own kind's fields, and
 * OpenAPI shows both shapes.
 */
export const CreateConversationBody = Type.Unsafe<Static<typeof DirectBody> | Static<typeof GroupBody>>({
  type: 'object',
  oneOf: [DirectBody, GroupBody],
  discriminator: { propertyName: 'type' },
});

export const ConversationReply = Type.Object({ conversation: Type.Ref('Conversation') });

export const ConversationListQuery = Type.Object({
  limit: PageLimit(),
  cursor: Type.Optional(Cursor()),
  archived: Type.Optional(
    stringEnum(['true', 'false'] as const, { description: 'Only the conversations you archived (true) or did not (false); absent: all.' }),
  ),
});
export const ConversationPageSchema = Type.Object({
  conversations: Type.Array(Type.Ref('Conversation')),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

export const MAX_GROUP_NAME = 100;
export const MAX_GROUP_DESCRIPTION = 1000;

export const EditGroupBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_GROUP_NAME })),
    description: Type.Optional(OrNull(Type.String({ maxLength: MAX_GROUP_DESCRIPTION }))),
    avatar: Type.Optional(OrNull(Url())),
    settings: Type.Optional(Type.Partial(GroupSettingsSchema, { additionalProperties: false, minProperties: 1 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const AddMembersBody = Type.Object(
  { user_ids: Type.Array(Id(), { minItems: 1, maxItems: 1000, description: 'Users to add (members already in are left as they are).' }) },
  { additionalProperties: false },
);

export const MemberParams = Type.Object({ id: Id(), userId: Id() });

export const SetRoleBody = Type.Object(
  { role: stringEnum(ROLES, { description: '`owner` hands ownership over; the old owner becomes an admin.' }) },
  { additionalProperties: false },
);

export const CreateInviteBody = Type.Object(
  {
    expires_in: Type.Optional(Type.Integer({ minimum: 60, maximum: 365 * 24 * 3600, description: 'Seconds until it expires (none: never).' })),
    max_uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Joins it allows (none: any number).' })),
  },
  { additionalProperties: false },
);

export const InviteSchema = Type.Object(
  {
    code: Type.String(),
    url: Type.String({ description: 'GET it for a preview; POST `<url>/join` to join.' }),
    conversation_id: Type.Integer(),
    created_by: nullable<number>(Type.Integer()),
    expires_at: nullable<string>(Timestamp()),
    max_uses: nullable<number>(Type.Integer()),
    uses: Type.Integer(),
    created_at: Timestamp(),
  },
  { $id: 'Invite', title: 'Invite' },
);
export type Invite = Static<typeof InviteSchema>;
export const InviteReply = Type.Object({ invite: Type.Ref('Invite') });
export const InviteListReply = Type.Object({ invites: Type.Array(Type.Ref('Invite')) });
export const InviteParams = Type.Object({ code: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) });
export const InvitePreviewReply = Type.Object({
  invite: Type.Ref('Invite'),
  conversation: Type.Object({
    id: Type.Integer(),
    name: NullableString,
    description: NullableString,
    avatar: NullableString,
    member_count: Type.Integer(),
  }),
});
