import type { AppServer, RouteContext } from '../server.js';
import { caller } from '../auth.js';
import { errorResponses } from '../../schemas/common.js';
import { TurnCredentialsSchema } from '../../schemas/turn.js';

export function turnRoutes(app: AppServer, ctx: RouteContext): void {
  const { turn } = ctx.services;

  app.get(
    '/calls/turn',
    {
      preHandler: ctx.requireAuth,
      schema: {
        tags: ['calls'],
        summary: 'STUN/TURN servers and short-lived TURN credentials for calls',
        description:
          'Pass `{urls: uris, username, credential: password}` as an RTCPeerConnection ice server. The credentials are ' +
          'coturn\'s use-auth-secret (TURN REST API) form: `username` is `<expiry unix seconds>:<user id>`, `password` ' +
          'base64(HMAC-SHA1(TURN_SECRET, username)); they work for `ttl` seconds (TURN_TTL) and are made afresh on each ' +
          'request (never cached: `Cache-Control: no-store`). Without TURN_SECRET only the stun: URIs of TURN_URIS are ' +
          'listed, `username` and `password` are null and `note` says TURN is not configured. Counts against the ' +
          'caller\'s REST budget (RATE_LIMIT_USER, 429 `rate_limited`).',
        security: [{ bearer: [] }],
        response: { 200: TurnCredentialsSchema, ...errorResponses(401, 429) },
      },
    },
    async (request, reply) => {
      reply.header('Cache-Control', 'no-store');
      return turn.credentials(caller(request).userId);
    },
  );
}
