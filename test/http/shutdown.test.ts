import { connect, type Socket } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { startApp, type TestApp } from '../harness/app.js';

/**
 * A request that arrives while the server is closing — on a keep-alive connection that
 * was busy when the close began, so it was not reaped as idle — is answered 503 with the
 * one error body, `{error, code}`, and `Connection: close`, so a client or load balancer
 * knows to go elsewhere. Before, Fastify answered it with its own body, without `code`.
 */

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Every response on a raw socket until the server ends it (each sized by Content-Length). */
function responses(socket: Socket): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => (data = Buffer.concat([data, chunk])));
    socket.on('error', reject);
    socket.on('close', () => {
      const out: RawResponse[] = [];
      let rest = data;
      while (rest.length > 0) {
        const end = rest.indexOf('\r\n\r\n');
        if (end < 0) break;
        const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
        const headers = Object.fromEntries(
          lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
        );
        const length = Number(headers['content-length'] ?? 0);
        out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.subarray(end + 4, end + 4 + length).toString('utf8') });
        rest = rest.subarray(end + 4 + length);
      }
      resolve(out);
    });
  });
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a request arriving while the server closes is 503 with {error, code} and Connection: close', async () => {
  t = await startApp();
  const app = t;
  const { port } = new URL(app.url);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const replies = responses(socket);

  // Request 1: its headers are in, its body not yet, so it is in flight when the close begins.
  const body = JSON.stringify({ email: 'nobody@example.com', password: 'password123' });
  socket.write(
    `POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
  );
  // A round trip on another connection: by then the server has read request 1's headers.
  expect((await app.request('GET', '/health')).status).toBe(200);

  const closing = app.app.close();
  t = undefined;
  await until(() => !app.app.server.server.listening);

  // The rest of request 1, and request 2 behind it on the same (busy) connection.
  socket.write(`${body.slice(5)}GET /api/v1/users/me HTTP/1.1\r\nHost: test\r\n\r\n`);
  const [first, second, ...more] = await replies;
  await closing;

  expect(first?.status).toBe(401); // request 1 was finished, not cut off
  expect(more).toEqual([]);
  expect(second?.status).toBe(503);
  expect(second!.headers['content-type']).toMatch(/^application\/json/);
  expect(second!.headers.connection).toBe('close');
  const error = JSON.parse(second!.body);
  expect(Object.keys(error).sort()).toEqual(['code', 'error']);
  expect(error.code).toBe('shutting_down');
  expect(error.error.length).toBeGreaterThan(0);
});

test('a connection that never finishes its request does not hold the close past the grace', async () => {
  t = await startApp({}, { shutdownGraceMs: 300 });
  const app = t;
  const { port } = new URL(app.url);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // Headers begun, never ended: Node waits headersTimeout (60 s) for the rest.
  socket.write('GET /health HTTP/1.1\r\nHost: natter\r\n');
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await app.close();
  t = undefined;
  expect(Date.now() - started).toBeLessThan(20_000);
  await closed;
});
