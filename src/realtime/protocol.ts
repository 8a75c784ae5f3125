import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';

/**
 * The WebSocket protocol: client frame schemas and close codes. docs/protocol.md is the
 * full description; keep the two in step.
 */

export const CLOSE = {
  /** Server shutting down: reconnect (to another node) and sync. */
  GOING_AWAY: 1001,
  /** A binary frame: natter speaks JSON text frames only. */
  UNSUPPORTED_DATA: 1003,
  /** A frame larger than WS_MAX_PAYLOAD. */
  TOO_BIG: 1009,
  /** Setting the socket up failed on the server (database or bus away): reconnect. */
  TRY_AGAIN: 1013,
  /** The session ended (logout or revocation): log in again before reconnecting. */
  SESSION_ENDED: 4001,
  /** The client did not read fast enough; its send buffer overflowed. Reconnect and sync. */
  SLOW_CONSUMER: 4008,
  /** The client kept sending past the frame rate limit. */
  RATE_LIMITED: 4029,
} as const;

const Id = Type.Integer({ minimum: 1 });

export const MessageFrame = Type.Object({
  type: Type.Literal('message'),
  conversation_id: Id,
  content: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  message_type: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  client_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  reply_to_id: Type.Optional(Type.Union([Id, Type.Null()])),
  media_url: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
});

export const TypingFrame = Type.Object({
  type: Type.Literal('typing'),
  conversation_id: Id,
  is_typing: Type.Optional(Type.Boolean()),
});

export const PingFrame = Type.Object({ type: Type.Literal('ping') });

const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const DeliveredFrame = Type.Object({ type: Type.Literal('delivered'), conversation_id: Id, seq: Seq });
export const ReadFrame = Type.Object({ type: Type.Literal('read'), conversation_id: Id, seq: Seq });

/** `since`: conversation id (as a JSON key) → the last seq the client holds. */
export const SyncFrame = Type.Object({
  type: Type.Literal('sync'),
  since: Type.Optional(Type.Record(Type.String({ pattern: '^[1-9][0-9]{0,15}$' }), Seq)),
});

export const FRAME_VALIDATORS = {
  message: Compile(MessageFrame),
  typing: Compile(TypingFrame),
  ping: Compile(PingFrame),
  delivered: Compile(DeliveredFrame),
  read: Compile(ReadFrame),
  sync: Compile(SyncFrame),
};

export type ClientFrame =
  | Static<typeof MessageFrame>
  | Static<typeof TypingFrame>
  | Static<typeof PingFrame>
  | Static<typeof DeliveredFrame>
  | Static<typeof ReadFrame>
  | Static<typeof SyncFrame>;
export type ClientFrameType = keyof typeof FRAME_VALIDATORS;

export type ParsedFrame =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: 'invalid_frame' | 'unknown_type' | 'validation_failed'; error: string; clientId?: string };

/** Parses and validates one text frame; never throws. */
export function parseFrame(text: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'invalid_frame', error: 'Frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_frame', error: 'Frame must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const clientId = typeof record.client_id === 'string' ? record.client_id : undefined;
  const type = record.type;
  if (typeof type !== 'string') {
    return { ok: false, code: 'invalid_frame', error: 'Frame needs a string "type"', clientId };
  }
  if (!Object.hasOwn(FRAME_VALIDATORS, type)) {
    return { ok: false, code: 'unknown_type', error: `Unknown frame type "${type}"`, clientId };
  }
  const validator = FRAME_VALIDATORS[type as ClientFrameType];
  if (!validator.Check(value)) {
    const [first] = validator.Errors(value);
    const field = first?.instancePath?.replace(/^\//, '').replace(/\//g, '.') || (first?.params as { requiredProperties?: string[] })?.requiredProperties?.[0];
    const message = first?.keyword === 'required' ? 'is required' : (first?.message ?? 'is not valid');
    return {
      ok: false,
      code: 'validation_failed',
      error: `${field ? `${field} ` : ''}${message}`,
      clientId,
    };
  }
  return { ok: true, frame: value as ClientFrame };
}
