import type { NatterClient, ServerFrameOf } from '@natter/client';

/**
 * Voice and video calls in the app: one RTCPeerConnection per call, signalled through the
 * SDK's `client.calls` (docs/protocol.md "Calls"). The controller keeps what the call
 * screens show (an incoming call, the call in progress) and tells the app when it changes.
 */

export type CallInvite = ServerFrameOf<'call_invite'>;

export interface IncomingCall {
  invite: CallInvite;
  /** Who calls (their username, or "Someone" while the conversation is not loaded). */
  name: string;
}

export type CallPhase = 'calling' | 'ringing' | 'connecting' | 'connected';

/** A call this tab placed or answered, until it ends. */
export class CallSession {
  phase: CallPhase;
  connectedAt: number | null = null;
  muted = false;
  cameraOn: boolean;
  readonly remoteStream = new MediaStream();
  callId = '';
  private readonly pc: RTCPeerConnection;
  /** Remote candidates that came before the remote description. */
  private pendingRemote: RTCIceCandidateInit[] = [];
  /** Local candidates held until the call id is known (caller) or the answer is sent (callee). */
  private pendingLocal: RTCIceCandidateInit[] = [];
  private signalling = false;
  private offs: (() => void)[] = [];
  private ended = false;

  constructor(
    private readonly client: NatterClient,
    readonly conversationId: number,
    readonly video: boolean,
    readonly outgoing: boolean,
    readonly peerName: string,
    readonly localStream: MediaStream,
    iceServers: RTCIceServer[],
    private readonly changed: () => void,
    private readonly onEnd: (s: CallSession, ended?: ServerFrameOf<'call_ended'>) => void,
  ) {
    this.phase = outgoing ? 'calling' : 'connecting';
    this.cameraOn = video;
    this.pc = new RTCPeerConnection({ iceServers });
    for (const track of localStream.getTracks()) this.pc.addTrack(track, localStream);
    this.pc.ontrack = (e) => {
      if (!this.remoteStream.getTracks().includes(e.track)) this.remoteStream.addTrack(e.track);
      this.changed();
    };
    this.pc.onicecandidate = (e) => {
      const c: RTCIceCandidateInit = e.candidate ? e.candidate.toJSON() : { candidate: '' };
      if (this.signalling) this.sendCandidates([c]);
      else this.pendingLocal.push(c);
    };
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState;
      if (state === 'connected' && this.phase !== 'connected') {
        this.phase = 'connected';
        this.connectedAt = Date.now();
        this.client.calls.connected(this.callId);
        this.changed();
      } else if (state === 'failed') {
        this.hangup('failed');
      }
    };
  }

  /** Places the call: an offer, sent as the invite. */
  async place(): Promise<void> {
    const offer = await this.pc.createOffer();
    this.callId = this.client.calls.invite(this.conversationId, { video: this.video, sdp: offer.sdp ?? '' });
    this.listen();
    await this.pc.setLocalDescription(offer);
    this.startSignalling();
  }

  /** Answers an invite: its offer in, an answer out. */
  async answer(invite: CallInvite): Promise<void> {
    this.callId = invite.call_id;
    this.listen();
    await this.pc.setRemoteDescription({ type: 'offer', sdp: invite.sdp });
    await this.flushRemote();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    if (this.ended) return;
    this.client.calls.answer(this.callId, answer.sdp ?? '');
    this.startSignalling();
  }

  private startSignalling(): void {
    this.signalling = true;
    const held = this.pendingLocal.splice(0);
    if (held.length) this.sendCandidates(held);
  }

  private sendCandidates(list: RTCIceCandidateInit[]): void {
    this.client.calls.sendCandidates(
      this.callId,
      list.map((c) => ({ candidate: c.candidate ?? '', sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null, usernameFragment: c.usernameFragment ?? null })),
    );
  }

  private listen(): void {
    const calls = this.client;
    const mine = (f: { call_id: string }) => f.call_id === this.callId && !this.ended;
    this.offs.push(
      calls.on('call_ringing', (f) => {
        if (!mine(f) || this.phase !== 'calling') return;
        this.phase = 'ringing';
        this.changed();
      }),
      calls.on('call_answer', (f) => {
        if (!mine(f)) return;
        if (this.phase === 'calling' || this.phase === 'ringing') this.phase = 'connecting';
        this.changed();
        void this.pc
          .setRemoteDescription({ type: 'answer', sdp: f.sdp })
          .then(() => this.flushRemote())
          .catch(() => this.hangup('failed'));
      }),
      calls.on('call_candidates', (f) => {
        if (!mine(f)) return;
        for (const c of f.candidates) {
          const init: RTCIceCandidateInit = { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null };
          if (c.usernameFragment) init.usernameFragment = c.usernameFragment;
          if (this.pc.remoteDescription) void this.pc.addIceCandidate(init).catch(() => undefined);
          else this.pendingRemote.push(init);
        }
      }),
      calls.on('call_negotiate', (f) => {
        if (!mine(f)) return;
        void this.renegotiated(f.sdp, f.sdp_type).catch(() => undefined);
      }),
      calls.on('call_ended', (f) => {
        if (f.call_id === this.callId) this.close(f);
      }),
    );
  }

  private async flushRemote(): Promise<void> {
    for (const c of this.pendingRemote.splice(0)) await this.pc.addIceCandidate(c).catch(() => undefined);
  }

  private async renegotiated(sdp: string, type: 'offer' | 'answer'): Promise<void> {
    await this.pc.setRemoteDescription({ type, sdp });
    if (type !== 'offer') return;
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.client.calls.negotiate(this.callId, answer.sdp ?? '', 'answer');
  }

  toggleMute(): void {
    this.muted = !this.muted;
    for (const t of this.localStream.getAudioTracks()) t.enabled = !this.muted;
    this.changed();
  }

  /** The camera off sends black frames (the track stays, so no renegotiation is needed). */
  toggleCamera(): void {
    this.cameraOn = !this.cameraOn;
    for (const t of this.localStream.getVideoTracks()) t.enabled = this.cameraOn;
    this.changed();
  }

  hangup(reason?: 'hangup' | 'failed'): void {
    if (this.ended) return;
    if (this.callId) this.client.calls.hangup(this.callId, reason);
    this.close();
  }

  /** Ended (here or by natter's call_ended): media stopped, the screen closes. */
  close(ended?: ServerFrameOf<'call_ended'>): void {
    if (this.ended) return;
    this.ended = true;
    for (const off of this.offs.splice(0)) off();
    for (const t of this.localStream.getTracks()) t.stop();
    this.pc.close();
    this.onEnd(this, ended);
  }
}

/** The calls of this tab: at most one incoming and one in progress. */
export class CallController {
  incoming: IncomingCall | null = null;
  current: CallSession | null = null;
  /** Why the last call could not start (no camera, say); shown until the next. */
  error: string | null = null;
  private offs: (() => void)[] = [];
  private ringer: Ringer | null = null;
  /** Calls that ended while this tab was getting the camera and microphone (kept briefly). */
  private readonly ended = new Set<string>();
  /** An invite from the person this tab is calling at the same moment (glare): natter keeps one of the two calls. */
  private crossing: CallInvite | null = null;
  /** Our call lost a glare before the other one's invite came: that invite is answered when it comes. */
  private lostGlare: { conversationId: number; until: number } | null = null;

  constructor(
    private readonly client: NatterClient,
    private readonly nameOf: (invite: CallInvite) => string,
    private readonly changed: () => void,
  ) {}

  start(): void {
    const c = this.client;
    this.offs.push(
      c.on('call_invite', (f) => this.onInvite(f)),
      c.on('call_ended', (f) => {
        this.ended.add(f.call_id);
        setTimeout(() => this.ended.delete(f.call_id), 60_000);
        if (this.crossing?.call_id === f.call_id) this.crossing = null;
        if (this.incoming?.invite.call_id !== f.call_id) return;
        this.incoming = null;
        this.stopRinging();
        this.changed();
      }),
    );
    const unload = () => {
      this.current?.hangup();
      if (this.incoming) this.client.calls.reject(this.incoming.invite.call_id, 'busy');
    };
    // A call this tab places that natter refuses (a call already going on in the
    // conversation, a block): the refusal names the call (a server without calls names none).
    this.offs.push(
      c.on('error', (f) => {
        const s = this.current;
        if (!s || !s.outgoing || s.phase !== 'calling' || f.client_id || !REFUSALS.has(f.code)) return;
        if (f.call_id !== undefined ? f.call_id !== s.callId : f.code !== 'unknown_type') return;
        this.error =
          f.code === 'call_in_progress'
            ? 'A call is already going on in this chat.'
            : f.code === 'unknown_type'
              ? 'This server does not take calls.'
              : f.error;
        s.close();
      }),
    );
    window.addEventListener('pagehide', unload);
    this.offs.push(() => window.removeEventListener('pagehide', unload));
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
    this.current?.hangup();
    this.stopRinging();
  }

  private onInvite(f: CallInvite): void {
    if (this.incoming?.invite.call_id === f.call_id || this.current?.callId === f.call_id) return;
    const s = this.current;
    if (s && s.outgoing && s.conversationId === f.conversation_id && (s.phase === 'calling' || s.phase === 'ringing')) {
      // Both called each other at once: natter ends one of the two calls (glare). If it
      // ends ours, theirs is the call both wanted, and is answered.
      this.crossing = f;
      return;
    }
    if (this.current || this.incoming) {
      this.client.calls.reject(f.call_id, 'busy');
      return;
    }
    const lost = this.lostGlare;
    this.lostGlare = null;
    if (lost && lost.conversationId === f.conversation_id && Date.now() < lost.until) {
      this.incoming = { invite: f, name: this.nameOf(f) };
      void this.accept();
      return;
    }
    this.incoming = { invite: f, name: this.nameOf(f) };
    this.client.calls.ringing(f.call_id);
    this.ringer = ring();
    this.changed();
  }

  private stopRinging(): void {
    this.ringer?.stop();
    this.ringer = null;
  }

  /** Calls the other member of a direct conversation. */
  async call(conversationId: number, video: boolean, peerName: string): Promise<void> {
    if (this.current) return;
    this.error = null;
    const session = await this.session(conversationId, video, true, peerName);
    if (!session) return;
    try {
      await session.place();
    } catch (err) {
      this.error = err instanceof Error ? err.message : 'The call could not be placed';
      session.close();
    }
  }

  async accept(): Promise<void> {
    const inc = this.incoming;
    if (!inc || this.current) return;
    this.incoming = null;
    this.stopRinging();
    this.error = null;
    const session = await this.session(inc.invite.conversation_id, inc.invite.video, false, inc.name);
    if (!session) {
      this.client.calls.reject(inc.invite.call_id);
      return;
    }
    if (this.ended.has(inc.invite.call_id)) {
      session.close();
      return;
    }
    try {
      await session.answer(inc.invite);
    } catch {
      session.hangup('failed');
    }
  }

  decline(): void {
    const inc = this.incoming;
    if (!inc) return;
    this.incoming = null;
    this.stopRinging();
    this.client.calls.reject(inc.invite.call_id);
    this.changed();
  }

  private async session(conversationId: number, video: boolean, outgoing: boolean, peerName: string): Promise<CallSession | null> {
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch {
      this.error = video ? 'No camera or microphone for the call.' : 'No microphone for the call.';
      this.changed();
      return null;
    }
    const iceServers = await this.client.calls.iceServers().catch(() => []);
    const session = new CallSession(this.client, conversationId, video, outgoing, peerName, stream, iceServers, this.changed, (s, ended) => {
      if (this.current === s) this.current = null;
      // The other one's invite may have come as a crossing call, or (before this call had
      // started) as an incoming one still on screen.
      const crossing = this.crossing ?? (this.incoming?.invite.conversation_id === s.conversationId ? this.incoming.invite : null);
      this.crossing = null;
      if (ended?.glare && crossing && crossing.conversation_id === s.conversationId) {
        this.incoming = { invite: crossing, name: this.nameOf(crossing) };
        void this.accept();
      } else if (ended?.glare) {
        this.lostGlare = { conversationId: s.conversationId, until: Date.now() + 10_000 };
      }
      this.changed();
    });
    this.current = session;
    this.changed();
    return session;
  }
}

/** What natter may answer a call_invite with. */
const REFUSALS = new Set(['call_in_progress', 'blocked', 'forbidden', 'not_found', 'validation_failed', 'unknown_type', 'invalid_frame']);

interface Ringer {
  stop(): void;
}

/** A ring tone made with Web Audio (no sound file): two short beeps every two seconds. */
function ring(): Ringer {
  let ctx: AudioContext | null = null;
  try {
    ctx = new AudioContext();
  } catch {
    return { stop: () => {} };
  }
  const audio = ctx;
  const beep = () => {
    if (audio.state === 'closed') return;
    for (const at of [0, 0.4]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 440;
      gain.gain.value = 0.08;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + at);
      osc.stop(audio.currentTime + at + 0.25);
    }
  };
  beep();
  const timer = setInterval(beep, 2000);
  return {
    stop: () => {
      clearInterval(timer);
      void audio.close().catch(() => undefined);
    },
  };
}

/** m:ss (or h:mm:ss) of a duration in ms. */
export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * How a call's record reads in the history: "Video call · 2:05", "Missed voice call",
 * "Voice call · Declined", … (by its outcome, for the caller or the callee).
 */
export function callLabel(call: { video: boolean; outcome: string; caller_id: number; duration_ms: number | null }, meId: number | undefined): string {
  const kind = call.video ? 'Video call' : 'Voice call';
  const mine = call.caller_id === meId;
  switch (call.outcome) {
    case 'ringing':
      return mine ? `${kind} · Calling…` : `${kind} · Ringing…`;
    case 'connecting':
    case 'active':
      return `${kind} · In progress`;
    case 'finished':
      return `${kind} · ${duration(call.duration_ms ?? 0)}`;
    case 'missed':
      return mine ? `${kind} · No answer` : `Missed ${kind.toLowerCase()}`;
    case 'declined':
      return `${kind} · Declined`;
    case 'cancelled':
      return `${kind} · Cancelled`;
    case 'busy':
      return `${kind} · Busy`;
    case 'failed':
      return call.duration_ms ? `${kind} · Failed after ${duration(call.duration_ms)}` : `${kind} · Failed`;
    default:
      return kind;
  }
}
