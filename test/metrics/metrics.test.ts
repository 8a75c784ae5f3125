import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envConfig, registerUser, startApp, type TestApp } from '../harness/app.js';
import { direct, newMessageIn, Sockets } from '../realtime/fixtures.js';
import { parseProm, value, type Sample } from './prom-text.js';

const TOKEN = 'metrics-token-for-tests-0123456789';

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseProm(await res.text());
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('metrics after a scripted session', () => {
  let t: TestApp;
  const sockets = new Sockets();
  beforeAll(async () => {
    t = await startApp(envConfig({ METRICS_PORT: '0', METRICS_TOKEN: TOKEN }));
  });
  afterAll(async () => {
    await sockets.closeAll();
    await t?.close();
  });

  it('counts what the session did, with bounded labels only', async () => {
    const metricsUrl = t.app.metricsUrl!;
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const before = await scrape(metricsUrl);
    const delta = (after: Sample[], name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);

    const a = await registerUser(t);
    const b = await registerUser(t);
    const conversationId = await direct(t, a, b);
    const wa = await sockets.connect(t, a);
    const wb = await sockets.connect(t, b);
    const N = 5;
    for (let i = 0; i < N; i++) wa.send({ type: 'message', conversation_id: conversationId, content: `m${i}`, client_id: `c${i}` });
    for (let i = 0; i < N; i++) {
      await wa.next(newMessageIn(conversationId, `m${i}`));
      await wb.next(newMessageIn(conversationId, `m${i}`));
    }
    // b syncs from seq 2: messages 3..5 again, then `synced`.
    wb.send({ type: 'sync', since: { [conversationId]: 2 } });
    await wb.nextOfType('synced');
    const history = await t.request('GET', `/api/v1/conversations/${conversationId}/messages`, { token: a.token });
    expect(history.status).toBe(200);
    expect((await t.request('GET', '/api/v1/no/such/route/12345')).status).toBe(404);
    await wa.close();
    await wb.close();
    await until(async () => value(await scrape(metricsUrl), 'natter_ws_sockets_open') === 0);

    const after = await scrape(metricsUrl);
    expect(delta(after, 'natter_messages_committed_total')).toBe(N);
    expect(delta(after, 'natter_write_batch_size_sum')).toBe(N);
    expect(delta(after, 'natter_write_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(delta(after, 'natter_commit_duration_seconds_count')).toBe(delta(after, 'natter_write_batch_size_count'));
    expect(value(after, 'natter_writer_queue_depth')).toBe(0);

    expect(delta(after, 'natter_ws_frames_in_total', { type: 'message' })).toBe(N);
    expect(delta(after, 'natter_ws_frames_in_total', { type: 'sync' })).toBe(1);
    expect(delta(after, 'natter_ws_frames_in_total')).toBe(N + 1);
    // a's echoes, b's live copies, b's replay of seqs 3..5.
    expect(delta(after, 'natter_ws_frames_out_total', { type: 'new_message' })).toBe(N + N + 3);
    expect(delta(after, 'natter_ws_frames_out_total', { type: 'connected' })).toBe(2);
    expect(delta(after, 'natter_ws_frames_out_total', { type: 'synced' })).toBe(1);
    expect(value(after, 'natter_ws_frames_out_total', { type: 'other' })).toBe(0);
    expect(delta(after, 'natter_ws_bytes_out_total')).toBeGreaterThan(0);
    expect(delta(after, 'natter_ws_sockets_opened_total')).toBe(2);
    // The test client closes without a code: the server sees 1005.
    expect(delta(after, 'natter_ws_sockets_closed_total', { code: '1005' })).toBe(2);
    expect(delta(after, 'natter_ws_slow_consumer_closes_total')).toBe(0);
    expect(value(after, 'natter_presence_online_users')).toBe(0);
    expect(delta(after, 'natter_sync_replays_total')).toBe(1);
    expect(delta(after, 'natter_bus_publishes_total')).toBeGreaterThanOrEqual(N * 2);
    expect(value(after, 'natter_bus_publish_errors_total')).toBe(0);

    const http = 'natter_http_request_duration_seconds_count';
    expect(delta(after, http, { route: '/api/v1/auth/register', method: 'POST', status: '201' })).toBe(2);
    expect(delta(after, http, { route: '/api/v1/conversations', method: 'POST' })).toBe(1);
    expect(delta(after, http, { route: '/api/v1/conversations/:id/messages', method: 'GET', status: '200' })).toBe(1);
    expect(delta(after, http, { route: 'unmatched', method: 'GET', status: '404' })).toBe(1);
    expect(value(after, 'natter_ready')).toBe(1);
    expect(value(after, 'natter_db_pool_size')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'natter_push_queue_depth')).toBe(0);
    // Defaults: process and event loop, with the prefix.
    expect(after.some((s) => s.name === 'natter_process_cpu_user_seconds_total')).toBe(true);
    expect(after.some((s) => s.name === 'natter_nodejs_eventloop_lag_p99_seconds')).toBe(true);

    // No label of natter's own carries an id or a raw URL (the defaults' labels are
    // versions, heap spaces and GC kinds).
    const ids = [a.user.id, b.user.id, conversationId].map(String);
    const ownLabels = new Set(['route', 'method', 'status', 'code', 'type', 'provider', 'result', 'limit']);
    for (const s of after) {
      expect(s.name.startsWith('natter_'), s.name).toBe(true);
      for (const [label, v] of Object.entries(s.labels)) {
        if (!ownLabels.has(label)) continue;
        for (const id of ids) {
          expect(v === id || v.includes(`/${id}`), `${s.name}{${label}="${v}"}`).toBe(false);
        }
        if (label === 'route') expect(v, v).toMatch(/^(unmatched|(\/(:?[a-z_-]+|v1|\*))+|\/)$/);
      }
    }
  });
});

describe('who may read /metrics', () => {
  let t: TestApp;
  let plain: TestApp;
  beforeAll(async () => {
    t = await startApp(envConfig({ METRICS_TOKEN: TOKEN }));
    plain = await startApp();
  });
  afterAll(async () => {
    await t?.close();
    await plain?.close();
  });

  it('refuses the main port without the token and serves it with it', async () => {
    const tries: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token' }, { authorization: `Bearer ${TOKEN}x` }, { authorization: TOKEN }];
    for (const headers of tries) {
      const res = await t.request('GET', '/metrics', { headers });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String), code: 'unauthorized' });
    }
    const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^natter_http_request_duration_seconds_bucket\{/m);
    expect(t.app.metricsUrl).toBeUndefined();
  });

  it('is not on the main port without a token', async () => {
    const res = await plain.request('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
  });

  it('serves only /metrics on METRICS_PORT', async () => {
    const own = await startApp(envConfig({ METRICS_PORT: '0' }));
    try {
      const url = own.app.metricsUrl!;
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('natter_ws_sockets_open 0');
      expect((await fetch(`${url}/api/v1/users/me`)).status).toBe(404);
      expect((await own.request('GET', '/metrics')).status).toBe(404);
    } finally {
      await own.close();
    }
  });

  it('binds METRICS_PORT to METRICS_HOST, apart from the API', async () => {
    const own = await startApp(envConfig({ METRICS_PORT: '0', METRICS_HOST: '127.0.0.2' }));
    try {
      const url = own.app.metricsUrl!;
      const m = /^http:\/\/127\.0\.0\.2:(\d+)$/.exec(url);
      expect(m, url).not.toBeNull();
      expect((await fetch(`${url}/metrics`)).status).toBe(200);
      // The API stays on HOST (127.0.0.1); nothing listens on the metrics port there.
      expect(own.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
      await expect(fetch(`http://127.0.0.1:${m![1]}/metrics`)).rejects.toThrow();
    } finally {
      await own.close();
    }
  });
});

describe('METRICS=false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp(envConfig({ METRICS: 'false' }));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('measures nothing and serves /metrics nowhere, while the node works as ever', async () => {
    expect(t.app.metrics).toBeUndefined();
    expect(t.app.metricsUrl).toBeUndefined();
    const res = await t.request('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
    const a = await registerUser(t);
    const b = await registerUser(t);
    const conversationId = await direct(t, a, b);
    const sockets = new Sockets();
    try {
      const wa = await sockets.connect(t, a);
      const wb = await sockets.connect(t, b);
      wa.send({ type: 'message', conversation_id: conversationId, content: 'unmeasured', client_id: 'c1' });
      await wa.next(newMessageIn(conversationId, 'unmeasured'));
      await wb.next(newMessageIn(conversationId, 'unmeasured'));
    } finally {
      await sockets.closeAll();
    }
  });
});
