import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';
import type { HttpObserver, RateLimitObserver } from '../metrics/meters.js';
import { bearerToken } from './auth.js';
import type { AppServer } from './server.js';

/** What the HTTP side needs of metrics: where replies are reported, and the text to serve. */
export interface MetricsEndpoint {
  observe: HttpObserver;
  /** Each 429 a REST limit gives. */
  rateLimited: RateLimitObserver;
  scrape(): Promise<{ contentType: string; body: string }>;
  /** METRICS_TOKEN: with it, GET /metrics on the main port answers to this bearer token. */
  token: string | undefined;
}

/**
 * Times every reply by its route template (`/api/v1/conversations/:id/messages`, never the
 * raw URL: ids would make a series per conversation); a request no route matched is
 * `unmatched`. With a token, serves GET /metrics to `Authorization: Bearer <token>` and
 * answers 401 otherwise; without one, /metrics is not on this port (404).
 */
export function installMetrics(app: AppServer, endpoint: MetricsEndpoint): void {
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    endpoint.observe(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  const token = endpoint.token;
  if (token === undefined) return;
  const expected = Buffer.from(token);
  app.get('/metrics', { logLevel: 'warn', schema: { hide: true } }, async (request, reply) => {
    const given = Buffer.from(bearerToken(request) ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError('unauthorized', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
    }
    const { contentType, body } = await endpoint.scrape();
    return reply.type(contentType).send(body);
  });
}

/**
 * METRICS_PORT: a second listener that serves GET /metrics and nothing else, for a
 * Prometheus on a private network (no token: keep the port off the public one).
 */
export class MetricsListener {
  private readonly server: Server;

  constructor(scrape: MetricsEndpoint['scrape']) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if ((req.method !== 'GET' && req.method !== 'HEAD') || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'Only GET /metrics is served here', code: 'not_found' }));
        return;
      }
      scrape().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        () => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'Internal server error', code: 'internal' }));
        },
      );
    });
  }

  /** Resolves to the bound address, e.g. http://127.0.0.1:9464. */
  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const address = this.server.address();
        if (address === null || typeof address === 'string') return resolve(String(address));
        const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve(`http://${h}:${address.port}`);
      });
    });
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
