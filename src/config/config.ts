import { DEFAULT_WEBPUSH_ENDPOINTS } from '../domain/devices.js';

/**
 * The one configuration schema. Every key has an environment name, a type, a default
 * and one line of documentation; README.md's configuration table is checked against
 * this list by a test. Defaults give a working single node with nothing installed.
 *
 * `loadConfig` reads the environment once and reports every bad key at once.
 */

export const DEFAULT_JWT_SECRET = 'natter-development-secret-do-not-use-in-production';

type Parser<T> = (raw: string) => T;

interface KeySpec<T> {
  env: string;
  doc: string;
  /** Default as written in the environment (and shown in the README); undefined = unset. */
  default: string | undefined;
  parse: Parser<T>;
}

function key<T>(env: string, defaultValue: string | undefined, parse: Parser<T>, doc: string): KeySpec<T> {
  return { env, doc, default: defaultValue, parse };
}

class ConfigValueError extends Error {}
const bad = (message: string): never => {
  throw new ConfigValueError(message);
};

const str: Parser<string> = (raw) => raw;

const int = (min: number, max: number): Parser<number> => (raw) => {
  if (!/^-?\d+$/.test(raw.trim())) return bad(`must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) return bad(`must be between ${min} and ${max}, got ${n}`);
  return n;
};

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return bad(`must be true or false, got "${raw}"`);
};

const oneOf = <T extends string>(...values: T[]): Parser<T> => (raw) => {
  if ((values as string[]).includes(raw)) return raw as T;
  return bad(`must be one of ${values.join(', ')}, got "${raw}"`);
};

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** "900", "15m", "12h", "30d" → seconds. */
export const durationSeconds: Parser<number> = (raw) => {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) return bad(`must be a duration like 900, 15m, 12h or 30d, got "${raw}"`);
  const seconds = Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!;
  if (seconds <= 0) return bad('must be greater than zero');
  return seconds;
};

/** A duration within [min, max] seconds. */
const durationBetween = (min: number, max: number): Parser<number> => (raw) => {
  const seconds = durationSeconds(raw);
  if (seconds < min || seconds > max) return bad(`must be between ${min} and ${max} seconds, got ${seconds}`);
  return seconds;
};

/** "1048576", "512kb", "1mb", "2gb" → bytes. */
const bytes: Parser<number> = (raw) => {
  const m = /^(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(raw.trim());
  if (!m) return bad(`must be a size like 65536, 64kb, 1mb or 2gb, got "${raw}"`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const factor = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit[0]!] ?? 1;
  const n = Number(m[1]) * factor;
  if (n <= 0) return bad('must be greater than zero');
  return n;
};

const postgresUrl: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad('must be a URL like postgres://user:password@host:5432/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return bad(`must use the postgres:// scheme, got "${url.protocol}"`);
  }
  return raw;
};

/** "https://fcm.googleapis.com,https://*.push.apple.com" → the list, each checked. */
const originPatterns: Parser<string[]> = (raw) => {
  const list = raw.split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const p of list) {
    if (!/^https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:(\d{1,5}|\*))?$/.test(p)) {
      return bad(`must be origins like https://fcm.googleapis.com or https://*.push.apple.com, got "${p}"`);
    }
  }
  return list;
};

const httpUrl: Parser<string> = (raw) => {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return bad(`must be an http(s) URL, got "${raw}"`);
  return raw;
};

/** An origin with an optional path prefix (a proxy may mount natter under one), no trailing slash. */
const publicUrl: Parser<string> = (raw) => {
  const url = new URL(httpUrl(raw));
  if (url.search !== '' || url.hash !== '') return bad(`must have no query or fragment, got "${raw}"`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
};

/**
 * Each origin is normalised to what a browser sends in its Origin header (lower-case host,
 * no trailing slash), because CORS compares the strings exactly: `https://App.example.com/`
 * would otherwise never match, and `localhost:3000` (a valid URL with scheme "localhost:")
 * would silently block every browser.
 */
const origins: Parser<string[] | true> = (raw) => {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0 || list.includes('*')) return true;
  return list.map((origin) => {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      // reported below
    }
    if (
      !url ||
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.pathname !== '/' ||
      url.search !== '' ||
      url.hash !== '' ||
      url.username !== '' ||
      url.password !== ''
    ) {
      return bad(`must be * or a comma-separated list of origins like https://app.example.com, got "${origin}"`);
    }
    return url.origin;
  });
};

/**
 * A PostgreSQL text search configuration's name (`simple`, `english`…). Whether the
 * database has it is checked at start-up (src/store/search-column.ts), as only the
 * database knows; the name itself is spliced into DDL there, so it is held to this shape.
 */
const textSearchConfig: Parser<string> = (raw) =>
  /^[a-z_]{1,63}$/.test(raw) ? raw : bad(`must be a text search configuration name like simple or english (a-z and _), got "${raw}"`);

/** A base64url key (no padding) that decodes to exactly `size` bytes. */
const base64urlKey = (size: number, what: string): Parser<string> => (raw) => {
  if (!/^[A-Za-z0-9_-]+$/.test(raw) || Buffer.from(raw, 'base64url').length !== size) {
    return bad(`must be ${what}: ${size} bytes, base64url without padding (npm run natter -- vapid makes a pair)`);
  }
  return raw;
};

/** Who runs the push sender, for push services to contact: a mailto: or https: URL. */
const vapidSubject: Parser<string> = (raw) => {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'mailto:' && url.protocol !== 'https:') || url.href.length <= url.protocol.length) {
    return bad(`must be a mailto: or https: URL, got "${raw}"`);
  }
  return raw;
};

/**
 * "stun:stun.example.com:3478,turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349"
 * → the list, each a STUN or TURN URI (RFC 7064/7065): scheme, host (a name, IPv4 or
 * [IPv6]), optional port, and for turn:/turns: an optional transport.
 */
const iceUris: Parser<string[]> = (raw) => {
  const list = raw.split(',').map((u) => u.trim()).filter((u) => u !== '');
  for (const uri of list) {
    const m = /^(stun|turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(\?transport=(udp|tcp))?$/.exec(uri);
    const port = m?.[3] === undefined ? undefined : Number(m[3]);
    if (!m || (port !== undefined && (port < 1 || port > 65535)) || (m[4] !== undefined && !m[1]!.startsWith('turn'))) {
      return bad(`must be STUN/TURN URIs like stun:turn.example.com:3478, turn:turn.example.com:3478?transport=udp or turns:turn.example.com:5349, got "${uri}"`);
    }
  }
  return list;
};

export const CONFIG_SCHEMA = {
  env: key('NODE_ENV', 'development', oneOf('development', 'production', 'test'),
    'Run mode; `production` refuses the default JWT secret.'),
  host: key('HOST', '0.0.0.0', str, 'Address the HTTP server binds to.'),
  port: key('PORT', '8080', int(0, 65535), 'HTTP port (0 picks a free one).'),
  metrics: key('METRICS', 'true', bool,
    'Collect metrics. false: nothing is measured and /metrics is served nowhere (METRICS_PORT, METRICS_TOKEN and METRICS_HOST must be unset).'),
  metricsPort: key('METRICS_PORT', undefined, (raw) => (raw === '' ? undefined : int(0, 65535)(raw)),
    'Port of a second listener serving only GET /metrics, on METRICS_HOST (unset: none; 0 picks a free one).'),
  metricsHost: key('METRICS_HOST', undefined, (raw) => (raw === '' ? undefined : raw),
    'Address the METRICS_PORT listener binds to (unset: HOST), e.g. a private interface while the API is public.'),
  metricsToken: key('METRICS_TOKEN', undefined, (raw) => (raw === '' ? undefined : raw.length >= 16 ? raw : bad('must be at least 16 characters')),
    'Bearer token for GET /metrics on the main port (unset: /metrics is not on the main port).'),
  databaseUrl: key('DATABASE_URL', undefined, (raw) => (raw === '' ? undefined : postgresUrl(raw)),
    'PostgreSQL connection URL. Unset: embedded PGlite database under DATA_DIR.'),
  dataDir: key('DATA_DIR', './data', str, 'Folder for the embedded database and, with STORAGE=local, attachments (DATA_DIR/uploads).'),
  dbPoolSize: key('DB_POOL_SIZE', '10', int(1, 500), 'PostgreSQL connection pool size per node.'),
  dbPreparedStatements: key('DB_PREPARED_STATEMENTS', 'true', bool,
    'Prepare hot queries once per connection (PostgreSQL). Turn off behind a pooler in transaction mode.'),
  migrateOnStart: key('MIGRATE_ON_START', 'true', bool, 'Apply pending migrations when the server starts.'),
  jwtSecret: key('JWT_SECRET', DEFAULT_JWT_SECRET, (raw) => (raw.length >= 32 ? raw : bad('must be at least 32 characters')),
    'HS256 key for access tokens (32+ characters). Must be set in production.'),
  accessTokenTtl: key('ACCESS_TOKEN_TTL', '15m', durationSeconds, 'Lifetime of an access token (e.g. 15m, 1h, 24h).'),
  refreshTokenTtl: key('REFRESH_TOKEN_TTL', '30d', durationSeconds, 'Lifetime of a session and its refresh token.'),
  logLevel: key('LOG_LEVEL', 'info', oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    'Log level (structured JSON logs on stdout).'),
  logFormat: key('LOG_FORMAT', 'auto', oneOf('auto', 'json', 'pretty'),
    'json (one JSON object a line), pretty (pino-pretty, for people) or auto: pretty in development on a terminal, else json.'),
  corsOrigins: key('CORS_ORIGINS', '*', origins, 'Allowed browser origins: * or a comma-separated list.'),
  bodyLimit: key('BODY_LIMIT', '1mb', bytes, 'Largest accepted request body.'),
  trustProxy: key('TRUST_PROXY', 'false', bool, 'Trust X-Forwarded-* headers (set behind a load balancer).'),
  passwordMinLength: key('PASSWORD_MIN_LENGTH', '8', int(6, 128), 'Shortest accepted password.'),
  authRateLimit: key('AUTH_RATE_LIMIT', '20', int(0, 100000),
    'Register/login/refresh attempts per minute per IP address (0 disables).'),
  rateLimitUser: key('RATE_LIMIT_USER', '600', int(0, 1_000_000),
    'REST requests per minute per user, counted across all nodes with BUS=redis or nats; over it: 429 rate_limited (0 disables).'),
  rateLimitIp: key('RATE_LIMIT_IP', '1200', int(0, 1_000_000),
    'REST requests per minute per IP address without a valid access token; over it: 429 rate_limited (0 disables).'),
  groupMaxMembers: key('GROUP_MAX_MEMBERS', '1000', int(2, 100000),
    'Most members a group may have; adding (or joining) past it is refused (group_full).'),
  messageMaxBytes: key('MESSAGE_MAX_BYTES', '16kb', bytes, 'Largest message content (UTF-8 bytes); larger is refused, never cut.'),
  messageEditWindow: key(
    'MESSAGE_EDIT_WINDOW',
    '48h',
    (raw) => (raw.trim() === '0' ? 0 : durationBetween(1, 10 * 365 * 86400)(raw)),
    'How long after sending a message its sender may edit it (e.g. 15m, 48h); 0 = no limit.',
  ),
  wsMaxPayload: key('WS_MAX_PAYLOAD', '256kb', bytes, 'Largest WebSocket frame; a larger one closes the socket (1009).'),
  wsSendBuffer: key('WS_SEND_BUFFER', '1mb', bytes,
    'Bytes a socket may have waiting to be sent before it is closed as a slow consumer (4008).'),
  wsPingInterval: key('WS_PING_INTERVAL', '30s', durationSeconds, 'How often the server pings sockets; a silent one is dropped.'),
  wsRateLimit: key('WS_RATE_LIMIT', '50', int(1, 100000), 'Client frames per second per socket (bursts of twice that); a client over it is slowed down, not refused.'),
  typingTimeout: key('TYPING_TIMEOUT', '5s', durationSeconds, 'A typing indicator without a repeat expires after this.'),
  presenceGrace: key('PRESENCE_GRACE', '5s', durationSeconds,
    'A user whose last socket closed goes offline after this, unless they reconnect (no flapping).'),
  bus: key('BUS', 'memory', oneOf('memory', 'redis', 'nats'),
    'How live events reach other nodes: memory (one node), redis or nats (many nodes).'),
  redisUrl: key('REDIS_URL', 'redis://127.0.0.1:6379', str, 'Redis for BUS=redis (and presence across nodes).'),
  redisSharded: key('REDIS_SHARDED', 'false', bool, 'Use sharded pub/sub (SPUBLISH, Redis 7+), for Redis Cluster.'),
  natsUrl: key('NATS_URL', 'nats://127.0.0.1:4222', str, 'NATS server(s) for BUS=nats, comma-separated.'),
  busFanoutMin: key('BUS_FANOUT_MIN', '16', int(0, 1_000_000),
    'A fanout to this many users or more crosses Redis/NATS once per node, not once per user; 0 turns it off.'),
  busPrefix: key('BUS_PREFIX', 'natter', (raw) => (/^[A-Za-z0-9_-]{1,64}$/.test(raw) ? raw : bad('must be 1-64 letters, digits, _ or -')),
    'Namespace for channels and keys, so deployments can share a Redis or NATS.'),
  presence: key('PRESENCE', 'auto', oneOf('auto', 'memory', 'redis'),
    'Where online counts live: memory (one node) or redis (all nodes); auto = memory with BUS=memory, else redis.'),
  presenceTtl: key('PRESENCE_TTL', '15s', durationSeconds,
    'With BUS=redis or nats: a node silent this long is taken for dead and its users go offline.'),
  writeBatchMax: key('WRITE_BATCH_MAX', '256', int(1, 10000), 'Most messages committed in one transaction (group commit).'),
  writeBatchDelay: key('WRITE_BATCH_DELAY', '1ms', durationSeconds, 'How long a send may wait for others to share its commit.'),
  writeConcurrency: key('WRITE_CONCURRENCY', '4', int(1, 64), 'Write lanes: message batches committing at once (one connection each); a conversation always takes the same lane.'),
  publicUrl: key('PUBLIC_URL', undefined, (raw) => (raw === '' ? undefined : publicUrl(raw)),
    'The URL clients reach this server at (e.g. https://chat.example.com), for absolute attachment URLs. Unset: root-relative URLs.'),
  storage: key('STORAGE', 'local', oneOf('local', 's3'), 'Where attachment bytes live: local (under DATA_DIR/uploads) or s3.'),
  s3Endpoint: key('S3_ENDPOINT', undefined, (raw) => (raw === '' ? undefined : httpUrl(raw)),
    'S3 API endpoint for MinIO, R2, Garage… (unset: AWS for S3_REGION).'),
  s3Bucket: key('S3_BUCKET', undefined, str, 'Bucket for STORAGE=s3 (required then).'),
  s3Region: key('S3_REGION', 'us-east-1', str, 'S3 region (any value for most S3-compatible stores).'),
  s3AccessKeyId: key('S3_ACCESS_KEY_ID', undefined, str, 'S3 access key (unset: the AWS SDK\'s default credential chain).'),
  s3SecretAccessKey: key('S3_SECRET_ACCESS_KEY', undefined, str, 'S3 secret key, with S3_ACCESS_KEY_ID.'),
  s3ForcePathStyle: key('S3_FORCE_PATH_STYLE', 'false', bool, 'Path-style bucket URLs (endpoint/bucket/key), as MinIO and Garage need.'),
  s3Redirect: key('S3_REDIRECT', 'false', bool,
    'Downloads answer 302 to a short-lived presigned S3 URL (after the access check) instead of passing the bytes through.'),
  uploadMaxBytes: key('UPLOAD_MAX_BYTES', '100mb', (raw) => {
    const n = bytes(raw);
    return n <= 64 * 1024 ** 3 ? n : bad('must be at most 64gb');
  }, 'Largest attachment; a larger upload is refused (413) and nothing is kept.'),
  attachmentUrlTtl: key('ATTACHMENT_URL_TTL', '1h', durationBetween(60, 7 * 86400),
    'How long a signed attachment URL works (they are signed afresh each time a message is sent out).'),
  uploadOrphanTtl: key('UPLOAD_ORPHAN_TTL', '24h', durationBetween(60, 365 * 86400), 'An attachment uploaded but never sent is deleted after this.'),
  searchLanguage: key('SEARCH_LANGUAGE', 'simple', textSearchConfig,
    'PostgreSQL text search configuration for message search (simple, english, german…); changing it rebuilds the index at start-up.'),
  vapidPublicKey: key('VAPID_PUBLIC_KEY', undefined, (raw) => (raw === '' ? undefined : base64urlKey(65, 'an uncompressed P-256 public key')(raw)),
    'Web Push (VAPID) public key, base64url; set with VAPID_PRIVATE_KEY and VAPID_SUBJECT. Unset: no Web Push.'),
  vapidPrivateKey: key('VAPID_PRIVATE_KEY', undefined, (raw) => (raw === '' ? undefined : base64urlKey(32, 'a P-256 private key')(raw)),
    'Web Push (VAPID) private key, base64url, with VAPID_PUBLIC_KEY.'),
  vapidSubject: key('VAPID_SUBJECT', undefined, (raw) => (raw === '' ? undefined : vapidSubject(raw)),
    'Contact for push services (mailto: or https: URL), required with the VAPID keys.'),
  webPushEndpoints: key('WEBPUSH_ENDPOINTS', DEFAULT_WEBPUSH_ENDPOINTS.join(','), originPatterns,
    'Push services a Web Push subscription may be on: origins, a host may start with *. and a port be *.'),
  pushDelay: key('PUSH_DELAY', '3s', durationBetween(0.001, 3600),
    'How long a message waits to be delivered to a socket before its recipient is pushed instead.'),
  pushPreview: key('PUSH_PREVIEW', 'full', oneOf('full', 'sender', 'none'),
    'What a notification shows: full (sender and text), sender ("New message from Alice") or none.'),
  pushMaxAttempts: key('PUSH_MAX_ATTEMPTS', '8', int(1, 50), 'Sends tried per notification and device before it is given up.'),
  pushConcurrency: key('PUSH_CONCURRENCY', '64', int(1, 1024), 'Push requests in flight at once on each node.'),
  pushTimeout: key('PUSH_TIMEOUT', '10s', durationBetween(0.1, 120), 'How long one push request may take before it is retried.'),
  fcmServiceAccountFile: key('FCM_SERVICE_ACCOUNT_FILE', undefined, (raw) => (raw === '' ? undefined : raw),
    "Firebase service-account JSON file; set: push to FCM devices (Android, iOS through APNs)."),
  fcmEndpoint: key('FCM_ENDPOINT', 'https://fcm.googleapis.com', (raw) => httpUrl(raw).replace(/\/+$/, ''),
    'FCM HTTP v1 API base URL (a private gateway, or a test peer).'),
  fcmTokenUrl: key('FCM_TOKEN_URL', undefined, (raw) => (raw === '' ? undefined : httpUrl(raw)),
    "OAuth2 token URL for the service account (unset: the file's token_uri)."),
  pushWebhookUrl: key('PUSH_WEBHOOK_URL', undefined, (raw) => (raw === '' ? undefined : httpUrl(raw)),
    'Where webhook devices\' notifications are POSTed (signed JSON), e.g. your own APNs bridge.'),
  pushWebhookSecret: key('PUSH_WEBHOOK_SECRET', undefined, (raw) => (raw === '' ? undefined : raw.length >= 16 ? raw : bad('must be at least 16 characters')),
    'HMAC-SHA256 key signing webhook pushes (Natter-Signature); required with PUSH_WEBHOOK_URL.'),
  callRingTimeout: key('CALL_RING_TIMEOUT', '45s', durationBetween(0.05, 600),
    'How long a call rings before it ends as missed.'),
  callConnectTimeout: key('CALL_CONNECT_TIMEOUT', '30s', durationBetween(0.05, 600),
    'How long an answered call may take to connect (ICE and DTLS) before it ends as connect_timeout.'),
  turnUris: key('TURN_URIS', '', iceUris,
    'STUN/TURN URIs handed to call clients (stun:, turn:, turns:), comma-separated; empty: none.'),
  turnSecret: key('TURN_SECRET', undefined, (raw) => (raw === '' ? undefined : raw.length >= 16 ? raw : bad('must be at least 16 characters')),
    'Shared secret with the TURN server (coturn static-auth-secret) that TURN credentials are signed with; unset: STUN only.'),
  turnTtl: key('TURN_TTL', '1h', durationBetween(60, 7 * 86400), 'How long TURN credentials handed out by GET /calls/turn work.'),
  webApp: key('WEB_APP', 'true', bool,
    'Serve the web chat app (web/dist, built by npm run build) at /; false: the API alone.'),
  shutdownTimeout: key('SHUTDOWN_TIMEOUT', '10s', durationSeconds, 'How long a graceful shutdown may take before the process exits.'),
} as const;

type Schema = typeof CONFIG_SCHEMA;
export type Config = { readonly [K in keyof Schema]: ReturnType<Schema[K]['parse']> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Builds the configuration from an environment map (process.env in main, a literal in
 * tests) plus overrides. Throws ConfigError listing every bad key.
 */
export function loadConfig(env: Record<string, string | undefined>, overrides: Partial<Config> = {}): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CONFIG_SCHEMA) as [string, KeySpec<unknown>][]) {
    if (name in overrides) {
      out[name] = (overrides as Record<string, unknown>)[name];
      continue;
    }
    const raw = env[spec.env] ?? spec.default;
    if (raw === undefined) {
      out[name] = undefined;
      continue;
    }
    try {
      out[name] = spec.parse(raw);
    } catch (err) {
      if (!(err instanceof ConfigValueError)) throw err;
      problems.push(`${spec.env} ${err.message}`);
    }
  }
  // Checked even when other keys are bad, so one start-up lists every problem.
  if (out.env === 'production' && out.jwtSecret === DEFAULT_JWT_SECRET) {
    problems.push('JWT_SECRET must be set to your own secret when NODE_ENV=production');
  }
  if (out.storage === 's3' && !out.s3Bucket) problems.push('S3_BUCKET must be set when STORAGE=s3');
  // Given, even if malformed (then reported above): a bad key is not also "missing".
  const given = (name: string, envName: string) => Boolean(env[envName]) || out[name] !== undefined;
  const publicKey = given('vapidPublicKey', 'VAPID_PUBLIC_KEY');
  const privateKey = given('vapidPrivateKey', 'VAPID_PRIVATE_KEY');
  if (publicKey !== privateKey) problems.push('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY must be set together (or neither)');
  if ((publicKey || privateKey) && !given('vapidSubject', 'VAPID_SUBJECT')) {
    problems.push('VAPID_SUBJECT must be set with the VAPID keys (mailto:you@example.com or an https: URL)');
  }
  if (given('pushWebhookUrl', 'PUSH_WEBHOOK_URL') !== given('pushWebhookSecret', 'PUSH_WEBHOOK_SECRET')) {
    problems.push('PUSH_WEBHOOK_URL and PUSH_WEBHOOK_SECRET must be set together (or neither)');
  }
  if (out.metrics === false) {
    const set = ['METRICS_PORT', 'METRICS_TOKEN', 'METRICS_HOST'].filter((name, i) => given(['metricsPort', 'metricsToken', 'metricsHost'][i]!, name));
    if (set.length > 0) problems.push(`METRICS=false turns metrics off, so ${set.join(' and ')} would do nothing: unset ${set.length > 1 ? 'them' : 'it'} (or set METRICS=true)`);
  } else if (given('metricsHost', 'METRICS_HOST') && !given('metricsPort', 'METRICS_PORT')) {
    problems.push('METRICS_HOST is the address of the METRICS_PORT listener: set METRICS_PORT with it (or unset METRICS_HOST)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as Config;
}
