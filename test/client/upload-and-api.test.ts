import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startApp, type TestApp } from '../harness/app.js';
import { Clients, directBetween, eventually } from './fixtures.js';

/** Attachments through the SDK (Node's streamed upload), and the typed REST client on the rest of natter. */

let t: TestApp;
const clients = new Clients();

beforeAll(async () => {
  t = await startApp();
});
afterEach(() => clients.closeAll());
afterAll(() => t?.close());

describe('upload', () => {
  test('uploads with progress, then sends it: the echo and the other member carry the attachment, whose bytes are the file', async () => {
    const a = await clients.signedUp(t.url);
    const b = await clients.signedUp(t.url);
    const c = await directBetween(a, b);
    await Promise.all([a.connect(), b.connect()]);
    const bytes = randomBytes(300 * 1024);
    const progress: [number, number][] = [];
    const attachment = await a.upload(c, new Blob([bytes]), {
      filename: 'data.bin',
      onProgress: (sent, total) => progress.push([sent, total]),
    });
    expect(attachment).toMatchObject({ conversation_id: c, kind: 'file', size: bytes.length, name: 'data.bin' });
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.every(([, total]) => total === bytes.length)).toBe(true);
    expect(progress.map(([sent]) => sent)).toEqual([...progress.map(([sent]) => sent)].sort((x, y) => x - y));
    expect(progress.at(-1)).toEqual([bytes.length, bytes.length]);

    const got: any[] = [];
    b.on('new_message', (f) => got.push(f.message));
    a.send(c, { content: '', attachment_ids: [attachment.id] });
    await eventually(() => expect(got).toHaveLength(1));
    expect(got[0]).toMatchObject({ type: 'file', attachments: [expect.objectContaining({ id: attachment.id })] });
    await eventually(() => expect(a.outbox.entries()).toEqual([]));
    const res = await fetch(`${t.url}${got[0].attachments[0].url}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  test('the contract form upload(file, { conversationId }); refusals are NatterErrors; no conversation is a TypeError', async () => {
    const a = await clients.signedUp(t.url);
    const b = await clients.signedUp(t.url);
    const c = await directBetween(a, b);
    const file = new File([Buffer.from('hello')], 'hello.txt', { type: 'text/plain' });
    expect(await a.upload(file, { conversationId: c })).toMatchObject({ name: 'hello.txt', size: 5, mime_type: 'text/plain' });
    await expect(a.upload(file, { conversationId: 999_999_999 })).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(a.upload(file)).rejects.toThrow(TypeError);
    const ctl = new AbortController();
    ctl.abort();
    await expect(a.upload(c, file, { signal: ctl.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('client.api: the rest of natter, typed from its OpenAPI document', () => {
  test('group admin, search, blocking and devices', async () => {
    const [a, b, d] = await Promise.all([clients.signedUp(t.url), clients.signedUp(t.url), clients.signedUp(t.url)]);
    const ids = (x: typeof a) => x.user!.id;

    const created = await a.api.POST('/api/v1/conversations', {
      body: { type: 'group', name: 'Team', participant_ids: [ids(b)] },
    });
    expect(created.response.status).toBe(201);
    const g = created.data!.conversation.id;
    const added = await a.api.POST('/api/v1/conversations/{id}/participants', {
      params: { path: { id: g } },
      body: { user_ids: [ids(d)] },
    });
    expect(added.data?.conversation.participants.map((p) => p.id).sort()).toEqual([ids(a), ids(b), ids(d)].sort());
    const promoted = await a.api.PATCH('/api/v1/conversations/{id}/participants/{userId}', {
      params: { path: { id: g, userId: ids(b) } },
      body: { role: 'admin' },
    });
    expect(promoted.data?.conversation.participants.find((p) => p.id === ids(b))?.role).toBe('admin');
    const removed = await a.api.DELETE('/api/v1/conversations/{id}/participants/{userId}', {
      params: { path: { id: g, userId: ids(d) } },
    });
    expect(removed.response.status).toBe(204);

    const word = `needle${randomBytes(3).toString('hex')}`;
    const sent = await a.api.POST('/api/v1/conversations/{id}/messages', { params: { path: { id: g } }, body: { content: `a ${word} here` } });
    expect(sent.response.status).toBe(201);
    const found = await b.api.GET('/api/v1/search/messages', { params: { query: { q: word } } });
    expect(found.data?.results.map((r) => r.message.id)).toEqual([sent.data!.message.id]);

    const blocked = await a.api.POST('/api/v1/users/{id}/block', { params: { path: { id: ids(d) } } });
    expect(blocked.response.status).toBe(201);
    const blocks = await a.api.GET('/api/v1/users/me/blocks');
    expect(blocks.data?.blocks.map((x) => x.user.id)).toEqual([ids(d)]);
    expect((await a.api.DELETE('/api/v1/users/{id}/block', { params: { path: { id: ids(d) } } })).response.status).toBe(204);

    const device = await a.api.POST('/api/v1/devices', { body: { platform: 'fcm', token: `fcm-${randomBytes(8).toString('hex')}` } });
    expect(device.response.status).toBe(201);
    const devices = await a.api.GET('/api/v1/devices');
    expect(devices.data?.devices.map((x) => x.id)).toEqual([device.data!.device.id]);
    expect((await a.api.DELETE('/api/v1/devices/{id}', { params: { path: { id: device.data!.device.id } } })).response.status).toBe(204);
  });
});
