import type { CallEndReason, CallState } from '../domain/calls.js';

/**
 * A call while it lasts (and briefly after it ended, so late frames find it ended): what
 * every node needs to route its signalling and to end it. Times are ms since the epoch.
 */
export interface LiveCall {
  id: string;
  conversationId: number;
  /** The call's record in the conversation (set once the record is written). */
  messageId: number | null;
  seq: number | null;
  callerId: number;
  callerDevice: string;
  calleeId: number;
  video: boolean;
  /** The caller's offer, for callee devices that connect while it rings. */
  sdp: string;
  state: CallState;
  startedAt: number;
  answeredAt: number | null;
  connectedAt: number | null;
  endedAt: number | null;
  /** The callee device whose answer won. */
  selectedDevice: string | null;
  /** Its answer, for a caller device that was offline when it came (null before; absent in calls of older nodes). */
  answerSdp: string | null;
  reason: CallEndReason | null;
  /** Ended by glare: the other call of the two won. */
  glare: boolean;
  /** Callee devices that said they ring, and those that said they are busy. */
  ringingDevices: string[];
  busyDevices: string[];
  /** When each end last said it is connected (`call_connected`, a keepalive while active). */
  callerSeenAt: number | null;
  calleeSeenAt: number | null;
  /** Devices the ring push went to, once it was sent (null before: devices may yet be pushed). */
  pushedDevices: number | null;
  /** When a node last claimed the ring push (`claimPush`); null before the invite went out. */
  pushClaimedAt: number | null;
  /** When natter ends the call unless it moved on (ring, connect or longest-call timeout); null once ended. */
  deadline: number | null;
}

/** What a transition may change besides the state. */
export type CallPatch = Partial<Omit<LiveCall, 'id' | 'conversationId' | 'callerId' | 'calleeId' | 'callerDevice'>>;

export type TransitionResult =
  | { ok: true; call: LiveCall }
  /** The call is not in one of the expected states (`call` as it is), or is gone (`call` undefined). */
  | { ok: false; call: LiveCall | undefined };

/**
 * Calls' state where every node sees it: memory.ts for one node, redis.ts for a cluster
 * (a Redis bus), held to one contract suite (test/calls/call-store.test.ts). Every change
 * is a compare-and-set on the call's state, so of two nodes handling two answers, two
 * hangups or a hangup and a timeout at once, exactly one wins and does the side effects.
 *
 * Liveness: a live call is one whose state is not `ended`. A conversation has at most
 * one live call; each device is in at most one live call as a party (the caller's
 * device, the selected callee device). An ended call is kept `endedRetentionMs` (late
 * frames get not_found the same, but a racing node sees it ended); every key of a call
 * also expires on its own a while after its deadline, so a cluster whose every node died
 * leaves nothing behind for ever.
 */
export interface CallStore {
  /**
   * Stores a new call (state ringing) and makes it its conversation's live call and its
   * caller device's call. Refused — nothing stored — when the id is taken (`taken`), or
   * the conversation already has a live call (`live`: that call), or the caller's device
   * is a party of another live call (`busy`: that call), checked in that order. An ended
   * call's id stays taken while the call is kept (`ENDED_RETENTION_MS`).
   */
  create(call: LiveCall): Promise<{ created: true } | { created: false; why: 'taken' } | { created: false; why: 'live' | 'busy'; live: LiveCall }>;
  get(id: string): Promise<LiveCall | undefined>;
  /**
   * Applies `patch` if the call's state is one of `from`. Moving to `ended` releases the
   * conversation and the devices; `selectedDevice` set by the patch becomes that device's
   * call (for `busyDevicesOf`; a device selected before is released). `deadline` in the
   * patch replaces the call's deadline; moving to `ended` sets it to null. The fields fixed
   * at creation (id, conversationId, callerId, calleeId, callerDevice) are ignored in a
   * patch. An ended call stays ended: a patch moving it to another state throws.
   */
  transition(id: string, from: readonly CallState[], patch: CallPatch): Promise<TransitionResult>;
  /**
   * Adds a device to the call's ringingDevices or busyDevices (once) while its state is
   * `ringing`; the call after, or undefined when the call is gone or no longer rings
   * (nothing added).
   */
  addDevice(id: string, list: 'ringingDevices' | 'busyDevices', device: string): Promise<LiveCall | undefined>;
  /** The user's live calls (as caller or callee), any order. */
  liveFor(userId: number): Promise<LiveCall[]>;
  /** The user's devices that are a party of a live call (they do not ring for another). */
  busyDevicesOf(userId: number): Promise<string[]>;
  /** Ids of live calls whose deadline is at or before `now`. */
  due(now: number): Promise<string[]>;
  /**
   * Claims the ring push of a ringing call not pushed yet (`pushedDevices` null), setting
   * `pushClaimedAt` to `now`: with `held`, only if the claim is still the one made at
   * `held` (the holder renews it); without, only if nobody claimed it or the last claim
   * is `leaseMs` old (its node stopped, or its push failed before it was sent). The call
   * after, or undefined when it is not to be claimed: one node at a time sends the push.
   */
  claimPush(id: string, now: number, leaseMs: number, held?: number): Promise<LiveCall | undefined>;
  /** Ids of ringing calls not pushed yet whose last claim was made at or before `claimedBy`. */
  unpushed(claimedBy: number): Promise<string[]>;
  /** False while a shared store is unreachable. */
  isReady(): boolean;
  close(): Promise<void>;
}

/**
 * How long an ended call is kept for racing nodes and late frames (ms); more than twice
 * the settling of lost calls' records (CallsService.settleLost, once a minute, records a
 * minute old), so a record whose update failed is seen with its ended call.
 */
export const ENDED_RETENTION_MS = 180_000;
