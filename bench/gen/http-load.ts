/** Closed-loop REST history reads at a fixed concurrency for a fixed time. */
import http from 'node:http';
import { Histogram, clock, type HistogramData } from '../lib/stats.js';

export interface HistoryLoadArgs {
  url: string;
  token: string;
  convId: number;
  maxSeq: number;
  limit: number;
  concurrency: number;
  durationMs: number;
}

export interface HistoryLoadResult {
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  wrongPages: number;
  bytes: number;
  latency: HistogramData;
  elapsedMs: number;
}

function get(agent: http.Agent, url: URL, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${token}` }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function historyLoad(a: HistoryLoadArgs): Promise<HistoryLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: a.concurrency });
  const latency = new Histogram();
  const statuses: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let wrongPages = 0;
  let bytes = 0;
  const t0 = clock();
  const end = t0 + a.durationMs;
  await Promise.all(
    Array.from({ length: a.concurrency }, async () => {
      while (clock() < end) {
        const before = 2 + Math.floor(Math.random() * a.maxSeq); // 2 .. maxSeq+1
        const url = new URL(`${a.url}/api/v1/conversations/${a.convId}/messages?limit=${a.limit}&before_seq=${before}`);
        const start = clock();
        try {
          const res = await get(agent, url, a.token);
          latency.record(clock() - start);
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          bytes += res.body.length;
          if (res.status !== 200) {
            failed++;
            continue;
          }
          ok++;
          // Spot-check the page: oldest first, ending just before `before`.
          const msgs = (JSON.parse(res.body) as { messages: { seq?: number }[] }).messages;
          const want = Math.min(a.limit, before - 1);
          const last = msgs[msgs.length - 1]?.seq;
          if (msgs.length !== want || (last !== undefined && last !== before - 1)) wrongPages++;
        } catch {
          failed++;
          statuses.error = (statuses.error ?? 0) + 1;
        }
      }
    }),
  );
  agent.destroy();
  return { ok, failed, statuses, wrongPages, bytes, latency: latency.toJSON(), elapsedMs: clock() - t0 };
}
