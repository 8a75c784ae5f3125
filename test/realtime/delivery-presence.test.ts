import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { registerUser, startApp, type TestApp } from '../harness/app.js';
import { wsUrl, type Frame } from '../harness/ws.js';
import { direct, Sockets, type User } from './fixtures.js';

/** Presence over real sockets: the grace period against flapping, and last_seen privacy. */

const GRACE_S = 1;
let t: TestApp;
const sockets = new Sockets();

beforeAll(async () => {
  t = await startApp({ presenceGrace: GRACE_S });
});
afterEach(() => sockets.closeAll());
afterAll(() => t?.close());

const statusOf = (userId: number) => (f: Frame) => f.type === 'status_change' && f.user_id === userId;

async function row(id: number) {
  return t.app.database.db.selectFrom('users').select(['status', 'last_seen']).where('id', '=', id).executeTakeFirstOrThrow();
}

describe('grace period', () => {
  test('a reconnect within the grace period is invisible; staying away gives one offline with the disconnect time', async () => {
    const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
    await direct(t, a, b);
    const wa = await sockets.connect(t, a);
    const b1 = await sockets.connect(t, b);
    await wa.next(statusOf(b.user.id));

    for (let i = 0; i < 3; i++) {
      await (await sockets.connect(t, b)).close();
    }
    await b1.close();
    const b2 = await sockets.connect(t, b);
    await b2.close();
    const b3 = await sockets.connect(t, b);
    await wa.expectNone(statusOf(b.user.id), GRACE_S * 1000 + 300);
    expect((await row(b.user.id)).status).toBe('online');

    const closedAt = Date.now();
    await b3.close();
    const offline = await wa.next(statusOf(b.user.id), GRACE_S * 1000 + 3000);
    const heardAt = Date.now();
    expect(offline).toMatchObject({ type: 'status_change', user_id: b.user.id, status: 'offline' });
    const lastSeen = new Date(offline.last_seen).getTime();
    // The moment the socket closed, not the end of the grace period.
    expect(heardAt - closedAt).toBeGreaterThanOrEqual(GRACE_S * 1000 - 50);
    expect(Math.abs(lastSeen - closedAt)).toBeLessThan(300);
    expect((await row(b.user.id)).last_seen.getTime()).toBe(lastSeen);
    await wa.expectNone(statusOf(b.user.id), 300);
  });

  test('a socket dropped before it is set up does not leave the user online', async () => {
    const [a, b] = await Promise.all([registerUser(t), registerUser(t)]);
    await direct(t, a, b);
    const wa = await sockets.connect(t, a);
    for (let i = 0; i < 5; i++) {
      const socket = new WebSocket(wsUrl(t, b.token));
      socket.on('error', () => {});
      await new Promise<void>((resolve) => {
        socket.once('open', () => {
          socket.terminate();
          resolve();
        });
      });
    }
    // Whatever the contact heard, the last word is offline, and the row agrees.
    await expect.poll(async () => (await row(b.user.id)).status, { timeout: GRACE_S * 1000 + 4000 }).toBe('offline');
    await wa.expectNone(statusOf(b.user.id), GRACE_S * 1000 + 300).catch(() => {});
    const heard = wa.all('status_change').filter((f) => f.user_id === b.user.id);
    if (heard.length > 0) expect(heard.at(-1)!.status).toBe('offline');
    expect((await row(b.user.id)).status).toBe('offline');
    // And it still works: a real socket brings them online, closing it takes them offline.
    const wb = await sockets.connect(t, b);
    expect(await wa.next((f) => statusOf(b.user.id)(f) && f.status === 'online')).toBeTruthy();
    await wb.close();
    await wa.next((f) => statusOf(b.user.id)(f) && f.status === 'offline', GRACE_S * 1000 + 3000);
  });
});

describe('last_seen_visibility', () => {
  async function setVisibility(u: User, v: 'everyone' | 'contacts' | 'nobody') {
    const res = await t.request('PATCH', '/api/v1/users/me', { token: u.token, body: { last_seen_visibility: v } });
    expect(res.status).toBe(200);
    expect(res.body.user.last_seen_visibility).toBe(v);
  }

  async function seenBy(viewer: User, target: User) {
    const one = await t.request('GET', `/api/v1/users/${target.user.id}`, { token: viewer.token });
    expect(one.status).toBe(200);
    const list = await t.request('GET', `/api/v1/users?search=${encodeURIComponent(target.user.username)}`, { token: viewer.token });
    expect(list.status).toBe(200);
    const inList = list.body.users.find((u: { id: number }) => u.id === target.user.id);
    expect(inList).toBeDefined();
    const pick = (u: { status: string; last_seen: string | null }) => ({ status: u.status, last_seen: u.last_seen });
    expect(pick(inList)).toEqual(pick(one.body.user));
    return pick(one.body.user);
  }

  test.each([
    ['everyone', { contact: true, stranger: true }],
    ['contacts', { contact: true, stranger: false }],
    ['nobody', { contact: false, stranger: false }],
  ] as const)('%s: who sees status and last_seen, and who hears status_change', async (visibility, visible) => {
    const [u, contact, stranger] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    await direct(t, u, contact);
    await setVisibility(u, visibility);
    const [wc, ws] = await Promise.all([sockets.connect(t, contact), sockets.connect(t, stranger)]);

    const wu = await sockets.connect(t, u);
    if (visible.contact) expect(await wc.next(statusOf(u.user.id))).toMatchObject({ status: 'online' });
    const truth = await row(u.user.id);
    expect(truth.status).toBe('online');
    const shown = { status: 'online', last_seen: truth.last_seen.toISOString() };
    const hidden = { status: 'offline', last_seen: null };

    expect(await seenBy(contact, u)).toEqual(visible.contact ? shown : hidden);
    expect(await seenBy(stranger, u)).toEqual(visible.stranger ? shown : hidden);
    // Their own view always has the real values.
    const me = await t.request('GET', '/api/v1/users/me', { token: u.token });
    expect(me.body.user).toMatchObject({ ...shown, last_seen_visibility: visibility });

    await wu.close();
    if (visible.contact) {
      const offline = await wc.next(statusOf(u.user.id), GRACE_S * 1000 + 3000);
      expect(offline).toMatchObject({ status: 'offline' });
    } else {
      await expect.poll(async () => (await row(u.user.id)).status, { timeout: GRACE_S * 1000 + 3000 }).toBe('offline');
      await wc.expectNone(statusOf(u.user.id), 200);
    }
    // Strangers never hear anything; with `nobody` nor do contacts.
    expect(ws.all('status_change').filter((f) => f.user_id === u.user.id)).toEqual([]);
    if (!visible.contact) expect(wc.all('status_change').filter((f) => f.user_id === u.user.id)).toEqual([]);

    const after = await row(u.user.id);
    const shownOffline = { status: 'offline', last_seen: after.last_seen.toISOString() };
    expect(await seenBy(contact, u)).toEqual(visible.contact ? shownOffline : hidden);
    expect(await seenBy(stranger, u)).toEqual(visible.stranger ? shownOffline : hidden);
    const meAfter = await t.request('GET', '/api/v1/users/me', { token: u.token });
    expect(meAfter.body.user).toMatchObject(shownOffline);
  });
});
