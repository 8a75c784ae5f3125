/**
 * A Prometheus stand-in: GET /metrics with the bearer token every `intervalMs`, from the
 * coordinator process (outside the server, as Prometheus is). Counts what it got, so a
 * run can show the scrapes happened and what one cost the server to answer.
 */
import { Histogram } from './stats.js';

export interface ScrapeStats {
  interval_ms: number;
  scrapes: number;
  failures: number;
  /** Size of the last exposition text. */
  last_bytes: number;
  duration: ReturnType<Histogram['summary']>;
}

export function startScraper(base: string, token: string, intervalMs: number): { stop(): Promise<ScrapeStats> } {
  const duration = new Histogram();
  let scrapes = 0;
  let failures = 0;
  let lastBytes = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const scrape = async () => {
    const t0 = performance.now();
    try {
      const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(intervalMs) });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      lastBytes = Buffer.byteLength(body);
      duration.record(performance.now() - t0);
      scrapes++;
    } catch {
      failures++;
    }
  };
  // One right away (as Prometheus does on discovering a target), then every interval.
  inFlight = scrape();
  const timer = setInterval(() => {
    inFlight = inFlight.then(scrape);
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      return { interval_ms: intervalMs, scrapes, failures, last_bytes: lastBytes, duration: duration.summary() };
    },
  };
}
