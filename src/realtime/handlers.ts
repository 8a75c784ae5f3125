import type { ClientFrameOf, ClientFrameType } from '../schemas/client-frames.js';
import { frames } from '../schemas/server-frames.js';
import type { CallDevice, CallsService } from '../services/calls.js';
import type { MessageChangesService } from '../services/message-changes.js';
import type { MessagesService } from '../services/messages.js';
import type { ReceiptsService } from '../services/receipts.js';
import type { SyncService } from '../services/sync.js';
import type { TypingService } from '../services/typing.js';
import type { Connection } from './connection.js';
import { streamSync } from './sync-stream.js';

export interface HandlerDeps {
  messages: MessagesService;
  changes: MessageChangesService;
  typing: TypingService;
  receipts: ReceiptsService;
  sync: SyncService;
  calls: CallsService;
}

/**
 * A frame whose work goes on after its handler returned (a message committing): the
 * router lets the socket's next frame go ahead and answers a failure of `committed`.
 */
export interface Committing {
  committed: Promise<void>;
}

/**
 * What each client frame does: one entry per type in CLIENT_FRAME_SCHEMAS (a missing one
 * does not compile). A handler gets a validated frame, calls a service and may answer its
 * socket; an AppError it throws (or its `committed` rejects with) becomes an `error`
 * frame (see the router).
 */
export type FrameHandlers = {
  [T in ClientFrameType]: (conn: Connection, frame: ClientFrameOf<T>) => Promise<Committing | void>;
};

export function frameHandlers(deps: HandlerDeps): FrameHandlers {
  return {
    ping: async (conn) => {
      conn.sendFrame(frames.pong());
    },
    typing: (conn, frame) => deps.typing.typing(conn.userId, frame.conversation_id, frame.is_typing ?? true),
    message: async (conn, frame) => {
      const { committed } = await deps.messages.submit(
        conn.userId,
        {
          conversationId: frame.conversation_id,
          content: frame.content,
          type: frame.message_type,
          clientId: frame.client_id,
          replyToId: frame.reply_to_id,
          mediaUrl: frame.media_url,
          attachmentIds: frame.attachment_ids,
        },
        // A new message reaches this socket through the bus with everyone else's copy;
        // a repeated client_id is answered here, to this socket only, in its place.
        (message) => conn.sendFrame(frames.newMessage(message)),
      );
      return { committed: committed.then(() => {}) };
    },
    delivered: async (conn, frame) => {
      await deps.receipts.advance(conn.userId, frame.conversation_id, 'delivered', frame.seq);
    },
    read: async (conn, frame) => {
      await deps.receipts.advance(conn.userId, frame.conversation_id, 'read', frame.seq);
    },
    // Changes answer through the bus: the caller's sockets get `message_updated` or
    // `reaction` with every other member's; a refusal is an `error` frame.
    edit: async (conn, frame) => {
      await deps.changes.edit(conn.userId, frame.conversation_id, frame.message_id, frame.content);
    },
    delete: async (conn, frame) => {
      await deps.changes.delete(conn.userId, frame.conversation_id, frame.message_id, frame.for ?? 'everyone');
    },
    react: async (conn, frame) => {
      await deps.changes.react(conn.userId, frame.conversation_id, frame.message_id, frame.emoji, frame.on);
    },
    sync: (conn, frame) => streamSync(conn, deps.sync, frame.since, frame.changes_since),
    // Calls: relayed between the two devices (see CallsService); a refusal is an `error`
    // frame naming the call.
    call_invite: (conn, frame) =>
      deps.calls.invite(device(conn), { conversationId: frame.conversation_id, callId: frame.call_id, sdp: frame.sdp, video: frame.video }),
    call_ringing: (conn, frame) => deps.calls.ringing(device(conn), frame.call_id),
    call_answer: (conn, frame) => deps.calls.answer(device(conn), frame.call_id, frame.sdp),
    call_candidates: (conn, frame) => deps.calls.candidates(device(conn), frame.call_id, frame.candidates, frame.to_device),
    call_negotiate: (conn, frame) => deps.calls.negotiate(device(conn), frame.call_id, frame.sdp, frame.sdp_type ?? 'offer'),
    call_reject: (conn, frame) => deps.calls.reject(device(conn), frame.call_id, frame.reason ?? 'declined'),
    call_hangup: (conn, frame) => deps.calls.hangup(device(conn), frame.call_id, frame.reason ?? 'hangup'),
    call_connected: (conn, frame) => deps.calls.connected(device(conn), frame.call_id),
  };
}

/** The socket as the device a call frame comes from. */
export const device = (conn: Connection): CallDevice => ({
  userId: conn.userId,
  deviceId: conn.deviceId,
  send: (frame) => conn.sendFrame(frame),
});
