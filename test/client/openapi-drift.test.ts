import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { apiDocuments, GENERATED_FILES, renderClientTypes } from '../../scripts/client-openapi.js';
import { ROOT } from '../../support/processes.js';
import type { Database } from '../../src/store/database.js';
import { testDatabase } from '../harness/app.js';

/**
 * The SDK's types are generated from natter's own OpenAPI and AsyncAPI documents
 * (scripts/client-openapi.ts). Generated again here, in memory, they must be exactly the
 * committed files: a route, field or frame changed on the server without running the
 * script fails this test.
 */

let database: Database;
let docs: Awaited<ReturnType<typeof apiDocuments>>;
beforeAll(async () => {
  database = await testDatabase();
  docs = await apiDocuments(database);
});
afterAll(() => database?.close());

/** The first line where two texts differ, for a readable failure. */
function firstDifference(committed: string, fresh: string): string {
  const a = committed.split('\n');
  const b = fresh.split('\n');
  const i = a.findIndex((line, n) => line !== b[n]);
  const at = i < 0 ? a.length : i;
  return `line ${at + 1}: committed ${JSON.stringify(a[at] ?? '<end>')}, generated ${JSON.stringify(b[at] ?? '<end>')}`;
}

test('client/src/generated/ is what the server\'s documents generate (else: npm run client:openapi)', async () => {
  const fresh = await renderClientTypes(docs);
  for (const [key, file] of Object.entries(GENERATED_FILES)) {
    const committed = readFileSync(path.join(ROOT, file), 'utf8');
    const text = fresh[key as keyof typeof fresh];
    expect(committed === text, `${file} is out of date, run \`npm run client:openapi\` (${firstDifference(committed, text)})`).toBe(
      true,
    );
  }
});

test('every frame of the AsyncAPI document has its type in the generated frames', () => {
  const generated = readFileSync(path.join(ROOT, GENERATED_FILES.frames), 'utf8');
  const messages = Object.keys((docs.asyncapi.components as { messages: object }).messages);
  expect(messages.filter((k) => k.startsWith('server.')).length).toBeGreaterThanOrEqual(11);
  for (const key of messages) {
    const type = key.split('.')[1]!;
    expect(generated, key).toContain(`"${key}": {\n            /** @constant */\n            type: "${type}";`);
  }
});
