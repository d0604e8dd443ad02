// Order statistics for noisy machines: medians of repeated runs and latency percentiles.

/** The p-th percentile (0..100) of already sorted values, nearest-rank; NaN for no values. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function percentile(values: readonly number[], p: number): number {
  return percentileSorted([...values].sort((a, b) => a - b), p);
}

/** Median; for an even count, the mean of the two middle values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarizeLatencies(ms: readonly number[]): LatencySummary {
  const s = [...ms].sort((a, b) => a - b);
  return { count: s.length, p50: percentileSorted(s, 50), p99: percentileSorted(s, 99), max: s.length ? s[s.length - 1]! : Number.NaN };
}

/** ours / baseline, NaN when either is missing or the baseline is zero. */
export function ratio(ours: number, baseline: number): number {
  if (!Number.isFinite(ours) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN;
  return ours / baseline;
}
