/**
 * The baseline server: the smallest thing that speaks the part of the wire contract the
 * generators use — register, conversations, and a WebSocket that echoes each `message`
 * as `new_message` to every participant and relays call signalling — with no database,
 * no auth work and no validation. What it sustains is the ceiling of node + ws on this machine.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';

const users = new Map<string, number>(); // token → user id
const sockets = new Map<number, Set<WebSocket>>();
const conversations = new Map<number, { members: number[]; seq: number }>();
let nextUser = 1;
let nextConv = 1;
let nextMsg = 1;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (req.method === 'POST' && req.url === '/api/v1/auth/register') {
      const id = nextUser++;
      const t = randomBytes(16).toString('hex');
      users.set(t, id);
      return json(res, 201, { token: t, user: { id, username: body.username } });
    }
    const me = users.get(token);
    if (!me) return json(res, 401, { error: 'unauthorized', code: 'unauthorized' });
    if (req.method === 'POST' && req.url === '/api/v1/conversations') {
      const others = body.type === 'direct' ? [Number(body.participant_id)] : (body.participant_ids as number[]);
      const id = nextConv++;
      conversations.set(id, { members: [me, ...others], seq: 0 });
      return json(res, 201, { conversation: { id, type: body.type } });
    }
    json(res, 404, { error: 'not found', code: 'not_found' });
  });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
  const user = users.get(token);
  if (!user) {
    socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let set = sockets.get(user);
    if (!set) sockets.set(user, (set = new Set()));
    set.add(ws);
    ws.on('close', () => set.delete(ws));
    ws.send(JSON.stringify({ type: 'connected', user_id: user }));
    ws.on('message', (data) => {
      let frame: { type?: string; conversation_id?: number; content?: string; call_id?: string };
      try {
        frame = JSON.parse(String(data as Buffer)) as typeof frame;
      } catch {
        return;
      }
      if (frame.type?.startsWith('call_')) return relayCall(user, frame as CallFrame);
      if (frame.type !== 'message') return;
      const conv = conversations.get(Number(frame.conversation_id));
      if (!conv || !conv.members.includes(user)) return;
      const now = new Date().toISOString();
      const out = JSON.stringify({
        type: 'new_message',
        message: { id: nextMsg++, conversation_id: frame.conversation_id, seq: ++conv.seq, sender_id: user, content: frame.content, type: 'text', status: 'sent', created_at: now, updated_at: now },
      });
      for (const m of conv.members) for (const s of sockets.get(m) ?? []) s.send(out);
    });
  });
});

/**
 * Call signalling relayed as natter relays it, with nothing kept but who is in which call:
 * the invite to the callee, ringing and the answer to the caller, call_selected to both,
 * candidates to the other end, and call_ended to both on a hangup.
 */
type CallFrame = { type: string; call_id: string; conversation_id?: number; [k: string]: unknown };
const calls = new Map<string, { caller: number; callee: number }>();
function relayCall(user: number, frame: CallFrame): void {
  const to = (id: number, out: Record<string, unknown>) => {
    const text = JSON.stringify(out);
    for (const s of sockets.get(id) ?? []) s.send(text);
  };
  const relayed = { ...frame, from_user_id: user, from_device: String(user) };
  if (frame.type === 'call_invite') {
    const conv = conversations.get(Number(frame.conversation_id));
    const callee = conv?.members.find((m) => m !== user);
    if (!conv || !conv.members.includes(user) || callee === undefined) return;
    calls.set(frame.call_id, { caller: user, callee });
    return to(callee, relayed);
  }
  const call = calls.get(frame.call_id);
  if (!call || (user !== call.caller && user !== call.callee)) return;
  const other = user === call.caller ? call.callee : call.caller;
  switch (frame.type) {
    case 'call_ringing':
    case 'call_candidates':
    case 'call_negotiate':
      return to(other, relayed);
    case 'call_answer':
      to(call.caller, relayed);
      for (const id of [call.caller, call.callee]) to(id, { type: 'call_selected', call_id: frame.call_id, device_id: String(user) });
      return;
    case 'call_reject':
    case 'call_hangup':
      calls.delete(frame.call_id);
      for (const id of [call.caller, call.callee]) to(id, { type: 'call_ended', call_id: frame.call_id, reason: frame.type === 'call_reject' ? 'declined' : 'hangup' });
      return;
  }
}

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log('bare server ready'));
const stop = () => {
  for (const c of wss.clients) c.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
