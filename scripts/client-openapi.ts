/**
 * Writes the client SDK's generated types (client/src/generated/) from natter's own API
 * documents, so the SDK cannot drift from the server:
 *
 * - openapi.ts: the REST API, from the OpenAPI document (`GET /docs/json`);
 * - frames.ts: the WebSocket frames, from the schemas of the AsyncAPI document
 *   (`GET /docs/asyncapi.json`), wrapped as an OpenAPI 3.1 components section so the
 *   same generator reads them.
 *
 * Both documents come from a real app over an in-memory PGlite database, asked through
 * `inject` (no network listener). `npm run client:openapi` writes the files; the drift
 * test (test/client/openapi-drift.test.ts) generates them in memory and fails when the
 * committed ones differ.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { openDatabase, type Database } from '../src/store/database.js';
import { MIGRATIONS_DIR, Migrator } from '../src/store/migrator.js';
import { ROOT } from '../support/processes.js';

/** The generated files, relative to the repository root. */
export const GENERATED_FILES = {
  openapi: 'client/src/generated/openapi.ts',
  frames: 'client/src/generated/frames.ts',
} as const;

type JsonObject = Record<string, unknown>;

/** natter's OpenAPI and AsyncAPI documents, as a default-configured app over `database` serves them. */
export async function apiDocuments(database: Database): Promise<{ openapi: JsonObject; asyncapi: JsonObject }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'natter-openapi-'));
  // Documents depend on nothing the environment sets: the defaults, quiet, no listener.
  const config = loadConfig({}, { logLevel: 'silent', migrateOnStart: false, dataDir });
  const app = await createApp(config, { database: { ...database, close: async () => {} } });
  try {
    const get = async (url: string) => {
      const res = await app.server.inject({ method: 'GET', url });
      if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}`);
      return res.json<JsonObject>();
    };
    return { openapi: await get('/docs/json'), asyncapi: await get('/docs/asyncapi.json') };
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const header = (source: string) =>
  [
    '/**',
    ` * Generated from natter's ${source} by \`npm run client:openapi\` (scripts/client-openapi.ts).`,
    ' * Do not edit: change the server\'s schemas and run the script again.',
    ' */',
    '',
  ].join('\n');

/** The text of each generated file, from the two documents. */
const OPTIONS = { defaultNonNullable: false };

/**
 * Query parameters with a default (`limit`) are listed as required by the document, as
 * TypeBox marks every non-optional field; the server fills the default in, so a client
 * may leave them out. A copy of the document with those marked optional.
 */
function defaultsOptional(doc: JsonObject): JsonObject {
  const copy = structuredClone(doc);
  for (const item of Object.values((copy.paths ?? {}) as Record<string, Record<string, { parameters?: unknown }>>)) {
    for (const op of Object.values(item)) {
      for (const p of (op.parameters ?? []) as { required?: boolean; schema?: { default?: unknown } }[]) {
        if (p.schema?.default !== undefined) p.required = false;
      }
    }
  }
  return copy;
}

export async function renderClientTypes(docs: { openapi: JsonObject; asyncapi: JsonObject }): Promise<Record<keyof typeof GENERATED_FILES, string>> {
  const rest = astToString(await openapiTS(defaultsOptional(docs.openapi) as unknown as OpenAPI3, OPTIONS));
  const info = docs.asyncapi.info as { version: string };
  const components = docs.asyncapi.components as { schemas: JsonObject };
  const framesDoc = {
    openapi: '3.1.0',
    info: { title: 'natter WebSocket frames', version: info.version },
    paths: {},
    components: { schemas: components.schemas },
  };
  const frames = astToString(await openapiTS(framesDoc as unknown as OpenAPI3, OPTIONS));
  return {
    openapi: header('OpenAPI document (GET /docs/json)') + rest,
    frames:
      header('AsyncAPI document (GET /docs/asyncapi.json): `server.<type>` and `client.<type>` are the frames') + frames,
  };
}

/** Both generated files' text, from a fresh app over `database`. */
export async function generateClientTypes(database: Database): Promise<Record<keyof typeof GENERATED_FILES, string>> {
  return renderClientTypes(await apiDocuments(database));
}

async function main(): Promise<void> {
  const database = await openDatabase({ databaseUrl: undefined, dataDir: 'memory://', poolSize: 1 });
  try {
    await new Migrator(database, MIGRATIONS_DIR).up();
    const files = await generateClientTypes(database);
    for (const [key, file] of Object.entries(GENERATED_FILES)) {
      writeFileSync(path.join(ROOT, file), files[key as keyof typeof GENERATED_FILES]);
      console.log(`wrote ${file}`);
    }
  } finally {
    await database.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
