import { expect } from 'vitest';
import { type registerUser, type TestApp } from '../harness/app.js';
import { connect, type Frame, type WsClient } from '../harness/ws.js';

export type User = Awaited<ReturnType<typeof registerUser>>;

/** Sockets opened by a test file; `closeAll` in afterEach/afterAll. */
export class Sockets {
  private readonly open: WsClient[] = [];

  async connect(t: TestApp, user: { token: string }, opts: { header?: boolean } = {}): Promise<WsClient> {
    const ws = await connect(t, user.token, opts);
    this.open.push(ws);
    return ws;
  }

  track(ws: WsClient): WsClient {
    this.open.push(ws);
    return ws;
  }

  /** Closes every socket; fails when any of them received a frame that broke the server frame schemas. */
  async closeAll(): Promise<void> {
    const all = this.open.splice(0);
    for (const ws of all) ws.assertContract();
    await Promise.all(
      all.map(async (ws) => {
        // A paused test socket never reads the close handshake; do not wait for it.
        (ws.socket as any)._socket?.resume?.();
        if (ws.closeCode !== undefined) return;
        ws.socket.terminate();
        await ws.closed;
      }),
    );
  }
}

export async function direct(t: TestApp, a: User, b: User): Promise<number> {
  const res = await t.request('POST', '/api/v1/conversations', {
    token: a.token,
    body: { type: 'direct', participant_id: b.user.id },
  });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body.conversation.id as number;
}

export async function group(t: TestApp, owner: User, members: User[], name = 'G'): Promise<number> {
  const res = await t.request('POST', '/api/v1/conversations', {
    token: owner.token,
    body: { type: 'group', name, participant_ids: members.map((m) => m.user.id) },
  });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body.conversation.id as number;
}

/** Sends over REST (the same service path as a WS frame); returns the stored message. */
export async function restSend(t: TestApp, from: User, conversationId: number, content: string): Promise<any> {
  const res = await t.request('POST', `/api/v1/conversations/${conversationId}/messages`, {
    token: from.token,
    body: { content },
  });
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(201);
  return res.body.message;
}

/** Rows in `messages`, optionally for one conversation: what was really stored. */
export async function messageRows(t: TestApp, conversationId?: number) {
  let q = t.app.database.db.selectFrom('messages').selectAll().orderBy('id');
  if (conversationId !== undefined) q = q.where('conversation_id', '=', conversationId);
  return q.execute();
}

export const newMessageIn = (conversationId: number, content?: string) => (f: Frame) =>
  f.type === 'new_message' &&
  f.message.conversation_id === conversationId &&
  (content === undefined || f.message.content === content);

export const errorFrame = (code: string) => (f: Frame) => f.type === 'error' && f.code === code;

