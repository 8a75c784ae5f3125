import { NatterError } from './errors.js';
import type { paths } from './generated/openapi.js';
import { unref } from './session.js';
import type { ClientFrame, ClientFrameOf, ServerFrameOf, ServerFrameType } from './types.js';

/** One ICE candidate as a call frame carries it (an `RTCIceCandidateInit`); `candidate: ""` marks the end of candidates. */
export type CallCandidate = ClientFrameOf<'call_candidates'>['candidates'][number];
/** A candidate as `sendCandidates` takes it (an `RTCIceCandidateInit`: `candidate` optional; one without it is skipped). */
export type CallCandidateInit = Omit<CallCandidate, 'candidate'> & { candidate?: string };
export type CallRejectReason = NonNullable<ClientFrameOf<'call_reject'>['reason']>;
export type CallHangupReason = NonNullable<ClientFrameOf<'call_hangup'>['reason']>;
export type CallEndReason = ServerFrameOf<'call_ended'>['reason'];
export type SdpType = NonNullable<ClientFrameOf<'call_negotiate'>['sdp_type']>;

/** The call frames natter sends, by type. */
export type CallFrameType = Extract<ServerFrameType, `call_${string}`>;

/** What `GET /api/v1/calls/turn` answers (generated): TURN credentials (null without TURN), their `ttl` in seconds, the STUN/TURN `uris`, a `note` without TURN. */
export type TurnCredentials = paths['/api/v1/calls/turn']['get']['responses'][200]['content']['application/json'];

/** How long natter lets a call ring, and an answered call connect, before it ends the call. */
export interface CallTimeouts {
  ringTimeoutMs: number;
  connectTimeoutMs: number;
}

/** An `RTCIceServer` as `new RTCPeerConnection({ iceServers })` takes it. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** What the client lends the calls API: its socket, its frames and its REST fetch. */
export interface CallsHost {
  sendFrame(frame: ClientFrame): boolean;
  /** The real-time connection is up (frames sent now reach natter). */
  online(): boolean;
  on<T extends ServerFrameType>(type: T, fn: (frame: ServerFrameOf<T>) => void): () => void;
  turn(): Promise<TurnCredentials>;
}

interface CallState {
  /** This device placed the call (else it answered one). */
  caller: boolean;
  /** Caller side: the callee device that answered (from `call_selected`); until then candidates wait. */
  selected: string | null;
  /** Candidates waiting: for the selected device (caller side), or for the next batch. */
  waiting: { candidates: CallCandidate[]; toDevice?: string }[];
  timer: ReturnType<typeof setTimeout> | null;
  /** This device reported its media connected: `call_connected` goes again every keepalive spell and after a reconnect. */
  connected: boolean;
  keepalive: ReturnType<typeof setInterval> | null;
}

const MAX_CANDIDATES = 64;
/** How often an active call's device repeats `call_connected` (natter ends a call `failed` after 60 s without one). */
export const CALL_KEEPALIVE_MS = 15_000;

/**
 * A call's signalling, as natter relays it (docs/protocol.md "Calls"): typed methods for
 * the frames a device sends, and the state that makes ICE trickle work across devices.
 *
 * - The caller's candidates are held back until `call_selected` says which callee device
 *   answered, then go to that device (`to_device`): a callee device that wakes later (a
 *   push) would otherwise miss the early ones.
 * - Candidates are sent in batches: the ones given within `candidateDelayMs` make one
 *   frame (at most 64 each).
 *
 * The media is the app's (an RTCPeerConnection in a browser, werift in Node): this only
 * moves SDP and candidates. The events are the client's own `on('call_invite', …)` etc.
 */
export class Calls {
  private readonly calls = new Map<string, CallState>();
  /** Hangups and rejects given while offline: sent when the connection is back (the call's state is gone already). */
  private readonly unsentEnds = new Map<string, ClientFrame>();
  private known: CallTimeouts | null = null;

  constructor(
    private readonly host: CallsHost,
    private readonly candidateDelayMs = 10,
    private readonly keepaliveMs = CALL_KEEPALIVE_MS,
  ) {
    host.on('call_invite', (f) => {
      if (!this.calls.has(f.call_id)) this.calls.set(f.call_id, newState(false));
    });
    host.on('call_selected', (f) => this.onSelected(f.call_id, f.device_id));
    host.on('call_ended', (f) => {
      this.unsentEnds.delete(f.call_id);
      this.forget(f.call_id);
    });
    // A refusal naming a call (unknown or ended: not_found, a call already going on, …): the
    // call is over here. Not natter failing (internal): the call may well go on.
    host.on('error', (f) => {
      if (f.call_id === undefined || f.code === 'internal') return;
      this.unsentEnds.delete(f.call_id);
      this.forget(f.call_id);
    });
    host.on('connected', (f) => {
      // Older servers send no timeouts: the last known (or none) stay.
      if (f.calls) this.known = { ringTimeoutMs: f.calls.ring_timeout_ms, connectTimeoutMs: f.calls.connect_timeout_ms };
      this.onOnline();
    });
  }

  /**
   * The server's call timeouts (from `connected`; null before the first one): how long a
   * call rings, and how long an answered call may take to connect, before natter ends it.
   * An app that gives up on a call locally (natter's `call_ended` may not reach a device
   * that is offline) waits at least this long.
   */
  get timeouts(): CallTimeouts | null {
    return this.known;
  }

  /**
   * Calls the other member of a direct conversation with an SDP offer; answers the
   * `call_id` (a new UUID) the frames that follow name. Throws when not online.
   */
  invite(conversationId: number, opts: { video: boolean; sdp: string }): string {
    const callId = crypto.randomUUID();
    this.calls.set(callId, newState(true));
    if (!this.host.sendFrame({ type: 'call_invite', conversation_id: conversationId, call_id: callId, sdp: opts.sdp, video: opts.video })) {
      this.calls.delete(callId);
      throw new NatterError(0, 'offline', 'not connected: a call needs the real-time connection');
    }
    return callId;
  }

  /** This device shows the incoming call (the caller hears it ring). */
  ringing(callId: string): boolean {
    return this.host.sendFrame({ type: 'call_ringing', call_id: callId });
  }

  /** Answers with an SDP answer; the first device to answer gets the call, the others get `call_ended` (answered_elsewhere). */
  answer(callId: string, sdp: string): boolean {
    if (!this.calls.has(callId)) this.calls.set(callId, newState(false));
    return this.host.sendFrame({ type: 'call_answer', call_id: callId, sdp });
  }

  /**
   * Trickles ICE candidates (`RTCIceCandidate.toJSON()`, or `{candidate: ''}` for the end).
   * Batched; on the caller's side held until a callee device answered, then sent to it.
   * `toDevice` names a device explicitly (natter's default: the selected one).
   * False when the call is unknown here (nothing is kept) or the connection is down (they
   * are kept, and go out when it is back).
   */
  sendCandidates(callId: string, candidates: CallCandidateInit[], toDevice?: string): boolean {
    const st = this.calls.get(callId);
    if (!st) return false;
    const list = candidates.filter((c): c is CallCandidate => typeof c.candidate === 'string').map(plainCandidate);
    if (!list.length) return this.host.online();
    const last = st.waiting.at(-1);
    if (last && last.toDevice === toDevice) last.candidates.push(...list);
    else st.waiting.push({ candidates: list, ...(toDevice === undefined ? {} : { toDevice }) });
    if (st.caller && !st.selected && toDevice === undefined) return this.host.online();
    this.schedule(callId, st);
    return this.host.online();
  }

  /** Renegotiation between the two connected devices: an offer (default) or the answer to one. */
  negotiate(callId: string, sdp: string, sdpType: SdpType = 'offer'): boolean {
    return this.host.sendFrame({ type: 'call_negotiate', call_id: callId, sdp, sdp_type: sdpType });
  }

  /** Declines a ringing call (`busy`: only this device drops out). Offline: sent when the connection is back (false). */
  reject(callId: string, reason?: CallRejectReason): boolean {
    this.forget(callId);
    return this.sendEnd({ type: 'call_reject', call_id: callId, ...(reason ? { reason } : {}) });
  }

  /** Ends the call (the caller's hangup while it rings cancels it). Offline: sent when the connection is back (false). */
  hangup(callId: string, reason?: CallHangupReason): boolean {
    this.forget(callId);
    return this.sendEnd({ type: 'call_hangup', call_id: callId, ...(reason ? { reason } : {}) });
  }

  /**
   * This device's media connected (ICE and DTLS): the call becomes active and its duration
   * counts from here. From then on the SDK repeats it every 15 s as the call's keepalive
   * (natter ends an active call `failed` when a device is silent for 60 s) and at once after
   * a reconnect, until the call ends (`call_ended`, `hangup`, `reject`). False while offline
   * (it goes out when the connection is back).
   */
  connected(callId: string): boolean {
    const st = this.calls.get(callId) ?? this.calls.set(callId, newState(false)).get(callId)!;
    st.connected = true;
    st.keepalive ??= unref(setInterval(() => this.host.sendFrame({ type: 'call_connected', call_id: callId }), this.keepaliveMs));
    return this.host.sendFrame({ type: 'call_connected', call_id: callId });
  }

  /** Forgets every call (sign-out): no keepalive, nothing queued. */
  clear(): void {
    for (const id of [...this.calls.keys()]) this.forget(id);
    this.unsentEnds.clear();
  }

  /** The selected callee device of a call this device placed (null until `call_selected`). */
  selectedDevice(callId: string): string | null {
    return this.calls.get(callId)?.selected ?? null;
  }

  /** STUN/TURN for this user, from `GET /api/v1/calls/turn` (TURN credentials are short-lived: ask per call). */
  turn(): Promise<TurnCredentials> {
    return this.host.turn();
  }

  /** `turn()` as `RTCPeerConnection`'s `iceServers` (empty when natter knows no STUN or TURN). */
  async iceServers(): Promise<IceServer[]> {
    const t = await this.host.turn();
    const stun = t.uris.filter((u) => u.startsWith('stun:'));
    const relay = t.uris.filter((u) => !u.startsWith('stun:'));
    const servers: IceServer[] = [];
    if (stun.length) servers.push({ urls: stun });
    if (relay.length && t.username !== null && t.password !== null) {
      servers.push({ urls: relay, username: t.username, credential: t.password });
    }
    return servers;
  }

  private sendEnd(frame: ClientFrame & { call_id: string }): boolean {
    if (this.host.sendFrame(frame)) return true;
    this.unsentEnds.set(frame.call_id, frame);
    return false;
  }

  /** Back online: what could not go out (hangups, rejects, candidates), and `call_connected` for the connected calls. */
  private onOnline(): void {
    for (const [id, frame] of [...this.unsentEnds]) {
      if (!this.host.sendFrame(frame)) return;
      this.unsentEnds.delete(id);
    }
    for (const [id, st] of this.calls) {
      if (st.connected) this.host.sendFrame({ type: 'call_connected', call_id: id });
      if (st.waiting.length) this.flush(id);
    }
  }

  private onSelected(callId: string, deviceId: string): void {
    const st = this.calls.get(callId);
    if (!st || !st.caller) return;
    st.selected = deviceId;
    for (const w of st.waiting) w.toDevice ??= deviceId;
    this.schedule(callId, st);
  }

  private schedule(callId: string, st: CallState): void {
    st.timer ??= setTimeout(() => {
      st.timer = null;
      this.flush(callId);
    }, this.candidateDelayMs);
  }

  private flush(callId: string): void {
    const st = this.calls.get(callId);
    if (!st) return;
    if (st.timer) clearTimeout(st.timer);
    st.timer = null;
    const keep: CallState['waiting'] = [];
    let offline = false;
    for (const w of st.waiting) {
      const toDevice = w.toDevice ?? (st.caller ? (st.selected ?? undefined) : undefined);
      if (offline || (st.caller && toDevice === undefined)) {
        keep.push(w);
        continue;
      }
      for (let i = 0; i < w.candidates.length; i += MAX_CANDIDATES) {
        const sent = this.host.sendFrame({
          type: 'call_candidates',
          call_id: callId,
          candidates: w.candidates.slice(i, i + MAX_CANDIDATES),
          ...(toDevice === undefined ? {} : { to_device: toDevice }),
        });
        if (!sent) {
          // Offline: the rest waits for the reconnect.
          keep.push({ candidates: w.candidates.slice(i), ...(w.toDevice === undefined ? {} : { toDevice: w.toDevice }) });
          offline = true;
          break;
        }
      }
    }
    st.waiting = keep;
  }

  private forget(callId: string): void {
    const st = this.calls.get(callId);
    if (st?.timer) clearTimeout(st.timer);
    if (st?.keepalive) clearInterval(st.keepalive);
    this.calls.delete(callId);
  }
}

function newState(caller: boolean): CallState {
  return { caller, selected: null, waiting: [], timer: null, connected: false, keepalive: null };
}

/** Just the fields natter takes (an RTCIceCandidate has more, and `toJSON` is not always called). */
function plainCandidate(c: CallCandidate): CallCandidate {
  return {
    candidate: c.candidate,
    ...(c.sdpMid !== undefined ? { sdpMid: c.sdpMid } : {}),
    ...(c.sdpMLineIndex !== undefined ? { sdpMLineIndex: c.sdpMLineIndex } : {}),
    ...(c.usernameFragment !== undefined ? { usernameFragment: c.usernameFragment } : {}),
  };
}
