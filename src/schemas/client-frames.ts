import { Type, type Static } from 'typebox';
import { CALL_CLIENT_FRAME_SCHEMAS } from './calls.js';
import { Id, Seq, stringEnum } from './common.js';
import { DELETE_SCOPES, editFields, Emoji, sendFields } from './messages.js';

/**
 * Every frame a client may send over the WebSocket, by `type`. The same primitives as the
 * REST routes, so an id or seq is bounded the same way on both. docs/protocol.md §2
 * describes each one (a test checks that it lists exactly these).
 */
export const CLIENT_FRAME_SCHEMAS = {
  message: Type.Object({
    type: Type.Literal('message'),
    conversation_id: Id(),
    ...sendFields,
    message_type: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()])),
  }),
  typing: Type.Object({ type: Type.Literal('typing'), conversation_id: Id(), is_typing: Type.Optional(Type.Boolean()) }),
  ping: Type.Object({ type: Type.Literal('ping') }),
  delivered: Type.Object({ type: Type.Literal('delivered'), conversation_id: Id(), seq: Seq() }),
  read: Type.Object({ type: Type.Literal('read'), conversation_id: Id(), seq: Seq() }),
  edit: Type.Object({ type: Type.Literal('edit'), conversation_id: Id(), message_id: Id(), ...editFields }),
  delete: Type.Object({
    type: Type.Literal('delete'),
    conversation_id: Id(),
    message_id: Id(),
    for: Type.Optional(stringEnum(DELETE_SCOPES)),
  }),
  react: Type.Object({
    type: Type.Literal('react'),
    conversation_id: Id(),
    message_id: Id(),
    emoji: Emoji(),
    on: Type.Boolean(),
  }),
  /**
   * `since`: conversation id (as a JSON key, written as JSON writes numbers) → the last seq
   * held; `changes_since`: conversation id → the last mod_seq held.
   */
  sync: Type.Object({
    type: Type.Literal('sync'),
    since: Type.Optional(Type.Record(Type.String({ pattern: '^[1-9][0-9]{0,15}$' }), Seq())),
    changes_since: Type.Optional(Type.Record(Type.String({ pattern: '^[1-9][0-9]{0,15}$' }), Seq())),
  }),
  ...CALL_CLIENT_FRAME_SCHEMAS,
};

export type ClientFrameType = keyof typeof CLIENT_FRAME_SCHEMAS;
export type ClientFrameOf<T extends ClientFrameType> = Static<(typeof CLIENT_FRAME_SCHEMAS)[T]>;
export type ClientFrame = { [T in ClientFrameType]: ClientFrameOf<T> }[ClientFrameType];
