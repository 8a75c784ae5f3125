#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { samplePlan, SAMPLE_PASSWORD } from './cli/seed-data.js';
import { hashPassword } from './services/passwords.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { inTransaction, openDatabase, type Database } from './store/database.js';
import { createMigration, MigrationError, MIGRATIONS_DIR, Migrator } from './store/migrator.js';
import { applySeed, dropSchema } from './store/seed.repository.js';

const USAGE = `usage: natter [command]

  serve                    start the server (the default)
  migrate up [N]           apply all (or the next N) pending migrations
  migrate down [N|all]     roll back the last N migrations (default 1), or all
  migrate goto V           migrate up or down to version V (0 = empty)
  migrate version          print the current version (and whether it is dirty)
  migrate force V          record version V as current and clean, running nothing
  migrate create NAME      write an empty NNNNNN_NAME.up.sql / .down.sql pair
  seed                     add sample users and conversations (idempotent)
  db reset                 drop everything, then apply all migrations
  doctor                   check the configuration, database, migrations, Redis/NATS and clock; exit 1 on a problem
  vapid                    print a new Web Push (VAPID) key pair as VAPID_PUBLIC_KEY= / VAPID_PRIVATE_KEY= lines

Configuration comes from the environment and ./.env (see README.md).`;


class UsageError extends Error {}

function intArg(raw: string | undefined, what: string): number {
  if (raw === undefined || !/^\d+$/.test(raw)) throw new UsageError(`${what} must be a whole number`);
  return Number(raw);
}

async function withDatabase<T>(config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}

/**
 * Checks a migrate command's arguments and returns what to do with the migrator, so a
 * usage error is reported before any database is opened (or an embedded one created).
 */
function migrateAction(command: string | undefined, arg: string | undefined): (m: Migrator) => Promise<string | undefined> {
  switch (command) {
    case 'up': {
      const steps = arg === undefined ? undefined : intArg(arg, 'N');
      return async (m) => {
        const done = await m.up(steps);
        return done.length ? `applied ${done.join(', ')}` : 'no change';
      };
    }
    case 'down': {
      const steps = arg === 'all' ? undefined : arg === undefined ? 1 : intArg(arg, 'N');
      return async (m) => {
        const done = await m.down(steps);
        return done.length ? `rolled back ${done.join(', ')}` : 'no change';
      };
    }
    case 'goto': {
      const version = intArg(arg, 'V');
      return async (m) => void (await m.goto(version));
    }
    case 'force': {
      const version = intArg(arg, 'V');
      return async (m) => void (await m.force(version));
    }
    case 'version':
      return async () => undefined;
    default:
      throw new UsageError(`unknown migrate command "${command ?? ''}"`);
  }
}

async function migrate(config: Config, args: string[]): Promise<void> {
  const [command, arg] = args;
  if (command === 'create') {
    if (!arg) throw new UsageError('migrate create needs a NAME');
    for (const file of createMigration(MIGRATIONS_DIR, arg)) console.log(file);
    return;
  }
  const action = migrateAction(command, arg);
  await withDatabase(config, async (database) => {
    const migrator = new Migrator(database, MIGRATIONS_DIR);
    const outcome = await action(migrator);
    if (outcome) console.log(outcome);
    const state = await migrator.state();
    console.log(state.version === null ? 'version: none' : `version: ${state.version}${state.dirty ? ' (dirty)' : ''}`);
  });
}

async function serve(config: Config): Promise<void> {
  const { createApp } = await import('./app.js');
  const app = await createApp(config);
  const log = app.server.log;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeout * 1000);
    timer.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await app.listen();
  log.info(
    { database: app.database.kind === 'pglite' ? `embedded (${config.dataDir})` : 'postgres' },
    'natter is ready',
  );
}

/** A fresh VAPID key pair as the two environment lines (needs no configuration or database). */
async function printVapidKeys(): Promise<void> {
  // Loaded only here: the server does not send Web Push yet, so serving never loads it.
  const { default: webpush } = await import('web-push');
  const { publicKey, privateKey } = webpush.generateVAPIDKeys();
  console.log(`VAPID_PUBLIC_KEY=${publicKey}\nVAPID_PRIVATE_KEY=${privateKey}`);
}

/** Prints the doctor's report; exit status 1 when a check failed. Configuration errors are part of the report. */
async function doctor(): Promise<void> {
  const { formatReport, runDoctor } = await import('./cli/doctor.js');
  const checks = await runDoctor(process.env);
  const code = checks.some((c) => c.status === 'fail') ? 1 : 0;
  // Exit explicitly once the report is written: a connection attempt cut short by a
  // check's timeout may still hold the event loop.
  process.stdout.write(`${formatReport(checks)}\n`, () => process.exit(code));
}

async function main(argv: string[]): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const [command = 'serve', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command === 'vapid') return printVapidKeys();
  if (command === 'doctor') return doctor();
  const config = loadConfig(process.env);
  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate':
      return migrate(config, rest);
    case 'seed':
      await withDatabase(config, async (database) => {
        await new Migrator(database, MIGRATIONS_DIR).up();
        const passwordHash = await hashPassword(SAMPLE_PASSWORD);
        const added = await inTransaction(database.db, (trx) => applySeed(trx, samplePlan(passwordHash)));
        console.log(
          `seeded: ${added.users} users, ${added.conversations} conversations, ${added.messages} messages added ` +
            `(sample password: ${SAMPLE_PASSWORD})`,
        );
      });
      return;
    case 'db':
      if (rest[0] !== 'reset') throw new UsageError('the db command takes: reset');
      if (config.env === 'production' && !rest.includes('--yes')) {
        throw new UsageError('refusing to reset a production database without --yes');
      }
      await withDatabase(config, async (database) => {
        await dropSchema(database.db);
        const done = await new Migrator(database, MIGRATIONS_DIR).up();
        console.log(`database reset; applied ${done.join(', ') || 'nothing'}`);
      });
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) console.error(`${err.message}\n\n${USAGE}`);
  else if (err instanceof ConfigError || err instanceof MigrationError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
