import { Compile } from 'typebox/compile';
import { CALL_ID_PATTERN } from '../domain/calls.js';
import type { ErrorCode } from '../domain/errors.js';
import { CLIENT_FRAME_SCHEMAS, type ClientFrame, type ClientFrameType } from '../schemas/client-frames.js';
import { ClientId } from '../schemas/common.js';
import { inputProblem, InputProblem, parseCheckedJson } from '../schemas/text-guards.js';

/**
 * The WebSocket protocol's edge: close codes and the parser every client frame goes
 * through. The frame schemas are in src/schemas/client-frames.ts (server frames beside
 * them); docs/protocol.md is the full description, and a test keeps the two in step.
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
  /** Abuse bound: far more frames waiting than a client that honours TCP can send (docs/protocol.md §5a). */
  RATE_LIMITED: 4029,
} as const;

const VALIDATORS = Object.fromEntries(
  Object.entries(CLIENT_FRAME_SCHEMAS).map(([type, schema]) => [type, Compile(schema)]),
) as { [T in ClientFrameType]: ReturnType<typeof Compile<(typeof CLIENT_FRAME_SCHEMAS)[T]>> };

const CALL_ID = new RegExp(CALL_ID_PATTERN);

/** A client_id fit to be echoed in an error: one the message schema would take. */
const CLIENT_ID = Compile(ClientId());
const echoable = (raw: unknown): string | undefined =>
  typeof raw === 'string' && CLIENT_ID.Check(raw) && inputProblem(raw) === null ? raw : undefined;

export type ParsedFrame =
  | { ok: true; frame: ClientFrame }
  | {
      ok: false;
      code: Extract<ErrorCode, 'invalid_frame' | 'unknown_type' | 'validation_failed'>;
      error: string;
      clientId?: string;
      /** The refused frame's `call_id`, when it is a well-formed one (a call frame at fault elsewhere). */
      callId?: string;
      field?: string;
    };

/**
 * A frame holding a value no store can take (NUL, a lone surrogate, a non-finite number):
 * refused naming the field, with the frame's client_id when that one is clean, so the
 * client knows which message to fix.
 */
function refusedText(text: string, problem: InputProblem): ParsedFrame {
  const loose = JSON.parse(text) as unknown;
  const raw = loose && typeof loose === 'object' ? (loose as Record<string, unknown>).client_id : undefined;
  return { ok: false, code: 'validation_failed', error: problem.message, clientId: echoable(raw), field: problem.field };
}

/** Parses and validates one text frame; never throws. */
export function parseFrame(text: string): ParsedFrame {
  let value: unknown;
  try {
    value = parseCheckedJson(text);
  } catch (err) {
    if (err instanceof InputProblem) return refusedText(text, err);
    return { ok: false, code: 'invalid_frame', error: 'Frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_frame', error: 'Frame must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const clientId = echoable(record.client_id);
  const type = record.type;
  if (typeof type !== 'string') {
    return { ok: false, code: 'invalid_frame', error: 'Frame needs a string "type"', clientId };
  }
  if (!Object.hasOwn(VALIDATORS, type)) {
    return { ok: false, code: 'unknown_type', error: `Unknown frame type "${type}"`, clientId };
  }
  const validator = VALIDATORS[type as ClientFrameType];
  if (!validator.Check(value)) {
    const [first] = validator.Errors(value);
    const path = first?.instancePath?.replace(/^\//, '').replace(/\//g, '.');
    const missing = (first?.params as { requiredProperties?: string[] } | undefined)?.requiredProperties?.[0];
    const field = path || missing || undefined;
    const message = first?.keyword === 'required' ? 'is required' : (first?.message ?? 'is not valid');
    return {
      ok: false,
      code: 'validation_failed',
      error: `${field ? `${field} ` : ''}${message}`,
      // A client_id that is itself at fault ("" or 200 characters) names no message.
      clientId,
      ...(typeof record.call_id === 'string' && CALL_ID.test(record.call_id) ? { callId: record.call_id } : {}),
      ...(field ? { field } : {}),
    };
  }
  return { ok: true, frame: value };
}
