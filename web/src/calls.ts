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

/**
 * How much longer than natter this tab waits before giving up on a call that does not
 * start: natter ends it (its ring or connect timeout, from `client.calls.timeouts`), but its
 * call_ended may be lost to a tab that went offline.
 */
const GIVE_UP_SLACK_MS = 10_000;
/** natter's defaults, for a server that does not say its own. */
const DEFAULT_TIMEOUTS = { ringTimeoutMs: 45_000, connectTimeoutMs: 30_000 };
/** Slack on an incoming call's deadline (started_at + ring_timeout_ms) for clocks and latency. */
const RING_SLACK_MS = 2_000;
/** An incoming call shows at least this long (a clock ahead of natter's would otherwise close it at once). */
const MIN_RING_MS = 5_000;

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
  /** This tab sent its answer (callee side): giving up is a hangup, not a busy reject. */
  private answered = false;
  /** The callee's answer was taken (caller side): natter may say it twice, back to back. */
  private answerTaken = false;
  private deadline: ReturnType<typeof setTimeout> | null = null;

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
        this.clearDeadline();
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
    if (this.ended) return;
    this.callId = this.client.calls.invite(this.conversationId, { video: this.video, sdp: offer.sdp ?? '' });
    this.listen();
    // natter's call_ended may not reach an offline tab: the call is given up here too.
    this.setDeadline(this.timeouts.ringTimeoutMs + GIVE_UP_SLACK_MS, () => this.hangup());
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
    if (!this.client.calls.answer(this.callId, answer.sdp ?? '')) throw new Error('not connected');
    this.answered = true;
    this.setDeadline(this.timeouts.connectTimeoutMs + GIVE_UP_SLACK_MS, () => this.hangup('failed'));
    this.startSignalling();
  }

  /** Gives up on a call that could not start: a hangup once it went out (invite or answer), else a busy reject (only this device drops out). */
  abandon(): void {
    if (this.ended) return;
    if (this.outgoing ? this.callId !== '' : this.answered) {
      this.hangup();
      return;
    }
    if (!this.outgoing && this.callId) this.client.calls.reject(this.callId, 'busy');
    this.close();
  }

  private get timeouts() {
    return this.client.calls.timeouts ?? DEFAULT_TIMEOUTS;
  }

  private setDeadline(ms: number, fn: () => void): void {
    this.clearDeadline();
    this.deadline = setTimeout(() => {
      this.deadline = null;
      if (!this.ended && this.phase !== 'connected') fn();
    }, ms);
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  private startSignalling(): void {
    this.signalling = true;
    const held = this.pendingLocal.splice(0);
    if (held.length) this.sendCandidates(held);
  }

  private sendCandidates(list: RTCIceCandidateInit[]): void {
    // Kept by the SDK while offline, and sent when the connection is back.
    this.client.calls.sendCandidates(this.callId, list);
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
        // natter says it again to a caller that was offline when it came, possibly right
        // after the first (before that one is applied): taken once, by a flag set now.
        if (!mine(f) || this.answerTaken || this.pc.signalingState !== 'have-local-offer') return;
        this.answerTaken = true;
        if (this.phase === 'calling' || this.phase === 'ringing') {
          this.phase = 'connecting';
          this.setDeadline(this.timeouts.connectTimeoutMs + GIVE_UP_SLACK_MS, () => this.hangup('failed'));
        }
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
    this.clearDeadline();
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
  /** A call is being set up (camera, microphone, ICE servers): set before the first await, so a second click or an invite finds it. */
  starting = false;
  private offs: (() => void)[] = [];
  private ringer: Ringer | null = null;
  /** The incoming call's local deadline (its ring timeout): natter's call_ended may not reach an offline tab. */
  private incomingDeadline: ReturnType<typeof setTimeout> | null = null;
  /** Made on the first click or key (browsers start audio only after a user gesture), for the ring tone. */
  private audio: AudioContext | null = null;
  /** Calls that ended while this tab was getting the camera and microphone (kept briefly). */
  private readonly ended = new Map<string, ReturnType<typeof setTimeout>>();
  /** An invite from the person this tab is calling at the same moment (glare): natter keeps one of the two calls. */
  private crossing: CallInvite | null = null;
  /** The chat this tab is placing a call in while the call is set up (camera, microphone). */
  private placing: number | null = null;
  /** Our call lost a glare before the other one's invite came: that invite is answered when it comes. */
  private lostGlare: { conversationId: number; until: number } | null = null;

  constructor(
    private readonly client: NatterClient,
    private readonly nameOf: (invite: CallInvite) => string,
    private readonly changed: () => void,
  ) {}

  /** A call screen shows or one is being set up: the call buttons are off, and an invite is answered busy. */
  get busy(): boolean {
    return this.current !== null || this.starting;
  }

  start(): void {
    const c = this.client;
    this.offs.push(
      c.on('call_invite', (f) => this.onInvite(f)),
      c.on('call_ended', (f) => {
        if (!this.ended.has(f.call_id)) this.ended.set(f.call_id, setTimeout(() => this.ended.delete(f.call_id), 60_000));
        if (this.crossing?.call_id === f.call_id) this.crossing = null;
        if (this.incoming?.invite.call_id === f.call_id) this.dropIncoming();
      }),
      // Another tab of this browser (the same device) or another device answered: this tab's ringing stops.
      c.on('call_selected', (f) => {
        if (this.incoming?.invite.call_id === f.call_id) this.dropIncoming();
      }),
      // Back online: a call that rang here, or this tab's own call not yet connected, may
      // have ended meanwhile, and natter does not say so again. Saying it rings asks: a
      // live call ignores it, an ended one is refused (not_found), and the refusal closes
      // the screen. Only calls natter has shown it knows (it rang, or was answered): an
      // invite sent just before the socket dropped may still be on its way. (A connected
      // call asks by its keepalive, which the client sends at once.)
      c.on('connected', () => {
        if (this.incoming) this.client.calls.ringing(this.incoming.invite.call_id);
        const s = this.current;
        if (s?.callId && (s.phase === 'ringing' || s.phase === 'connecting')) this.client.calls.ringing(s.callId);
      }),
    );
    // pagehide hangs up a call in progress; an incoming call is left to the ring timeout or another tab.
    const unload = () => this.current?.hangup();
    // A refusal naming a call (unknown or ended: not_found; a call already going on; a block):
    // the call is over here, in any phase. A server without calls names none (unknown_type).
    this.offs.push(
      c.on('error', (f) => {
        if (f.client_id) return;
        // natter failing (internal) says nothing of a call that goes on (as in the SDK): the
        // deadlines, a failed connection or a refused keepalive end one that is really gone.
        // An invite it failed to place is given up (a hangup, in case it was placed after all).
        if (f.code === 'internal') {
          const s = this.current;
          if (s && f.call_id !== undefined && f.call_id === s.callId && s.outgoing && s.phase === 'calling') {
            this.error = 'The call could not be placed.';
            s.hangup();
          }
          return;
        }
        if (f.call_id !== undefined && this.incoming?.invite.call_id === f.call_id) {
          this.dropIncoming();
          return;
        }
        const s = this.current;
        if (!s) return;
        if (f.call_id !== undefined ? f.call_id !== s.callId : !(f.code === 'unknown_type' && s.outgoing && s.phase === 'calling')) return;
        if (s.outgoing && s.phase === 'calling' && REFUSALS.has(f.code)) {
          this.error =
            f.code === 'call_in_progress'
              ? 'A call is already going on in this chat.'
              : f.code === 'unknown_type'
                ? 'This server does not take calls.'
                : f.error;
        } else if (f.code === 'not_found') {
          this.error = 'The call has ended.';
        }
        s.close();
      }),
    );
    const gesture = () => {
      if (!this.audio) {
        try {
          this.audio = new AudioContext();
        } catch {
          return;
        }
      }
      if (this.audio.state === 'suspended') void this.audio.resume().catch(() => undefined);
    };
    window.addEventListener('pagehide', unload);
    window.addEventListener('pointerdown', gesture, true);
    window.addEventListener('keydown', gesture, true);
    this.offs.push(() => {
      window.removeEventListener('pagehide', unload);
      window.removeEventListener('pointerdown', gesture, true);
      window.removeEventListener('keydown', gesture, true);
    });
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
    this.current?.hangup();
    this.stopRinging();
    this.clearIncomingDeadline();
    for (const t of this.ended.values()) clearTimeout(t);
    this.ended.clear();
    void this.audio?.close().catch(() => undefined);
    this.audio = null;
  }

  /** The incoming call is gone (ended, answered elsewhere, refused, timed out): the screen closes, the ringing stops. */
  private dropIncoming(): void {
    this.incoming = null;
    this.stopRinging();
    this.clearIncomingDeadline();
    this.changed();
  }

  private clearIncomingDeadline(): void {
    if (this.incomingDeadline) clearTimeout(this.incomingDeadline);
    this.incomingDeadline = null;
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
    if (this.starting && this.placing === f.conversation_id) {
      // Glare while this tab still gets its camera: the same as once its call is out.
      this.crossing = f;
      return;
    }
    // Never ring unseen behind a call screen (or while a call is being set up).
    if (this.current || this.incoming || this.starting) {
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
    this.ringer = ring(this.audio);
    // The ring timeout counts from started_at (the invite may come late: a reconnect).
    const elapsed = Math.min(Math.max(Date.now() - Date.parse(f.started_at), 0), f.ring_timeout_ms);
    this.clearIncomingDeadline();
    this.incomingDeadline = setTimeout(() => {
      this.incomingDeadline = null;
      if (this.incoming?.invite.call_id === f.call_id) this.dropIncoming();
    }, Math.max(f.ring_timeout_ms - elapsed, MIN_RING_MS) + RING_SLACK_MS);
    this.changed();
  }

  private stopRinging(): void {
    this.ringer?.stop();
    this.ringer = null;
  }

  /** Calls the other member of a direct conversation. */
  async call(conversationId: number, video: boolean, peerName: string): Promise<void> {
    if (this.busy) return;
    this.starting = true;
    this.placing = conversationId;
    this.error = null;
    this.changed();
    const session = await this.session(conversationId, video, true, peerName);
    this.placing = null;
    if (!session) {
      // No call of ours after all: an invite that crossed it rings as any.
      const crossing = this.crossing;
      this.crossing = null;
      if (crossing) this.onInvite(crossing);
      return;
    }
    try {
      await session.place();
    } catch (err) {
      this.error = err instanceof Error ? err.message : 'The call could not be placed';
      // After the invite went out this is a hangup (natter cancels the call), else just closing.
      session.abandon();
    }
  }

  async accept(): Promise<void> {
    const inc = this.incoming;
    if (!inc || this.busy) return;
    this.starting = true;
    this.incoming = null;
    this.stopRinging();
    this.clearIncomingDeadline();
    this.error = null;
    this.changed();
    const session = await this.session(inc.invite.conversation_id, inc.invite.video, false, inc.name);
    if (!session) {
      // No camera or microphone here: only this device drops out (another may answer).
      this.client.calls.reject(inc.invite.call_id, 'busy');
      return;
    }
    if (this.ended.has(inc.invite.call_id)) {
      session.close();
      return;
    }
    try {
      await session.answer(inc.invite);
    } catch {
      session.abandon();
    }
  }

  decline(): void {
    const inc = this.incoming;
    if (!inc) return;
    this.dropIncoming();
    this.client.calls.reject(inc.invite.call_id);
  }

  private async session(conversationId: number, video: boolean, outgoing: boolean, peerName: string): Promise<CallSession | null> {
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch {
      this.starting = false;
      this.error = video ? 'No camera or microphone for the call.' : 'No microphone for the call.';
      this.changed();
      return null;
    }
    const iceServers = await this.client.calls.iceServers().catch(() => []);
    this.starting = false;
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

/**
 * A ring tone made with Web Audio (no sound file): two short beeps every two seconds. On
 * the app's context (made on the first user gesture) if there is one, else its own; a
 * suspended context (no gesture yet) gets no beeps piled up, and is resumed when it can be.
 */
function ring(shared: AudioContext | null): Ringer {
  let ctx: AudioContext | null = shared;
  if (!ctx) {
    try {
      ctx = new AudioContext();
    } catch {
      return { stop: () => {} };
    }
  }
  const audio = ctx;
  const own = audio !== shared;
  const beep = () => {
    if (audio.state === 'suspended') void audio.resume().catch(() => undefined);
    if (audio.state !== 'running') return;
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
      if (own) void audio.close().catch(() => undefined);
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
