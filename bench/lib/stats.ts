/**
 * A compact log-linear latency histogram (values in milliseconds, kept at microsecond
 * resolution below 1 ms and ~0.4 % relative precision above). Histograms from several
 * generator processes merge by adding bucket counts, so workers ship counts, not samples.
 */
const SUB = 256; // buckets per power of two

function bucketOf(us: number): number {
  if (us < SUB) return Math.max(0, Math.floor(us));
  const exp = Math.floor(Math.log2(us / SUB));
  const base = SUB * 2 ** exp;
  return SUB + exp * SUB + Math.floor(((us - base) / base) * SUB);
}

function valueOf(bucket: number): number {
  if (bucket < SUB) return bucket;
  const exp = Math.floor((bucket - SUB) / SUB);
  const base = SUB * 2 ** exp;
  return base + (((bucket - SUB) % SUB) + 0.5) * (base / SUB);
}

export interface HistogramData {
  counts: Record<string, number>;
  count: number;
  max: number;
  sum: number;
}

export class Histogram {
  counts = new Map<number, number>();
  count = 0;
  max = 0;
  sum = 0;

  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    const b = bucketOf(v * 1000);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  merge(other: HistogramData | Histogram): void {
    const entries = other instanceof Histogram ? [...other.counts] : Object.entries(other.counts).map(([k, v]) => [Number(k), v] as const);
    for (const [b, n] of entries) this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** The value at quantile q (0..1), in ms. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((a, c) => a - c)) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return Math.min(valueOf(b) / 1000, this.max);
    }
    return this.max;
  }

  toJSON(): HistogramData {
    return { counts: Object.fromEntries(this.counts), count: this.count, max: this.max, sum: this.sum };
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }

  summary(): LatencySummary {
    const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
    return {
      count: this.count,
      mean_ms: r(this.count ? this.sum / this.count : NaN),
      p50_ms: r(this.quantile(0.5)),
      p95_ms: r(this.quantile(0.95)),
      p99_ms: r(this.quantile(0.99)),
      max_ms: r(this.count ? this.max : NaN),
    };
  }
}

export interface LatencySummary {
  count: number;
  mean_ms: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

/** Wall clock in ms with sub-ms precision, comparable between processes on one machine. */
export const clock = (): number => performance.timeOrigin + performance.now();
