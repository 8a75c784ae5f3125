import path from 'node:path';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Bus, DeliveryLagObserver } from './bus/bus.js';
import { MemoryBus } from './bus/memory.js';
import { NatsBus } from './bus/nats.js';
import { RedisBus } from './bus/redis.js';
import type { CallStore } from './calls/call-store.js';
import { MemoryCallStore } from './calls/memory.js';
import { RedisCallStore } from './calls/redis.js';
import type { Config } from './config/config.js';
import { systemClock, type Clock } from './domain/clock.js';
import { API_PREFIX, buildServer, type AppServer } from './http/server.js';
import { rateLimitRedis } from './http/rate-limits.js';
import { createLogger, resolveLogFormat } from './logger.js';
import { MetricsListener } from './http/metrics.js';
import { Metrics } from './metrics/metrics.js';
import { MemoryPresenceStore } from './presence/memory.js';
import type { PresenceStore } from './presence/presence-store.js';
import { RedisPresenceStore } from './presence/redis.js';
import { Gateway } from './realtime/gateway.js';
import { Access } from './services/access.js';
import { AccountsService } from './services/accounts.js';
import { ConversationsService } from './services/conversations.js';
import { DevicesService } from './services/devices.js';
import { Fanout } from './services/fanout.js';
import { MemberSettingsService } from './services/member-settings.js';
import { MessageWriter } from './services/message-writer.js';
import { MessageChangesService } from './services/message-changes.js';
import { MessagesService } from './services/messages.js';
import { NodeCache } from './services/node-cache.js';
import { PresenceService } from './services/presence.js';
import { DEFAULT_PUSH_TUNING, PushService } from './services/push.js';
import { CallsService, DEFAULT_CALL_TUNING } from './services/calls.js';
import type { PushPlatform } from './domain/devices.js';
import type { PushProvider } from './push/provider.js';
import { FcmProvider, loadServiceAccount } from './push/fcm.js';
import { WebPushProvider } from './push/webpush.js';
import { WebhookProvider } from './push/webhook.js';
import { ReceiptsService } from './services/receipts.js';
import { SearchService } from './services/search.js';
import { SyncService } from './services/sync.js';
import { TokenSigner } from './services/tokens.js';
import { TurnService } from './services/turn.js';
import { AttachmentSigner } from './services/attachment-links.js';
import { AttachmentsService } from './services/attachments.js';
import { BlocksService } from './services/blocks.js';
import { GroupsService } from './services/groups.js';
import { findFfmpeg } from './media/inspect.js';
import { localBlobStore, s3BlobStore, type BlobStore } from './blobs/blob-store.js';
import { TypingService } from './services/typing.js';
import { UsersService } from './services/users.js';
import { openDatabase, type Database } from './store/database.js';
import { MIGRATIONS_DIR, Migrator } from './store/migrator.js';
import { ensureSearchLanguage } from './store/search-column.js';
import { resetPresence } from './store/users.repository.js';

export { MIGRATIONS_DIR };

export interface App {
  readonly config: Config;
  readonly server: AppServer;
  readonly database: Database;
  readonly bus: Bus;
  readonly gateway: Gateway;
  /** Attachments, for the sweep's operators (and tests) to run a round by hand. */
  readonly attachments: AttachmentsService;
  /** The push worker of this node (its counters, and a round by hand for tests). */
  readonly push: PushService;
  /** Calls' live state: in Redis where presence is (several nodes), else in this node's memory. */
  readonly callStore: CallStore;
  /** This node's metrics (GET /metrics); undefined with METRICS=false. */
  readonly metrics: Metrics | undefined;
  /** Where the METRICS_PORT listener serves /metrics, once listening (undefined: none). */
  readonly metricsUrl: string | undefined;
  /** Starts listening; resolves to the bound address (e.g. http://127.0.0.1:8080). */
  listen(): Promise<string>;
  /**
   * Stops accepting, closes sockets (1001), finishes in-flight requests, then closes the
   * bus and the database. Idempotent.
   */
  close(): Promise<void>;
}

export interface AppOptions {
  /** Use this database instead of opening one from the config (tests share templates this way). */
  database?: Database;
  /** What time it is, for token and session lifetimes (tests move it forward). Default: the system clock. */
  clock?: Clock;
  /** The push worker's batch size, poll interval and backoff (tests make rounds small and quick). */
  pushTuning?: Partial<typeof DEFAULT_PUSH_TUNING>;
  /** Call timing (sweep interval, push grace) for tests. */
  callTuning?: Partial<typeof DEFAULT_CALL_TUNING>;
  /** How long close() lets HTTP requests in flight finish before it cuts their connections (ms; default half of SHUTDOWN_TIMEOUT). */
  shutdownGraceMs?: number;
  /** Where the built web app is (default: web/dist of this checkout); tests serve their own. */
  webAppDir?: string;
}

/**
 * The one composition root: every long-lived part is made here and handed to those that
 * need it, and `close()` takes them down in reverse order.
 */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const log = createLogger(config.logLevel, resolveLogFormat(config.logFormat, config.env));
  const clock = opts.clock ?? systemClock;
  // One registry per app (tests run several apps in one process); every part reports to it.
  // METRICS=false: none at all, and every part gets a no-op (or nothing) to report to.
  const metrics = config.metrics ? new Metrics(new Registry()) : undefined;
  const database =
    opts.database ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.dbPoolSize,
      preparedStatements: config.dbPreparedStatements,
    }));
  const owned: { close(): Promise<void> }[] = [database];
  try {
    const bus = await createBus(config, log, metrics?.busLag);
    owned.unshift(bus);
    const presenceStore = createPresenceStore(config, log);
    owned.unshift(presenceStore);
    const callStore = createCallStore(config, log);
    owned.unshift(callStore);
    if (config.migrateOnStart) await new Migrator(database, MIGRATIONS_DIR).up();
    const { db } = database;
    await ensureSearchLanguage(db, config.searchLanguage, (from) =>
      log.warn(
        { from, to: config.searchLanguage },
        'SEARCH_LANGUAGE differs from the search index: rebuilding messages.search and its index, which rewrites the messages table',
      ),
    );

    const signer = new TokenSigner(config.jwtSecret, config.accessTokenTtl, clock);
    const cache = new NodeCache(db, { membersTtlMs: 60_000, usersTtlMs: 10_000, max: 100_000 }, bus);
    await cache.start();
    // A block changes what each of the two sees of the other: `user_changed` for both.
    const blocks = new BlocksService(db, bus, { ttlMs: 10_000, max: 100_000 }, (userId) => cache.userChanged(userId));
    await blocks.start();
    const access = new Access(db, cache);
    const fanout = new Fanout(bus, cache);
    const accounts = new AccountsService(db, signer, config.refreshTokenTtl, fanout, clock);
    const devices = new DevicesService(db, config.vapidPublicKey, clock, config.webPushEndpoints);
    const users = new UsersService(db, blocks, (userId) => cache.userChanged(userId));
    const links = new AttachmentSigner(
      config.jwtSecret,
      config.attachmentUrlTtl,
      clock,
      `${config.publicUrl ?? ''}${API_PREFIX}`,
    );
    if (config.publicUrl === undefined && config.env === 'production') {
      log.warn('PUBLIC_URL is not set: attachment URLs are root-relative, which apps written for the seed cannot open');
    }
    const blobs = createBlobStore(config);
    owned.unshift(blobs);
    const attachments = new AttachmentsService(
      db,
      access,
      blobs,
      links,
      {
        stagingDir: path.join(config.dataDir, 'uploads', 'tmp'),
        maxBytes: config.uploadMaxBytes,
        orphanTtlMs: config.uploadOrphanTtl * 1000,
        ffmpegPath: await findFfmpeg(),
        redirect: config.s3Redirect,
      },
      log.child({ part: 'attachments' }),
    );
    const conversations = new ConversationsService(db, access, links, blocks, config.groupMaxMembers);
    const memberSettings = new MemberSettingsService(db, access, fanout);
    const push = new PushService(
      db,
      await createPushProviders(config),
      {
        ...DEFAULT_PUSH_TUNING,
        delayMs: config.pushDelay * 1000,
        preview: config.pushPreview,
        maxAttempts: config.pushMaxAttempts,
        concurrency: config.pushConcurrency,
        // Renewed every third of it while a round runs; what a dead node held waits this long.
        leaseMs: Math.max(DEFAULT_PUSH_TUNING.leaseMs, config.pushTimeout * 1000 * 3),
        webPushEndpoints: config.webPushEndpoints,
        ...opts.pushTuning,
      },
      clock,
      log.child({ part: 'push' }),
    );
    owned.unshift(push);
    const writer = new MessageWriter(db, {
      maxBatch: config.writeBatchMax,
      delayMs: config.writeBatchDelay * 1000,
      concurrency: database.kind === 'pglite' ? 1 : config.writeConcurrency,
      ...(push.platforms.length > 0 ? { outbox: push } : {}),
      ...(metrics ? { onBatch: metrics.batch } : {}),
    });
    const messages = new MessagesService(db, access, cache, writer, fanout, attachments, links, config.messageMaxBytes, blocks);
    const changes = new MessageChangesService(
      db,
      access,
      cache,
      fanout,
      messages,
      blobs,
      links,
      clock,
      { editWindowMs: config.messageEditWindow * 1000, maxContentBytes: config.messageMaxBytes },
      log.child({ part: 'changes' }),
      blocks,
    );
    const groups = new GroupsService(
      db,
      writer,
      cache,
      messages,
      blocks,
      conversations,
      links,
      { maxMembers: config.groupMaxMembers, inviteBaseUrl: `${config.publicUrl ?? ''}${API_PREFIX}` },
      clock,
    );
    const receipts = new ReceiptsService(db, access, cache, fanout, blocks);
    const search = new SearchService(db, access, config.searchLanguage, (callerId, rows) => messages.view(callerId, rows));
    const typing = new TypingService(access, fanout, config.typingTimeout * 1000, cache, blocks);
    // With per-node presence nobody can be online before this node accepts a socket;
    // rows still saying online are left over from a crash.
    if (presenceStore instanceof MemoryPresenceStore) await resetPresence(db);
    const presence = new PresenceService(db, fanout, presenceStore, config.presenceGrace * 1000, blocks);

    // Rate limits count where presence does: in Redis whenever nodes share it.
    const limitsRedis = presenceKind(config) === 'redis' ? rateLimitRedis(config.redisUrl, log.child({ part: 'rate-limit' })) : undefined;
    if (limitsRedis) owned.unshift({ close: async () => void (await limitsRedis.quit().catch(() => limitsRedis.disconnect())) });

    const readiness = async () => {
      const failing: string[] = [];
      if (!(await database.ping())) failing.push('database');
      if (bus.isReady && !bus.isReady()) failing.push(`bus (${config.bus})`);
      if (!presenceStore.isReady()) failing.push('presence');
      if (!callStore.isReady()) failing.push('calls');
      return failing;
    };
    const calls = new CallsService(
      callStore,
      db,
      cache,
      blocks,
      fanout,
      writer,
      messages,
      changes,
      links,
      push.platforms.length > 0 ? push : undefined,
      clock,
      {
        ...DEFAULT_CALL_TUNING,
        ringTimeoutMs: Math.round(config.callRingTimeout * 1000),
        connectTimeoutMs: Math.round(config.callConnectTimeout * 1000),
        ...opts.callTuning,
      },
      log.child({ part: 'calls' }),
      metrics?.calls,
    );
    const sync = new SyncService(db, messages);
    const turn = new TurnService({ uris: config.turnUris, secret: config.turnSecret, ttlSeconds: config.turnTtl }, clock);
    const relayUris = config.turnUris.filter((uri) => !uri.startsWith('stun:'));
    if (config.turnSecret !== undefined && relayUris.length === 0) {
      log.warn('TURN_SECRET is set but TURN_URIS lists no turn: or turns: URI: the credentials natter hands out open no relay');
    } else if (config.turnSecret === undefined && relayUris.length > 0) {
      log.warn('TURN_URIS lists TURN servers but TURN_SECRET is unset: clients are offered only the stun: URIs');
    }
    let gateway!: Gateway;
    const server = await buildServer({
      rateLimitRedis: limitsRedis,
      config,
      services: { accounts, users, conversations, groups, messages, changes, receipts, attachments, search, blocks, memberSettings, devices, turn },
      logger: log,
      readiness,
      metrics: metrics && { observe: metrics.http, rateLimited: metrics.rateLimited, scrape: () => metrics.scrape(), token: config.metricsToken },
      webAppDir: opts.webAppDir,
      realtime: async (api) => {
        gateway = new Gateway(
          { accounts, messages, changes, typing, presence, receipts, sync, calls, bus, log: api.log, meter: metrics?.realtime },
          {
            maxPayloadBytes: config.wsMaxPayload,
            maxBufferedBytes: config.wsSendBuffer,
            framesPerSecond: config.wsRateLimit,
            pingIntervalMs: config.wsPingInterval * 1000,
          },
        );
        await gateway.register(api, '/ws');
      },
    });

    metrics?.readFrom({
      socketsOpen: () => gateway.connectionCount,
      onlineUsers: () => gateway.userCount,
      writerQueued: () => writer.queued,
      bus: () => bus,
      pool: () => database.pool(),
      syncs: () => sync.stats.syncs,
      uploadBytes: () => attachments.stats.bytes,
      pushResults: function* () {
        for (const [provider, tally] of push.results) for (const [result, n] of Object.entries(tally)) yield [provider, result, n];
      },
      pushQueue: () => push.queueState(),
      ready: async () => (await readiness()).length === 0,
    });
    const metricsListener = metrics && config.metricsPort !== undefined ? new MetricsListener(() => metrics.scrape()) : undefined;
    let metricsUrl: string | undefined;

    push.start();
    calls.start();
    const sweeper = attachments.startSweeping(Math.min(10 * 60_000, (config.uploadOrphanTtl * 1000) / 4));
    let closing: Promise<void> | undefined;
    return {
      config,
      server,
      database,
      bus,
      gateway,
      attachments,
      push,
      callStore,
      metrics,
      get metricsUrl() {
        return metricsUrl;
      },
      listen: async () => {
        if (metricsListener) {
          metricsUrl = await metricsListener.listen(config.metricsHost ?? config.host, config.metricsPort!);
          log.info({ url: `${metricsUrl}/metrics` }, 'metrics listening');
        }
        return server.listen({ host: config.host, port: config.port });
      },
      close: () =>
        (closing ??= (async () => {
          sweeper.stop();
          await metricsListener?.close();
          await gateway.close();
          await calls.close();
          // A connection whose request never completes (a client gone quiet halfway
          // through its headers) would hold the close until Node's headersTimeout (60 s):
          // past half of SHUTDOWN_TIMEOUT (the rest is for draining and closing), the
          // connections left are cut.
          const cut = setTimeout(() => server.server.closeAllConnections(), opts.shutdownGraceMs ?? Math.round((config.shutdownTimeout * 1000) / 2));
          cut.unref();
          await server.close().finally(() => clearTimeout(cut));
          await presence.close();
          await writer.drain();
          await push.close();
          typing.close();
          for (const part of owned) await part.close();
        })()),
    };
  } catch (err) {
    for (const part of owned) await part.close().catch(() => {});
    throw err;
  }
}

/** BUS=memory (one node), redis or nats. A remote bus gets a bounded wait to connect. */
async function createBus(config: Config, log: Logger, observeLag: DeliveryLagObserver | undefined): Promise<Bus> {
  const busLog = log.child({ part: 'bus' });
  switch (config.bus) {
    case 'memory':
      return new MemoryBus();
    case 'redis': {
      const bus = new RedisBus(
        { url: config.redisUrl, prefix: `${config.busPrefix}:`, sharded: config.redisSharded, fanoutMin: config.busFanoutMin, observeLag },
        busLog,
      );
      if (!(await bus.ready(10_000))) busLog.warn('redis is not reachable yet; serving local sockets and retrying');
      return bus;
    }
    case 'nats':
      return NatsBus.connect({ url: config.natsUrl, prefix: config.busPrefix, fanoutMin: config.busFanoutMin, observeLag }, busLog);
  }
}

/** PRESENCE: auto = memory with BUS=memory, else redis. Rate limits count in the same place. */
export function presenceKind(config: Config): 'memory' | 'redis' {
  // Several nodes (any remote bus) need one shared count; only a lone node keeps it in memory.
  return config.presence === 'auto' ? (config.bus === 'memory' ? 'memory' : 'redis') : config.presence;
}

function createPresenceStore(config: Config, log: Logger): PresenceStore {
  if (presenceKind(config) === 'memory') return new MemoryPresenceStore();
  return new RedisPresenceStore(
    { url: config.redisUrl, prefix: `${config.busPrefix}:`, ttlMs: config.presenceTtl * 1000 },
    log.child({ part: 'presence' }),
  );
}

/** Calls live where presence counts: shared in Redis whenever nodes share presence. */
function createCallStore(config: Config, log: Logger): CallStore {
  if (presenceKind(config) === 'memory') return new MemoryCallStore();
  return new RedisCallStore({ url: config.redisUrl, prefix: `${config.busPrefix}:` }, log.child({ part: 'calls' }));
}

export { API_PREFIX };

/**
 * The push senders configured: FCM with a service-account file, Web Push with VAPID
 * keys, the webhook with its URL and secret. Devices of other platforms get no outbox rows.
 */
async function createPushProviders(config: Config): Promise<Map<PushPlatform, PushProvider>> {
  const providers = new Map<PushPlatform, PushProvider>();
  const timeoutMs = config.pushTimeout * 1000;
  if (config.fcmServiceAccountFile !== undefined) {
    const serviceAccount = await loadServiceAccount(config.fcmServiceAccountFile);
    providers.set(
      'fcm',
      new FcmProvider({ serviceAccount, endpoint: config.fcmEndpoint, tokenUrl: config.fcmTokenUrl ?? serviceAccount.token_uri, timeoutMs }),
    );
  }
  if (config.vapidPublicKey !== undefined && config.vapidPrivateKey !== undefined && config.vapidSubject !== undefined) {
    providers.set(
      'webpush',
      new WebPushProvider({
        vapid: { publicKey: config.vapidPublicKey, privateKey: config.vapidPrivateKey, subject: config.vapidSubject },
        ttlSeconds: 24 * 3600,
        timeoutMs,
      }),
    );
  }
  if (config.pushWebhookUrl !== undefined && config.pushWebhookSecret !== undefined) {
    providers.set('webhook', new WebhookProvider({ url: config.pushWebhookUrl, secret: config.pushWebhookSecret, timeoutMs }));
  }
  return providers;
}

/** STORAGE=local (under DATA_DIR/uploads, beside the staging folder) or s3. */
function createBlobStore(config: Config): BlobStore {
  if (config.storage === 'local') return localBlobStore(path.join(config.dataDir, 'uploads'));
  return s3BlobStore({
    endpoint: config.s3Endpoint,
    bucket: config.s3Bucket!,
    region: config.s3Region,
    accessKeyId: config.s3AccessKeyId,
    secretAccessKey: config.s3SecretAccessKey,
    forcePathStyle: config.s3ForcePathStyle,
  });
}
