import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { CONFIG_SCHEMA } from '../../src/config/config.js';
import { ERROR_CODES } from '../../src/domain/errors.js';
import { HTTP_STATUS } from '../../src/http/errors.js';

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

test('every error code is documented in docs/errors.md with its HTTP status', () => {
  const doc = read('docs/errors.md');
  for (const code of ERROR_CODES) {
    expect(doc, `docs/errors.md lacks ${code}`).toMatch(new RegExp(`\\| \`${code}\` \\| ${HTTP_STATUS[code]} \\|`));
  }
});

test('every configuration key is in the README table with its default', () => {
  const readme = read('README.md');
  for (const spec of Object.values(CONFIG_SCHEMA)) {
    expect(readme, `README lacks ${spec.env}`).toContain(`| \`${spec.env}\` |`);
    if (spec.default !== undefined && spec.env !== 'JWT_SECRET') {
      // An empty default (an empty list) reads "empty" in the table.
      const shown = spec.default === '' ? 'empty' : `\`${spec.default}\``;
      expect(readme, `README shows another default for ${spec.env}`).toContain(`| \`${spec.env}\` | ${shown} |`);
    }
  }
});

test('docs/protocol.md lists every close code and every WebSocket error code it names exists', async () => {
  const { CLOSE } = await import('../../src/realtime/protocol.js');
  const doc = read('docs/protocol.md');
  for (const [name, code] of Object.entries(CLOSE)) {
    expect(doc, `docs/protocol.md lacks close code ${name}`).toMatch(new RegExp(`\\| ${code} \\|`));
  }
  const section = doc.slice(doc.indexOf('## 4.'), doc.indexOf('## 5.'));
  const named = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  expect(named.length).toBeGreaterThan(5);
  for (const code of named) expect(ERROR_CODES).toContain(code);
});

/** The frame types named in `### ` headings of one section of docs/protocol.md (one or several per heading). */
function documentedFrames(doc: string, from: string, to: string): string[] {
  const section = doc.slice(doc.indexOf(from), doc.indexOf(to));
  const headings = [...section.matchAll(/^### (.*)$/gm)].map((m) => m[1]!.split(':')[0]!);
  return headings.flatMap((h) => [...h.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)).sort();
}

test('docs/protocol.md describes exactly the client and server frame types the code knows', async () => {
  const { CLIENT_FRAME_SCHEMAS } = await import('../../src/schemas/client-frames.js');
  const { SERVER_FRAME_SCHEMAS } = await import('../../src/schemas/server-frames.js');
  const doc = read('docs/protocol.md');
  expect(documentedFrames(doc, '## 2.', '## 3.')).toEqual(Object.keys(CLIENT_FRAME_SCHEMAS).sort());
  expect(documentedFrames(doc, '## 3.', '## 4.')).toEqual(Object.keys(SERVER_FRAME_SCHEMAS).sort());
});
