import { existsSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { connect as connectNats } from 'nats';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { openDatabase, type Database } from '../store/database.js';
import { listMigrations, MigrationError, MIGRATIONS_DIR, Migrator } from '../store/migrator.js';
import { serverInfo } from '../store/server-info.js';

/**
 * `natter doctor`: checks what the server needs before it can start, and says in plain
 * words what is wrong. Each check is bounded in time, so an address that swallows packets
 * is reported as unreachable rather than hanging the command. Exit status 1 when any
 * check failed; warnings alone leave it 0.
 */

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: Status;
  detail: string;
}

/** Beyond this, the database's clock and this machine's disagree enough to matter (token and session expiry). */
export const CLOCK_SKEW_LIMIT_MS = 2_000;
const CHECK_TIMEOUT_MS = 5_000;

class Timeout extends Error {}

function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what} did not answer within ${ms / 1000}s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const reason = (err: unknown): string => {
  if (err instanceof AggregateError && err.errors.length > 0) return reason(err.errors[0]);
  if (err instanceof Error) return err.message || err.name;
  return String(err);
};

/** A URL with its password replaced, for printing. */
export function withoutPassword(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return raw;
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Runs every check against the environment; never throws. */
export async function runDoctor(env: Record<string, string | undefined>): Promise<Check[]> {
  const checks: Check[] = [];
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) checks.push({ name: 'configuration', status: 'fail', detail: problem });
    checks.push({ name: 'everything else', status: 'skip', detail: 'not checked until the configuration is valid' });
    return checks;
  }
  checks.push({
    name: 'configuration',
    status: 'ok',
    detail: `valid (NODE_ENV=${config.env}, BUS=${config.bus}, ${config.databaseUrl ? 'PostgreSQL' : 'embedded PGlite'})`,
  });

  checks.push(...(await databaseChecks(config)));
  if (config.bus === 'redis' || sharesPresence(config)) checks.push(await redisCheck(config));
  if (config.bus === 'nats') checks.push(await natsCheck(config));
  return checks;
}

/** Presence (and the rate limits) in Redis: PRESENCE=redis, or auto with a remote bus. */
function sharesPresence(config: Config): boolean {
  return config.presence === 'redis' || (config.presence === 'auto' && config.bus !== 'memory');
}

async function databaseChecks(config: Config): Promise<Check[]> {
  const embedded = config.databaseUrl === undefined;
  const where = embedded ? `embedded PGlite in ${path.resolve(config.dataDir, 'pglite')}` : withoutPassword(config.databaseUrl!);
  if (embedded) {
    // PGlite is one process's database: opening it beside a running server could damage it.
    if (await serverAnswers(config)) {
      return [{ name: 'database', status: 'skip', detail: `${where}: in use by the server running on port ${config.port}; stop it to check the database` }];
    }
    if (!existsSync(path.resolve(config.dataDir, 'pglite'))) {
      return [{ name: 'database', status: 'ok', detail: `${where}: not created yet; the first start (or migrate up) creates it` }];
    }
  }
  let database: Database | undefined;
  const checks: Check[] = [];
  try {
    database = await within(CHECK_TIMEOUT_MS, 'the database', openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 }));
    const info = await within(CHECK_TIMEOUT_MS, 'the database', serverInfo(database.db));
    const version = /^PostgreSQL [^\s,]+/.exec(info.version)?.[0] ?? info.version;
    checks.push({ name: 'database', status: 'ok', detail: `${where}: ${embedded ? `embedded (${version})` : version}, answered in ${info.roundTripMs} ms` });
    checks.push(await migrationCheck(config, database));
    checks.push(clockCheck(info, embedded));
  } catch (err) {
    checks.push({ name: 'database', status: 'fail', detail: `${where} is not reachable: ${reason(err)}` });
  } finally {
    if (database) await within(2_000, 'closing the database', database.close()).catch(() => {});
  }
  return checks;
}

async function migrationCheck(config: Config, database: Database): Promise<Check> {
  try {
    const state = await within(CHECK_TIMEOUT_MS, 'the migration state', new Migrator(database, MIGRATIONS_DIR).state());
    const files = listMigrations(MIGRATIONS_DIR);
    const current = state.version ?? 0;
    const latest = files.at(-1)?.version ?? 0;
    if (state.dirty) {
      return {
        name: 'migrations',
        status: 'fail',
        detail: `version ${current} is dirty (a migration failed half-way): fix the schema by hand, then npm run migrate -- force ${current - 1} or ${current}`,
      };
    }
    if (current > latest) {
      return { name: 'migrations', status: 'fail', detail: `the database is at version ${current}, newer than this code knows (${latest}): run the matching release` };
    }
    const pending = files.filter((f) => f.version > current);
    if (pending.length === 0) return { name: 'migrations', status: 'ok', detail: `up to date (version ${current})` };
    const versions = pending.map((f) => f.version);
    const listed = versions.length > 3 ? `${versions[0]} to ${versions.at(-1)}` : versions.join(', ');
    const which = `${plural(pending.length, 'migration')} pending (${listed})`;
    return config.migrateOnStart
      ? { name: 'migrations', status: 'warn', detail: `${which}; applied at the next start (MIGRATE_ON_START=true)` }
      : { name: 'migrations', status: 'fail', detail: `${which} and MIGRATE_ON_START=false: run npm run migrate -- up` };
  } catch (err) {
    if (err instanceof MigrationError) return { name: 'migrations', status: 'fail', detail: err.message };
    return { name: 'migrations', status: 'fail', detail: `could not read the migration state: ${reason(err)}` };
  }
}

function clockCheck(info: { now: Date; localAtMs: number; roundTripMs: number }, embedded: boolean): Check {
  if (embedded) return { name: 'clock', status: 'ok', detail: 'the embedded database runs on this machine\'s clock' };
  const skew = Math.round(info.now.getTime() - info.localAtMs);
  const by = `${Math.abs(skew)} ms ${skew >= 0 ? 'ahead of' : 'behind'} this machine (±${Math.ceil(info.roundTripMs / 2)} ms)`;
  if (Math.abs(skew) > CLOCK_SKEW_LIMIT_MS) {
    return { name: 'clock', status: 'fail', detail: `the database clock is ${by}: sessions and tokens expire at the wrong time; run NTP on both` };
  }
  return { name: 'clock', status: 'ok', detail: `the database clock is ${by}` };
}

async function redisCheck(config: Config): Promise<Check> {
  const why = config.bus === 'redis' ? 'BUS=redis' : 'presence and rate limits across nodes';
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    connectTimeout: CHECK_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  const where = withoutPassword(config.redisUrl);
  try {
    await within(CHECK_TIMEOUT_MS, 'Redis', redis.connect());
    const info = await within(CHECK_TIMEOUT_MS, 'Redis', redis.info('server'));
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown version';
    return { name: 'redis', status: 'ok', detail: `${where}: Redis ${version} (for ${why})` };
  } catch (err) {
    return { name: 'redis', status: 'fail', detail: `${where} is not reachable (needed for ${why}): ${reason(err)}` };
  } finally {
    redis.disconnect();
  }
}

async function natsCheck(config: Config): Promise<Check> {
  try {
    const nc = await within(
      CHECK_TIMEOUT_MS,
      'NATS',
      connectNats({ servers: config.natsUrl.split(',').map((u) => u.trim()), timeout: CHECK_TIMEOUT_MS, reconnect: false }),
    );
    const version = nc.info?.version ?? 'unknown version';
    await nc.close();
    return { name: 'nats', status: 'ok', detail: `${config.natsUrl}: NATS ${version}` };
  } catch (err) {
    return { name: 'nats', status: 'fail', detail: `${config.natsUrl} is not reachable (needed for BUS=nats): ${reason(err)}` };
  }
}

/** Whether something answers natter's /health on the configured port of this machine. */
async function serverAnswers(config: Config): Promise<boolean> {
  if (config.port === 0) return false;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  try {
    const res = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${config.port}/health`, { signal: AbortSignal.timeout(1_000) });
    return res.ok;
  } catch {
    return false;
  }
}

const LABEL: Record<Status, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };

/** The report as printed: one line per check, then a verdict. */
export function formatReport(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.map((c) => `  ${LABEL[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  const verdict =
    failed > 0
      ? `${plural(failed, 'problem')} found.`
      : `Everything natter needs is in order${warned > 0 ? ` (${plural(warned, 'warning')})` : ''}.`;
  return `natter doctor\n${lines.join('\n')}\n${verdict}`;
}
