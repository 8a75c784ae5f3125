import { Type, type Static } from 'typebox';
import { ERROR_CODES, type ErrorCode } from '../domain/errors.js';
import { stringEnum, Timestamp } from './common.js';
import { CALL_SERVER_FRAME_SCHEMAS } from './calls.js';
import { MemberSettingsSchema, type MemberSettings } from './member-settings.js';
import { MessageSchema, type Message } from './messages.js';

/**
 * Every frame the server sends over the WebSocket, by `type`, and one constructor per
 * frame: services and the gateway build frames only through `frames.*`, so a frame with a
 * wrong or missing field does not compile. docs/protocol.md §3 describes each one (a test
 * checks that it lists exactly these). Clients ignore types and fields they do not know.
 */
export const SERVER_FRAME_SCHEMAS = {
  connected: Type.Object({
    type: Type.Literal('connected'),
    user_id: Type.Integer(),
    device_id: Type.String(),
    // Optional in the contract because servers before calls send none; natter always does.
    calls: Type.Optional(
      Type.Object(
        {
          ring_timeout_ms: Type.Integer({ description: 'How long a call rings (CALL_RING_TIMEOUT) before natter ends it as missed.' }),
          connect_timeout_ms: Type.Integer({ description: 'How long an answered call may take to connect (CALL_CONNECT_TIMEOUT) before natter ends it.' }),
        },
        { description: "This server's call timeouts, so a client that lost natter's call_ended gives up no sooner than natter. Servers before calls send none." },
      ),
    ),
  }),
  new_message: Type.Object({ type: Type.Literal('new_message'), message: MessageSchema }),
  message_updated: Type.Object({ type: Type.Literal('message_updated'), message: MessageSchema }),
  reaction: Type.Object({
    type: Type.Literal('reaction'),
    conversation_id: Type.Integer(),
    message_id: Type.Integer(),
    user_id: Type.Integer(),
    emoji: Type.String(),
    on: Type.Boolean(),
    count: Type.Integer({ minimum: 0 }),
    mod_seq: Type.Integer(),
  }),
  typing: Type.Object({
    type: Type.Literal('typing'),
    conversation_id: Type.Integer(),
    user_id: Type.Integer(),
    is_typing: Type.Boolean(),
  }),
  receipt: Type.Object({
    type: Type.Literal('receipt'),
    conversation_id: Type.Integer(),
    user_id: Type.Integer(),
    status: Type.Union([Type.Literal('delivered'), Type.Literal('read')]),
    seq: Type.Integer(),
  }),
  status_change: Type.Object({
    type: Type.Literal('status_change'),
    user_id: Type.Integer(),
    status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    last_seen: Timestamp(),
  }),
  synced: Type.Object({
    type: Type.Literal('synced'),
    conversations: Type.Record(Type.String(), Type.Integer()),
    mod_seqs: Type.Record(Type.String(), Type.Integer()),
  }),
  pong: Type.Object({ type: Type.Literal('pong') }),
  conversation_settings: Type.Object({
    type: Type.Literal('conversation_settings'),
    conversation_id: Type.Integer(),
    settings: MemberSettingsSchema,
  }),
  error: Type.Object({
    type: Type.Literal('error'),
    error: Type.String(),
    code: stringEnum(ERROR_CODES),
    client_id: Type.Optional(Type.String()),
    field: Type.Optional(Type.String()),
    call_id: Type.Optional(Type.String({ description: 'The call a refused call frame was about.' })),
  }),
  ...CALL_SERVER_FRAME_SCHEMAS,
};

export type ServerFrameType = keyof typeof SERVER_FRAME_SCHEMAS;
export type ServerFrameOf<T extends ServerFrameType> = Static<(typeof SERVER_FRAME_SCHEMAS)[T]>;
export type ServerFrame = { [T in ServerFrameType]: ServerFrameOf<T> }[ServerFrameType];
type CallRelayType = keyof typeof CALL_SERVER_FRAME_SCHEMAS;

/** The one way to build a server frame. */
export const frames = {
  connected: (userId: number, deviceId: string, calls: NonNullable<ServerFrameOf<'connected'>['calls']>): ServerFrameOf<'connected'> => ({
    type: 'connected',
    user_id: userId,
    device_id: deviceId,
    calls,
  }),
  newMessage: (message: Message): ServerFrameOf<'new_message'> => ({ type: 'new_message', message }),
  messageUpdated: (message: Message): ServerFrameOf<'message_updated'> => ({ type: 'message_updated', message }),
  reaction: (r: Omit<ServerFrameOf<'reaction'>, 'type'>): ServerFrameOf<'reaction'> => ({ type: 'reaction', ...r }),
  typing: (conversationId: number, userId: number, isTyping: boolean): ServerFrameOf<'typing'> => ({
    type: 'typing',
    conversation_id: conversationId,
    user_id: userId,
    is_typing: isTyping,
  }),
  receipt: (conversationId: number, userId: number, status: 'delivered' | 'read', seq: number): ServerFrameOf<'receipt'> => ({
    type: 'receipt',
    conversation_id: conversationId,
    user_id: userId,
    status,
    seq,
  }),
  statusChange: (userId: number, status: 'online' | 'offline', lastSeen: string): ServerFrameOf<'status_change'> => ({
    type: 'status_change',
    user_id: userId,
    status,
    last_seen: lastSeen,
  }),
  synced: (conversations: Record<string, number>, modSeqs: Record<string, number>): ServerFrameOf<'synced'> => ({
    type: 'synced',
    conversations,
    mod_seqs: modSeqs,
  }),
  pong: (): ServerFrameOf<'pong'> => ({ type: 'pong' }),
  /** To the member's own sockets only: their settings of the conversation changed. */
  conversationSettings: (conversationId: number, settings: MemberSettings): ServerFrameOf<'conversation_settings'> => ({
    type: 'conversation_settings',
    conversation_id: conversationId,
    settings,
  }),
  /** `client_id` of the refused frame, and `field` for validation errors, when known. */
  error: (code: ErrorCode, error: string, extra: { clientId?: string; field?: string; callId?: string } = {}): ServerFrameOf<'error'> => ({
    type: 'error',
    error,
    code,
    ...(extra.clientId === undefined ? {} : { client_id: extra.clientId }),
    ...(extra.field === undefined ? {} : { field: extra.field }),
    ...(extra.callId === undefined ? {} : { call_id: extra.callId }),
  }),
  /** A call frame as relayed: its fields (without `type`) and who it is from. */
  call: <T extends CallRelayType>(type: T, fields: Omit<ServerFrameOf<T>, 'type'>): ServerFrameOf<T> =>
    ({ type, ...fields }) as ServerFrameOf<T>,
};

/** A frame as the JSON text that travels on the bus and the socket (serialised once per fanout). */
export const serializeFrame = (frame: ServerFrame): string => JSON.stringify(frame);
