import { randomBytes, randomUUID } from 'node:crypto';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import WebSocket from 'ws';
import { WsClient, type Frame } from '../harness/ws.js';

/**
 * Devices that place and take calls the way a client app does (docs/protocol.md "Calls"):
 * a natter session, its WebSocket and, per call, a real WebRTC peer (werift) whose
 * offer, answer and ICE candidates travel through natter's call frames. ICE and DTLS then
 * run between the two peers over loopback UDP, and a data channel proves the media path.
 *
 * Works against an in-process app (test/harness/app.ts) and a natter process of a
 * cluster (test/scale/cluster-harness.ts) alike: both are a base URL with `request`.
 */

/** A natter server as a test talks to it. */
export interface Server {
  url: string;
  request<T = any>(method: string, path: string, opts?: { token?: string; body?: unknown }): Promise<{ status: number; body: T }>;
}

/** A logged-in session: each one is a device with its own public device_id. */
export interface Session {
  token: string;
  refresh_token: string;
  device_id: string;
  user: { id: number; username: string; email: string };
}

/** An account: register once, then every `login` is another device of it. */
export interface Account {
  id: number;
  username: string;
  email: string;
  password: string;
  /** The session register opened. */
  first: Session;
}

/** How long a test waits for any one frame or peer event. */
export const WAIT_MS = 10_000;

const PEER_CONFIG = { iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'] };

export async function registerAccount(server: Server, label = 'user'): Promise<Account> {
  const n = `${label}${process.pid}${randomBytes(3).toString('hex')}`;
  const body = { username: n, email: `${n}@example.com`, password: 'password123' };
  const res = await server.request<Session>('POST', '/api/v1/auth/register', { body });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
  if (!/^[0-9a-f]{32}$/.test(res.body.device_id)) throw new Error(`register: no device_id in ${JSON.stringify(res.body)}`);
  return { id: res.body.user.id, username: n, email: body.email, password: body.password, first: res.body };
}

/** A new session of the account (another device). */
export async function login(server: Server, account: Account): Promise<Session> {
  const res = await server.request<Session>('POST', '/api/v1/auth/login', {
    body: { email: account.email, password: account.password },
  });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Opens a WebSocket for the session and waits for `connected`. */
export async function openSocket(server: Server, token: string): Promise<WsClient> {
  const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/ws?token=${encodeURIComponent(token)}`);
  const client = new WsClient(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  await client.nextOfType('connected', WAIT_MS);
  return client;
}

export type Candidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null };

/** Waits until `fn` settles or `ms` passes (then rejects naming `what`). */
export function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A frame carrying the call's record (a message of type call), optionally with `outcome`. */
export const isCallMessage = (callId: string, outcome?: string) => (f: Frame) =>
  (f.type === 'new_message' || f.type === 'message_updated') &&
  f.message.type === 'call' &&
  f.message.call?.call_id === callId &&
  (outcome === undefined || f.message.call.outcome === outcome);

/** One call as one device holds it: the peer connection and what signalling it still owes. */
export class PeerCall {
  /** Local candidates not yet sent (the caller holds them until it knows the answering device). */
  private outbox: Candidate[] = [];
  /** Whether local candidates may go out now, and to which device. */
  private flowing = false;
  private toDevice: string | undefined;
  private gathered = false;
  private endSent = false;
  private readonly channelReady: Promise<RTCDataChannel>;
  /** Data-channel messages received, in order. */
  readonly received: string[] = [];
  private messageWaiters: (() => void)[] = [];
  readonly connected: Promise<void>;
  /** The device on the other side (from call_answer for the caller, the invite for the callee). */
  remoteDevice: string | undefined;
  /** The SDP this device sent (its offer in call_invite, or its answer in call_answer). */
  sentSdp = '';
  ended = false;

  constructor(
    readonly device: Device,
    readonly callId: string,
    readonly role: 'caller' | 'callee',
    readonly pc: RTCPeerConnection,
    opts: { reportConnected: boolean },
  ) {
    pc.onIceCandidate.subscribe((c) => {
      if (c) this.outbox.push(c.toJSON());
      else this.gathered = true;
      this.pump();
    });
    this.connected = new Promise<void>((resolve) => {
      pc.connectionStateChange.subscribe((state) => {
        if (state !== 'connected') return;
        if (opts.reportConnected && !this.ended) device.send({ type: 'call_connected', call_id: callId });
        resolve();
      });
    });
    this.connected.catch(() => {});
    let channel: RTCDataChannel;
    if (role === 'caller') {
      channel = pc.createDataChannel('natter-test');
      this.channelReady = new Promise((resolve) => {
        channel.stateChanged.subscribe((s) => {
          if (s === 'open') resolve(channel);
        });
      });
      this.listen(channel);
    } else {
      this.channelReady = new Promise((resolve) => {
        pc.onDataChannel.subscribe((ch) => {
          this.listen(ch);
          if (ch.readyState === 'open') resolve(ch);
          else
            ch.stateChanged.subscribe((s) => {
              if (s === 'open') resolve(ch);
            });
        });
      });
    }
    this.channelReady.catch(() => {});
  }

  /** Lets local candidates go out (to `toDevice`, or where natter routes them). */
  release(toDevice?: string): void {
    this.flowing = true;
    this.toDevice = toDevice;
    this.pump();
  }

  private pump(): void {
    if (!this.flowing || this.ended) return;
    if (this.outbox.length > 0) {
      const candidates = this.outbox.splice(0, 64);
      this.device.send({ type: 'call_candidates', call_id: this.callId, ...(this.toDevice ? { to_device: this.toDevice } : {}), candidates });
      if (this.outbox.length > 0) return this.pump();
    }
    if (this.gathered && !this.endSent) {
      this.endSent = true;
      this.device.send({
        type: 'call_candidates',
        call_id: this.callId,
        ...(this.toDevice ? { to_device: this.toDevice } : {}),
        candidates: [{ candidate: '' }],
      });
    }
  }

  private listen(channel: RTCDataChannel): void {
    channel.onMessage.subscribe((data) => {
      this.received.push(typeof data === 'string' ? data : data.toString('utf8'));
      const waiters = this.messageWaiters.splice(0);
      for (const w of waiters) w();
    });
  }

  /** The open data channel (the caller made it; the callee receives it). */
  channel(ms = WAIT_MS): Promise<RTCDataChannel> {
    return within(this.channelReady, `${this.device.label}: data channel of call ${this.callId}`, ms);
  }

  /** Resolves once ICE and DTLS connected this peer. */
  waitConnected(ms = WAIT_MS): Promise<void> {
    return within(this.connected, `${this.device.label}: peer connection of call ${this.callId}`, ms);
  }

  /** Waits for a data-channel message. */
  async message(match: (text: string) => boolean, ms = WAIT_MS): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.device.label}: no matching data-channel message; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.messageWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.ended = true;
    await this.pc.close().catch(() => {});
  }
}

export interface DeviceOptions {
  /** Answer every call_invite with call_ringing (default true). */
  autoRing?: boolean;
}

/**
 * A device: one session of an account, its socket, and its calls. It plays the client's
 * part of the signalling by itself as frames arrive (ringing on invite, applying answers
 * and candidates, sending candidates once it may, call_connected when the peer
 * connects); the test decides only what a person decides: call, answer, reject, hang up.
 */
export class Device {
  readonly calls = new Map<string, PeerCall>();
  /** call_invite frames received, by call_id (the latest). */
  readonly invites = new Map<string, Frame>();
  /** Candidates for calls this device has no peer for yet (a callee still ringing). */
  private readonly early = new Map<string, Candidate[]>();
  /** Things that went wrong while handling frames by itself; `check` throws them. */
  readonly problems: string[] = [];

  private constructor(
    readonly label: string,
    readonly session: Session,
    readonly ws: WsClient,
    private readonly opts: Required<DeviceOptions>,
  ) {
    // Frames that came right behind `connected` (a re-sent call_invite) before this
    // listener existed, then every later one.
    for (const frame of ws.frames) this.dispatch(frame);
    ws.socket.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(data as Buffer)) as Frame;
      } catch {
        return;
      }
      this.dispatch(frame);
    });
  }

  static async open(server: Server, session: Session, label: string, opts: DeviceOptions = {}): Promise<Device> {
    const ws = await openSocket(server, session.token);
    const connected = ws.all('connected')[0]!;
    if (connected.device_id !== session.device_id) {
      throw new Error(`${label}: connected says device ${connected.device_id}, the session is ${session.device_id}`);
    }
    return new Device(label, session, ws, { autoRing: true, ...opts });
  }

  get id(): string {
    return this.session.device_id;
  }

  get userId(): number {
    return this.session.user.id;
  }

  get token(): string {
    return this.session.token;
  }

  send(frame: Record<string, unknown>): void {
    if (this.ws.socket.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** The next untaken frame of `type` that matches; throws after `ms`. */
  frame(type: string, match: (f: Frame) => boolean = () => true, ms = WAIT_MS): Promise<Frame> {
    return this.ws.next((f) => f.type === type && match(f), ms).catch((err: unknown) => {
      throw new Error(`${this.label}: waiting for ${type}: ${String(err)}`);
    });
  }

  /** The next call frame of `type` for the call. */
  callFrame(type: string, callId: string, match: (f: Frame) => boolean = () => true, ms = WAIT_MS): Promise<Frame> {
    return this.frame(type, (f) => f.call_id === callId && match(f), ms);
  }

  /**
   * The next new_message or message_updated of the call's record with `outcome` (natter
   * tells call_ended first, then updates the record).
   */
  record(callId: string, outcome: string, ms = WAIT_MS): Promise<Frame> {
    return this.ws.next(isCallMessage(callId, outcome), ms).catch((err: unknown) => {
      throw new Error(`${this.label}: waiting for the record of ${callId} to say ${outcome}: ${String(err)}`);
    });
  }

  ended(callId: string, ms = WAIT_MS): Promise<Frame> {
    return this.callFrame('call_ended', callId, () => true, ms);
  }

  /** The next error frame (optionally of a code). */
  error(code?: string, ms = WAIT_MS): Promise<Frame> {
    return this.frame('error', (f) => code === undefined || f.code === code, ms);
  }

  /** Frames this socket received of a type (taken or not). */
  all(type: string, callId?: string): Frame[] {
    return this.ws.all(type).filter((f) => callId === undefined || f.call_id === callId);
  }

  /**
   * Places a call: a peer with a data channel, its offer as the invite's SDP. Candidates
   * wait until natter says which device answered (call_selected), then go to it.
   */
  async invite(conversationId: number, opts: { video?: boolean; callId?: string } = {}): Promise<PeerCall> {
    const callId = opts.callId ?? randomUUID();
    const call = new PeerCall(this, callId, 'caller', new RTCPeerConnection(PEER_CONFIG), { reportConnected: true });
    this.calls.set(callId, call);
    await call.pc.setLocalDescription(await call.pc.createOffer());
    call.sentSdp = call.pc.localDescription!.sdp;
    this.send({ type: 'call_invite', conversation_id: conversationId, call_id: callId, sdp: call.sentSdp, video: opts.video ?? false });
    return call;
  }

  /**
   * Answers a ringing call from its invite's offer. `connect: false` sends a real answer
   * and then drops the peer: no candidates, nothing ever connects.
   */
  async answer(callId: string, opts: { connect?: boolean } = {}): Promise<PeerCall> {
    const invite = this.invites.get(callId);
    if (!invite) throw new Error(`${this.label}: no invite for call ${callId}`);
    const connect = opts.connect ?? true;
    const call = new PeerCall(this, callId, 'callee', new RTCPeerConnection(PEER_CONFIG), { reportConnected: connect });
    call.remoteDevice = invite.from_device;
    this.calls.set(callId, call);
    await call.pc.setRemoteDescription({ type: 'offer', sdp: invite.sdp });
    for (const c of this.early.get(callId) ?? []) await call.pc.addIceCandidate(c);
    this.early.delete(callId);
    await call.pc.setLocalDescription(await call.pc.createAnswer());
    call.sentSdp = call.pc.localDescription!.sdp;
    this.send({ type: 'call_answer', call_id: callId, sdp: call.sentSdp });
    if (connect) call.release();
    else await call.close();
    return call;
  }

  reject(callId: string, reason?: 'declined' | 'busy'): void {
    this.send({ type: 'call_reject', call_id: callId, ...(reason ? { reason } : {}) });
  }

  hangup(callId: string, reason?: 'hangup' | 'failed'): void {
    this.send({ type: 'call_hangup', call_id: callId, ...(reason ? { reason } : {}) });
  }

  private dispatch(frame: Frame): void {
    this.handle(frame).catch((err: unknown) => this.problems.push(`${frame.type}: ${String(err)}`));
  }

  private async handle(f: Frame): Promise<void> {
    const call = typeof f.call_id === 'string' ? this.calls.get(f.call_id) : undefined;
    switch (f.type) {
      case 'call_invite':
        this.invites.set(f.call_id, f);
        if (this.opts.autoRing) this.send({ type: 'call_ringing', call_id: f.call_id });
        return;
      case 'call_answer':
        if (call?.role !== 'caller' || call.ended) return;
        call.remoteDevice = f.from_device;
        await call.pc.setRemoteDescription({ type: 'answer', sdp: f.sdp }).catch((err: unknown) => {
          if (!call.ended) throw err;
        });
        return;
      case 'call_selected':
        if (call?.role === 'caller') call.release(f.device_id);
        return;
      case 'call_candidates':
        if (call && !call.ended) {
          for (const c of f.candidates as Candidate[]) {
            // A call that ends meanwhile closes its peer; what comes late does not matter.
            await call.pc.addIceCandidate(c).catch((err: unknown) => {
              if (!call.ended) throw err;
            });
          }
        } else if (!call) {
          this.early.set(f.call_id, [...(this.early.get(f.call_id) ?? []), ...(f.candidates as Candidate[])]);
        }
        return;
      case 'call_ended':
        await call?.close();
        return;
    }
  }

  /** Throws what went wrong while this device handled frames by itself. */
  check(): void {
    this.ws.assertContract();
    if (this.problems.length > 0) throw new Error(`${this.label}: ${this.problems.join('; ')}`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.calls.values()].map((c) => c.close()));
    if (this.ws.closeCode === undefined) {
      this.ws.socket.terminate();
      await this.ws.closed;
    }
  }
}

/** Devices a test file opened; `closeAll` checks and closes them. */
export class Devices {
  private readonly open: Device[] = [];

  async open1(server: Server, session: Session, label: string, opts?: DeviceOptions): Promise<Device> {
    const device = await Device.open(server, session, label, opts);
    this.open.push(device);
    return device;
  }

  async closeAll(): Promise<void> {
    const all = this.open.splice(0);
    const problems: string[] = [];
    for (const d of all) {
      try {
        d.check();
      } catch (err) {
        problems.push(String(err));
      }
    }
    await Promise.all(all.map((d) => d.close()));
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }
}

/** Sends a data-channel message each way and waits for both. */
export async function exchange(a: PeerCall, b: PeerCall, tag = 'hello'): Promise<void> {
  const [ca, cb] = await Promise.all([a.channel(), b.channel()]);
  ca.send(`${tag} from ${a.device.label}`);
  cb.send(`${tag} from ${b.device.label}`);
  await Promise.all([b.message((m) => m === `${tag} from ${a.device.label}`), a.message((m) => m === `${tag} from ${b.device.label}`)]);
}

/** The call's record: the message of type call in the conversation's history, as `token`'s owner sees it. */
export async function callRecord(server: Server, token: string, conversationId: number, callId: string): Promise<any> {
  const res = await server.request('GET', `/api/v1/conversations/${conversationId}/messages?limit=100`, { token });
  if (res.status !== 200) throw new Error(`history: ${res.status} ${JSON.stringify(res.body)}`);
  const found = (res.body.messages as any[]).filter((m) => m.type === 'call' && m.call?.call_id === callId);
  if (found.length !== 1) throw new Error(`${found.length} call records for ${callId} in ${JSON.stringify(res.body.messages).slice(0, 1500)}`);
  return found[0];
}

/** The conversation as `token`'s owner lists it (GET /conversations). */
export async function listed(server: Server, token: string, conversationId: number): Promise<any> {
  const res = await server.request('GET', '/api/v1/conversations?limit=100', { token });
  if (res.status !== 200) throw new Error(`conversations: ${res.status} ${JSON.stringify(res.body)}`);
  const conv = (res.body.conversations as any[]).find((c) => c.id === conversationId);
  if (!conv) throw new Error(`conversation ${conversationId} is not listed`);
  return conv;
}

export async function directConversation(server: Server, a: Session, b: { id: number }): Promise<number> {
  const res = await server.request('POST', '/api/v1/conversations', { token: a.token, body: { type: 'direct', participant_id: b.id } });
  if (res.status >= 300) throw new Error(`direct: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.conversation.id as number;
}

export async function groupConversation(server: Server, owner: Session, members: { id: number }[]): Promise<number> {
  const res = await server.request('POST', '/api/v1/conversations', {
    token: owner.token,
    body: { type: 'group', name: 'G', participant_ids: members.map((m) => m.id) },
  });
  if (res.status >= 300) throw new Error(`group: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.conversation.id as number;
}

/** Two UUIDs, the lesser first (as natter compares call ids: lower-case text). */
export function orderedCallIds(): [string, string] {
  const ids = [randomUUID(), randomUUID()].sort();
  return [ids[0]!, ids[1]!];
}
