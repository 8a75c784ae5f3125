import webpush from 'web-push';
import { describe, expect, test } from 'vitest';
import { CONFIG_SCHEMA, ConfigError, DEFAULT_JWT_SECRET, durationSeconds, loadConfig } from '../../src/config/config.js';

const SECRET = 'a-secret-that-is-at-least-32-characters-long';

/** The ConfigError thrown for `env`, or a failure when none is thrown. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('defaults', () => {
  test('an empty environment gives a working single node', () => {
    const config = loadConfig({});
    // Every key is present; only DATABASE_URL (PGlite when unset), PUBLIC_URL (relative
    // URLs), the S3 settings (local storage), the push providers' (no push) and the metrics
    // listener, its address and the token (no /metrics) and the TURN secret (STUN only) have no default.
    expect(Object.keys(config).sort()).toEqual(Object.keys(CONFIG_SCHEMA).sort());
    const unset = [
      'databaseUrl', 'publicUrl', 's3Endpoint', 's3Bucket', 's3AccessKeyId', 's3SecretAccessKey',
      'vapidPublicKey', 'vapidPrivateKey', 'vapidSubject',
      'fcmServiceAccountFile', 'fcmTokenUrl', 'pushWebhookUrl', 'pushWebhookSecret',
      'metricsPort', 'metricsToken', 'metricsHost',
      'turnSecret',
    ];
    for (const [name, value] of Object.entries(config)) {
      if (unset.includes(name)) expect(value, name).toBeUndefined();
      else expect(value, name).toBeDefined();
    }
    expect(config).toMatchObject({
      env: 'development',
      host: '0.0.0.0',
      port: 8080,
      dataDir: './data',
      dbPoolSize: 10,
      migrateOnStart: true,
      jwtSecret: DEFAULT_JWT_SECRET,
      accessTokenTtl: 15 * 60,
      refreshTokenTtl: 30 * 86400,
      logLevel: 'info',
      corsOrigins: true,
      bodyLimit: 1024 * 1024,
      trustProxy: false,
      passwordMinLength: 8,
      authRateLimit: 20,
      shutdownTimeout: 10,
    });
    expect(config.databaseUrl).toBeUndefined();
  });

  test('the result is frozen', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  test('every key has an env name, one line of doc, and a default that parses', () => {
    const envNames = new Set<string>();
    for (const [name, spec] of Object.entries(CONFIG_SCHEMA)) {
      expect(spec.env, name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(envNames.has(spec.env), `${spec.env} used twice`).toBe(false);
      envNames.add(spec.env);
      expect(spec.doc.length, name).toBeGreaterThan(10);
      expect(spec.doc, name).not.toContain('\n');
      if (spec.default !== undefined) expect(() => spec.parse(spec.default!), name).not.toThrow();
    }
  });

  test('overrides win over the environment and are not parsed', () => {
    const config = loadConfig({ PORT: 'abc' }, { port: 0, logLevel: 'silent' });
    expect(config.port).toBe(0);
    expect(config.logLevel).toBe('silent');
  });
});

describe('values', () => {
  test('VAPID: both keys and a subject, or none; the keys are base64url of the right size', () => {
    const { publicKey, privateKey } = webpush.generateVAPIDKeys();
    const subject = 'mailto:ops@example.com';
    const config = loadConfig({ VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey, VAPID_SUBJECT: subject });
    expect(config).toMatchObject({ vapidPublicKey: publicKey, vapidPrivateKey: privateKey, vapidSubject: subject });
    expect(loadConfig({ VAPID_PUBLIC_KEY: '', VAPID_PRIVATE_KEY: '' }).vapidPublicKey).toBeUndefined();
    expect(loadConfig({ VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey, VAPID_SUBJECT: 'https://chat.example.com' }).vapidSubject)
      .toBe('https://chat.example.com');

    expect(problemsOf({ VAPID_PUBLIC_KEY: publicKey, VAPID_SUBJECT: subject })).toEqual([
      'VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY must be set together (or neither)',
    ]);
    expect(problemsOf({ VAPID_PRIVATE_KEY: privateKey })).toEqual([
      'VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY must be set together (or neither)',
      'VAPID_SUBJECT must be set with the VAPID keys (mailto:you@example.com or an https: URL)',
    ]);
    expect(problemsOf({ VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey })).toEqual([
      'VAPID_SUBJECT must be set with the VAPID keys (mailto:you@example.com or an https: URL)',
    ]);
    // Swapped keys, padding, standard base64 and a bad subject are each named; a bad key is not also "missing".
    const problems = problemsOf({ VAPID_PUBLIC_KEY: privateKey, VAPID_PRIVATE_KEY: `${privateKey}=`, VAPID_SUBJECT: 'http://example.com' });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^VAPID_PUBLIC_KEY must be an uncompressed P-256 public key: 65 bytes/);
    expect(problems[1]).toMatch(/^VAPID_PRIVATE_KEY must be a P-256 private key: 32 bytes/);
    expect(problems[2]).toBe('VAPID_SUBJECT must be a mailto: or https: URL, got "http://example.com"');
    // A character of standard base64 (not base64url), whatever key was generated.
    expect(problemsOf({ VAPID_PUBLIC_KEY: `${publicKey.slice(0, -1)}+`, VAPID_PRIVATE_KEY: privateKey, VAPID_SUBJECT: subject })
      .join()).toMatch(/VAPID_PUBLIC_KEY must be/);
  });

  test('durations: plain seconds or with a unit', () => {
    expect(durationSeconds('900')).toBe(900);
    expect(durationSeconds('15m')).toBe(900);
    expect(durationSeconds('12h')).toBe(12 * 3600);
    expect(durationSeconds('30d')).toBe(30 * 86400);
    expect(durationSeconds('10s')).toBe(10);
    expect(durationSeconds('1.5h')).toBe(5400);
    expect(durationSeconds('500ms')).toBe(0.5);
    expect(durationSeconds(' 15m ')).toBe(900);
    const config = loadConfig({ ACCESS_TOKEN_TTL: '1h', REFRESH_TOKEN_TTL: '7d', SHUTDOWN_TIMEOUT: '30' });
    expect([config.accessTokenTtl, config.refreshTokenTtl, config.shutdownTimeout]).toEqual([3600, 7 * 86400, 30]);
    for (const bad of ['', 'abc', '15 minutes', '15y', '-5m', '0', '0s', 'm']) {
      expect(() => durationSeconds(bad), bad).toThrow();
      expect(problemsOf({ ACCESS_TOKEN_TTL: bad }), bad).toEqual([expect.stringMatching(/^ACCESS_TOKEN_TTL /)]);
    }
  });

  test('sizes: bytes, kb, mb and gb (1024-based)', () => {
    const size = (raw: string) => loadConfig({ BODY_LIMIT: raw }).bodyLimit;
    expect(size('65536')).toBe(65536);
    expect(size('64kb')).toBe(65536);
    expect(size('64KiB')).toBe(65536);
    expect(size('1mb')).toBe(1048576);
    expect(size('2MB')).toBe(2 * 1048576);
    expect(size('512 b')).toBe(512);
    expect(loadConfig({ UPLOAD_MAX_BYTES: '2gb' }).uploadMaxBytes).toBe(2 * 1024 ** 3);
    expect(loadConfig({}).uploadMaxBytes).toBe(100 * 1048576);
    for (const bad of ['', '0', '1.5mb', '1tb', 'big', '-1']) {
      expect(problemsOf({ BODY_LIMIT: bad }), bad).toEqual([expect.stringMatching(/^BODY_LIMIT must/)]);
    }
  });

  test('attachments: S3 needs a bucket, PUBLIC_URL is an http(s) URL kept without a trailing slash', () => {
    expect(problemsOf({ STORAGE: 's3' })).toEqual(['S3_BUCKET must be set when STORAGE=s3']);
    expect(loadConfig({ STORAGE: 's3', S3_BUCKET: 'media' })).toMatchObject({ storage: 's3', s3Bucket: 'media', s3Region: 'us-east-1' });
    expect(problemsOf({ STORAGE: 'ftp' })).toEqual([expect.stringMatching(/^STORAGE must be one of local, s3/)]);
    expect(loadConfig({ PUBLIC_URL: 'https://Chat.example.com/' }).publicUrl).toBe('https://chat.example.com');
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/natter/' }).publicUrl).toBe('https://example.com/natter');
    for (const bad of ['chat.example.com', 'ftp://x.example.com', 'https://x.example.com/?a=1']) {
      expect(problemsOf({ PUBLIC_URL: bad }), bad).toEqual([expect.stringMatching(/^PUBLIC_URL must/)]);
    }
    expect(problemsOf({ S3_ENDPOINT: 'minio:9000' })).toEqual([expect.stringMatching(/^S3_ENDPOINT must/)]);
    expect(loadConfig({ ATTACHMENT_URL_TTL: '10m', UPLOAD_ORPHAN_TTL: '2h' })).toMatchObject({
      attachmentUrlTtl: 600,
      uploadOrphanTtl: 7200,
    });
    // Bounded: a URL that expires before it arrives, or never; a sweep every millisecond.
    for (const [env, raw] of [
      ['ATTACHMENT_URL_TTL', '5s'],
      ['ATTACHMENT_URL_TTL', '30d'],
      ['UPLOAD_ORPHAN_TTL', '1ms'],
      ['UPLOAD_MAX_BYTES', '999999999gb'],
    ] as const) {
      expect(problemsOf({ [env]: raw }), `${env}=${raw}`).toEqual([expect.stringMatching(new RegExp(`^${env} must`))]);
    }
  });

  test('SEARCH_LANGUAGE: simple by default, a configuration name, nothing that could be spliced into SQL', () => {
    expect(loadConfig({}).searchLanguage).toBe('simple');
    expect(loadConfig({ SEARCH_LANGUAGE: 'english' }).searchLanguage).toBe('english');
    for (const bad of ['', 'English', "english'; drop table messages; --", 'pg_catalog.english', 'a'.repeat(64)]) {
      expect(problemsOf({ SEARCH_LANGUAGE: bad }), bad).toEqual([expect.stringMatching(/^SEARCH_LANGUAGE must/)]);
    }
  });

  test('CORS origins: * or a comma-separated list', () => {
    const cors = (raw: string) => loadConfig({ CORS_ORIGINS: raw }).corsOrigins;
    expect(cors('*')).toBe(true);
    expect(cors('https://a.example.com,*')).toBe(true);
    expect(cors('https://app.example.com')).toEqual(['https://app.example.com']);
    expect(cors(' https://app.example.com , http://localhost:5173 ,')).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(problemsOf({ CORS_ORIGINS: 'https://ok.example.com,not an origin' })).toEqual([
      expect.stringMatching(/^CORS_ORIGINS must be \* or a comma-separated list of origins.*"not an origin"/),
    ]);
  });

  test('CORS origins are compared as browsers send them: scheme://host[:port], nothing more', () => {
    const cors = (raw: string) => loadConfig({ CORS_ORIGINS: raw }).corsOrigins;
    // A browser's Origin header has no trailing slash and a lower-case host.
    expect(cors('https://App.Example.com/')).toEqual(['https://app.example.com']);
    expect(cors('http://localhost:5173/')).toEqual(['http://localhost:5173']);
    // These parse as URLs but can never equal an Origin header, so they would silently block everyone.
    for (const bad of ['localhost:3000', 'app.example.com:443', 'https://app.example.com/path', 'ftp://files.example.com']) {
      expect(problemsOf({ CORS_ORIGINS: bad }), bad).toEqual([expect.stringMatching(/^CORS_ORIGINS /)]);
    }
  });

  test('calls and TURN: timeouts in seconds, STUN/TURN URIs checked one by one, a secret of 16+ characters', () => {
    expect(loadConfig({})).toMatchObject({ callRingTimeout: 45, callConnectTimeout: 30, turnUris: [], turnTtl: 3600 });
    expect(loadConfig({ TURN_SECRET: '' }).turnSecret).toBeUndefined();
    const uris = 'stun:turn.example.com:3478, turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349?transport=tcp,turn:[::1]';
    expect(loadConfig({ TURN_URIS: uris, TURN_SECRET: 'sixteen-chars-ok', TURN_TTL: '15m', CALL_RING_TIMEOUT: '100ms' })).toMatchObject({
      turnUris: [
        'stun:turn.example.com:3478',
        'turn:turn.example.com:3478?transport=udp',
        'turns:turn.example.com:5349?transport=tcp',
        'turn:[::1]',
      ],
      turnSecret: 'sixteen-chars-ok',
      turnTtl: 900,
      callRingTimeout: 0.1,
    });
    const problems = problemsOf({
      TURN_URIS: 'stun:ok.example.com,https://turn.example.com',
      TURN_SECRET: 'short',
      TURN_TTL: '30s',
      CALL_CONNECT_TIMEOUT: '11m',
    });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toBe('CALL_CONNECT_TIMEOUT must be between 0.05 and 600 seconds, got 660');
    expect(problems[1]).toMatch(/^TURN_URIS must be STUN\/TURN URIs like .*, got "https:\/\/turn.example.com"$/);
    expect(problems[2]).toBe('TURN_SECRET must be at least 16 characters');
    expect(problems[3]).toBe('TURN_TTL must be between 60 and 604800 seconds, got 30');
    // A transport on stun:, a port out of range: refused.
    expect(problemsOf({ TURN_URIS: 'stun:a.example.com?transport=udp' })).toHaveLength(1);
    expect(problemsOf({ TURN_URIS: 'turn:a.example.com:70000' })).toHaveLength(1);
  });

  test('DATABASE_URL: unset or empty selects PGlite; otherwise a postgres:// URL', () => {
    expect(loadConfig({}).databaseUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_URL: '' }).databaseUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/natter' }).databaseUrl).toBe('postgres://u:p@db:5432/natter');
    expect(loadConfig({ DATABASE_URL: 'postgresql://db/natter' }).databaseUrl).toBe('postgresql://db/natter');
    expect(problemsOf({ DATABASE_URL: 'mysql://db/natter' })).toEqual([expect.stringMatching(/^DATABASE_URL must use the postgres:\/\/ scheme/)]);
    expect(problemsOf({ DATABASE_URL: 'db:5432' })).toEqual([expect.stringMatching(/^DATABASE_URL /)]);
    expect(problemsOf({ DATABASE_URL: 'not a url' })).toEqual([expect.stringMatching(/^DATABASE_URL must be a URL/)]);
  });

  test('metrics: on by default; METRICS=false refuses the settings it would silently ignore', () => {
    expect(loadConfig({}).metrics).toBe(true);
    expect(loadConfig({ METRICS: 'false' }).metrics).toBe(false);
    expect(loadConfig({ METRICS: 'false', METRICS_PORT: '', METRICS_TOKEN: '' })).toMatchObject({ metrics: false, metricsPort: undefined });
    expect(problemsOf({ METRICS: 'false', METRICS_PORT: '9464' })).toEqual([
      'METRICS=false turns metrics off, so METRICS_PORT would do nothing: unset it (or set METRICS=true)',
    ]);
    expect(problemsOf({ METRICS: 'off', METRICS_TOKEN: 'a-token-of-sixteen-or-more', METRICS_PORT: '9464' })).toEqual([
      'METRICS=false turns metrics off, so METRICS_PORT and METRICS_TOKEN would do nothing: unset them (or set METRICS=true)',
    ]);
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '10.0.0.11' })).toMatchObject({ metricsPort: 9464, metricsHost: '10.0.0.11' });
    expect(problemsOf({ METRICS_HOST: '10.0.0.11' })).toEqual([
      'METRICS_HOST is the address of the METRICS_PORT listener: set METRICS_PORT with it (or unset METRICS_HOST)',
    ]);
  });

  test('integers, booleans and enumerations', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }).port).toBe(65535);
    for (const bad of ['abc', '65536', '-1', '80.5', '']) {
      expect(problemsOf({ PORT: bad }), bad).toEqual([expect.stringMatching(/^PORT must be/)]);
    }
    expect(problemsOf({ DB_POOL_SIZE: '0' })).toEqual(['DB_POOL_SIZE must be between 1 and 500, got 0']);
    for (const [raw, value] of [['yes', true], ['ON', true], ['1', true], ['false', false], ['no', false], ['0', false]] as const) {
      expect(loadConfig({ TRUST_PROXY: raw }).trustProxy, raw).toBe(value);
    }
    expect(problemsOf({ MIGRATE_ON_START: 'maybe' })).toEqual(['MIGRATE_ON_START must be true or false, got "maybe"']);
    expect(loadConfig({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
    expect(problemsOf({ LOG_LEVEL: 'loud' })).toEqual([expect.stringMatching(/^LOG_LEVEL must be one of fatal, error/)]);
    expect(problemsOf({ NODE_ENV: 'staging' })).toEqual([expect.stringMatching(/^NODE_ENV must be one of development, production, test/)]);
  });

  test('JWT_SECRET needs 32 characters, and production needs your own', () => {
    expect(problemsOf({ JWT_SECRET: 'short' })).toEqual(['JWT_SECRET must be at least 32 characters']);
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      'JWT_SECRET must be set to your own secret when NODE_ENV=production',
    ]);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: DEFAULT_JWT_SECRET })).toHaveLength(1);
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET });
    expect(config.env).toBe('production');
    expect(config.jwtSecret).toBe(SECRET);
  });
});

describe('every bad key is reported at once', () => {
  test('all parse problems in one ConfigError, one line each', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', JWT_SECRET: 'short', LOG_LEVEL: 'loud', BODY_LIMIT: 'big', CORS_ORIGINS: 'nope', HOST: '127.0.0.1' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems.map((p) => p.split(' ')[0]).sort()).toEqual(['BODY_LIMIT', 'CORS_ORIGINS', 'JWT_SECRET', 'LOG_LEVEL', 'PORT']);
    expect(message.split('\n')).toEqual(['Invalid configuration:', ...problems.map((p) => `  - ${p}`)]);
    expect(message).toContain('PORT must be an integer, got "abc"');
    expect(message).toContain('JWT_SECRET must be at least 32 characters');
  });

  test('the production secret check is reported together with the other problems', () => {
    const problems = problemsOf({ NODE_ENV: 'production', PORT: 'abc' });
    expect(problems).toEqual([
      'PORT must be an integer, got "abc"',
      'JWT_SECRET must be set to your own secret when NODE_ENV=production',
    ]);
  });
});
