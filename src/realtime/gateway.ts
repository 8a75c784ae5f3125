import websocket from '@fastify/websocket';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { userChannel, type Bus, type BusEvent } from '../bus/bus.js';
import { AppError } from '../domain/errors.js';
import type { Message } from '../domain/conversations.js';
import type { AccountsService } from '../services/accounts.js';
import type { MessagesService } from '../services/messages.js';
import type { PresenceService } from '../services/presence.js';
import type { ReceiptsService } from '../services/receipts.js';
import type { SyncService } from '../services/sync.js';
import type { TypingService } from '../services/typing.js';
import { Connection, type ConnectionLimits } from './connection.js';
import { CLOSE, parseFrame, type ClientFrame } from './protocol.js';

export interface GatewayOptions extends ConnectionLimits {
  maxPayloadBytes: number;
  pingIntervalMs: number;
}

export interface GatewayDeps {
  accounts: AccountsService;
  messages: MessagesService;
  typing: TypingService;
  presence: PresenceService;
  receipts: ReceiptsService;
  sync: SyncService;
  bus: Bus;
  log: FastifyBaseLogger;
}

// Frames a connection may have waiting behind the one being handled.
const MAX_PENDING_FRAMES = 256;

/**
 * The WebSocket gateway at /api/v1/ws. It authenticates the upgrade, keeps this node's
 * sockets by user, subscribes to the bus channel of every user it serves, turns client
 * frames into service calls and writes bus events to the user's sockets.
 */
export class Gateway {
  private readonly byUser = new Map<number, Set<Connection>>();
  private readonly unsubscribe = new Map<number, Promise<() => Promise<void>>>();
  /** The last frame encoded for delivery and its bytes (see `encoded`). */
  private lastFrame = '';
  private lastBytes = Buffer.alloc(0);
  /** One per open socket: settles when its close has been fully processed. */
  private readonly released = new Set<Promise<void>>();
  private heartbeat: NodeJS.Timeout | undefined;
  private checkingSessions = false;
  private closed = false;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly opts: GatewayOptions,
  ) {}

  /** Number of open sockets on this node. */
  get connectionCount(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  async register(app: FastifyInstance, path: string): Promise<void> {
    await app.register(websocket, { options: { maxPayload: this.opts.maxPayloadBytes } });
    app.get(
      path,
      {
        websocket: true,
        schema: { hide: true },
        preValidation: async (request: FastifyRequest) => {
          const token = upgradeToken(request);
          if (!token) throw new AppError('unauthorized', 'Missing token: pass ?token= or Authorization: Bearer');
          request.auth = await this.deps.accounts.authenticate(token);
        },
      },
      (socket, request) => {
        const auth = request.auth!;
        this.accept(socket, auth.userId, auth.sessionId);
      },
    );
    this.heartbeat = setInterval(() => this.beat(), this.opts.pingIntervalMs);
    this.heartbeat.unref();
  }

  /** Closes every socket with 1001 and waits (bounded) for their presence updates. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const set of this.byUser.values()) {
      for (const conn of set) conn.close(CLOSE.GOING_AWAY, 'server shutting down');
    }
    await Promise.race([Promise.allSettled([...this.released]), new Promise((r) => setTimeout(r, 3000).unref())]);
  }

  private accept(socket: WebSocket, userId: number, sessionId: string): void {
    const conn = new Connection(socket, userId, sessionId, this.opts);
    if (this.closed) {
      conn.close(CLOSE.GOING_AWAY, 'server shutting down');
      return;
    }
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(conn);
    const subscribed = this.subscribeUser(userId);

    // Once the server has closed a socket it stops listening to it, so a closing socket
    // cannot keep itself alive and the heartbeat bounds how long it lingers.
    socket.on('pong', () => {
      if (conn.open) conn.alive = true;
    });
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (!conn.open) return;
      conn.alive = true;
      if (isBinary) {
        conn.close(CLOSE.UNSUPPORTED_DATA, 'binary frames are not supported');
        return;
      }
      this.receive(conn, data.toString());
    });
    socket.on('error', (err) => this.deps.log.debug({ err, userId }, 'websocket error'));
    // Resolves to whether this socket was counted as present: release uncounts only
    // those, after their count, so a socket that closes early never leaves the user
    // online (or offline while another socket is open).
    const counted = subscribed
      .then(async () => {
        // A logout between the upgrade's token check and the subscription would have been
        // announced before we listened: look once more now that we do.
        if (!(await this.deps.accounts.sessionActive({ userId, sessionId }))) {
          conn.close(CLOSE.SESSION_ENDED, 'session ended');
          return false;
        }
        if (!conn.open) return false;
        await this.deps.presence.connected(userId);
        conn.sendFrame({ type: 'connected', user_id: userId });
        return true;
      })
      .catch((err: unknown) => {
        // Half set up (no subscription, or presence not recorded) is worse than closed:
        // the client reconnects and tries again.
        this.deps.log.error({ err, userId }, 'websocket setup failed');
        conn.close(CLOSE.TRY_AGAIN, 'setup failed; reconnect');
        return false;
      });
    const released = new Promise<void>((resolve) => {
      socket.once('close', () => void this.release(conn, counted).finally(resolve));
    });
    this.released.add(released);
    void released.finally(() => this.released.delete(released));
  }

  private async release(conn: Connection, counted: Promise<boolean>): Promise<void> {
    const set = this.byUser.get(conn.userId);
    set?.delete(conn);
    if (set && set.size === 0) {
      this.byUser.delete(conn.userId);
      const unsubscribe = this.unsubscribe.get(conn.userId);
      this.unsubscribe.delete(conn.userId);
      try {
        if (unsubscribe) await (await unsubscribe)();
      } catch (err) {
        this.deps.log.warn({ err, userId: conn.userId }, 'bus unsubscribe failed');
      }
      await this.deps.typing.stopAll(conn.userId).catch(() => {});
    }
    try {
      if (await counted) await this.deps.presence.disconnected(conn.userId);
    } catch (err) {
      this.deps.log.error({ err, userId: conn.userId }, 'presence update failed');
    }
  }

  private subscribeUser(userId: number): Promise<unknown> {
    let sub = this.unsubscribe.get(userId);
    if (!sub) {
      const created = this.deps.bus.subscribe(userChannel(userId), (event) => this.deliver(userId, event));
      // A failed subscription is not kept: the next socket of this user tries afresh.
      created.catch(() => {
        if (this.unsubscribe.get(userId) === created) this.unsubscribe.delete(userId);
      });
      this.unsubscribe.set(userId, (sub = created));
    }
    return sub;
  }

  private deliver(userId: number, event: BusEvent): void {
    const set = this.byUser.get(userId);
    if (!set) return;
    for (const conn of set) {
      if (event.kind === 'frame') conn.deliver(this.encoded(event.frame), event.position);
      else if (event.kind === 'session_revoked' && conn.sessionId === event.sessionId) {
        conn.close(CLOSE.SESSION_ENDED, 'session ended');
      }
    }
  }

  /**
   * The frame as UTF-8 bytes, encoded once for all its recipients: a fanout hands every
   * recipient the same frame string in a row (one bus event for all of them), and ws
   * would otherwise encode it again for each socket.
   */
  private encoded(frame: string): Buffer {
    if (frame !== this.lastFrame) {
      this.lastFrame = frame;
      this.lastBytes = Buffer.from(frame);
    }
    return this.lastBytes;
  }

  private receive(conn: Connection, text: string): void {
    // Parsed before the rate check so a dropped message's error carries its client_id:
    // that is how the client knows which message to send again.
    const parsed = parseFrame(text);
    if (!conn.takeToken()) {
      const clientId = parsed.ok ? (parsed.frame.type === 'message' ? parsed.frame.client_id : undefined) : parsed.clientId;
      conn.sendFrame({ type: 'error', error: 'Too many frames; slow down', code: 'rate_limited', ...clientIdOf(clientId ?? undefined) });
      return;
    }
    if (!parsed.ok) {
      conn.sendFrame({ type: 'error', error: parsed.error, code: parsed.code, ...clientIdOf(parsed.clientId) });
      return;
    }
    const accepted = conn.enqueue(() => this.handle(conn, parsed.frame), MAX_PENDING_FRAMES);
    if (!accepted) conn.close(CLOSE.RATE_LIMITED, 'too many frames waiting');
  }

  private async handle(conn: Connection, frame: ClientFrame): Promise<void> {
    const clientId = frame.type === 'message' ? (frame.client_id ?? undefined) : undefined;
    try {
      switch (frame.type) {
        case 'ping':
          conn.sendFrame({ type: 'pong' });
          return;
        case 'typing':
          await this.deps.typing.typing(conn.userId, frame.conversation_id, frame.is_typing ?? true);
          return;
        case 'message': {
          const { message, created } = await this.deps.messages.send(conn.userId, {
            conversationId: frame.conversation_id,
            content: frame.content,
            type: frame.message_type,
            clientId: frame.client_id,
            replyToId: frame.reply_to_id,
            mediaUrl: frame.media_url,
          });
          // A new message reaches this socket through the bus with everyone else's copy;
          // a repeated client_id is answered here, to this socket only.
          if (!created) conn.sendFrame({ type: 'new_message', message });
          return;
        }
        case 'delivered':
        case 'read':
          await this.deps.receipts.advance(conn.userId, frame.conversation_id, frame.type, frame.seq);
          return;
        case 'sync':
          await this.sync(conn, frame.since);
          return;
      }
    } catch (err) {
      if (err instanceof AppError) {
        conn.sendFrame({ type: 'error', error: err.message, code: err.code, ...clientIdOf(clientId) });
      } else {
        this.deps.log.error({ err, userId: conn.userId, frame: frame.type }, 'frame failed');
        conn.sendFrame({ type: 'error', error: 'Internal server error', code: 'internal', ...clientIdOf(clientId) });
      }
    }
  }

  /**
   * Replays what the client missed up to a snapshot, then the messages that arrived
   * meanwhile (the bus tells us their seqs; we read them from the database), then
   * `synced`, then live frames. So the socket sees every message once and in seq order
   * per conversation. History goes out batch by batch as the client reads it.
   */
  private async sync(conn: Connection, since: Record<string, number> | undefined): Promise<void> {
    conn.beginSync();
    const sink = {
      message: async (message: Message) => {
        conn.sendFrame({ type: 'new_message', message });
        await conn.drained();
      },
    };
    let sent: Record<string, number> = {};
    const gone = new Set<string>();
    try {
      sent = await this.deps.sync.sync(conn.userId, since, sink);
      for (;;) {
        const behind = conn.liveBeyond(sent);
        // No await between this check and endSync: a live message now is sent live.
        if (behind.length === 0 || !conn.open) break;
        for (const { conversationId, after, upTo } of behind) {
          const last = await this.deps.sync.replay(conn.userId, conversationId, after, upTo, sink);
          if (last !== undefined) sent[conversationId] = last;
          else {
            // Left the conversation meanwhile: nothing more of it is due, or reported.
            sent[conversationId] = upTo;
            gone.add(String(conversationId));
          }
        }
      }
      const report = Object.fromEntries(Object.entries(sent).filter(([id]) => !gone.has(id)));
      conn.sendFrame({ type: 'synced', conversations: report });
    } finally {
      await conn.endSync(sent);
    }
  }

  /**
   * Once per heartbeat: sockets whose session ended (logout or revocation announced while
   * the bus was down, or simply expired) are closed with 4001. One query per node per
   * round, however many sockets.
   */
  private async closeEndedSessions(): Promise<void> {
    if (this.checkingSessions) return;
    this.checkingSessions = true;
    try {
      const ids = new Set<string>();
      for (const set of this.byUser.values()) for (const conn of set) ids.add(conn.sessionId);
      if (ids.size === 0) return;
      const live = await this.deps.accounts.liveSessions([...ids]);
      for (const set of this.byUser.values()) {
        for (const conn of set) if (!live.has(conn.sessionId)) conn.close(CLOSE.SESSION_ENDED, 'session ended');
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'session check failed');
    } finally {
      this.checkingSessions = false;
    }
  }

  private beat(): void {
    void this.closeEndedSessions();
    for (const set of this.byUser.values()) {
      for (const conn of set) {
        if (!conn.alive) {
          conn.socket.terminate();
          continue;
        }
        conn.alive = false;
        conn.socket.ping();
      }
    }
  }
}

const clientIdOf = (clientId: string | undefined) => (clientId === undefined ? {} : { client_id: clientId });

/** `?token=` (browsers, the seed's Flutter client) or `Authorization: Bearer`. */
function upgradeToken(request: FastifyRequest): string | null {
  const query = request.query as Record<string, unknown> | undefined;
  if (typeof query?.token === 'string' && query.token !== '') return query.token;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return m ? m[1]! : null;
}
