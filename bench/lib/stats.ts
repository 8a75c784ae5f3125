import * as hdr from 'hdr-histogram-js';

/**
 * Latency histograms (values in milliseconds), HdrHistogram underneath: microsecond
 * resolution, three significant digits, merged across generator processes by shipping
 * the compressed encoding, not samples.
 */
const US_PER_MS = 1000;

/** A histogram as it travels between processes. */
export interface HistogramData {
  /** HdrHistogram's compressed base64 encoding. */
  encoded: string;
}

export class Histogram {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true });

  get count(): number {
    return this.h.totalCount;
  }

  record(ms: number): void {
    this.h.recordValue(Math.max(0, Math.round(ms * US_PER_MS)));
  }

  merge(other: HistogramData | Histogram): void {
    if (other instanceof Histogram) this.h.add(other.h);
    else {
      const decoded = hdr.decodeFromCompressedBase64(other.encoded);
      this.h.add(decoded);
      decoded.destroy();
    }
  }

  /** The value at quantile q (0..1), in ms. */
  quantile(q: number): number {
    return this.count === 0 ? NaN : this.h.getValueAtPercentile(q * 100) / US_PER_MS;
  }

  toJSON(): HistogramData {
    return { encoded: hdr.encodeIntoCompressedBase64(this.h) };
  }

  summary(): LatencySummary {
    const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
    const empty = this.count === 0;
    return {
      count: this.count,
      mean_ms: r(empty ? NaN : this.h.mean / US_PER_MS),
      p50_ms: r(this.quantile(0.5)),
      p95_ms: r(this.quantile(0.95)),
      p99_ms: r(this.quantile(0.99)),
      max_ms: r(empty ? NaN : this.h.maxValue / US_PER_MS),
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
