/** Console tables and the results JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './spawn.js';

export type Row = Record<string, string | number | null | undefined>;

export function table(rows: Row[], columns?: string[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: Row[string]) => (v === null || v === undefined ? '–' : typeof v === 'number' ? fmt(v) : v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(cell(r[c])).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i]!)).join('  ');
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => String(cell(r[c])))))].join('\n');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function writeResult(scenario: string, data: Record<string, unknown>, dir = path.join(ROOT, 'bench/results')): string {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..+/, 'Z');
  const file = path.join(dir, `${scenario}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify({ scenario, finished_at: new Date().toISOString(), ...data }, null, 2)}\n`);
  return file;
}
