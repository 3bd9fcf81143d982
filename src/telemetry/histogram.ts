/**
 * A fixed-bucket streaming histogram for latencies and sizes. Values are rounded to integers
 * (as Finagle's stats are longs). Values 0..127 each have their own bucket, so small values are
 * exact; above that every power-of-two range is split into 64 buckets (error under 1.6%).
 * `add()` touches a preallocated typed array and four numbers: no allocation.
 */

const EXACT = 128; // values below this are exact
const SUB_BITS = 6; // 64 sub-buckets per power of two above EXACT
const SUB = 1 << SUB_BITS;
const FIRST_EXP = 7; // 2^7 = 128
const LAST_EXP = 40; // values up to 2^41 (≈ 25 days in ms) are bucketed; larger clamp
export const BUCKET_COUNT = EXACT + (LAST_EXP - FIRST_EXP + 1) * SUB;
const MAX_VALUE = 2 ** (LAST_EXP + 1) - 1;

export function bucketIndex(v: number): number {
  if (v < EXACT) return v;
  if (v > MAX_VALUE) return BUCKET_COUNT - 1;
  // floor(log2 v) without allocating; v >= 128 here.
  let exp = Math.floor(Math.log2(v));
  if (2 ** exp > v) exp--; // guard against log2 rounding up just below a power of two
  const base = 2 ** exp;
  const sub = Math.floor(((v - base) * SUB) / base);
  return EXACT + (exp - FIRST_EXP) * SUB + (sub < SUB ? sub : SUB - 1);
}

/** The smallest value that falls in bucket `i`. */
export function bucketLowerBound(i: number): number {
  if (i < EXACT) return i;
  const j = i - EXACT;
  const exp = FIRST_EXP + Math.floor(j / SUB);
  const base = 2 ** exp;
  return base + Math.ceil(((j % SUB) * base) / SUB);
}

/** A summary of one interval, in Linkerd's stat names. */
export interface StatSummary {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly avg: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly p9990: number;
  readonly p9999: number;
}

export const EMPTY_SUMMARY: StatSummary = Object.freeze({
  count: 0, sum: 0, min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, p9990: 0, p9999: 0,
});

export class Histogram {
  private readonly counts = new Uint32Array(BUCKET_COUNT);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  add(value: number): void {
    let v = Math.round(value);
    if (!(v >= 0)) v = 0; // negative and NaN count as 0
    this.counts[bucketIndex(v)]!++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    if (this.count === 0) return;
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }

  /**
   * Nearest-rank percentile: the smallest bucket value such that at least ceil(q * count)
   * samples are at or below it, clamped into [min, max].
   */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketLowerBound(i)));
    }
    return this.max;
  }

  summary(): StatSummary {
    if (this.count === 0) return EMPTY_SUMMARY;
    // One pass over the buckets answers all six percentiles (ranks ascend with q).
    const out = [0, 0, 0, 0, 0, 0];
    const ranks = QS.map((q) => Math.max(1, Math.ceil(q * this.count)));
    let k = 0;
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT && k < ranks.length; i++) {
      seen += this.counts[i]!;
      while (k < ranks.length && seen >= ranks[k]!) out[k++] = Math.min(this.max, Math.max(this.min, bucketLowerBound(i)));
    }
    for (; k < ranks.length; k++) out[k] = this.max;
    return {
      count: this.count,
      sum: this.sum,
      min: this.min,
      max: this.max,
      avg: this.sum / this.count,
      p50: out[0]!,
      p90: out[1]!,
      p95: out[2]!,
      p99: out[3]!,
      p9990: out[4]!,
      p9999: out[5]!,
    };
  }
}

const QS = [0.5, 0.9, 0.95, 0.99, 0.999, 0.9999] as const;
