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

/** Median; for an even count, the mean of the two middle values. NaN entries (runs that failed) are left out. */
export function median(values: readonly number[]): number {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
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

/** A small seeded generator (mulberry32): the bootstrap gives the same interval for the same data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PairedComparison {
  /** Rounds compared (runs of A and B paired by round). */
  pairs: number;
  /** Median over the rounds of A / B. */
  medianRatio: number;
  /** Bootstrap interval (percentile method) of that median. */
  low: number;
  high: number;
  /** 'A' or 'B' when the interval lies wholly above or below 1; otherwise the data do not tell them apart. */
  faster: 'A' | 'B' | 'not separated';
}

/**
 * A against B (higher is better, e.g. requests/s) from runs made in the same rounds: the ratio
 * a[i]/b[i] of each round (a round's two runs were seconds apart, so the machine's slow drifts
 * cancel), the median of those ratios, and its bootstrap interval (`resamples` resamples of the
 * rounds with replacement, `confidence` two-sided). Fewer than 3 pairs are never separated.
 */
export function comparePaired(a: readonly number[], b: readonly number[], opts: { resamples?: number; confidence?: number; seed?: number } = {}): PairedComparison {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = ratio(a[i]!, b[i]!);
    if (Number.isFinite(r)) ratios.push(r);
  }
  const medianRatio = median(ratios);
  if (ratios.length < 3) return { pairs: ratios.length, medianRatio, low: Number.NaN, high: Number.NaN, faster: 'not separated' };
  const random = seededRandom(opts.seed ?? 17);
  const resamples = opts.resamples ?? 10_000;
  const medians: number[] = [];
  const sample = new Array<number>(ratios.length);
  for (let s = 0; s < resamples; s++) {
    for (let i = 0; i < ratios.length; i++) sample[i] = ratios[Math.floor(random() * ratios.length)]!;
    medians.push(median(sample));
  }
  medians.sort((x, y) => x - y);
  const tail = ((1 - (opts.confidence ?? 0.95)) / 2) * 100;
  const low = percentileSorted(medians, tail);
  const high = percentileSorted(medians, 100 - tail);
  return { pairs: ratios.length, medianRatio, low, high, faster: low > 1 ? 'A' : high < 1 ? 'B' : 'not separated' };
}

/** Smallest and largest value (the spread quoted beside a median). */
export function range(values: readonly number[]): { min: number; max: number } {
  const v = values.filter((x) => !Number.isNaN(x));
  return v.length === 0 ? { min: Number.NaN, max: Number.NaN } : { min: Math.min(...v), max: Math.max(...v) };
}
