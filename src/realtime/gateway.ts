import websocket from '@fastify/websocket';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Bus } from '../bus/bus.js';
import { AppError } from '../domain/errors.js';
import { bearerToken } from '../http/auth.js';
import { NO_REALTIME_METER, type RealtimeMeter } from '../metrics/meters.js';
import { frames } from '../schemas/server-frames.js';
import type { AccountsService } from '../services/accounts.js';
import type { PresenceService } from '../services/presence.js';
import type { TypingService } from '../services/typing.js';
import { Connection, type ConnectionLimits } from './connection.js';
import { device, frameHandlers, type HandlerDeps } from './handlers.js';
import { Heartbeat } from './heartbeat.js';
import { CLOSE } from './protocol.js';
import { SocketRegistry } from './registry.js';
import { FrameRouter } from './router.js';

export interface GatewayOptions extends ConnectionLimits {
  maxPayloadBytes: number;
  pingIntervalMs: number;
}

export interface GatewayDeps extends HandlerDeps {
  accounts: AccountsService;
  typing: TypingService;
  presence: PresenceService;
  bus: Bus;
  log: FastifyBaseLogger;
  /** Sockets and frames, for metrics. */
  meter?: RealtimeMeter;
}

/**
 * The WebSocket gateway at /api/v1/ws: authenticates the upgrade and sets each socket up
 * (registry and bus subscription, session re-check, presence, `connected`) and takes it
 * down again. What happens to frames is the router's and the handlers' business; the
 * heartbeat keeps the sockets honest.
 */
export class Gateway {
  private readonly sockets: SocketRegistry;
  private readonly router: FrameRouter;
  private readonly heartbeat: Heartbeat;
  /** One per open socket: settles when its close has been fully processed. */
  private readonly released = new Set<Promise<void>>();
  private closed = false;
  private readonly meter: RealtimeMeter;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly opts: GatewayOptions,
  ) {
    this.meter = deps.meter ?? NO_REALTIME_METER;
    this.sockets = new SocketRegistry(deps.bus, deps.log);
    this.router = new FrameRouter(frameHandlers(deps), deps.log, this.meter);
    this.heartbeat = new Heartbeat(this.sockets, deps.accounts, deps.log);
  }

  /** Number of open sockets on this node. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Number of users with an open socket on this node. */
  get userCount(): number {
    return this.sockets.users;
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
        this.accept(socket, auth.userId, auth.sessionId, auth.deviceId);
      },
    );
    this.heartbeat.start(this.opts.pingIntervalMs);
  }

  /** Closes every socket with 1001 and waits (bounded) for their presence updates. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.heartbeat.stop();
    for (const conn of this.sockets.all()) conn.close(CLOSE.GOING_AWAY, 'server shutting down');
    await Promise.race([Promise.allSettled([...this.released]), new Promise((r) => setTimeout(r, 3000).unref())]);
  }

  private accept(socket: WebSocket, userId: number, sessionId: string, deviceId: string): void {
    const conn = new Connection(socket, userId, sessionId, deviceId, this.opts, this.meter);
    if (this.closed) {
      conn.close(CLOSE.GOING_AWAY, 'server shutting down');
      return;
    }
    this.meter.opened();
    const subscribed = this.sockets.add(conn);

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
      this.router.receive(conn, String(data as Buffer));
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
        conn.sendFrame(frames.connected(userId, deviceId, this.deps.calls.timeouts));
        // A call ringing for this user rings on this socket too (a device woken by a push).
        void this.deps.calls.resume(device(conn)).catch((err: unknown) => this.deps.log.warn({ err, userId }, 'resuming ringing calls failed'));
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
      socket.once('close', (code: number) => {
        this.meter.closed(code);
        void this.release(conn, counted).finally(resolve);
      });
    });
    this.released.add(released);
    void released.finally(() => this.released.delete(released));
  }

  private async release(conn: Connection, counted: Promise<boolean>): Promise<void> {
    if (await this.sockets.remove(conn)) await this.deps.typing.stopAll(conn.userId).catch(() => {});
    try {
      if (await counted) await this.deps.presence.disconnected(conn.userId);
    } catch (err) {
      this.deps.log.error({ err, userId: conn.userId }, 'presence update failed');
    }
  }
}

/** `?token=` (browsers, the seed's Flutter client) or `Authorization: Bearer`. */
function upgradeToken(request: FastifyRequest): string | null {
  const query = request.query as Record<string, unknown> | undefined;
  if (typeof query?.token === 'string' && query.token !== '') return query.token;
  return bearerToken(request);
}
