import createClient, { type Client } from 'openapi-fetch';
import { Calls, type TurnCredentials } from './calls.js';
import { must, NatterError } from './errors.js';
import type { paths } from './generated/openapi.js';
import { memoryOutboxStore, outboxOrder, type OutboxEntry, type OutboxStore } from './outbox.js';
import { memoryTokenStore, Session, tokenSubject, toTokens, unref, type AuthReply, type TokenStore } from './session.js';
import type { Attachment, ClientFrame, Me, Message, ServerFrame, ServerFrameOf, ServerFrameType } from './types.js';
import { uploadOnce, type UploadOptions } from './upload.js';

export type ConnectionState = 'idle' | 'connecting' | 'online' | 'offline';

/**
 * The part of a WebSocket the client uses: the browser's `WebSocket` and the `ws`
 * package's both fit (handlers take `never` so either's event types are accepted).
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: never) => void) | null;
  onclose: ((ev: never) => void) | null;
  onerror: ((ev: never) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface Presence {
  online: boolean;
  last_seen?: string | null;
}

export interface NatterClientOptions {
  /** Where natter is, e.g. `http://localhost:8080`; `''` in a browser served by natter's origin. */
  baseUrl: string;
  /** The WebSocket implementation: the global one by default; in Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  fetch?: typeof fetch;
  /** Where tokens are kept (default: memory). */
  tokenStore?: TokenStore;
  /** Where unacknowledged messages are kept (default: memory). */
  outboxStore?: OutboxStore;
  /** Reconnect delays: exponential from `initialDelayMs` (500) up to `maxDelayMs` (30 s), with jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** A `ping` after this long with no frame (25 s); a second silent spell closes the socket and reconnects. */
  pingIntervalMs?: number;
  /** `typing`: start frames at most every `throttleMs` (2.5 s), a stop after `idleMs` (3 s) without a call. */
  typing?: { throttleMs?: number; idleMs?: number };
  /** `markDelivered` / `markRead` calls within this spell (250 ms) go out as one frame per conversation. */
  receiptDelayMs?: number;
  /**
   * The largest frame natter takes (its `WS_MAX_PAYLOAD`, 256 KiB by default): a message
   * whose frame is larger fails at once (`message_too_large`) instead of closing the socket.
   */
  maxFrameBytes?: number;
  /**
   * A message sent but not echoed within this long (10 s) is sent again with its
   * `client_id` (natter answers a repeat with the original's echo): an echo lost between
   * nodes does not leave it pending until the next reconnect.
   */
  echoTimeoutMs?: number;
  /** Calls: an active call's `call_connected` keepalive is repeated every `keepaliveMs` (15 s; natter ends a call silent for 60 s). */
  calls?: { keepaliveMs?: number };
}

export interface SendInput {
  content: string;
  message_type?: string;
  reply_to_id?: number;
  attachment_ids?: number[];
}

type JsonBody<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;
/** What /auth/register takes (generated), and the `display_name` apps may send. */
export type RegisterBody = JsonBody<'/api/v1/auth/register', 'post'> & { display_name?: string };
export type LoginBody = JsonBody<'/api/v1/auth/login', 'post'>;

/** What `GET /conversations/{id}/messages` takes (generated): `before_seq`, `after_seq`, `limit`. */
export type HistoryQuery = NonNullable<paths['/api/v1/conversations/{id}/messages']['get']['parameters']['query']>;
/** A page of history (generated): the messages, oldest first, and whether more lie beyond it in that direction. */
export type HistoryPage = paths['/api/v1/conversations/{id}/messages']['get']['responses'][200]['content']['application/json'];
type UploadAnswer = paths['/api/v1/conversations/{id}/attachments']['post']['responses'][201]['content']['application/json'];

type Timer = ReturnType<typeof setTimeout>;
type Listener<T> = (value: T) => void;

/** A conversation's unread count: `base` messages up to `baseSeq` (from REST), plus unread seqs seen live. */
interface UnreadState {
  base: number;
  baseSeq: number;
  live: Set<number>;
}

const OPEN = 1;
/** How often a message natter answers `internal` is sent again before it is marked failed. */
const INTERNAL_RETRIES = 5;

/**
 * natter's client: typed REST (`api`), the session, and the real-time connection with
 * sync, gap repair, an outbox, receipts, typing, unread counts and presence.
 * docs/protocol.md is the contract it implements; client/README.md shows it in use.
 */
export class NatterClient {
  /** The REST API, typed from natter's OpenAPI document; bearer token and refresh-on-401 built in. */
  readonly api: Client<paths>;
  /** Calls: the signalling frames as methods (their events come through `on('call_invite', …)` and the like). */
  readonly calls: Calls;

  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly WebSocketImpl: WebSocketConstructor | undefined;
  private readonly session: Session<Me>;
  private readonly outboxStore: OutboxStore;
  private readonly opts: Required<Pick<NatterClientOptions, 'pingIntervalMs' | 'receiptDelayMs' | 'maxFrameBytes' | 'echoTimeoutMs'>> & {
    initialDelayMs: number;
    maxDelayMs: number;
    throttleMs: number;
    idleMs: number;
  };

  private me: Me | null = null;
  /** This session's public device id (auth replies, the `connected` frame). */
  private device: string | null = null;

  // real-time
  private ws: WebSocketLike | null = null;
  private state_: ConnectionState = 'idle';
  private wanted = false;
  private attempt = 0;
  private reconnectTimer: Timer | null = null;
  private pingTimer: Timer | null = null;
  private lastFrameAt = 0;
  private pinged = false;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Per conversation: the highest seq held with nothing missing below it. */
  private readonly held = new Map<number, number>();
  /** Per conversation: seqs above `held` already received (past a gap). */
  private readonly seen = new Map<number, Set<number>>();
  private modSeqs: Record<string, number> = {};
  /**
   * Conversations no `synced` has given a mod_seq yet (begun, or joined, since the last
   * sync): 0 if their first message came live, else the lowest mod_seq their live frames
   * carried minus one (see `sawChange`). The next sync asks for the changes after it;
   * without it, that sync would only give the baseline, and every edit, delete, reaction
   * or call outcome made while away in them would be missed.
   */
  private readonly unsyncedModSeqs = new Map<string, number>();
  private syncing = false;
  private resync = false;
  /** The sync a `connected` started is running: its `synced` refreshes the unread counts. */
  private connectSync = false;

  // outbox
  private entries: OutboxEntry[] = [];
  private readonly outboxLoaded: Promise<void>;
  private outboxLive = false;
  private lastCreated = 0;
  /** Entries sent on the current socket and not echoed yet: the largest is at fault when natter closes it for a frame's size. */
  private sentOnSocket = new Map<string, number>();
  private echoTimer: Timer | null = null;
  /** Per entry: how often natter answered it `internal` in a row. */
  private readonly internalRetries = new Map<string, number>();
  private persistChain: Promise<void> = Promise.resolve();

  // receipts, typing, unread, presence
  private readonly pendingReceipts = new Map<number, { delivered: number; read: number }>();
  private readonly sentReceipts = new Map<number, { delivered: number; read: number }>();
  private receiptTimer: Timer | null = null;
  private readonly typingState = new Map<number, { sentAt: number; stop: Timer }>();
  private readonly unreadState = new Map<number, UnreadState>();
  private readonly unreadMap = new Map<number, number>();
  private readonly presenceMap = new Map<number, Presence>();
  /** Users a status_change told about on this socket: newer than a participants list read meanwhile. */
  private readonly presenceFromFrames = new Set<number>();

  // listeners
  private readonly frameListeners = new Map<string, Set<Listener<never>>>();
  private readonly anyFrameListeners = new Set<Listener<ServerFrame>>();
  private readonly stateListeners = new Set<Listener<ConnectionState>>();
  private readonly userListeners = new Set<Listener<Me | null>>();
  private readonly outboxListeners = new Set<Listener<OutboxEntry[]>>();
  private readonly unreadListeners = new Set<Listener<ReadonlyMap<number, number>>>();
  private readonly presenceListeners = new Set<Listener<ReadonlyMap<number, Presence>>>();
  private readonly errorListeners = new Set<Listener<unknown>>();
  private readonly onOnline = () => {
    if (this.wanted && this.state_ === 'offline') this.reconnectNow();
  };

  constructor(opts: NatterClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.WebSocketImpl = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.opts = {
      pingIntervalMs: opts.pingIntervalMs ?? 25_000,
      receiptDelayMs: opts.receiptDelayMs ?? 250,
      maxFrameBytes: opts.maxFrameBytes ?? 256 * 1024,
      echoTimeoutMs: opts.echoTimeoutMs ?? 10_000,
      initialDelayMs: opts.reconnect?.initialDelayMs ?? 500,
      maxDelayMs: opts.reconnect?.maxDelayMs ?? 30_000,
      throttleMs: opts.typing?.throttleMs ?? 2500,
      idleMs: opts.typing?.idleMs ?? 3000,
    };
    this.session = new Session<Me>(this.baseUrl, this.fetchFn, opts.tokenStore ?? memoryTokenStore(), (user) =>
      user ? this.setUser(user) : this.signedOut(),
    );
    this.api = createClient<paths>({ baseUrl: this.baseUrl, fetch: this.session.fetch });
    this.outboxStore = opts.outboxStore ?? memoryOutboxStore();
    this.calls = new Calls({
      sendFrame: (frame) => this.sendFrame(frame),
      online: () => this.state_ === 'online',
      on: (type, fn) => this.on(type, fn),
      turn: () => this.turnCredentials(),
    }, undefined, opts.calls?.keepaliveMs);
    this.outboxLoaded = this.outboxStore.load().then(
      (loaded) => {
        const known = new Set(loaded.map((e) => e.client_id));
        this.entries = [...loaded.sort(outboxOrder), ...this.entries.filter((e) => !known.has(e.client_id))];
        this.lastCreated = Math.max(this.lastCreated, ...this.entries.map((e) => e.created_at));
        this.emitOutbox();
      },
      (err: unknown) => this.report(err),
    );
    const target = globalThis as { addEventListener?: (type: string, fn: () => void) => void };
    target.addEventListener?.('online', this.onOnline);
  }

  // ---------------------------------------------------------------- session

  /** The signed-in user (their own view, `Me`), or null. */
  get user(): Me | null {
    return this.me;
  }

  /**
   * This session's public id as a device (what call frames name it by: `from_device`,
   * `call_selected`), from the sign-in's answer or the `connected` frame; null before either.
   */
  get deviceId(): string | null {
    return this.device ?? this.session.tokens?.device_id ?? null;
  }

  /** Called with the user whenever it changes (sign-in, profile refresh), and null on sign-out (also a session that ended). */
  onUser(fn: Listener<Me | null>): () => void {
    return this.listen(this.userListeners, fn);
  }

  /** Creates an account and signs in. (natter has no display name yet: `display_name` is accepted and ignored by the server.) */
  async register(body: RegisterBody): Promise<Me> {
    return this.signedIn(must(await this.api.POST('/api/v1/auth/register', { body })));
  }

  /** Signs in; `email` may also be a username. */
  async login(body: LoginBody): Promise<Me> {
    return this.signedIn(must(await this.api.POST('/api/v1/auth/login', { body })));
  }

  /**
   * Signs in from the token store (refreshing first if the access token is about to
   * expire); null when signed out. Offline (natter unreachable) it signs in with the user
   * the store keeps beside the tokens, so the outbox works before the network does.
   */
  async restore(): Promise<Me | null> {
    const tokens = await this.session.load();
    if (!tokens) return null;
    let res;
    try {
      res = await this.api.GET('/api/v1/users/me');
    } catch (err) {
      const user = tokens.user as Me | undefined;
      if (!user || this.session.tokens !== tokens || String(user.id) !== tokenSubject(tokens.access_token)) throw err;
      this.setUser(user);
      return user;
    }
    if (res.response.status === 401) {
      await this.session.end();
      return null;
    }
    const { user } = must(res);
    this.setUser(user);
    await this.session.setUser(user);
    return user;
  }

  /** Ends the session on the server (best effort), disconnects and forgets the user's tokens and unsent messages. */
  async logout(): Promise<void> {
    const me = this.me;
    this.disconnect();
    if (this.session.tokens) await this.api.POST('/api/v1/auth/logout').catch(() => undefined);
    if (me) for (const e of this.entries.filter((x) => x.user_id === me.id)) this.removeEntry(e.client_id);
    await this.session.end();
    await this.persistChain;
  }

  /** Disconnects and stops every timer: the client can be dropped. Tokens and outbox stay in their stores. */
  close(): void {
    this.disconnect();
    this.session.close();
    const target = globalThis as { removeEventListener?: (type: string, fn: () => void) => void };
    target.removeEventListener?.('online', this.onOnline);
  }

  private async signedIn(reply: AuthReply<Me>): Promise<Me> {
    this.device = reply.device_id ?? null;
    await this.session.set(toTokens(reply));
    this.setUser(reply.user);
    return reply.user;
  }

  private setUser(user: Me): void {
    if (this.me && this.me.id !== user.id) this.resetUserState();
    this.me = user;
    this.emit(this.userListeners, user);
  }

  private signedOut(): void {
    const had = this.me;
    this.disconnect(new NatterError(401, 'unauthorized', 'signed out'));
    this.resetUserState();
    this.calls.clear();
    this.device = null;
    this.me = null;
    if (had) this.emit(this.userListeners, null);
  }

  private resetUserState(): void {
    this.held.clear();
    this.seen.clear();
    this.modSeqs = {};
    this.unsyncedModSeqs.clear();
    this.connectSync = false;
    this.pendingReceipts.clear();
    this.sentReceipts.clear();
    this.unreadState.clear();
    this.unreadMap.clear();
    this.presenceMap.clear();
    this.emitOutbox();
  }

  // ---------------------------------------------------------------- real-time

  get state(): ConnectionState {
    return this.state_;
  }

  onState(fn: Listener<ConnectionState>): () => void {
    return this.listen(this.stateListeners, fn);
  }

  /** Every server frame of `type` (ignoring duplicate `new_message` frames a resend or sync repeats). */
  on<T extends ServerFrameType>(type: T, fn: (frame: ServerFrameOf<T>) => void): () => void {
    let set = this.frameListeners.get(type);
    if (!set) this.frameListeners.set(type, (set = new Set()));
    return this.listen(set as Set<Listener<ServerFrameOf<T>>>, fn);
  }

  /** Every server frame, any type (also types this SDK does not know yet). */
  onFrame(fn: Listener<ServerFrame>): () => void {
    return this.listen(this.anyFrameListeners, fn);
  }

  /** Faults the client handled itself (a store that failed, a count it could not refresh). */
  onError(fn: Listener<unknown>): () => void {
    return this.listen(this.errorListeners, fn);
  }

  /**
   * Opens the socket; resolves once natter said `connected` and the first `sync` is sent.
   * From then on it reconnects by itself (exponential backoff with jitter) until
   * `disconnect()`. Rejects when signed out, or when disconnected before connecting.
   */
  connect(): Promise<void> {
    if (!this.session.tokens) return Promise.reject(new NatterError(401, 'unauthorized', 'sign in before connecting'));
    this.wanted = true;
    if (this.state_ === 'online') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.ws && !this.reconnectTimer) void this.open();
    return p;
  }

  /** Closes the socket and stops reconnecting. Unsent messages stay in the outbox. */
  disconnect(reason: Error = new Error('disconnected')): void {
    this.wanted = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      try {
        ws.close(1000);
      } catch {
        // closing a socket that never opened may throw; it is gone either way
      }
    }
    this.socketGone();
    for (const t of this.typingState.values()) clearTimeout(t.stop);
    this.typingState.clear();
    if (this.receiptTimer) clearTimeout(this.receiptTimer);
    this.receiptTimer = null;
    this.setState('idle');
    for (const w of this.waiters.splice(0)) w.reject(reason);
  }

  /**
   * Tells the client that the app holds `conversationId` up to `seq` (from its own cache
   * after a reload, say): the next sync asks for what follows.
   */
  hold(conversationId: number, seq: number): void {
    if (seq > (this.held.get(conversationId) ?? 0)) this.held.set(conversationId, seq);
  }

  /**
   * Tells the client the app holds `conversationId`'s changes up to `modSeq` (what
   * `heldModSeq` said, kept in the app's cache; 0 for all): the next sync asks for the
   * edits, deletes and reactions after it. With `hold`, what a reload needs.
   */
  holdModSeq(conversationId: number, modSeq: number): void {
    const key = String(conversationId);
    const had = this.modSeqs[key];
    if (Number.isInteger(modSeq) && modSeq >= 0 && (had === undefined || modSeq > had)) this.modSeqs[key] = modSeq;
  }

  /** The change counter the next sync asks a conversation's changes after (undefined: none yet). */
  heldModSeq(conversationId: number): number | undefined {
    const key = String(conversationId);
    return this.modSeqs[key] ?? this.unsyncedModSeqs.get(key);
  }

  /** The highest seq held of a conversation with nothing missing below it (undefined: unknown). */
  heldSeq(conversationId: number): number | undefined {
    return this.held.get(conversationId);
  }

  private wsUrl(token: string): string {
    const origin = this.baseUrl || ((globalThis as { location?: { origin: string } }).location?.origin ?? '');
    return `${origin.replace(/^http/, 'ws')}/api/v1/ws?token=${encodeURIComponent(token)}`;
  }

  private async open(): Promise<void> {
    this.setState('connecting');
    let token: string | null;
    try {
      token = await this.session.accessToken();
    } catch (err) {
      this.report(err);
      return this.scheduleReconnect();
    }
    if (!this.wanted || this.ws) return;
    if (!token) return this.signedOut();
    const Impl = this.WebSocketImpl;
    if (!Impl) {
      this.disconnect(new Error('NatterClient: no WebSocket here; pass one (in Node: `ws`) as the WebSocket option'));
      return;
    }
    const ws = new Impl(this.wsUrl(token));
    this.ws = ws;
    let opened = false;
    ws.onopen = (() => {
      opened = true;
    }) as never;
    ws.onmessage = ((ev: { data: unknown }) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      this.pinged = false;
      let frame: unknown;
      try {
        frame = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (frame && typeof frame === 'object' && typeof (frame as { type?: unknown }).type === 'string') {
        this.handleFrame(frame as ServerFrame);
      }
    }) as never;
    ws.onclose = ((ev: { code?: number }) => {
      if (this.ws !== ws) return;
      this.detach(ws);
      this.closed(ev.code ?? 1006, opened);
    }) as never;
    ws.onerror = (() => {}) as never;
  }

  private detach(ws: WebSocketLike): void {
    ws.onopen = ws.onmessage = ws.onclose = null;
    // Kept, not nulled: `ws` emits 'error' after closing a socket still connecting, and an
    // 'error' with no listener is an uncaught exception in Node.
    ws.onerror = (() => {}) as never;
    if (this.ws === ws) this.ws = null;
  }

  private socketGone(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.outboxLive = false;
    this.sentOnSocket = new Map();
    if (this.echoTimer) clearTimeout(this.echoTimer);
    this.echoTimer = null;
    // Who is online is unknown while away (status_change frames are missed): cleared, and
    // filled in again after the next connect's sync.
    this.presenceFromFrames.clear();
    if (this.presenceMap.size) {
      this.presenceMap.clear();
      this.emit(this.presenceListeners, this.presenceMap);
    }
    this.syncing = false;
    this.resync = false;
  }

  private closed(code: number, opened: boolean): void {
    const culprit = this.largestUnacked();
    this.socketGone();
    if ((code === 1009 || code === 1003) && culprit) {
      // natter refused the frame itself: resending it would close every socket after this one.
      this.failEntry(culprit, 'message_too_large', `the message's frame was refused (close ${code})`);
    }
    if (!this.wanted) return this.setState('idle');
    this.setState('offline');
    if (code === 4001) {
      // The session ended: a refresh tells whether it can go on (else signed out).
      const token = this.session.tokens?.access_token;
      if (!token) return this.signedOut();
      this.session.refresh(token).then(
        (ok) => (ok ? this.scheduleReconnect() : undefined),
        () => this.scheduleReconnect(),
      );
      return;
    }
    if (!opened) {
      // Refused before the upgrade (a 401 looks like any failure to a WebSocket): check
      // the token over REST, which refreshes it or ends the session.
      this.api.GET('/api/v1/users/me').then(
        () => (this.wanted ? this.scheduleReconnect() : undefined),
        () => this.scheduleReconnect(),
      );
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.wanted || this.reconnectTimer || this.ws) return;
    this.setState('offline');
    const cap = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.reconnectTimer = unref(
      setTimeout(() => {
        this.reconnectTimer = null;
        void this.open();
      }, delay),
    );
  }

  private reconnectNow(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.attempt = 0;
    if (!this.ws) void this.open();
  }

  private startPing(ws: WebSocketLike): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pinged = false;
    this.pingTimer = setInterval(() => {
      if (this.ws !== ws) return;
      if (Date.now() - this.lastFrameAt < this.opts.pingIntervalMs) return;
      if (!this.pinged) {
        this.pinged = true;
        this.sendFrame({ type: 'ping' });
        return;
      }
      // Nothing for two spells: the connection is dead though no close arrived.
      this.detach(ws);
      const { terminate } = ws as { terminate?: () => void };
      if (terminate) terminate.call(ws);
      else ws.close();
      this.closed(1006, true);
    }, this.opts.pingIntervalMs);
    unref(this.pingTimer);
  }

  private sendFrame(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN || this.state_ !== 'online') return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  private sendSync(): void {
    const since: Record<string, number> = {};
    for (const [c, seq] of this.held) since[String(c)] = seq;
    this.syncing = this.sendFrame({ type: 'sync', since, changes_since: { ...Object.fromEntries(this.unsyncedModSeqs), ...this.modSeqs } });
  }

  /**
   * A live frame carried a change of `conversationId`: counted for a conversation no sync
   * gave a baseline. Its first message (seq 1) means the conversation began since: every
   * change of it is wanted (0). Else one below the lowest seen — an earlier change still on
   * its way when the socket dropped could be missed (changes may arrive out of order).
   */
  private sawChange(conversationId: number, modSeq: number | undefined, seq?: number): void {
    const key = String(conversationId);
    if (typeof modSeq !== 'number' || modSeq < 1 || this.modSeqs[key] !== undefined) return;
    const from = seq === 1 ? 0 : modSeq - 1;
    const low = this.unsyncedModSeqs.get(key);
    if (low === undefined || from < low) this.unsyncedModSeqs.set(key, from);
  }

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'connected': {
        const ws = this.ws;
        if (!ws) return;
        this.device = frame.device_id;
        this.setState('online');
        this.startPing(ws);
        this.sendSync();
        this.connectSync = true;
        this.flushReceipts();
        void this.flushOutbox(ws);
        for (const w of this.waiters.splice(0)) w.resolve();
        break;
      }
      case 'new_message':
        this.sawChange(frame.message.conversation_id, frame.message.mod_seq, frame.message.seq);
        if (!this.acceptMessage(frame.message)) return;
        break;
      case 'synced':
        this.onSynced(frame);
        break;
      case 'receipt':
        this.onReceipt(frame);
        break;
      case 'message_updated':
        this.sawChange(frame.message.conversation_id, frame.message.mod_seq);
        this.uncountDeleted(frame.message);
        break;
      case 'reaction':
        this.sawChange(frame.conversation_id, frame.mod_seq);
        break;
      case 'status_change':
        this.presenceFromFrames.add(frame.user_id);
        this.presenceMap.set(frame.user_id, { online: frame.status === 'online', last_seen: frame.last_seen });
        this.emit(this.presenceListeners, this.presenceMap);
        break;
      case 'error':
        if (frame.client_id) this.onSendRefused(frame.client_id, frame.code, frame.error);
        else if (frame.field && /^(since|changes_since)(\.|$)/.test(frame.field)) this.onSyncRefused(frame.field, frame);
        break;
      default:
        break;
    }
    const set = this.frameListeners.get(frame.type) as Set<Listener<ServerFrame>> | undefined;
    if (set) this.emit(set, frame);
    this.emit(this.anyFrameListeners, frame);
  }

  /** Applies a message's place in its conversation; false for one already had (not passed on). */
  private acceptMessage(m: ServerFrameOf<'new_message'>['message']): boolean {
    if (m.client_id && this.me && m.sender_id === this.me.id) this.ackEntry(m.client_id);
    const c = m.conversation_id;
    const held = this.held.get(c);
    const seen = this.seen.get(c);
    if (held === undefined) {
      // A conversation new to the client: it starts here (the app pages history over REST).
      this.held.set(c, m.seq);
    } else if (m.seq <= held || seen?.has(m.seq)) {
      return false;
    } else if (m.seq === held + 1) {
      let top = m.seq;
      while (seen?.delete(top + 1)) top++;
      this.held.set(c, top);
    } else {
      // A gap: something was missed (a frame lost between nodes). Sync repairs it.
      if (seen) seen.add(m.seq);
      else this.seen.set(c, new Set([m.seq]));
      if (this.syncing) this.resync = true;
      else this.sendSync();
    }
    this.countUnread(m);
    return true;
  }

  private onSynced(frame: ServerFrameOf<'synced'>): void {
    for (const [key, seq] of Object.entries(frame.conversations)) {
      const c = Number(key);
      const top = Math.max(this.held.get(c) ?? 0, seq);
      this.held.set(c, top);
      const seen = this.seen.get(c);
      if (seen) for (const s of seen) if (s <= top) seen.delete(s);
    }
    this.modSeqs = { ...this.modSeqs, ...frame.mod_seqs };
    for (const key of Object.keys(frame.mod_seqs)) this.unsyncedModSeqs.delete(key);
    this.syncing = false;
    this.attempt = 0;
    if (this.resync) {
      this.resync = false;
      this.sendSync();
    }
    // After every (re)connect: reads on other devices while away sent no frames here.
    if (this.connectSync) {
      this.connectSync = false;
      void this.refreshUnread();
      void this.refreshPresence();
    }
  }

  /**
   * natter refused the sync (it has no client_id; `field` is `since.<id>`, `changes_since.<id>`
   * or the whole object): the sync is over. What it named is dropped and the sync sent again
   * without it; a refusal of the whole object is only reported (nothing sent again).
   */
  private onSyncRefused(field: string, frame: ServerFrameOf<'error'>): void {
    this.syncing = false;
    this.report(new NatterError(0, frame.code, frame.error, field));
    const [, part, key] = /^(since|changes_since)\.(.+)$/.exec(field) ?? [];
    if (!key) {
      this.resync = false;
      return;
    }
    if (part === 'since') {
      this.held.delete(Number(key));
      this.seen.delete(Number(key));
    }
    delete this.modSeqs[key];
    this.unsyncedModSeqs.delete(key);
    this.resync = false;
    this.sendSync();
  }

  // ---------------------------------------------------------------- outbox

  /**
   * Sends a message through the outbox: it gets a `client_id`, goes out now when online
   * (else on the next connect), and stays in the outbox until its echo arrives.
   */
  send(conversationId: number, msg: SendInput): OutboxEntry {
    if (!this.me) throw new NatterError(401, 'unauthorized', 'sign in before sending');
    this.lastCreated = Math.max(Date.now(), this.lastCreated + 1);
    const entry: OutboxEntry = {
      client_id: crypto.randomUUID(),
      conversation_id: conversationId,
      content: msg.content,
      message_type: msg.message_type ?? (msg.attachment_ids?.length ? 'auto' : 'text'),
      reply_to_id: msg.reply_to_id ?? null,
      ...(msg.attachment_ids ? { attachment_ids: [...msg.attachment_ids] } : {}),
      created_at: this.lastCreated,
      status: 'pending',
      user_id: this.me.id,
    };
    this.entries.push(entry);
    this.persist(entry);
    this.stopTyping(conversationId);
    if (this.tooLarge(entry)) this.failEntry(entry.client_id, 'message_too_large', `the message's frame is larger than ${this.opts.maxFrameBytes} bytes`);
    else if (this.outboxLive) this.sendEntry(entry);
    this.emitOutbox();
    return { ...entry };
  }

  get outbox(): {
    entries(conversationId?: number): OutboxEntry[];
    on(fn: (entries: OutboxEntry[]) => void): () => void;
    retry(clientId: string): void;
    discard(clientId: string): void;
  } {
    return {
      entries: (conversationId?: number) =>
        this.mine().filter((e) => conversationId === undefined || e.conversation_id === conversationId),
      on: (fn) => this.listen(this.outboxListeners, fn),
      retry: (clientId) => {
        const e = this.entries.find((x) => x.client_id === clientId);
        if (!e || e.status !== 'failed') return;
        e.status = 'pending';
        delete e.error;
        this.internalRetries.delete(clientId);
        this.persist(e);
        if (this.tooLarge(e)) this.failEntry(e.client_id, 'message_too_large', `the message's frame is larger than ${this.opts.maxFrameBytes} bytes`);
        else if (this.outboxLive) this.sendEntry(e);
        this.emitOutbox();
      },
      discard: (clientId) => this.removeEntry(clientId),
    };
  }

  /** Resolves once every outbox change so far is in the outbox store. */
  flushed(): Promise<void> {
    return this.outboxLoaded.then(() => this.persistChain);
  }

  private mine(): OutboxEntry[] {
    const id = this.me?.id;
    return this.entries.filter((e) => e.user_id === undefined || e.user_id === id).map((e) => ({ ...e }));
  }

  private async flushOutbox(ws: WebSocketLike): Promise<void> {
    await this.outboxLoaded;
    if (this.ws !== ws || this.state_ !== 'online') return;
    for (const e of this.entries) {
      if (e.status === 'pending' && (e.user_id === undefined || e.user_id === this.me?.id)) this.sendEntry(e);
    }
    this.outboxLive = true;
  }

  private frameOf(e: OutboxEntry): ClientFrame {
    return {
      type: 'message',
      conversation_id: e.conversation_id,
      content: e.content,
      client_id: e.client_id,
      ...(e.message_type === 'auto' ? {} : { message_type: e.message_type }),
      ...(e.reply_to_id == null ? {} : { reply_to_id: e.reply_to_id }),
      ...(e.attachment_ids?.length ? { attachment_ids: e.attachment_ids } : {}),
    } as ClientFrame;
  }

  private tooLarge(e: OutboxEntry): boolean {
    return new TextEncoder().encode(JSON.stringify(this.frameOf(e))).length > this.opts.maxFrameBytes;
  }

  private sendEntry(e: OutboxEntry): void {
    if (this.tooLarge(e)) {
      this.failEntry(e.client_id, 'message_too_large', `the message's frame is larger than ${this.opts.maxFrameBytes} bytes`);
      return;
    }
    if (!this.sendFrame(this.frameOf(e))) return;
    this.sentOnSocket.set(e.client_id, Date.now());
    this.echoTimer ??= unref(setTimeout(() => this.checkEchoes(), this.opts.echoTimeoutMs));
  }

  /** Sends again, in outbox order, what has waited longer than `echoTimeoutMs` for its echo on this socket. */
  private checkEchoes(): void {
    this.echoTimer = null;
    if (this.state_ !== 'online') return;
    const due = Date.now() - this.opts.echoTimeoutMs;
    let waiting = false;
    for (const e of this.entries) {
      const sentAt = this.sentOnSocket.get(e.client_id);
      if (sentAt === undefined || e.status !== 'pending') continue;
      if (sentAt <= due) this.sendEntry(e);
      waiting = true;
    }
    if (waiting) this.echoTimer ??= unref(setTimeout(() => this.checkEchoes(), this.opts.echoTimeoutMs / 2));
  }

  private largestUnacked(): string | null {
    let best: { id: string; size: number } | null = null;
    for (const e of this.entries) {
      if (!this.sentOnSocket.has(e.client_id) || e.status !== 'pending') continue;
      const size = new TextEncoder().encode(JSON.stringify(this.frameOf(e))).length;
      if (!best || size > best.size) best = { id: e.client_id, size };
    }
    return best?.id ?? null;
  }

  private ackEntry(clientId: string): void {
    if (this.entries.some((e) => e.client_id === clientId)) this.removeEntry(clientId);
  }

  private removeEntry(clientId: string): void {
    const i = this.entries.findIndex((e) => e.client_id === clientId);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.sentOnSocket.delete(clientId);
    this.internalRetries.delete(clientId);
    this.persistChain = this.persistChain.then(() => this.outboxStore.delete(clientId)).catch((err: unknown) => this.report(err));
    this.emitOutbox();
  }

  private persist(e: OutboxEntry): void {
    const snapshot = { ...e };
    this.persistChain = this.persistChain.then(() => this.outboxStore.put(snapshot)).catch((err: unknown) => this.report(err));
  }

  private onSendRefused(clientId: string, code: string, error: string): void {
    const e = this.entries.find((x) => x.client_id === clientId);
    if (!e) return;
    if (code === 'internal') {
      // A fault on the server: the same client_id again is safe. Tried again with the
      // reconnect's growing delays, at most INTERNAL_RETRIES times; then it fails (retry() starts over).
      const n = (this.internalRetries.get(clientId) ?? 0) + 1;
      if (n <= INTERNAL_RETRIES) {
        this.internalRetries.set(clientId, n);
        const ws = this.ws;
        const delay = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** (n - 1));
        unref(setTimeout(() => this.ws === ws && this.entries.includes(e) && e.status === 'pending' && this.sendEntry(e), delay));
        return;
      }
      this.internalRetries.delete(clientId);
    }
    this.failEntry(clientId, code, error);
  }

  /** The entry is refused for good (until `retry`): `failed` with natter's code, and reported. */
  private failEntry(clientId: string, code: string, error: string): void {
    const e = this.entries.find((x) => x.client_id === clientId);
    if (!e || e.status === 'failed') return;
    e.status = 'failed';
    e.error = code;
    this.persist(e);
    this.emitOutbox();
    this.report(new NatterError(0, code, error));
  }

  private emitOutbox(): void {
    if (this.outboxListeners.size) this.emit(this.outboxListeners, this.mine());
  }

  // ---------------------------------------------------------------- messages over REST

  /** Edits a message (the sender, within the edit window); every member gets `message_updated`. */
  async edit(conversationId: number, messageId: number, content: string): Promise<Message> {
    const res = await this.api.PATCH('/api/v1/conversations/{id}/messages/{messageId}', {
      params: { path: { id: conversationId, messageId } },
      body: { content },
    });
    return must(res).message;
  }

  /** Deletes a message for everyone (`forEveryone`, the sender only) or, by default, for your own devices. */
  async delete(conversationId: number, messageId: number, forEveryone = false): Promise<Message> {
    const res = await this.api.DELETE('/api/v1/conversations/{id}/messages/{messageId}', {
      params: { path: { id: conversationId, messageId }, query: forEveryone ? {} : { for: 'me' } },
    });
    return must(res).message;
  }

  /** Adds (`on`) or takes back a reaction; every member gets a `reaction` frame. */
  async react(conversationId: number, messageId: number, emoji: string, on: boolean): Promise<Message> {
    const params = { path: { id: conversationId, messageId, emoji } };
    const res = on
      ? await this.api.PUT('/api/v1/conversations/{id}/messages/{messageId}/reactions/{emoji}', { params })
      : await this.api.DELETE('/api/v1/conversations/{id}/messages/{messageId}/reactions/{emoji}', { params });
    return must(res).message;
  }

  /** A page of a conversation's messages, oldest first (`before_seq` pages back). `historyPage` also tells whether to page on. */
  async history(conversationId: number, opts: HistoryQuery = {}): Promise<Message[]> {
    return (await this.historyPage(conversationId, opts)).messages;
  }

  /** A page of a conversation's messages, oldest first, with `has_more`: whether more lie beyond it in that direction. */
  async historyPage(conversationId: number, opts: HistoryQuery = {}): Promise<HistoryPage> {
    const res = await this.api.GET('/api/v1/conversations/{id}/messages', {
      params: { path: { id: conversationId }, query: opts },
    });
    return must(res);
  }

  // ---------------------------------------------------------------- receipts

  /** Everything up to `seq` reached this device. Calls within `receiptDelayMs` make one frame. */
  markDelivered(conversationId: number, seq: number): void {
    this.queueReceipt(conversationId, 'delivered', seq);
  }

  /** The user saw everything up to `seq` (implies delivered). Calls within `receiptDelayMs` make one frame. */
  markRead(conversationId: number, seq: number): void {
    this.queueReceipt(conversationId, 'read', seq);
  }

  private queueReceipt(c: number, kind: 'delivered' | 'read', seq: number): void {
    const p = this.pendingReceipts.get(c) ?? { delivered: 0, read: 0 };
    p[kind] = Math.max(p[kind], seq);
    this.pendingReceipts.set(c, p);
    this.receiptTimer ??= unref(
      setTimeout(() => {
        this.receiptTimer = null;
        this.flushReceipts();
      }, this.opts.receiptDelayMs),
    );
  }

  private flushReceipts(): void {
    if (this.state_ !== 'online') return;
    for (const [c, p] of this.pendingReceipts) {
      const sent = this.sentReceipts.get(c) ?? { delivered: 0, read: 0 };
      if (p.read > sent.read) {
        if (!this.sendFrame({ type: 'read', conversation_id: c, seq: p.read })) return;
        sent.read = p.read;
        sent.delivered = Math.max(sent.delivered, p.read);
      }
      if (p.delivered > sent.delivered) {
        if (!this.sendFrame({ type: 'delivered', conversation_id: c, seq: p.delivered })) return;
        sent.delivered = p.delivered;
      }
      this.sentReceipts.set(c, sent);
      this.pendingReceipts.delete(c);
    }
  }

  // ---------------------------------------------------------------- typing

  /** The user is typing: a start frame at most every `throttleMs`; a stop after `idleMs` without a call. */
  typing(conversationId: number): void {
    const now = Date.now();
    const st = this.typingState.get(conversationId);
    if (st) clearTimeout(st.stop);
    const sentAt =
      !st || now - st.sentAt >= this.opts.throttleMs
        ? this.sendFrame({ type: 'typing', conversation_id: conversationId, is_typing: true })
          ? now
          : (st?.sentAt ?? 0)
        : st.sentAt;
    const stop = unref(setTimeout(() => this.stopTyping(conversationId), this.opts.idleMs));
    this.typingState.set(conversationId, { sentAt, stop });
  }

  /** The user stopped typing (sent only if a start was). */
  stopTyping(conversationId: number): void {
    if (this.clearTyping(conversationId)) this.sendFrame({ type: 'typing', conversation_id: conversationId, is_typing: false });
  }

  private clearTyping(c: number): boolean {
    const st = this.typingState.get(c);
    if (!st) return false;
    clearTimeout(st.stop);
    this.typingState.delete(c);
    return st.sentAt > 0;
  }

  // ---------------------------------------------------------------- unread

  /** Conversation id → unread messages, from `GET /users/me/unread` after each (re)connect's sync, then kept current from frames. */
  get unread(): ReadonlyMap<number, number> {
    return this.unreadMap;
  }

  onUnread(fn: Listener<ReadonlyMap<number, number>>): () => void {
    return this.listen(this.unreadListeners, fn);
  }

  private async refreshUnread(): Promise<void> {
    try {
      const { conversations } = must(await this.api.GET('/api/v1/users/me/unread'));
      const counts = new Map(conversations.map((c) => [c.conversation_id, c.unread_count]));
      for (const c of new Set([...counts.keys(), ...this.unreadState.keys()])) {
        const baseSeq = this.held.get(c) ?? 0;
        const live = new Set([...(this.unreadState.get(c)?.live ?? [])].filter((s) => s > baseSeq));
        this.unreadState.set(c, { base: counts.get(c) ?? 0, baseSeq, live });
      }
      this.emitUnread();
    } catch (err) {
      this.report(err);
    }
  }

  private async refreshConversationUnread(c: number): Promise<void> {
    try {
      const { conversation } = must(await this.api.GET('/api/v1/conversations/{id}', { params: { path: { id: c } } }));
      const live = new Set([...(this.unreadState.get(c)?.live ?? [])].filter((s) => s > conversation.last_seq));
      this.unreadState.set(c, { base: conversation.unread_count, baseSeq: conversation.last_seq, live });
      this.emitUnread();
    } catch (err) {
      this.report(err);
    }
  }

  private countUnread(m: ServerFrameOf<'new_message'>['message']): void {
    if (!this.me || m.sender_id === this.me.id || m.type === 'system' || m.deleted_at || seenCall(m)) return;
    const st = this.unreadState.get(m.conversation_id) ?? { base: 0, baseSeq: 0, live: new Set<number>() };
    if (m.seq <= st.baseSeq) return;
    st.live.add(m.seq);
    this.unreadState.set(m.conversation_id, st);
    this.emitUnread();
  }

  /**
   * A message deleted (for everyone, or hidden for this user) is no longer unread; nor is
   * a call record once the callee answered, or glare cancelled it (as natter counts).
   */
  private uncountDeleted(m: ServerFrameOf<'message_updated'>['message']): void {
    if (!m.deleted_for && !seenCall(m)) return;
    const st = this.unreadState.get(m.conversation_id);
    if (!st) return;
    if (st.live.delete(m.seq)) this.emitUnread();
    else if (m.seq <= st.baseSeq && st.base > 0) void this.refreshConversationUnread(m.conversation_id);
  }

  private onReceipt(r: ServerFrameOf<'receipt'>): void {
    if (!this.me || r.user_id !== this.me.id || r.status !== 'read') return;
    const st = this.unreadState.get(r.conversation_id);
    if (!st) return;
    for (const s of st.live) if (s <= r.seq) st.live.delete(s);
    if (r.seq >= st.baseSeq) st.base = 0;
    else if (st.base > 0) void this.refreshConversationUnread(r.conversation_id);
    this.emitUnread();
  }

  private emitUnread(): void {
    for (const [c, st] of this.unreadState) this.unreadMap.set(c, st.base + st.live.size);
    this.emit(this.unreadListeners, this.unreadMap);
  }

  // ---------------------------------------------------------------- presence

  /** User id → online and last seen, from `status_change` frames. */
  get presence(): ReadonlyMap<number, Presence> {
    return this.presenceMap;
  }

  onPresence(fn: Listener<ReadonlyMap<number, Presence>>): () => void {
    return this.listen(this.presenceListeners, fn);
  }

  /** After a (re)connect's sync: the participants of the latest 100 conversations, as natter sees them now. */
  private async refreshPresence(): Promise<void> {
    try {
      const { conversations } = must(await this.api.GET('/api/v1/conversations', { params: { query: { limit: 100 } } }));
      for (const conv of conversations) {
        for (const p of conv.participants) {
          if (p.id === this.me?.id || this.presenceFromFrames.has(p.id)) continue;
          this.presenceMap.set(p.id, { online: p.status === 'online', last_seen: p.last_seen });
        }
      }
      this.emit(this.presenceListeners, this.presenceMap);
    } catch (err) {
      this.report(err);
    }
  }

  // ---------------------------------------------------------------- attachments

  /**
   * Uploads a file into a conversation (send it then with `attachment_ids`). Progress comes
   * from XMLHttpRequest in browsers and from the streamed body elsewhere.
   */
  upload(conversationId: number, file: Blob, opts?: UploadOptions): Promise<Attachment>;
  upload(file: Blob, opts?: UploadOptions & { conversationId?: number }): Promise<Attachment>;
  async upload(
    a: number | Blob,
    b?: Blob | (UploadOptions & { conversationId?: number }),
    c?: UploadOptions,
  ): Promise<Attachment> {
    const [conversationId, file, opts] =
      typeof a === 'number'
        ? [a, b as Blob, c ?? {}]
        : [(b as { conversationId?: number } | undefined)?.conversationId, a, (b ?? {}) as UploadOptions];
    if (conversationId === undefined) {
      throw new TypeError('upload: which conversation? upload(conversationId, file) or upload(file, { conversationId })');
    }
    const url = `${this.baseUrl}/api/v1/conversations/${conversationId}/attachments`;
    const reply = await this.session.withToken((token) => uploadOnce(this.fetchFn, url, token, file, opts));
    if (reply.status !== 201) throw NatterError.from(reply.status, reply.body);
    // uploadOnce reads the body as JSON of any shape; a 201 is this route's documented answer.
    return (reply.body as UploadAnswer).attachment;
  }

  // ---------------------------------------------------------------- calls

  private async turnCredentials(): Promise<TurnCredentials> {
    return must(await this.api.GET('/api/v1/calls/turn'));
  }

  // ---------------------------------------------------------------- plumbing

  private setState(s: ConnectionState): void {
    if (this.state_ === s) return;
    this.state_ = s;
    this.emit(this.stateListeners, s);
  }

  private listen<T>(set: Set<Listener<T>>, fn: Listener<T>): () => void {
    set.add(fn);
    return () => void set.delete(fn);
  }

  private emit<T>(set: Set<Listener<T>>, value: T): void {
    for (const fn of [...set]) {
      try {
        fn(value);
      } catch (err) {
        if (set !== (this.errorListeners as Set<unknown>)) this.report(err);
      }
    }
  }

  private report(err: unknown): void {
    this.emit(this.errorListeners, err);
  }
}

/** A call record nobody has to look at: answered by the callee, or cancelled by glare. Never unread. */
function seenCall(m: { type: string; call?: { outcome: string; answered_at: string | null } | null }): boolean {
  return m.type === 'call' && !!m.call && (m.call.answered_at !== null || m.call.outcome === 'cancelled');
}
