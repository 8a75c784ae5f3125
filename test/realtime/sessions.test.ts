import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { Sockets } from './fixtures.js';

let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  // One heartbeat round a second: the session sweep runs that often. (At 0.3 s a socket
  // whose pong was late under a loaded test run was cut off as dead, and with it the
  // socket this file checks is left alone.)
  t = await startApp({ wsPingInterval: 1 });
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

test('a session ended without a live event (e.g. while the bus was down) still closes its sockets with 4001', async () => {
  const user = await registerUser(t);
  const ws = await sockets.connect(t, user);
  const other = await registerUser(t);
  const keep = await sockets.connect(t, other);

  // Revoke in the database only: nothing is published, as when the bus dropped the event.
  await t.app.database.db
    .updateTable('sessions')
    .set({ revoked_at: sql`now()` })
    .where('user_id', '=', user.user.id)
    .execute();

  const started = Date.now();
  expect(await ws.closed).toBe(4001);
  expect(Date.now() - started).toBeLessThan(3000);
  keep.send({ type: 'ping' });
  await keep.nextOfType('pong');
});

test('an expired session is closed the same way', async () => {
  const user = await registerUser(t);
  const ws = await sockets.connect(t, user);
  await t.app.database.db
    .updateTable('sessions')
    .set({ expires_at: sql`now() - interval '1 second'` })
    .where('user_id', '=', user.user.id)
    .execute();
  expect(await ws.closed).toBe(4001);
});
