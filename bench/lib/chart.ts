/**
 * Renders latency (p50, p99 of send→deliver) against offered load from a direct (or
 * baseline) results file as a self-contained SVG. Both axes are logarithmic: the rates
 * double step by step, and latency spans milliseconds to seconds.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Step {
  offered_msgs_s: number;
  deliver: { p50_ms: number | null; p99_ms: number | null };
}

function seriesFrom(file: string): { title: string; steps: Step[]; limit: number } {
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    scenario: string;
    steps?: Step[];
    p99_limit_ms?: number;
    ws_direct?: { steps: Step[]; p99_limit_ms: number };
    environment?: { cpu_model?: string; cpu_count?: number; database?: string };
  };
  const steps = data.steps ?? data.ws_direct?.steps;
  if (!steps?.length) throw new Error(`${file} has no direct steps to chart`);
  const env = data.environment;
  const what = data.scenario === 'baseline' ? 'bare ws server' : `natter on ${env?.database ?? '?'}`;
  return { title: `${data.scenario === 'baseline' ? 'baseline' : 'direct'}: ${what}, ${env?.cpu_count ?? '?'}× ${env?.cpu_model ?? ''}`.trim(), steps, limit: data.p99_limit_ms ?? data.ws_direct?.p99_limit_ms ?? 100 };
}

export function renderChart(file: string): string {
  const { title, steps, limit } = seriesFrom(file);
  const W = 720, H = 420, L = 70, R = 20, T = 50, B = 60;
  const xs = steps.map((s) => s.offered_msgs_s);
  const ys = steps.flatMap((s) => [s.deliver.p50_ms, s.deliver.p99_ms]).filter((v): v is number => v !== null && v > 0);
  const x0 = Math.log10(Math.min(...xs) / 1.3), x1 = Math.log10(Math.max(...xs) * 1.3);
  const y0 = Math.log10(Math.max(0.1, Math.min(...ys, limit) / 2)), y1 = Math.log10(Math.max(...ys, limit) * 2);
  const px = (v: number) => L + ((Math.log10(v) - x0) / (x1 - x0)) * (W - L - R);
  const py = (v: number) => H - B - ((Math.log10(v) - y0) / (y1 - y0)) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`);
  out.push(`<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">send→deliver latency against offered load (open loop), log–log</text>`);
  for (let e = Math.floor(y0); e <= Math.ceil(y1); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < y0 || Math.log10(v) > y1) continue;
      out.push(`<line x1="${L}" x2="${W - R}" y1="${py(v)}" y2="${py(v)}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${L - 6}" y="${py(v) + 4}" text-anchor="end">${v >= 1 ? v : v.toFixed(1)}</text>`);
    }
  }
  for (const v of xs) {
    out.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${T}" y2="${H - B}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px(v)}" y="${H - B + 16}" text-anchor="middle">${v}</text>`);
  }
  out.push(`<line x1="${L}" x2="${W - R}" y1="${py(limit)}" y2="${py(limit)}" stroke="#c00" stroke-dasharray="5,4"/>`);
  out.push(`<text x="${W - R - 4}" y="${py(limit) - 5}" text-anchor="end" fill="#c00">p99 limit ${limit} ms</text>`);
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 20}" text-anchor="middle">offered load (messages/s)</text>`);
  out.push(`<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`);
  const series: [string, string, (s: Step) => number | null][] = [
    ['p50', '#1f77b4', (s) => s.deliver.p50_ms],
    ['p99', '#d62728', (s) => s.deliver.p99_ms],
  ];
  series.forEach(([name, color, get], i) => {
    const pts = steps.map((s) => [s.offered_msgs_s, get(s)] as const).filter((p): p is readonly [number, number] => p[1] !== null && p[1] > 0);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${color}"><title>${name} at ${x} msgs/s: ${y} ms</title></circle>`);
    out.push(`<line x1="${L + 14}" x2="${L + 34}" y1="${T + 16 + i * 18}" y2="${T + 16 + i * 18}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${L + 40}" y="${T + 20 + i * 18}">${name}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function writeChart(file: string, outFile?: string): string {
  const target = outFile ?? path.join(path.dirname(file), 'direct-latency.svg');
  writeFileSync(target, renderChart(file));
  return target;
}
