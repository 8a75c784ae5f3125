import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';
import { MIGRATIONS_DIR } from '../../src/app.js';
import { openDatabase } from '../../src/store/database.js';
import { Migrator } from '../../src/store/migrator.js';
import { testDatabaseUrl, withAdmin } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL: database names to clone; PGlite: paths of data-dir dumps. */
    dbTemplates: { kind: 'postgres' | 'pglite'; migrated: string; empty: string };
  }
}

/**
 * Once per run: a migrated template (and an empty one) that every test file clones, so a
 * file starts from a fresh, fully migrated database in well under a second.
 * With TEST_DATABASE_URL or DATABASE_URL set, templates are PostgreSQL databases;
 * otherwise they are PGlite data-dir dumps.
 */
export default async function setup(project: TestProject) {
  const url = testDatabaseUrl();
  if (url) {
    const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
    const migrated = `natter_tpl_${suffix}`;
    const empty = `natter_tpl_empty_${suffix}`;
    await withAdmin(url, async (admin) => {
      await admin.query(`create database ${migrated}`);
      await admin.query(`create database ${empty}`);
    });
    const target = new URL(url);
    target.pathname = `/${migrated}`;
    const database = await openDatabase({ databaseUrl: target.toString(), dataDir: '', poolSize: 1 });
    await new Migrator(database, MIGRATIONS_DIR).up();
    await database.close();
    project.provide('dbTemplates', { kind: 'postgres', migrated, empty });
    return async () => {
      await withAdmin(url, async (admin) => {
        const { rows } = await admin.query<{ datname: string }>(
          `select datname from pg_database where datname like 'natter\\_t%\\_${suffix}%' or datname in ($1, $2)`,
          [migrated, empty],
        );
        for (const { datname } of rows) await admin.query(`drop database if exists "${datname}" with (force)`);
      });
    };
  }

  const dir = mkdtempSync(path.join(tmpdir(), 'natter-pglite-'));
  const blank = await PGlite.create();
  const emptyPath = path.join(dir, 'empty.tar');
  writeFileSync(emptyPath, Buffer.from(await (await blank.dumpDataDir('none')).arrayBuffer()));
  await blank.close();
  const database = await openDatabase({
    databaseUrl: undefined,
    dataDir: 'memory://',
    poolSize: 1,
    pgliteTemplate: new Blob([readFileSync(emptyPath)]),
  });
  await new Migrator(database, MIGRATIONS_DIR).up();
  const migratedPath = path.join(dir, 'migrated.tar');
  writeFileSync(migratedPath, Buffer.from(await (await database.snapshot!()).arrayBuffer()));
  await database.close();
  project.provide('dbTemplates', { kind: 'pglite', migrated: migratedPath, empty: emptyPath });
  return () => rmSync(dir, { recursive: true, force: true });
}
