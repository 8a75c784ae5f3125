import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config/config.js';
import { buildServer, type AppServer } from './http/server.js';
import { AccountsService } from './services/accounts.js';
import { TokenSigner } from './services/tokens.js';
import { UsersService } from './services/users.js';
import { openDatabase, type Database } from './store/database.js';
import { Migrator } from './store/migrator.js';

/** migrations/ beside src/ (and beside dist/ once built). */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

export interface App {
  readonly config: Config;
  readonly server: AppServer;
  readonly database: Database;
  /** Starts listening; resolves to the bound address (e.g. http://127.0.0.1:8080). */
  listen(): Promise<string>;
  /** Stops accepting, finishes in-flight requests, then closes the database. Idempotent. */
  close(): Promise<void>;
}

export interface AppOptions {
  /** Use this database instead of opening one from the config (tests share templates this way). */
  database?: Database;
}

/**
 * The one composition root: every long-lived part is made here and handed to those that
 * need it, and `close()` takes them down in reverse order.
 */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const database =
    opts.database ??
    (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.dbPoolSize }));
  try {
    if (config.migrateOnStart) await new Migrator(database, MIGRATIONS_DIR).up();

    const signer = new TokenSigner(config.jwtSecret, config.accessTokenTtl);
    const services = {
      accounts: new AccountsService(database.db, signer, config.refreshTokenTtl),
      users: new UsersService(database.db),
    };
    const server = await buildServer({ config, services, readiness: () => database.ping() });

    let closing: Promise<void> | undefined;
    return {
      config,
      server,
      database,
      listen: () => server.listen({ host: config.host, port: config.port }),
      close: () =>
        (closing ??= (async () => {
          await server.close();
          await database.close();
        })()),
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}
