import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppServer } from './server.js';

/**
 * The web app (web/, built by Vite into web/dist) served at `/`.
 *
 * Each built file gets its own route (found once at start-up), and assets/ one route for
 * files a later build adds, so the app never shadows
 * a route of the API: an unknown path reaches the not-found handler, which answers a
 * browser's page request (GET or HEAD that accepts text/html, outside the server's own
 * prefixes) with index.html so the app's own routes survive a reload, and everything else
 * with the JSON 404 as before. Vite puts content-hashed files under assets/, cached for
 * good; index.html is revalidated every time so a new build is picked up at once.
 */

/** web/dist of this checkout (src/http and dist/http are both two levels down). */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** Paths that belong to the server; never answered with the app's index.html. */
const SERVER_PREFIXES = ['/api', '/ws', '/docs', '/health', '/ready', '/metrics'];

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

export type PageFallback = (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined;

function isServerPath(url: string): boolean {
  const pathname = url.split('?')[0]!;
  return SERVER_PREFIXES.some((p) => pathname === p || pathname.startsWith(`${p}/`));
}

/**
 * Registers the built app in `dir` at `/`. Returns the not-found fallback that serves
 * index.html to page requests, or undefined when there is nothing to serve (`dir` has no
 * index.html: one line in the log says how to build it, and natter runs without it).
 */
export async function installWebApp(app: AppServer, dir: string): Promise<PageFallback | undefined> {
  if (!existsSync(path.join(dir, 'index.html'))) {
    app.log.warn({ dir }, 'web app not built, so not served at /: run `npm run build` (or `npm start`) to build it');
    return undefined;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    cacheControl: false,
    setHeaders: (reply, filePath) => {
      const rel = path.relative(dir, filePath).split(path.sep).join('/');
      reply.header('Cache-Control', rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE);
    },
  });
  // assets/ is also served as a whole: a rebuild while natter runs writes new hashed files
  // that the fresh index.html names, and they have no route of their own yet.
  await app.register(fastifyStatic, {
    root: path.join(dir, 'assets'),
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    cacheControl: false,
    setHeaders: (reply) => {
      reply.header('Cache-Control', IMMUTABLE);
    },
  });
  return (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
    if (isServerPath(request.url)) return undefined;
    if (!(request.headers.accept ?? '').includes('text/html')) return undefined;
    return reply.header('Cache-Control', REVALIDATE).sendFile('index.html');
  };
}
