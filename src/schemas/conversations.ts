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

export const ConversationSchema = Type.Object(
  {
    id: Type.Integer(),
    type: stringEnum(['direct', 'group'] as const),
    name: NullableString,
    avatar: NullableString,
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
export type Conversation = Omit<Static<typeof ConversationSchema>, 'participants' | 'messages' | 'my_settings'> & {
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
