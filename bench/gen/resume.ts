/**
 * One reader misses K messages spread over several conversations while offline, then
 * reconnects and sends `sync`; measures the time to `synced` and to the last replayed
 * message, and checks that every missed message arrived exactly once, in seq order.
 */
import type WebSocket from 'ws';
import { clock } from '../lib/stats.js';
import { benchContent, openSocket, parseBenchContent } from '../lib/ws-client.js';

export interface ResumeArgs {
  url: string;
  run: string;
  reader: { userId: number; token: string };
  peers: { userId: number; token: string; convId: number }[];
  missed: number;
  window: number;
  timeoutMs: number;
}

interface Frame {
  type?: string;
  message?: { content?: unknown; conversation_id?: number; seq?: number };
  conversations?: Record<string, number>;
  code?: string;
  error?: string;
}

function frames(ws: WebSocket, fn: (f: Frame) => void): void {
  ws.on('message', (d) => {
    try {
      fn(JSON.parse(String(d as Buffer)) as Frame);
    } catch {
      /* not JSON */
    }
  });
}

function until(cond: () => boolean, deadline: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) resolve();
      else if (clock() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(check, 2);
    };
    check();
  });
}

export async function resume(a: ResumeArgs) {
  const deadline = clock() + a.timeoutMs;
  // 1. The reader learns what it holds (sync without since → synced with every last_seq), then goes away.
  let ws = await openSocket(a.url, a.reader.token);
  let held: Record<string, number> | undefined;
  let connected = false;
  frames(ws, (f) => {
    if (f.type === 'connected') connected = true;
    if (f.type === 'synced') held = f.conversations;
  });
  await until(() => connected, deadline, 'connected');
  ws.send(JSON.stringify({ type: 'sync' }));
  await until(() => held !== undefined, deadline, 'first synced');
  const since = Object.fromEntries(a.peers.map((p) => [String(p.convId), held![String(p.convId)] ?? 0]));
  await new Promise<void>((r) => (ws.once('close', () => r()), ws.close(1000)));

  console.log(`  resume: reader holds ${JSON.stringify(since)}; peers sending ${a.missed}…`);
  // 2. The peers send K messages while the reader is away (pipelined, `window` in flight each).
  const tSend = clock();
  const perPeer = a.peers.map((_, i) => Math.floor(a.missed / a.peers.length) + (i < a.missed % a.peers.length ? 1 : 0));
  let errors = 0;
  await Promise.all(
    a.peers.map(async (p, i) => {
      const pws = await openSocket(a.url, p.token);
      let acked = 0;
      let sent = 0;
      const pump = () => {
        while (sent < perPeer[i]! && sent - acked < a.window) {
          pws.send(JSON.stringify({ type: 'message', conversation_id: p.convId, content: benchContent(a.run, 0, p.userId, sent, clock()), message_type: 'text' }));
          sent++;
        }
      };
      frames(pws, (f) => {
        if (f.type === 'error') errors++;
        const tag = f.type === 'new_message' ? parseBenchContent(f.message?.content) : null;
        if (tag && tag.sender === p.userId) {
          acked++;
          pump();
        }
      });
      pump();
      await until(() => acked >= perPeer[i]!, deadline, `peer ${p.userId}'s echoes`);
      pws.close(1000);
    }),
  );
  const sendMs = clock() - tSend;

  console.log(`  resume: sent in ${Math.round(sendMs)} ms; reader reconnects`);
  // 3. The reader comes back and syncs.
  const seen = new Set<string>();
  const lastSeq: Record<string, number> = { ...since };
  let dups = 0;
  let outOfOrder = 0;
  let received = 0;
  let syncedAt = 0;
  let connectedAt = 0;
  let lastAt = 0;
  const t0 = clock();
  ws = await openSocket(a.url, a.reader.token);
  const openedAt = clock();
  frames(ws, (f) => {
    if (f.type === 'connected' && !connectedAt) {
      connectedAt = clock();
      ws.send(JSON.stringify({ type: 'sync', since }));
    } else if (f.type === 'synced') syncedAt = clock();
    else if (f.type === 'error') errors++;
    else if (f.type === 'new_message' && f.message) {
      const key = `${f.message.conversation_id}|${f.message.seq}`;
      if (seen.has(key)) {
        dups++;
        return;
      }
      seen.add(key);
      const c = String(f.message.conversation_id);
      if ((f.message.seq ?? 0) !== (lastSeq[c] ?? 0) + 1) outOfOrder++;
      lastSeq[c] = f.message.seq ?? 0;
      received++;
      lastAt = clock();
    }
  });
  await until(() => syncedAt > 0 && received >= a.missed, deadline, `sync of ${a.missed} messages (got ${received})`).catch(() => {});
  await new Promise((r) => setTimeout(r, 300)); // catch duplicates arriving just after
  ws.close(1000);
  return {
    missed: a.missed,
    received,
    lost: a.missed - received,
    duplicates: dups,
    out_of_order: outOfOrder,
    errors,
    peers_send_ms: Math.round(sendMs),
    open_ms: Math.round((openedAt - t0) * 100) / 100,
    connected_ms: Math.round((connectedAt - t0) * 100) / 100,
    synced_ms: syncedAt ? Math.round((syncedAt - t0) * 100) / 100 : null,
    all_received_ms: lastAt ? Math.round((lastAt - t0) * 100) / 100 : null,
  };
}
