import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../domain/errors.js';
import type { ClientFrame } from '../schemas/client-frames.js';
import { frames } from '../schemas/server-frames.js';
import type { Connection } from './connection.js';
import type { FrameHandlers } from './handlers.js';
import { CLOSE, parseFrame } from './protocol.js';

// Frames a connection may have waiting behind the one being handled.
const MAX_PENDING_FRAMES = 256;

/**
 * Turns a socket's text frames into handler calls: parse and validate, take from the
 * socket's rate budget, queue behind the socket's earlier frames (one at a time, in
 * arrival order, so a client's messages commit in the order it sent them), dispatch by
 * type. Refusals and failures are answered with an `error` frame carrying the frame's
 * `client_id`; the socket stays usable.
 */
export class FrameRouter {
  constructor(
    private readonly handlers: FrameHandlers,
    private readonly log: FastifyBaseLogger,
  ) {}

  receive(conn: Connection, text: string): void {
    // Parsed before the rate check so a dropped message's error carries its client_id:
    // that is how the client knows which message to send again.
    const parsed = parseFrame(text);
    if (!conn.takeToken()) {
      const clientId = parsed.ok ? clientIdOf(parsed.frame) : parsed.clientId;
      conn.sendFrame(frames.error('rate_limited', 'Too many frames; slow down', { clientId }));
      return;
    }
    if (!parsed.ok) {
      conn.sendFrame(frames.error(parsed.code, parsed.error, { clientId: parsed.clientId, field: parsed.field }));
      return;
    }
    const accepted = conn.enqueue(() => this.dispatch(conn, parsed.frame), MAX_PENDING_FRAMES);
    if (!accepted) conn.close(CLOSE.RATE_LIMITED, 'too many frames waiting');
  }

  private async dispatch(conn: Connection, frame: ClientFrame): Promise<void> {
    try {
      const handle = this.handlers[frame.type] as (conn: Connection, frame: ClientFrame) => Promise<void>;
      await handle(conn, frame);
    } catch (err) {
      const clientId = clientIdOf(frame);
      if (err instanceof AppError) {
        conn.sendFrame(frames.error(err.code, err.message, { clientId, field: err.details?.field }));
      } else {
        this.log.error({ err, userId: conn.userId, frame: frame.type }, 'frame failed');
        conn.sendFrame(frames.error('internal', 'Internal server error', { clientId }));
      }
    }
  }
}

const clientIdOf = (frame: ClientFrame): string | undefined =>
  frame.type === 'message' ? (frame.client_id ?? undefined) : undefined;
