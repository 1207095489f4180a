// A latency histogram with log-spaced buckets (1% wide, 1 µs to 100 s), so load-generator
// processes can each record millions of samples in constant memory and the parent can merge
// them exactly and read percentiles to within 1%.

const minUs = 1;
const growth = 1.01;
const logGrowth = Math.log(growth);
/** Buckets from minUs up to 100 s; slower samples land in the last one. */
export const histogramBuckets = Math.ceil(Math.log(100e6 / minUs) / logGrowth) + 1;

export class Histogram {
  readonly counts: Uint32Array;
  #total = 0;

  constructor(counts?: readonly number[]) {
    this.counts = new Uint32Array(histogramBuckets);
    if (counts !== undefined) this.merge(counts);
  }

  get total(): number {
    return this.#total;
  }

  recordMs(ms: number): void {
    const us = ms * 1000;
    const i = us <= minUs ? 0 : Math.min(histogramBuckets - 1, Math.ceil(Math.log(us / minUs) / logGrowth));
    this.counts[i]!++;
    this.#total++;
  }

  merge(counts: ArrayLike<number>): void {
    if (counts.length !== histogramBuckets) throw new Error(`histogram of ${counts.length} buckets cannot merge into one of ${histogramBuckets}`);
    for (let i = 0; i < histogramBuckets; i++) {
      this.counts[i]! += counts[i]!;
      this.#total += counts[i]!;
    }
  }

  /** The upper edge of the bucket holding quantile q (0..1), in ms; NaN when empty. */
  quantileMs(q: number): number {
    if (this.#total === 0) return Number.NaN;
    return this.atRankMs(Math.max(1, Math.ceil(q * this.#total)));
  }

  /** The upper edge of the bucket holding the rank-th smallest sample (1-based), in ms; NaN when empty. */
  atRankMs(rank: number): number {
    if (this.#total === 0) return Number.NaN;
    let seen = 0;
    for (let i = 0; i < histogramBuckets; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return (minUs * growth ** i) / 1000;
    }
    return (minUs * growth ** (histogramBuckets - 1)) / 1000;
  }

  /** The counts as a plain array (for IPC). */
  toArray(): number[] {
    return Array.from(this.counts);
  }
}

/**
 * The q-quantile of signed samples kept as two histograms: `pos` the samples >= 0, `neg` the
 * magnitudes of the negative ones. NaN when both are empty.
 */
export function signedQuantileMs(pos: Histogram, neg: Histogram, q: number): number {
  const total = pos.total + neg.total;
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  // Ascending: the negatives from the largest magnitude down, then the rest.
  return rank <= neg.total ? -neg.atRankMs(neg.total - rank + 1) : pos.atRankMs(rank - neg.total);
}
