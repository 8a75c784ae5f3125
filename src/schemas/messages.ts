import { Type, type Static } from 'typebox';
import { CALL_END_REASONS, CALL_OUTCOMES, type CallEndReason } from '../domain/calls.js';
import { STORED_MESSAGE_TYPES } from '../domain/messages.js';
import { ROLES, SYSTEM_EVENTS } from '../domain/system-messages.js';
import { type UserSchema, userProperties } from './users.js';
import { AttachmentIds, AttachmentSchema } from './attachments.js';
import { ClientId, Cursor, Id, nullable, OrNull, PageLimit, Seq, stringEnum, Timestamp, Url } from './common.js';

/** Messages on the wire: the object REST returns and `new_message` frames carry. */

const NullableString = nullable<string>(Type.String());
const NullableInt = nullable<number>(Type.Integer());
const NullableTimestamp = nullable<string>(Timestamp());

/** One emoji's reactions on a message, as one viewer sees them. */
export const ReactionSummarySchema = Type.Object({
  emoji: Type.String(),
  count: Type.Integer({ minimum: 1 }),
  me: Type.Boolean({ description: 'Whether the requester is among them.' }),
});
export type ReactionSummary = Static<typeof ReactionSummarySchema>;

/** What a system message tells: the event, who made it, whom it was about. */
export const SystemEventSchema = Type.Object(
  {
    event: stringEnum(SYSTEM_EVENTS),
    actor_id: nullable<number>(Type.Integer({ description: 'Who made the change (null: their account is gone).' })),
    user_ids: Type.Optional(Type.Array(Type.Integer(), { description: 'Whom it was about: added, removed, the new owner.' })),
    name: Type.Optional(Type.String({ description: 'renamed: the new name.' })),
    role: Type.Optional(stringEnum(ROLES, { description: 'role_changed: the new role.' })),
  },
  { additionalProperties: false },
);

/** A call's record: how it went and when (see docs/protocol.md "Calls"). */
export const CallInfoSchema = Type.Object(
  {
    call_id: Type.String({ description: 'The caller\'s id of the call (a UUID).' }),
    video: Type.Boolean(),
    caller_id: Type.Integer(),
    outcome: stringEnum(CALL_OUTCOMES, {
      description: 'ringing, connecting, active while it lasts; then finished, missed, declined, cancelled, busy or failed.',
    }),
    reason: Type.Unsafe<CallEndReason | null>({
      type: ['string', 'null'],
      enum: [...CALL_END_REASONS, null],
      description: 'Why it ended, as `call_ended` said (null while it lasts).',
    }),
    started_at: Timestamp(),
    answered_at: NullableTimestamp,
    connected_at: NullableTimestamp,
    ended_at: NullableTimestamp,
    duration_ms: nullable<number>(Type.Integer({ minimum: 0, description: 'From connected to ended; null unless it connected.' })),
  },
  { additionalProperties: false },
);

export const MessageSchema = Type.Object(
  {
    id: Type.Integer(),
    conversation_id: Type.Integer(),
    seq: Type.Integer({ description: 'Position in the conversation: 1, 2, 3 … without gaps.' }),
    mod_seq: Type.Integer({
      description:
        'The conversation\'s change counter at this message\'s latest change (sent, edited, deleted, reacted to). ' +
        'Of two copies of a message, keep the one with the higher mod_seq.',
    }),
    sender_id: NullableInt,
    // The user object inline with type [object, null] rather than anyOf [User, null]:
    // see `nullable` in common.ts for why replies avoid anyOf.
    sender: Type.Unsafe<Static<typeof UserSchema> | null>({
      type: ['object', 'null'],
      properties: userProperties,
      required: Object.keys(userProperties),
      description: 'The sender (null if their account was deleted).',
    }),
    content: Type.String(),
    type: stringEnum(STORED_MESSAGE_TYPES, { description: '`system`: a change to the group, told by natter (see `system`); `call`: a call\'s record (see `call`).' }),
    status: stringEnum(['sent', 'delivered', 'read'] as const, { description: 'As seen by the requester.' }),
    media_url: nullable<string>(
      Type.String({ description: 'The media\'s URL: the first attachment\'s `url`, or a URL the client hosts elsewhere.' }),
    ),
    attachments: Type.Array(AttachmentSchema, { description: 'Files sent with the message, in order (may be empty).' }),
    reply_to_id: NullableInt,
    client_id: NullableString,
    reactions: Type.Array(ReactionSummarySchema, { description: 'Reactions by emoji, in the order they first appeared.' }),
    system: Type.Unsafe<Static<typeof SystemEventSchema> | null>({
      ...SystemEventSchema,
      type: ['object', 'null'],
      description: 'For a `system` message, what happened (its `content` says it in words); null for every other.',
    }),
    call: Type.Unsafe<Static<typeof CallInfoSchema> | null>({
      ...CallInfoSchema,
      type: ['object', 'null'],
      description: 'For a `call` message, the call\'s record (updated by `message_updated` as the call goes on); null for every other.',
    }),
    edited_at: NullableTimestamp,
    deleted_at: NullableTimestamp,
    deleted_for: Type.Unsafe<'everyone' | 'me' | null>({
      type: ['string', 'null'],
      enum: ['everyone', 'me', null],
      description:
        '`everyone`: the sender deleted it (a tombstone: empty content, no attachments or reactions, same seq). ' +
        '`me`: the requester deleted it for their own devices (shown to them the same way). null: not deleted.',
    }),
    created_at: Timestamp(),
    updated_at: Timestamp(),
  },
  { $id: 'Message', title: 'Message' },
);
/** A message as every client sees it (REST and WebSocket alike). */
export type Message = Static<typeof MessageSchema>;

/**
 * What a send carries, over REST (`POST /conversations/:id/messages`) and in the WebSocket
 * `message` frame alike. `type` is checked by the service, which names the allowed values.
 */
export const sendFields = {
  content: Type.Optional(OrNull(Type.String())),
  client_id: Type.Optional(OrNull(ClientId())),
  reply_to_id: Type.Optional(OrNull(Id({ description: 'A message of the same conversation.' }))),
  media_url: Type.Optional(OrNull(Url())),
  attachment_ids: Type.Optional(OrNull(AttachmentIds())),
};

export const SendMessageBody = Type.Object({
  ...sendFields,
  type: Type.Optional(Type.String({ maxLength: 16, description: 'text (default), image, video, audio or file' })),
  message_type: Type.Optional(Type.String({ maxLength: 16, description: 'Alias of `type`, as in the WebSocket frame.' })),
});

export const HistoryQuery = Type.Object({
  limit: PageLimit(),
  before_seq: Type.Optional(Id({ description: 'The page just before this seq (older).' })),
  after_seq: Type.Optional(Seq({ description: 'The page just after this seq (newer).' })),
});

export const MessageReply = Type.Object({ message: Type.Ref('Message') });
export const HistoryPageSchema = Type.Object({ messages: Type.Array(Type.Ref('Message')), has_more: Type.Boolean() });

/** `PATCH /conversations/:id/messages/:messageId` and the WebSocket `edit` frame. */
export const editFields = { content: Type.String({ description: 'The new text (or caption).' }) };
export const EditMessageBody = Type.Object(editFields);

export const DELETE_SCOPES = ['everyone', 'me'] as const;
export type DeleteScope = (typeof DELETE_SCOPES)[number];
export const DeleteMessageQuery = Type.Object({
  for: Type.Optional(
    stringEnum(DELETE_SCOPES, { description: '`everyone` (default; the sender only) or `me` (hide it on your own devices).' }),
  ),
});

/** One emoji, as a path parameter (URL-encoded) or a frame field; domain/reactions.ts checks it is one emoji. */
export const Emoji = () => Type.String({ minLength: 1, maxLength: 64, description: 'One emoji (a skin tone or ZWJ sequence is one).' });
export const ReactionParams = Type.Object({ id: Id(), messageId: Id(), emoji: Emoji() });
export const ReactorsQuery = Type.Object({ limit: PageLimit(), cursor: Type.Optional(Cursor()) });
export const ReactorsPageSchema = Type.Object({
  users: Type.Array(Type.Ref('User')),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

export const EditsReply = Type.Object({
  edits: Type.Array(
    Type.Object({
      content: Type.String({ description: 'An earlier version of the content.' }),
      edited_at: Timestamp({ description: 'When an edit replaced it.' }),
    }),
    { description: 'Earlier versions, oldest first.' },
  ),
});
