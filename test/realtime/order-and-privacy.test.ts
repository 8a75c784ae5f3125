import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { group, Sockets, type User } from './fixtures.js';

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

test('concurrent senders: a listener gets new_message frames in seq order with no gaps', async () => {
  const users = await Promise.all(Array.from({ length: 5 }, () => registerUser(t)));
  const listener = await registerUser(t);
  const conv = await group(t, users[0]!, [...users.slice(1), listener]);
  const ws = await sockets.connect(t, listener);
  const senders = await Promise.all(users.map((u) => sockets.connect(t, u)));

  const perSender = 20;
  senders.forEach((s, i) => {
    for (let k = 0; k < perSender; k++) {
      s.send({ type: 'message', conversation_id: conv, content: `u${i}-${k}`, client_id: `o-${i}-${k}` });
    }
  });
  const total = users.length * perSender;
  const seqs: number[] = [];
  for (let n = 0; n < total; n++) {
    const f = await ws.next((x) => x.type === 'new_message' && x.message.conversation_id === conv, 10_000);
    seqs.push(f.message.seq);
  }
  expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
});

test('a user who hides their presence still sees their own status and last_seen everywhere', async () => {
  const [hider, friend] = (await Promise.all([registerUser(t), registerUser(t)])) as [User, User];
  const conv = await group(t, hider, [friend]);
  await t.request('PATCH', '/api/v1/users/me', { token: hider.token, body: { last_seen_visibility: 'nobody' } });
  await t.request('POST', `/api/v1/conversations/${conv}/messages`, { token: hider.token, body: { content: 'hi' } });

  const mine = await t.request('GET', `/api/v1/conversations/${conv}`, { token: hider.token });
  const meThere = mine.body.conversation.participants.find((p: { id: number }) => p.id === hider.user.id);
  expect(meThere.last_seen).not.toBeNull();
  expect(mine.body.conversation.messages[0].sender.last_seen).not.toBeNull();
  const history = await t.request('GET', `/api/v1/conversations/${conv}/messages`, { token: hider.token });
  expect(history.body.messages[0].sender.last_seen).not.toBeNull();

  const theirs = await t.request('GET', `/api/v1/conversations/${conv}`, { token: friend.token });
  const hiderSeen = theirs.body.conversation.participants.find((p: { id: number }) => p.id === hider.user.id);
  expect(hiderSeen).toMatchObject({ status: 'offline', last_seen: null });
  const friendHistory = await t.request('GET', `/api/v1/conversations/${conv}/messages`, { token: friend.token });
  expect(friendHistory.body.messages[0].sender).toMatchObject({ status: 'offline', last_seen: null });
});
