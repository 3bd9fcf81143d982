/**
 * How much of a CPU the machine itself takes away: a busy loop pinned to the CPU reads the
 * clock as fast as it can, and every gap between two readings longer than GAP_MS is time the
 * loop did not run (an interrupt, another task, or the hypervisor running something else on
 * the virtual CPU). On a quiet machine the loop loses almost nothing; on a shared VM it loses
 * several multi-millisecond stretches a second, and any request that arrives at a proxy on
 * that CPU during one waits it out. The bench runs one probe per CPU, both at once, before
 * each fixed-rate round, so the table can show the floor under every candidate's p99.
 */
import { performance } from 'node:perf_hooks';

/** A gap longer than this between two clock readings counts as time taken away (ms). */
export const GAP_MS = 0.2;

export interface StallResult {
  /** Length of the probe (ms). */
  ms: number;
  /** Share of the probe's time lost in gaps longer than GAP_MS (0..1). */
  lost: number;
  gaps: number;
  /** Gaps longer than 1 ms. */
  over1ms: number;
  /** The longest gap (ms). */
  max: number;
}

/**
 * Summarises the gaps between consecutive clock readings (ms) over a probe of `spanMs`.
 * Separate from the loop so the arithmetic can be tested without timing.
 */
export function summarizeGaps(gaps: readonly number[], spanMs: number): StallResult {
  let lost = 0;
  let over1ms = 0;
  let max = 0;
  let n = 0;
  for (const g of gaps) {
    if (g <= GAP_MS) continue;
    n++;
    lost += g;
    if (g > 1) over1ms++;
    if (g > max) max = g;
  }
  return { ms: spanMs, lost: spanMs > 0 ? lost / spanMs : 0, gaps: n, over1ms, max };
}

/**
 * Spins for `ms` (after `settleMs` unrecorded, while V8 optimises the loop) and reports.
 * `now` is the clock (tests pass one that jumps).
 */
export function probe(ms: number, settleMs = 100, now: () => number = () => performance.now()): StallResult {
  const gaps: number[] = [];
  let last = now();
  const start = last + settleMs;
  const end = start + ms;
  // Bounded by the clock; the counter only guards against a clock that stopped. A gap that
  // runs past the end counts up to the end: the probe reports on its own window only (a busy
  // machine may deschedule it for longer than the whole probe).
  for (let i = 0; i < 1e10; i++) {
    const t = now();
    if (t - last > GAP_MS && last >= start) gaps.push(Math.min(t, end) - last);
    last = t;
    if (t >= end) break;
  }
  return summarizeGaps(gaps, ms);
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const ms = Number(process.argv[2]);
  if (!(ms > 0 && ms <= 60_000)) {
    process.stderr.write(`usage: stall-probe.js MILLISECONDS (1..60000); found ${JSON.stringify(process.argv[2] ?? null)}\n`);
    process.exitCode = 2;
  } else process.stdout.write(`STALLJSON ${JSON.stringify(probe(ms))}\n`);
}
