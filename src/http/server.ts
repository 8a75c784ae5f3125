import AjvCompiler from '@fastify/ajv-compiler';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type preHandlerAsyncHookHandler,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { AppError } from '../domain/errors.js';
import type { AccountsService } from '../services/accounts.js';
import type { AttachmentsService } from '../services/attachments.js';
import type { BlocksService } from '../services/blocks.js';
import type { ConversationsService } from '../services/conversations.js';
import type { DevicesService } from '../services/devices.js';
import type { GroupsService } from '../services/groups.js';
import type { MemberSettingsService } from '../services/member-settings.js';
import type { MessageChangesService } from '../services/message-changes.js';
import type { MessagesService } from '../services/messages.js';
import type { ReceiptsService } from '../services/receipts.js';
import type { SearchService } from '../services/search.js';
import type { TurnService } from '../services/turn.js';
import type { UsersService } from '../services/users.js';
import { requireAuth } from './auth.js';
import { installErrorHandlers, sendError } from './errors.js';
import { guardPathAndQuery, parseSafeJson } from './input-guards.js';
import { installRestLimits, RATE_LIMIT_HEADERS, rateLimitOptions, RATE_WINDOW } from './rate-limits.js';
import { installMetrics, type MetricsEndpoint } from './metrics.js';
import { attachmentRoutes } from './routes/attachments.js';
import { authRoutes } from './routes/auth.js';
import { TUS_REQUEST_HEADERS, TUS_RESPONSE_HEADERS, uploadRoutes } from './routes/uploads.js';
import { conversationRoutes } from './routes/conversations.js';
import { deviceRoutes } from './routes/devices.js';
import { groupRoutes } from './routes/groups.js';
import { memberSettingsRoutes } from './routes/member-settings.js';
import { messageChangeRoutes } from './routes/message-changes.js';
import { receiptRoutes } from './routes/receipts.js';
import { searchRoutes } from './routes/search.js';
import { turnRoutes } from './routes/turn.js';
import { healthRoutes } from './routes/health.js';
import { userRoutes } from './routes/users.js';
import { installWebApp, WEB_DIST, type PageFallback } from './web-app.js';
import { buildAsyncApiDocument, packageVersion } from '../realtime/asyncapi.js';
import { ErrorBody } from '../schemas/common.js';
import { ConversationSchema, GroupSettingsSchema, InviteSchema, ParticipantSchema } from '../schemas/conversations.js';
import { MemberSettingsSchema } from '../schemas/member-settings.js';
import { MessageSchema } from '../schemas/messages.js';
import { MeSchema, UserSchema } from '../schemas/users.js';

/** The reply schemas routes refer to by $id (Type.Ref), registered once. */
const SHARED_SCHEMAS = [
  ErrorBody,
  UserSchema,
  MeSchema,
  MessageSchema,
  ParticipantSchema,
  GroupSettingsSchema,
  MemberSettingsSchema,
  ConversationSchema,
  InviteSchema,
];

export type AppServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface Services {
  accounts: AccountsService;
  users: UsersService;
  conversations: ConversationsService;
  groups: GroupsService;
  messages: MessagesService;
  changes: MessageChangesService;
  receipts: ReceiptsService;
  attachments: AttachmentsService;
  search: SearchService;
  blocks: BlocksService;
  memberSettings: MemberSettingsService;
  devices: DevicesService;
  turn: TurnService;
}

/** What route modules get besides the Fastify instance. */
export interface RouteContext {
  config: Config;
  services: Services;
  requireAuth: preHandlerAsyncHookHandler;
  /** Per-route rate limit for the credential endpoints (false = off). */
  authRateLimit: { max: number; timeWindow: string; onExceeded: () => void } | false;
  readiness: () => Promise<string[]>;
}

export const API_PREFIX = '/api/v1';


/**
 * Fastify's own Ajv validators, with one difference: JSON bodies are never coerced. A path
 * or query value is text by nature, so "42" there is read as the integer it spells; a JSON
 * body has types, and `"participant_id": "2"` or `"client_id": ""` (which coercion would
 * turn into null) is refused as what it is.
 */
function validatorsByPart(): AjvCompiler.ValidatorFactory {
  const pool = AjvCompiler();
  return (externalSchemas, options = {}) => {
    const lenient = pool(externalSchemas, options);
    // Fastify hands the Ajv (not JTD) options here. Besides coercion, a body schema that
    // closes its object (additionalProperties: false) refuses an unknown field instead of
    // dropping it unseen.
    const strict = pool(externalSchemas, {
      ...options,
      customOptions: { ...options.customOptions, coerceTypes: false, removeAdditional: false },
    } as typeof options);
    return (route) => (route.httpPart === 'body' ? strict : lenient)(route);
  };
}

/**
 * While the server closes it finishes the requests in flight, but a request can still
 * arrive on a connection that was busy when the close began (a pipelined or keep-alive
 * one): it is answered 503 shutting_down, and Fastify adds `Connection: close`.
 */
function refuseWhileClosing(app: AppServer): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw new AppError('shutting_down', 'The server is shutting down; send the request again');
  });
}

/**
 * Builds the HTTP app without listening: tests and main.ts decide where it listens.
 * Every route has a schema, which validates, serialises (nothing outside the schema is
 * ever sent: no password hashes) and feeds the OpenAPI document at /docs.
 */
export async function buildServer(opts: {
  config: Config;
  services: Services;
  /** Names of the parts that are not ready (empty: ready). */
  readiness: () => Promise<string[]>;
  logger: Logger;
  /** Registers the WebSocket gateway under the API prefix. */
  realtime?: (api: AppServer) => Promise<void>;
  /** Where rate limits count, shared by every node (unset: in this node's memory). */
  rateLimitRedis?: Redis;
  /** Times every reply; with a token, serves GET /metrics (src/http/metrics.ts). */
  metrics?: MetricsEndpoint;
  /** The built web app served at `/` when `config.webApp` is on (default: web/dist). */
  webAppDir?: string;
}): Promise<AppServer> {
  const { config } = opts;
  const rateLimited = opts.metrics?.rateLimited ?? (() => {});
  const app: AppServer = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    requestIdHeader: 'x-request-id',
    // Requests that arrive while closing are refused by the onRequest hook below instead,
    // which answers with the one error body (Fastify's own 503 body has no `code`).
    return503OnClosing: false,
    // `discriminator` lets a oneOf of bodies (POST /conversations) be told apart by `type`,
    // so a bad body is reported against its own kind's fields.
    ajv: { customOptions: { discriminator: true } },
    schemaController: { compilersFactory: { buildValidator: validatorsByPart() } },
    // A URL the router cannot decode (a lone surrogate: /%ED%A0%80) answers the one error
    // body, not Fastify's own (which has a `message` and no natter code).
    frameworkErrors: (error, _request, reply) => {
      const badUrl = error.code === 'FST_ERR_BAD_URL';
      void sendError(
        reply,
        badUrl ? new AppError('validation_failed', 'The URL path is not valid UTF-8 once decoded', { field: 'path' }) : new AppError('validation_failed', error.message),
      );
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const pages: { fallback?: PageFallback } = {};
  installErrorHandlers(app, pages);
  refuseWhileClosing(app);
  if (opts.metrics) installMetrics(app, opts.metrics);
  app.addHook('preHandler', guardPathAndQuery);

  // JSON is the only body natter reads: Fastify's text/plain parser would hand a route a
  // string, refused as a wrong type instead of 415 unsupported_media_type.
  app.removeContentTypeParser('text/plain');
  // Clients written for the seed send `Content-Type: application/json` with an empty
  // body on logout; treat that as "no body" rather than malformed JSON.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, parseSafeJson(text));
    } catch (parseError) {
      if (parseError instanceof AppError) return done(parseError, undefined);
      const err = Object.assign(new Error('Request body is not valid JSON'), {
        statusCode: 400,
        code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      });
      done(err, undefined);
    }
  });

  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  await app.register(cors, {
    origin: config.corsOrigins,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'Range', 'If-None-Match', 'If-Range', ...TUS_REQUEST_HEADERS],
    exposedHeaders: ['Content-Range', 'Content-Disposition', 'ETag', ...TUS_RESPONSE_HEADERS, ...RATE_LIMIT_HEADERS],
    maxAge: 600,
  });
  await app.register(rateLimit, rateLimitOptions(opts.rateLimitRedis, config.busPrefix));

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'natter',
        description: 'Real-time chat backend. Errors are `{"error","code"}`; see docs/errors.md.',
        version: '0.1.0',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // The WebSocket's contract next to the REST one's JSON, open the same way; built once.
  const asyncApi = buildAsyncApiDocument({ address: `${API_PREFIX}/ws`, version: packageVersion() });
  app.get('/docs/asyncapi.json', { schema: { hide: true } }, async () => asyncApi);

  app.decorateRequest('auth', null);
  const ctx: RouteContext = {
    config,
    services: opts.services,
    requireAuth: requireAuth(opts.services.accounts),
    authRateLimit:
      config.authRateLimit > 0 ? { max: config.authRateLimit, timeWindow: RATE_WINDOW, onExceeded: () => rateLimited('auth') } : false,
    readiness: opts.readiness,
  };

  healthRoutes(app, ctx);
  await app.register(
    async (api) => {
      installRestLimits(api, {
        perUser: config.rateLimitUser,
        perIp: config.rateLimitIp,
        tokenUser: (token) => opts.services.accounts.tokenUser(token),
        refused: rateLimited,
      });
      authRoutes(api, ctx);
      userRoutes(api, ctx);
      conversationRoutes(api, ctx);
      groupRoutes(api, ctx);
      memberSettingsRoutes(api, ctx);
      messageChangeRoutes(api, ctx);
      receiptRoutes(api, ctx);
      searchRoutes(api, ctx);
      deviceRoutes(api, ctx);
      turnRoutes(api, ctx);
      await attachmentRoutes(api, ctx);
      uploadRoutes(api, ctx);
      if (opts.realtime) await opts.realtime(api);
    },
    { prefix: API_PREFIX },
  );
  if (config.webApp) pages.fallback = await installWebApp(app, opts.webAppDir ?? WEB_DIST);
  return app;
}
