import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startApp, type TestApp } from '../harness/app.js';

/**
 * The web app served at `/`: a build laid out as Vite lays it out (index.html, hashed
 * files under assets/), served with the right cache headers, index.html for the app's
 * own paths on reload, and the API's JSON 404s left as they are.
 */

const INDEX = '<!doctype html><html><head><title>natter</title></head><body><div id="app"></div></body></html>';
const ASSET = 'console.log("natter web app");';
const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'natter-web-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), INDEX);
  writeFileSync(path.join(dir, 'assets', 'index-3f9a1c2b.js'), ASSET);
  writeFileSync(path.join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('with a build', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ webApp: true }, { webAppDir: dir });
  });
  afterAll(() => t.close());

  test('/ is the app, revalidated on every load', async () => {
    const res = await t.request('GET', '/', { headers: HTML });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.body).toBe(INDEX);
    expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  test('hashed assets are cached for good; other files are revalidated', async () => {
    const asset = await t.request('GET', '/assets/index-3f9a1c2b.js');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.body).toBe(ASSET);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const icon = await t.request('GET', '/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers.get('cache-control')).toBe('no-cache');
  });

  test('a file a rebuild adds under assets/ while natter runs is served', async () => {
    writeFileSync(path.join(dir, 'assets', 'index-7d1e2f30.js'), 'console.log("rebuilt")');
    const asset = await t.request('GET', '/assets/index-7d1e2f30.js');
    expect(asset.status).toBe(200);
    expect(asset.body).toBe('console.log("rebuilt")');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });

  test("a page request for one of the app's own paths gets index.html, so a reload works", async () => {
    for (const url of ['/chat/12', '/settings/privacy?tab=blocked']) {
      const res = await t.request('GET', url, { headers: HTML });
      expect(res.status, url).toBe(200);
      expect(res.body, url).toBe(INDEX);
      expect(res.headers.get('cache-control'), url).toBe('no-cache');
    }
    const head = await fetch(`${t.url}/chat/12`, { method: 'HEAD', headers: HTML });
    expect(head.status).toBe(200);
  });

  test('the API, the docs and the probes keep their answers; their unknown paths stay JSON 404s', async () => {
    for (const url of ['/api/v1/nowhere', '/api', '/ws', '/docs/nowhere', '/health/x', '/ready/x', '/metrics']) {
      const res = await t.request('GET', url, { headers: HTML });
      expect(res.status, url).toBe(404);
      expect(res.headers.get('content-type'), url).toMatch(/^application\/json/);
      expect(res.body, url).toMatchObject({ code: 'route_not_found' });
    }
    expect((await t.request('GET', '/health', { headers: HTML })).body).toEqual({ status: 'ok' });
    const me = await t.request('GET', '/api/v1/users/me', { headers: HTML });
    expect(me.status).toBe(401);
    expect(me.body).toMatchObject({ code: 'unauthorized' });
  });

  test('requests that are not page loads are not given the app', async () => {
    // A missing script or image: a 404, not an HTML page the browser would try to run.
    const script = await t.request('GET', '/assets/gone-00000000.js', { headers: { accept: '*/*' } });
    expect(script.status).toBe(404);
    expect(script.body).toMatchObject({ code: 'route_not_found' });
    const post = await t.request('POST', '/chat/12', { headers: HTML, body: {} });
    expect(post.status).toBe(404);
    expect(post.body).toMatchObject({ code: 'route_not_found' });
  });
});

test('WEB_APP=false serves the API alone', async () => {
  const t = await startApp({ webApp: false }, { webAppDir: dir });
  try {
    for (const url of ['/', '/chat/12', '/assets/index-3f9a1c2b.js']) {
      const res = await t.request('GET', url, { headers: HTML });
      expect(res.status, url).toBe(404);
      expect(res.body, url).toMatchObject({ code: 'route_not_found' });
    }
    expect((await t.request('GET', '/health')).status).toBe(200);
  } finally {
    await t.close();
  }
});

test('a test app serves no web app unless the test asks for one', async () => {
  const t = await startApp();
  try {
    const res = await t.request('GET', '/', { headers: HTML });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: 'route_not_found' });
  } finally {
    await t.close();
  }
});

test('without a build natter starts and serves the API', async () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'natter-web-none-'));
  const t = await startApp({ webApp: true }, { webAppDir: empty });
  try {
    const res = await t.request('GET', '/', { headers: HTML });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: 'route_not_found' });
    expect((await t.request('GET', '/health')).status).toBe(200);
  } finally {
    await t.close();
    rmSync(empty, { recursive: true, force: true });
  }
});
