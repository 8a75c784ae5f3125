import { afterAll, beforeAll, expect, test } from 'vitest';
import { startApp, type TestApp } from '../harness/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

test('health', async () => {
  const res = await t.request('GET', '/health');
  expect(res.status).toBe(200);
});
