import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { NO_REALTIME_METER, type RealtimeMeter } from '../metrics/meters.js';
import { AppError } from '../domain/errors.js';
import type { ClientFrame } from '../schemas/client-frames.js';
import { frames } from '../schemas/server-frames.js';
import type { Connection } from './connection.js';
import type { Committing, FrameHandlers } from './handlers.js';
import { parseFrame } from './protocol.js';

/**
 * Turns a socket's text frames into handler calls: parse and validate, count against the
 * socket's bounds (which slow a fast client down by pausing reads, see Connection.admit),
 * queue behind the socket's earlier frames, dispatch by type. Frames are handled one
 * after another in arrival order; a `message` holds the queue only until it has its place
 * in the write queue, and commits while the next frames are handled, so a client's
 * messages are stored in the order it sent them without each waiting for the one before
 * to commit. Every frame is answered: refusals and failures with an `error` frame carrying
 * the frame's `client_id`; the socket stays usable.
 */
export class FrameRouter {
  constructor(
    private readonly handlers: FrameHandlers,
    private readonly log: FastifyBaseLogger,
    private readonly meter: RealtimeMeter = NO_REALTIME_METER,
  ) {}

  receive(conn: Connection, text: string): void {
    const readyAt = conn.admit();
    if (readyAt === null) return;
    const parsed = parseFrame(text);
    this.meter.frameIn(parsed.ok ? parsed.frame.type : 'invalid');
    if (!parsed.ok) {
      conn.sendFrame(frames.error(parsed.code, parsed.error, { clientId: parsed.clientId, field: parsed.field, callId: parsed.callId }));
      conn.settle();
      return;
    }
    conn.enqueue(async () => {
      // Over its rate, a client's frames wait their turn (they arrived together, read
      // before its socket was paused); once it is gone, nobody is left to slow down.
      const early = readyAt - Date.now();
      if (early > 0 && conn.open) await sleep(early, undefined, { signal: conn.closedSignal }).catch(() => {});
      // The server closed this socket (shutdown, abuse, slow consumer): what it had not
      // handled yet is dropped, unanswered, as if never received — the client resends it
      // with its client_id. (A client that closes by itself still has its frames handled.)
      if (conn.closedByServer) {
        conn.settle();
        return;
      }
      await this.dispatch(conn, parsed.frame);
    });
  }

  private async dispatch(conn: Connection, frame: ClientFrame): Promise<void> {
    try {
      const handle = this.handlers[frame.type] as (conn: Connection, frame: ClientFrame) => Promise<Committing | void>;
      const committing = await handle(conn, frame);
      if (!committing) {
        conn.settle();
        return;
      }
      void committing.committed
        .catch((err: unknown) => this.fail(conn, frame, err))
        .finally(() => conn.settle())
        .catch((err: unknown) => this.log.error({ err, userId: conn.userId }, 'answering a frame failed'));
    } catch (err) {
      this.fail(conn, frame, err);
      conn.settle();
    }
  }

  private fail(conn: Connection, frame: ClientFrame, err: unknown): void {
    const clientId = clientIdOf(frame);
    const callId = 'call_id' in frame ? frame.call_id : undefined;
    if (err instanceof AppError) {
      conn.sendFrame(frames.error(err.code, err.message, { clientId, field: err.details?.field, callId }));
    } else {
      this.log.error({ err, userId: conn.userId, frame: frame.type }, 'frame failed');
      conn.sendFrame(frames.error('internal', 'Internal server error', { clientId, callId }));
    }
  }
}

const clientIdOf = (frame: ClientFrame): string | undefined =>
  frame.type === 'message' ? (frame.client_id ?? undefined) : undefined;
