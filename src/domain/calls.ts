/**
 * Calls, as rules with no I/O: a call's states and how it ends, what its record in the
 * conversation (a message of type `call`) holds, and the record's outcome for each way a
 * call can end. docs/protocol.md "Calls" draws the state machine.
 */

/** Where a call is: ringing the callee's devices, connecting the answering one, connected, over. */
export const CALL_STATES = ['ringing', 'connecting', 'active', 'ended'] as const;
export type CallState = (typeof CALL_STATES)[number];

/** Why a call ended, as `call_ended` tells it. */
export const CALL_END_REASONS = [
  'answered_elsewhere',
  'declined',
  'missed',
  'cancelled',
  'busy',
  'hangup',
  'connect_timeout',
  'failed',
] as const;
export type CallEndReason = (typeof CALL_END_REASONS)[number];

/** What the record says of a call: its state while it lasts, then how it went. */
export const CALL_OUTCOMES = ['ringing', 'connecting', 'active', 'finished', 'missed', 'declined', 'cancelled', 'busy', 'failed'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

/** A call's record, as stored in messages.call and shown in the message's `call`. */
export interface CallInfo {
  call_id: string;
  video: boolean;
  caller_id: number;
  outcome: CallOutcome;
  /** Why it ended (null while it lasts). */
  reason: CallEndReason | null;
  started_at: string;
  answered_at: string | null;
  connected_at: string | null;
  ended_at: string | null;
  /** From connected to ended; null unless it connected. */
  duration_ms: number | null;
}

/** Longest a connected call is kept before natter ends it (a call whose both devices vanished). */
export const MAX_CALL_MS = 12 * 3600_000;

/**
 * A call's record outcome once it ended for `reason` from `state`. A caller who gives up
 * while it rings leaves a missed call, unless glare cancelled it (both called at once: the
 * losing call was never really placed, so nobody missed it).
 */
export function outcomeOf(reason: CallEndReason, state: CallState, glare = false): CallOutcome {
  switch (reason) {
    case 'cancelled':
      return glare ? 'cancelled' : 'missed';
    case 'missed':
      return 'missed';
    case 'declined':
      return 'declined';
    case 'busy':
      return 'busy';
    case 'hangup':
      return state === 'active' ? 'finished' : state === 'ringing' ? 'missed' : 'failed';
    case 'answered_elsewhere':
      return 'finished';
    case 'connect_timeout':
    case 'failed':
      return 'failed';
  }
}

/** A UUID as a call id (any version), lower-cased by the schema check. */
export const CALL_ID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** Longest SDP a call frame may carry (characters). */
export const MAX_SDP_CHARS = 32_768;
/** Most ICE candidates in one call_candidates frame. */
export const MAX_CANDIDATES = 64;
