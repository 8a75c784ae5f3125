import type { AccountsService } from '../services/accounts.js';
import { CLOSE } from './protocol.js';
import type { SocketRegistry } from './registry.js';

/**
 * Once per `intervalMs`: every socket is pinged, and one that has answered neither the
 * last ping nor sent anything since is cut off (unless its reads are paused for shaping); and every socket whose session ended
 * (logout or revocation announced while the bus was down, or simply expired) is closed
 * with 4001 — one query per node per round, however many sockets.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private checkingSessions = false;

  constructor(
    private readonly sockets: SocketRegistry,
    private readonly accounts: AccountsService,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.beat(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private beat(): void {
    void this.closeEndedSessions();
    for (const conn of this.sockets.all()) {
      // A socket the server stopped reading from (to slow its client) cannot show its
      // pong yet; it counts as alive until reading resumes.
      if (!conn.alive && !conn.shaping) {
        conn.socket.terminate();
        continue;
      }
      conn.alive = false;
      conn.socket.ping();
    }
  }

  private async closeEndedSessions(): Promise<void> {
    if (this.checkingSessions) return;
    this.checkingSessions = true;
    try {
      const ids = new Set<string>();
      for (const conn of this.sockets.all()) ids.add(conn.sessionId);
      if (ids.size === 0) return;
      const live = await this.accounts.liveSessions([...ids]);
      for (const conn of this.sockets.all()) if (!live.has(conn.sessionId)) conn.close(CLOSE.SESSION_ENDED, 'session ended');
    } catch (err) {
      this.log.warn({ err }, 'session check failed');
    } finally {
      this.checkingSessions = false;
    }
  }
}
