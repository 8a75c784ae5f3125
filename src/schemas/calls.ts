import { Type, type Static } from 'typebox';
import { CALL_END_REASONS, CALL_ID_PATTERN, MAX_CANDIDATES, MAX_SDP_CHARS } from '../domain/calls.js';
import { Id, stringEnum, Timestamp } from './common.js';

/**
 * Call signalling frames, both ways (docs/protocol.md "Calls"). natter carries the
 * session descriptions and ICE candidates between two devices and never reads them
 * beyond their size.
 */

const CallId = () => Type.String({ pattern: CALL_ID_PATTERN, description: 'The call, as its caller named it (a UUID).' });
const Sdp = () => Type.String({ minLength: 1, maxLength: MAX_SDP_CHARS, description: 'A session description (SDP), passed on as it is.' });
/** A device's public id, as auth replies and `connected` give it. */
const DeviceId = () => Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-zA-Z_-]+$' });

/** One ICE candidate as RTCIceCandidateInit has it; `candidate: ""` marks the end of candidates. */
export const IceCandidate = Type.Object(
  {
    candidate: Type.String({ maxLength: 1024 }),
    sdpMid: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    sdpMLineIndex: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 1023 }), Type.Null()])),
    usernameFragment: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type IceCandidate = Static<typeof IceCandidate>;

const Candidates = () => Type.Array(IceCandidate, { minItems: 1, maxItems: MAX_CANDIDATES });
const SdpType = () => stringEnum(['offer', 'answer'] as const);

export const CALL_CLIENT_FRAME_SCHEMAS = {
  call_invite: Type.Object({
    type: Type.Literal('call_invite'),
    conversation_id: Id(),
    call_id: CallId(),
    sdp: Sdp(),
    video: Type.Boolean(),
  }),
  call_ringing: Type.Object({ type: Type.Literal('call_ringing'), call_id: CallId() }),
  call_answer: Type.Object({ type: Type.Literal('call_answer'), call_id: CallId(), sdp: Sdp() }),
  call_candidates: Type.Object({
    type: Type.Literal('call_candidates'),
    call_id: CallId(),
    to_device: Type.Optional(DeviceId()),
    candidates: Candidates(),
  }),
  call_negotiate: Type.Object({ type: Type.Literal('call_negotiate'), call_id: CallId(), sdp: Sdp(), sdp_type: Type.Optional(SdpType()) }),
  call_reject: Type.Object({ type: Type.Literal('call_reject'), call_id: CallId(), reason: Type.Optional(stringEnum(['declined', 'busy'] as const)) }),
  call_hangup: Type.Object({ type: Type.Literal('call_hangup'), call_id: CallId(), reason: Type.Optional(stringEnum(['hangup', 'failed'] as const)) }),
  call_connected: Type.Object({ type: Type.Literal('call_connected'), call_id: CallId() }),
};

/** Who a relayed frame is from: the user and their device. */
const from = { from_user_id: Type.Integer(), from_device: Type.String() };

export const CALL_SERVER_FRAME_SCHEMAS = {
  call_invite: Type.Object({
    type: Type.Literal('call_invite'),
    call_id: Type.String(),
    conversation_id: Type.Integer(),
    sdp: Type.String(),
    video: Type.Boolean(),
    ...from,
    started_at: Timestamp(),
    ring_timeout_ms: Type.Integer({ description: 'How long it rings from started_at before natter ends it as missed.' }),
    message_id: Type.Integer({ description: 'The call\'s record in the conversation (a message of type call).' }),
    seq: Type.Integer(),
  }),
  call_ringing: Type.Object({ type: Type.Literal('call_ringing'), call_id: Type.String(), ...from }),
  call_answer: Type.Object({ type: Type.Literal('call_answer'), call_id: Type.String(), sdp: Type.String(), ...from }),
  call_selected: Type.Object({ type: Type.Literal('call_selected'), call_id: Type.String(), device_id: Type.String() }),
  call_candidates: Type.Object({ type: Type.Literal('call_candidates'), call_id: Type.String(), candidates: Type.Array(IceCandidate), ...from }),
  call_negotiate: Type.Object({ type: Type.Literal('call_negotiate'), call_id: Type.String(), sdp: Type.String(), sdp_type: SdpType(), ...from }),
  call_ended: Type.Object({
    type: Type.Literal('call_ended'),
    call_id: Type.String(),
    reason: stringEnum(CALL_END_REASONS),
    glare: Type.Optional(Type.Boolean({ description: 'Both called each other at once; this call lost to the other.' })),
  }),
};
