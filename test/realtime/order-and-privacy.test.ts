import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { sql } from 'kysely';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { group, messageRows, Sockets, type User } from './fixtures.js';

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

test('eight concurrent REST senders in one busy conversation: every socket sees its messages in seq order', async () => {
  // Small batches and several lanes, so many transactions are in flight at once.
  const busy = await startApp({ writeConcurrency: 4, writeBatchMax: 3 });
  const local = new Sockets();
  try {
    const users = await Promise.all(Array.from({ length: 8 }, () => registerUser(busy)));
    const readers = await Promise.all(Array.from({ length: 2 }, () => registerUser(busy)));
    const conv = await group(busy, users[0]!, [...users.slice(1), ...readers]);
    // Traffic in other conversations on the same lanes and others.
    const others = await Promise.all(Array.from({ length: 3 }, (_, i) => group(busy, users[i]!, [users[i + 1]!])));
    const sockets = await Promise.all(readers.map((r) => local.connect(busy, r)));

    const perSender = 40;
    await Promise.all(
      users.map(async (u, i) => {
        for (let k = 0; k < perSender; k++) {
          const target = k % 4 === 3 ? others[i % 3]! : conv;
          const res = await busy.request('POST', `/api/v1/conversations/${target}/messages`, {
            token: u.token,
            body: { content: `u${i}-${k}`, client_id: `lo-${i}-${k}` },
          });
          if (target === conv) expect(res.status).toBe(201);
        }
      }),
    );
    const expected = users.length * perSender * (3 / 4);
    for (const ws of sockets) {
      const seqs: number[] = [];
      for (let n = 0; n < expected; n++) {
        seqs.push((await ws.next((f) => f.type === 'new_message' && f.message.conversation_id === conv, 10_000)).message.seq);
      }
      expect(seqs).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
    }
  } finally {
    await local.closeAll();
    await busy.close();
  }
});

test('one socket in many conversations: its messages share commits instead of each waiting for the last, and keep their order', async () => {
  // A generous batch delay: a socket that waited for each commit before reading its next
  // frame would need one transaction per message.
  const slow = await startApp({ writeBatchDelay: 0.05 });
  const local = new Sockets();
  try {
    const bot = await registerUser(slow);
    const peers = await Promise.all(Array.from({ length: 4 }, () => registerUser(slow)));
    const convs = await Promise.all(peers.map((p) => group(slow, bot, [p])));
    const ws = await local.connect(slow, bot);
    const n = 40;
    for (let i = 0; i < n; i++) {
      ws.send({ type: 'message', conversation_id: convs[i % 4], content: `b${i}`, client_id: `bot-${i}` });
    }
    for (let i = 0; i < n; i++) await ws.next((f) => f.type === 'new_message' && f.message.client_id === `bot-${i}`, 10_000);
    for (const [k, conv] of convs.entries()) {
      const rows = await messageRows(slow, conv);
      expect(rows.map((r) => [r.seq, r.content])).toEqual(Array.from({ length: n / 4 }, (_, j) => [j + 1, `b${j * 4 + k}`]));
    }
    // Rows written by one transaction share its xmin.
    const { rows } = await sql<{ commits: number }>`
      select count(distinct xmin::text)::int as commits from messages where client_id like 'bot-%'`.execute(slow.app.database.db);
    expect(rows[0]!.commits).toBeLessThanOrEqual(n / 4);
  } finally {
    await local.closeAll();
    await slow.close();
  }
});

test('a resent message and a new one right behind it: the resend is answered first, in seq order', async () => {
  const [a, b] = (await Promise.all([registerUser(t), registerUser(t)])) as [User, User];
  const conv = await group(t, a, [b]);
  const ws = await sockets.connect(t, a);
  for (let round = 0; round < 3; round++) {
    ws.send({ type: 'message', conversation_id: conv, content: `x${round}`, client_id: `rs-x${round}` });
    const first = await ws.next((f) => f.type === 'new_message' && f.message.client_id === `rs-x${round}`);
    // A phone replaying its outbox: the one it was unsure of, then a new one.
    ws.send({ type: 'message', conversation_id: conv, content: `x${round}`, client_id: `rs-x${round}` });
    ws.send({ type: 'message', conversation_id: conv, content: `y${round}`, client_id: `rs-y${round}` });
    const again = await ws.next((f) => f.type === 'new_message' && f.message.conversation_id === conv);
    const next = await ws.next((f) => f.type === 'new_message' && f.message.conversation_id === conv);
    expect([again.message.client_id, next.message.client_id]).toEqual([`rs-x${round}`, `rs-y${round}`]);
    expect(again.message.seq).toBe(first.message.seq);
    expect(next.message.seq).toBe(first.message.seq + 1);
  }
});

test('a message the database refuses is answered with an error carrying its client_id; the rest of its batch is stored and echoed', async () => {
  const local = new Sockets();
  const app = await startApp({ writeBatchDelay: 0.05 });
  try {
    // Stands for any input the validators miss.
    await sql`alter table messages add constraint test_no_poison check (content not like 'poison%')`.execute(app.app.database.db);
    const [a, b] = await Promise.all([registerUser(app), registerUser(app)]);
    const conv = await group(app, a, [b]);
    const [wa, wb] = await Promise.all([local.connect(app, a), local.connect(app, b)]);
    const texts = Array.from({ length: 12 }, (_, i) => (i === 5 ? 'poison' : `fine ${i}`));
    texts.forEach((content, i) => wa.send({ type: 'message', conversation_id: conv, content, client_id: `pz-${i}` }));
    const err = await wa.next((f) => f.type === 'error');
    expect(err).toMatchObject({ code: 'internal', client_id: 'pz-5' });
    const fine = texts.filter((x) => x !== 'poison');
    for (const w of [wa, wb]) {
      const got = [];
      for (let i = 0; i < fine.length; i++) got.push((await w.next((f) => f.type === 'new_message')).message.content);
      expect(got).toEqual(fine);
    }
    expect((await messageRows(app, conv)).map((r) => r.content)).toEqual(fine);
  } finally {
    await local.closeAll();
    await app.close();
  }
});
