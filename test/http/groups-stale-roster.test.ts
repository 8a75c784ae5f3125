import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { registerUser, startApp, testConfig, type TestApp } from '../harness/app.js';
import { connect } from '../harness/ws.js';
import { group, messageRows, newMessageIn, Sockets, type User } from '../realtime/fixtures.js';

/**
 * Two nodes over one database with no bus between them: node 2's cached roster is never
 * told of changes made through node 1 — the worst a lost cache event can do. The roster
 * version read at the commit still keeps a removed member from posting or hearing the
 * group through node 2, and a demoted poster from posting where only admins post.
 */
let t: TestApp;
let node2: App;
let node2Url: string;
let dataDir: string;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp();
  dataDir = mkdtempSync(path.join(tmpdir(), 'natter-data-'));
  // The same database, not closed by this app (the first one owns it); its own memory bus.
  node2 = await createApp(testConfig({ dataDir }), { database: { ...t.app.database, close: async () => {} } });
  node2Url = await node2.listen();
});
afterAll(async () => {
  await sockets.closeAll();
  await node2?.close();
  await t?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function viaNode2(method: string, url: string, token: string, body?: unknown) {
  const res = await fetch(`${node2Url}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}
const send = (who: User, id: number, content: string) => viaNode2('POST', `/api/v1/conversations/${id}/messages`, who.token, { content });

test('a member removed through node 1 can neither post through node 2 nor hear the group there', async () => {
  const [owner, bob, carol] = (await Promise.all([registerUser(t), registerUser(t), registerUser(t)])) as [User, User, User];
  const id = await group(t, owner, [bob, carol]);
  const node2App = { url: node2Url } as TestApp;
  const [wBob, wCarol] = await Promise.all([connect(node2App, bob.token), connect(node2App, carol.token)]);
  sockets.track(wBob);
  sockets.track(wCarol);
  // Node 2 caches the roster with bob in it.
  expect((await send(bob, id, 'warm')).status).toBe(201);
  await wCarol.next(newMessageIn(id, 'warm'));

  const removed = await t.request('DELETE', `/api/v1/conversations/${id}/participants/${bob.user.id}`, { token: owner.token });
  expect(removed.status).toBe(204);

  // History through node 2: 404, as everywhere, though node 2 still caches bob as a member.
  const page = await viaNode2('GET', `/api/v1/conversations/${id}/messages`, bob.token);
  expect(page.status).toBe(404);
  const refused = await send(bob, id, 'still here?');
  expect(refused.status).toBe(404);
  expect(refused.body.code).toBe('not_found');
  expect((await send(carol, id, 'after')).status).toBe(201);
  await wCarol.next(newMessageIn(id, 'after'));
  await wBob.expectNone(newMessageIn(id, 'after'));
  expect((await messageRows(t, id)).map((m) => m.content)).not.toContain('still here?');
});

test('only_admins_can_post set through node 1 holds through node 2 at once', async () => {
  const [owner, bob] = (await Promise.all([registerUser(t), registerUser(t)])) as [User, User];
  const id = await group(t, owner, [bob]);
  expect((await send(bob, id, 'warm')).status).toBe(201);
  const set = await t.request('PATCH', `/api/v1/conversations/${id}`, { token: owner.token, body: { settings: { only_admins_can_post: true } } });
  expect(set.status).toBe(200);
  const refused = await send(bob, id, 'may I?');
  expect(refused.status).toBe(403);
  expect(refused.body.code).toBe('forbidden');
  expect((await send(owner, id, 'only me')).status).toBe(201);
  expect((await messageRows(t, id)).map((m) => m.content)).toEqual(['warm', expect.stringContaining('changed the group'), 'only me']);
});
