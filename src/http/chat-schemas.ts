import { Type, type Static } from 'typebox';
import { UserSchema, userProperties } from './schemas.js';
import { MESSAGE_TYPES } from '../domain/conversations.js';
import { nullable, stringEnum } from './wire-types.js';

/** Wire schemas for conversations and messages (registered by id, used via Type.Ref). */

const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = nullable<string>(Type.String({ format: 'date-time' }));
const NullableString = nullable<string>(Type.String());
const NullableInt = nullable<number>(Type.Integer());

export const MessageSchema = Type.Object(
  {
    id: Type.Integer(),
    conversation_id: Type.Integer(),
    seq: Type.Integer({ description: 'Position in the conversation: 1, 2, 3 … without gaps.' }),
    sender_id: NullableInt,
    // The user object inline with type [object, null] rather than anyOf [User, null]:
    // see wire-types.ts for why replies avoid anyOf.
    sender: Type.Unsafe<Static<typeof UserSchema> | null>({
      type: ['object', 'null'],
      properties: userProperties,
      required: Object.keys(userProperties),
      description: 'The sender (null if their account was deleted).',
    }),
    content: Type.String(),
    type: stringEnum(MESSAGE_TYPES),
    status: stringEnum(['sent', 'delivered', 'read'] as const, { description: 'As seen by the requester.' }),
    media_url: NullableString,
    reply_to_id: NullableInt,
    client_id: NullableString,
    edited_at: NullableDateTime,
    deleted_at: NullableDateTime,
    created_at: DateTime,
    updated_at: DateTime,
  },
  { $id: 'Message', title: 'Message' },
);

const ParticipantSchema = Type.Object(
  {
    id: Type.Integer(),
    username: Type.String(),
    email: Type.String(),
    phone: NullableString,
    avatar: NullableString,
    status: stringEnum(['online', 'offline'] as const),
    last_seen: NullableDateTime,
    created_at: DateTime,
    updated_at: DateTime,
    role: stringEnum(['owner', 'admin', 'member'] as const),
  },
  { $id: 'Participant', title: 'Participant' },
);

export const ConversationSchema = Type.Object(
  {
    id: Type.Integer(),
    type: stringEnum(['direct', 'group'] as const),
    name: NullableString,
    avatar: NullableString,
    created_by: NullableInt,
    last_seq: Type.Integer({ description: 'seq of the latest message (0: none yet).' }),
    unread_count: Type.Integer(),
    participants: Type.Array(Type.Ref('Participant')),
    messages: Type.Array(Type.Ref('Message'), { description: 'The latest message, as a list of at most one.' }),
    last_message_at: NullableDateTime,
    created_at: DateTime,
    updated_at: DateTime,
  },
  { $id: 'Conversation', title: 'Conversation' },
);

export const CHAT_SCHEMAS = [MessageSchema, ParticipantSchema, ConversationSchema];
