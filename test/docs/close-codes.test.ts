import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { buildAsyncApiDocument } from '../../src/realtime/asyncapi.js';
import { CLOSE } from '../../src/realtime/protocol.js';

/**
 * The close codes are described twice: in docs/protocol.md §5 for people, and in the
 * AsyncAPI document (src/realtime/asyncapi.ts) for tools. The document is the source;
 * this test fails when the two say different things.
 */

type Row = { code: number; meaning: string; action: string };

/** The rows of the first Markdown table after `heading` (a `| code | meaning | what … |` table). */
function tableAfter(text: string, heading: RegExp): Row[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => heading.test(l));
  expect(at, `no ${heading} heading`).toBeGreaterThanOrEqual(0);
  const first = lines.findIndex((l, i) => i > at && l.startsWith('|'));
  const table: string[] = [];
  for (let i = first; i < lines.length && lines[i]!.startsWith('|'); i++) table.push(lines[i]!);
  expect(table[0]).toBe('| code | meaning | what the client should do |');
  return table.slice(2).map((line) => {
    const cells = line.slice(1, -1).split(' | ').map((c) => c.trim());
    expect(cells, line).toHaveLength(3);
    return { code: Number(cells[0]), meaning: cells[1]!, action: cells[2]! };
  });
}

const doc = buildAsyncApiDocument({ address: '/api/v1/ws', version: '0.0.0' }) as any;
const channel = doc.channels.ws;
const protocol = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

describe('close codes: docs/protocol.md §5 and the AsyncAPI document', () => {
  const documented = tableAfter(channel.description as string, /^Close codes:$/);

  test('protocol.md lists the same codes, meanings and advice as the AsyncAPI document', () => {
    expect(tableAfter(protocol, /^## 5\. Close codes$/)).toEqual(documented);
  });

  test("the document's table holds every code the server sends, as x-close-codes describes it", () => {
    for (const entry of channel['x-close-codes'] as (Row & { name: string })[]) {
      expect(CLOSE[entry.name as keyof typeof CLOSE]).toBe(entry.code);
      expect(documented).toContainEqual({ code: entry.code, meaning: entry.meaning, action: entry.action });
    }
    expect(documented.map((r) => r.code)).toEqual([1000, 1006, ...Object.values(CLOSE)].sort((a, b) => a - b));
  });
});
