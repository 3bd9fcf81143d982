/** Turns bench measurements into the JSON record and the markdown table of bench/RESULTS.md. */
import type { WrkResult } from './wrk.js';
import type { FixedRateResult } from './fixed-rate.js';
import { GAP_MS, type StallResult } from './stall-probe.js';

export interface CandidateResult {
  name: string;
  /** Throughput per body path (/small, /1k, /64k). */
  throughput: Record<string, WrkResult & { cpuUsPerReq: number; upstreamCpuUsPerReq: number; userUsPerReq?: number }>;
  /** The fixed-rate round whose p99 is the median of the rounds (the table's figures). */
  fixedRate?: FixedRateResult;
  /** Every interleaved fixed-rate round, in order. */
  fixedRateRounds?: FixedRateRound[];
  rssIdleMB: number;
  rssLoadMB: number;
  idleConns?: { opened: number; answered: number; rssMB: number };
  /** req/s of each interleaved 13 B round, in order (the table shows the best). */
  rounds?: number[];
  note?: string;
}

/**
 * One fixed-rate round: the generator's result and, for a proxy, the CPU it used over the
 * round (warm-up included): per request at the rate achieved, and as a share of one CPU's time.
 */
export type FixedRateRound = FixedRateResult & { proxyCpuUsPerReq?: number; proxyBusy?: number };

/** One pair of short 13 B runs of `a` and `b` back to back (`first`: which ran first). */
export interface PairRun {
  first: 'a' | 'b';
  aRps: number;
  bRps: number;
  aCpuUsPerReq: number;
  bCpuUsPerReq: number;
}

/**
 * Short runs of two candidates back to back, the order alternating pair by pair: the two runs
 * of a pair are seconds apart, so a change in the machine's speed between the 13 B rounds (each
 * of which runs every candidate, tens of seconds) moves both runs of a pair alike.
 */
export interface PairedRuns {
  a: string;
  b: string;
  seconds: number;
  pairs: PairRun[];
}

export interface BenchRecord {
  date: string;
  commit: string;
  host: { cpus: number; node: string; kernel: string };
  settings: { layout?: string; nice?: string; rounds: number; loadavg: number; seconds: number; connections: number; fixedRate: number; fixedRounds?: number; fixedSeconds?: number; fixedWarmup?: number; idleConns: number; quick: boolean };
  candidates: CandidateResult[];
  /** The idle stall probe of each CPU before each fixed-rate round (bench/lib/stall-probe.ts). */
  stalls?: { cpu: string; role: string; rounds: StallResult[] }[];
  paired?: PairedRuns[];
  ratios: Record<string, number>;
}

const f0 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));
const ms = (us: number | undefined) => (us === undefined ? '-' : (us / 1000).toFixed(2));

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * The median over rounds of a/b within each round: the two were measured seconds apart, so a
 * change in the machine's speed between rounds moves both. Undefined without two paired rounds.
 */
export function pairedMedian(a: readonly number[] | undefined, b: readonly number[] | undefined): number | undefined {
  if (a === undefined || b === undefined) return undefined;
  const n = Math.min(a.length, b.length);
  if (n < 2) return undefined;
  const r: number[] = [];
  for (let i = 0; i < n; i++) if (b[i]! > 0) r.push(a[i]! / b[i]!);
  return r.length < 2 ? undefined : median(r);
}

/** A proxy this busy (share of its one CPU) over a run was saturated: the load kept up. */
export const SATURATED = 0.95;

/** The share of one CPU a run kept busy: req/s times CPU seconds per request. */
export function busyShare(rps: number, cpuUsPerReq: number): number {
  return (rps * cpuUsPerReq) / 1e6;
}

/**
 * The median over pairs of a's req/s over b's and of b's CPU per request over a's (CPU
 * efficiency); undefined without two pairs. `saturated` restricts both to the pairs where both
 * proxies kept their CPU at least SATURATED busy: in the others the load generator, not the
 * proxy, set the pace (req/s tie, and a proxy's cost per request rises below saturation), so
 * they do not compare capacity.
 */
export function pairedRatios(p: PairedRuns, saturated = false): { rps: number; cpu: number; pairs: number } | undefined {
  const used = saturated ? p.pairs.filter((x) => busyShare(x.aRps, x.aCpuUsPerReq) >= SATURATED && busyShare(x.bRps, x.bCpuUsPerReq) >= SATURATED) : p.pairs;
  const rps = used.filter((x) => x.bRps > 0).map((x) => x.aRps / x.bRps);
  const cpu = used.filter((x) => x.aCpuUsPerReq > 0).map((x) => x.bCpuUsPerReq / x.aCpuUsPerReq);
  if (rps.length < 2 || cpu.length < 2) return undefined;
  return { rps: median(rps), cpu: median(cpu), pairs: used.length };
}

/** The round whose p99 is the median (the lower middle one for an even count). */
export function medianByP99(rounds: readonly FixedRateResult[]): FixedRateResult | undefined {
  if (rounds.length === 0) return undefined;
  return [...rounds].sort((a, b) => a.p99 - b.p99)[(rounds.length - 1) >> 1];
}

/**
 * p99 added over direct at the fixed rate, in µs: the median over rounds of the candidate's p99
 * minus direct's p99 in the same round, as pairedMedian does for req/s; with one round, that
 * round's difference.
 */
export function addedP99(c: CandidateResult, direct: CandidateResult | undefined): number | undefined {
  const a = c.fixedRateRounds ?? (c.fixedRate ? [c.fixedRate] : []);
  const d = direct?.fixedRateRounds ?? (direct?.fixedRate ? [direct.fixedRate] : []);
  const n = Math.min(a.length, d.length);
  if (n === 0 || c === direct) return undefined;
  const diffs: number[] = [];
  for (let i = 0; i < n; i++) diffs.push(a[i]!.p99 - d[i]!.p99);
  return median(diffs);
}

/**
 * Ratios of each Meshwork candidate against HAProxy and the undici reference (req/s, /small),
 * and of the paired back-to-back runs.
 */
export function ratios(cands: readonly CandidateResult[], paired: readonly PairedRuns[] = []): Record<string, number> {
  const rps = (n: string) => cands.find((c) => c.name === n)?.throughput['/small']?.rps;
  const out: Record<string, number> = {};
  for (const c of cands) {
    if (!c.name.startsWith('meshwork')) continue;
    // A TCP proxy is set against HAProxy in mode tcp; the undici reference is an HTTP proxy.
    const tcp = c.name === 'meshwork tcp';
    const ref = tcp ? 'haproxy tcp' : 'haproxy';
    const m = c.throughput['/small']?.rps;
    const h = rps(ref);
    const u = tcp ? undefined : rps('undici');
    if (m !== undefined && h) out[`${c.name}/${ref}`] = m / h;
    if (m !== undefined && u) out[`${c.name}/undici`] = m / u;
    const ph = pairedMedian(c.rounds, cands.find((x) => x.name === ref)?.rounds);
    if (ph !== undefined) out[`${c.name}/${ref}, median of rounds`] = ph;
    const pu = tcp ? undefined : pairedMedian(c.rounds, cands.find((x) => x.name === 'undici')?.rounds);
    if (pu !== undefined) out[`${c.name}/undici, median of rounds`] = pu;
    // When the load generator's core saturates first, req/s ties; CPU per request still differs.
    const hc = cands.find((x) => x.name === ref)?.throughput['/small']?.cpuUsPerReq;
    const mc = c.throughput['/small']?.cpuUsPerReq;
    if (hc && mc) out[`${c.name} CPU efficiency/${ref}`] = hc / mc;
    const uc = tcp ? undefined : cands.find((x) => x.name === 'undici')?.throughput['/small']?.cpuUsPerReq;
    if (uc && mc) out[`${c.name} CPU efficiency/undici`] = uc / mc;
  }
  // What the telemeters cost: the same linker with them on, over without.
  const plain = rps('meshwork linkerd');
  const tele = rps('meshwork linkerd +telemetry');
  if (plain && tele) out['meshwork linkerd +telemetry/meshwork linkerd'] = tele / plain;
  const two = rps('meshwork linkerd --workers 2');
  if (plain && two) out['meshwork linkerd --workers 2/meshwork linkerd'] = two / plain;
  for (const p of paired) {
    const r = pairedRatios(p);
    if (r !== undefined) {
      out[`${p.a}/${p.b}, median of back-to-back pairs`] = r.rps;
      out[`${p.a} CPU efficiency/${p.b}, median of back-to-back pairs`] = r.cpu;
    }
    const s = pairedRatios(p, true);
    if (s !== undefined) {
      out[`${p.a}/${p.b}, median of saturated back-to-back pairs (${s.pairs})`] = s.rps;
      out[`${p.a} CPU efficiency/${p.b}, median of saturated back-to-back pairs (${s.pairs})`] = s.cpu;
    }
  }
  return out;
}

export function markdown(r: BenchRecord): string {
  const direct = r.candidates.find((c) => c.name === 'direct');
  const lines = [
    `### ${r.date} — commit ${r.commit}${r.settings.quick ? ' (BENCH_QUICK)' : ''}`,
    '',
    `${r.host.cpus} CPUs, node ${r.host.node}, kernel ${r.host.kernel}; ${r.settings.layout ?? 'proxy on CPU 0, wrk/nginx/load generator on CPU 1'}; ` +
      `wrk 1 thread x ${r.settings.connections} conns, ${r.settings.seconds}s per run, best of ${r.settings.rounds} interleaved rounds for 13 B; load average at start ${r.settings.loadavg.toFixed(2)}; nice ${r.settings.nice ?? '0'}; fixed rate ${f0(r.settings.fixedRate)} req/s${r.settings.fixedRounds ? ` (${r.settings.fixedRounds} interleaved rounds of ${r.settings.fixedSeconds}s${r.settings.fixedWarmup ? ` after ${r.settings.fixedWarmup}s unrecorded at the rate` : ''})` : ''}; ` +
      `${r.settings.idleConns} idle keep-alive conns.`,
    '',
    '| candidate | req/s 13 B | p50 ms | p99 ms | p99.9 ms | proxy CPU µs/req | req/s 1 KB | req/s 64 KB | fixed-rate p50 / p99 / p99.9 ms | added p99 ms | RSS idle MB | RSS load MB | RSS idle conns MB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of r.candidates) {
    const s = c.throughput['/small'];
    const fr = c.fixedRate;
    const addedUs = addedP99(c, direct);
    const added = addedUs === undefined ? undefined : addedUs / 1000;
    lines.push(
      `| ${c.name} | ${f0(s?.rps)} | ${ms(s?.p50)} | ${ms(s?.p99)} | ${ms(s?.p999)} | ${c.name === 'direct' ? '-' : f1(s?.cpuUsPerReq)} | ` +
        `${f0(c.throughput['/1k']?.rps)} | ${f0(c.throughput['/64k']?.rps)} | ` +
        `${fr ? `${ms(fr.p50)} / ${ms(fr.p99)} / ${ms(fr.p999)}` : '-'} | ${added === undefined ? '-' : added.toFixed(2)} | ` +
        `${c.name === 'direct' ? '-' : f1(c.rssIdleMB)} | ${c.name === 'direct' ? '-' : f1(c.rssLoadMB)} | ${c.idleConns && c.name !== 'direct' ? `${f1(c.idleConns.rssMB)} (${c.idleConns.answered} conns)` : '-'} |`,
    );
  }
  const rounds = r.candidates.filter((c) => c.rounds !== undefined && c.rounds.length > 1).map((c) => `${c.name} ${c.rounds!.map((x) => f0(x)).join(' / ')}`);
  if (rounds.length) lines.push('', `13 B req/s per round: ${rounds.join('; ')}.`);
  for (const p of r.paired ?? []) {
    if (p.pairs.length === 0) continue;
    const order = p.pairs.map((x) => (x.first === 'a' ? 'ab' : 'ba')).join(' ');
    const rps = p.pairs.map((x) => (x.bRps > 0 ? (x.aRps / x.bRps).toFixed(2) : '-')).join(' / ');
    const cpu = p.pairs.map((x) => (x.aCpuUsPerReq > 0 ? `${f1(x.aCpuUsPerReq)} vs ${f1(x.bCpuUsPerReq)}` : '-')).join(' / ');
    const pct = (rps: number, us: number) => (busyShare(rps, us) * 100).toFixed(0);
    const busy = p.pairs.map((x) => `${pct(x.aRps, x.aCpuUsPerReq)}/${pct(x.bRps, x.bCpuUsPerReq)}`).join(' ');
    lines.push('', `Back-to-back pairs of ${p.seconds} s 13 B runs, ${p.a} (a) against ${p.b} (b), order ${order}: req/s a/b per pair ${rps}; CPU µs/req a vs b per pair ${cpu}; CPU busy a/b % per pair ${busy} (saturated: both at least ${SATURATED * 100}%).`);
  }
  const fixed = r.candidates.filter((c) => c.fixedRateRounds !== undefined && c.fixedRateRounds.length > 1).map((c) => `${c.name} ${c.fixedRateRounds!.map((x) => ms(x.p99)).join(' / ')}`);
  if (fixed.length) lines.push('', `Fixed-rate p99 ms per round (the table shows each candidate's median round; added p99 is the median of its per-round differences from direct): ${fixed.join('; ')}.`);
  // How closely the generator kept the rate: requests sent late arrive bunched.
  const late = r.candidates
    .filter((c) => c.fixedRateRounds !== undefined && c.fixedRateRounds.length > 0)
    .map((c) => `${c.name} ${c.fixedRateRounds!.map((x) => `${f0(x.lateP50)}/${f0(x.lateP99)}`).join(' ')}`);
  if (late.length) lines.push('', `Fixed-rate requests sent after their due time per round, p50/p99 µs: ${late.join('; ')}.`);
  // How busy each proxy's CPU was at the fixed rate: queueing, and so p99, follows from it.
  const busy = r.candidates
    .filter((c) => c.name !== 'direct' && (c.fixedRateRounds ?? []).some((x) => x.proxyBusy !== undefined))
    .map((c) => `${c.name} ${c.fixedRateRounds!.map((x) => (x.proxyBusy === undefined ? '-' : `${f1(x.proxyCpuUsPerReq)} (${(x.proxyBusy * 100).toFixed(0)}%)`)).join(' / ')}`);
  if (busy.length) lines.push('', `Proxy CPU at the fixed rate per round, µs/req (share of one CPU busy): ${busy.join('; ')}.`);
  // Where each proxy's CPU goes: its own code and runtime (user) or the kernel's socket work (system).
  const split = r.candidates
    .filter((c) => c.name !== 'direct' && c.throughput['/small']?.userUsPerReq !== undefined)
    .map((c) => { const s = c.throughput['/small']!; return `${c.name} ${f1(s.userUsPerReq)} / ${f1(s.cpuUsPerReq - s.userUsPerReq!)} (${(busyShare(s.rps, s.cpuUsPerReq) * 100).toFixed(0)}% busy)`; });
  // A proxy below SATURATED busy was waiting for the load: its row does not show its capacity.
  if (split.length) lines.push('', `Proxy CPU µs/req in the 13 B round of the table, user / system (share of one CPU busy): ${split.join('; ')}.`);
  const stalls = (r.stalls ?? []).filter((s) => s.rounds.length > 0);
  if (stalls.length) {
    const one = (x: StallResult) => `${(x.lost * 100).toFixed(2)}% / ${x.over1ms} / ${x.max.toFixed(1)}`;
    const per = stalls.map((s) => `CPU ${s.cpu} (${s.role}) ${s.rounds.map(one).join(', ')}`);
    const secs = (stalls[0]!.rounds[0]!.ms / 1000).toFixed(0);
    lines.push('', `Idle CPU stalls before each fixed-rate round (a ${secs} s busy loop on each CPU at once: share of its time lost in gaps > ${GAP_MS} ms / gaps > 1 ms / longest gap ms): ${per.join('; ')}.`);
  }
  const notes = r.candidates.filter((c) => c.note).map((c) => `- ${c.name}: ${c.note}`);
  const rat = Object.entries(r.ratios).map(([k, v]) => `${k} = ${v.toFixed(2)}`);
  if (rat.length) lines.push('', `Ratios (13 B body; req/s unless named): ${rat.join('; ')}. Targets: meshwork/haproxy >= 0.80, meshwork/undici >= 2.0, added p99 <= 1 ms, RSS <= 60 MB idle / 100 MB loaded.`);
  if (notes.length) lines.push('', ...notes);
  return lines.join('\n') + '\n';
}
