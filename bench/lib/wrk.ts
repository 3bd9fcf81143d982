/**
 * Throughput runs with wrk. A small Lua `done` hook prints one machine-readable line so we get
 * p99.9 as well (wrk's own --latency table stops at p99). The hook does not slow wrk's request
 * path: wrk only leaves its fast path when `request` or `response` are defined.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPinned } from './proc.js';

export const WRK_LUA = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\\"requests\\":%d,\\"durationUs\\":%d,\\"bytes\\":%d,\\"errors\\":%d,\\"non2xx\\":%d,\\"p50\\":%d,\\"p99\\":%d,\\"p999\\":%d,\\"max\\":%d}\\n",
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
`;

export interface WrkResult {
  requests: number;
  durationUs: number;
  bytes: number;
  /** connect/read/write/timeout errors. */
  errors: number;
  non2xx: number;
  /** Latencies in microseconds. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  rps: number;
}

/** Extracts the WRKJSON line from wrk's output. */
export function parseWrkOutput(out: string): WrkResult {
  const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`bench: wrk printed no result line:\n${out.slice(-2000)}`);
  const r = JSON.parse(line.slice('WRKJSON '.length)) as Omit<WrkResult, 'rps'>;
  return { ...r, rps: r.durationUs > 0 ? (r.requests * 1e6) / r.durationUs : 0 };
}

export function writeWrkScript(dir: string): string {
  const p = join(dir, 'report.lua');
  writeFileSync(p, WRK_LUA);
  return p;
}

export async function runWrk(wrk: string, cpus: string, script: string, url: string, connections: number, seconds: number): Promise<WrkResult> {
  const out = await runPinned(cpus, wrk, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', script, url], (seconds + 20) * 1000);
  return parseWrkOutput(out);
}
