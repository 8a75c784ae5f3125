import type { Message } from '../schemas/messages.js';
import { frames } from '../schemas/server-frames.js';
import type { SyncService } from '../services/sync.js';
import type { Connection } from './connection.js';

/**
 * A `sync` frame on one socket. Replays what the client missed up to a snapshot, then
 * the messages that arrived meanwhile (the bus tells us their seqs; we read them from the
 * database), then `synced`, then live frames. So the socket sees every message once and
 * in seq order per conversation. With `changes_since`, each conversation's missed
 * messages are followed by `message_updated` for every message it holds that changed
 * since; changes made during the sync come live after `synced` (a client keeps the copy
 * with the higher mod_seq). History goes out batch by batch as the client reads it.
 */
export async function streamSync(
  conn: Connection,
  sync: SyncService,
  since: Record<string, number> | undefined,
  changesSince?: Record<string, number>,
): Promise<void> {
  conn.beginSync();
  const sink = {
    message: async (message: Message) => {
      conn.sendFrame(frames.newMessage(message));
      await conn.drained();
    },
    changed: async (message: Message) => {
      conn.sendFrame(frames.messageUpdated(message));
      await conn.drained();
    },
  };
  let sent: Record<string, number> = {};
  let modSeqs: Record<string, number> = {};
  // The conversations whose changes this sync replays, up to the mod_seq it covers.
  let changesUpTo: Record<string, number> = {};
  const gone = new Set<string>();
  try {
    ({ seqs: sent, modSeqs } = await sync.sync(conn.userId, since, changesSince, sink));
    changesUpTo = Object.fromEntries(Object.entries(modSeqs).filter(([id]) => changesSince?.[id] !== undefined));
    for (;;) {
      const behind = conn.liveBeyond(sent);
      // No await between this check and endSync: a live message now is sent live.
      if (behind.length === 0 || !conn.open) break;
      for (const { conversationId, after, upTo } of behind) {
        const last = await sync.replay(conn.userId, conversationId, after, upTo, sink);
        if (last !== undefined) sent[conversationId] = last;
        else {
          // Left the conversation meanwhile: nothing more of it is due, or reported.
          sent[conversationId] = upTo;
          gone.add(String(conversationId));
        }
      }
    }
    const report = Object.fromEntries(Object.entries(sent).filter(([id]) => !gone.has(id)));
    const reportedModSeqs = Object.fromEntries(Object.entries(modSeqs).filter(([id]) => !gone.has(id)));
    conn.sendFrame(frames.synced(report, reportedModSeqs));
  } finally {
    await conn.endSync(sent, changesUpTo);
  }
}
