/** Percentiles (nearest-rank) and a small summary used by the benchmark report. */
export interface Summary { n: number; p50: number | null; p95: number | null; p99: number | null; max: number | null; mean: number | null }

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { n: 0, p50: null, p95: null, p99: null, max: null, mean: null };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    n: sorted.length, p50: round(rank(50)), p95: round(rank(95)), p99: round(rank(99)),
    max: round(sorted.at(-1)!), mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}
