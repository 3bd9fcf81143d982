/**
 * Process helpers for the bench: tool checks, pinned child processes, free ports and the
 * /proc readings (CPU ticks, RSS) the report is built from. Linux only, like the targets.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

export const INSTALL_HINT = 'apt-get install haproxy wrk nginx-light util-linux';

/** Throws a message naming every missing tool and how to install it. */
export function requireTools(tools: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const t of tools) {
    const r = spawnSync('sh', ['-c', `command -v ${t} || ls /usr/sbin/${t} 2>/dev/null`], { encoding: 'utf8' });
    const p = r.stdout.trim().split('\n')[0];
    if (r.status === 0 && p) found[t] = p;
    else missing.push(t);
  }
  if (missing.length > 0) {
    throw new Error(`bench: missing tool(s): ${missing.join(', ')}; install with: ${INSTALL_HINT}`);
  }
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP connect to host:port succeeds; bounded by `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`bench: nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}

/** Like waitForPort, but fails at once (with the program's output) if the program exits first. */
export async function waitReady(p: Pinned, port: number, timeoutMs: number): Promise<void> {
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = () => reject(new Error(`bench: ${p.child.spawnargs.slice(3).join(' ')} exited before listening:\n${p.output().slice(-1500)}`));
    p.child.once('exit', onExit);
  });
  try {
    await Promise.race([waitForPort(port, timeoutMs).catch((e: Error) => { throw new Error(`${e.message}\n${p.output().slice(-1500)}`); }), exited]);
  } finally {
    p.child.off('exit', onExit!);
  }
}

export interface Pinned {
  child: ChildProcess;
  /** pid of the measured program (taskset execs it, so it is the child's pid). */
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `cmd args` pinned to `cpus` (taskset list, e.g. "0"). Output is kept for errors. */
/**
 * Niceness for everything the bench starts (BENCH_NICE, default -10): on a shared machine this
 * keeps other work from preempting the measured processes. Without the privilege GNU nice warns
 * and runs the program at normal priority.
 */
export const NICE = process.env['BENCH_NICE'] ?? '-10';

export function spawnPinned(cpus: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Pinned {
  // nice and taskset both exec, so the child's pid is the measured program's pid.
  const child = spawn('nice', ['-n', NICE, 'taskset', '-c', cpus, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let out = '';
  const keep = (b: Buffer) => { out += b.toString(); if (out.length > 20_000) out = out.slice(-10_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    stop: () => stopChild(child),
  };
}

const live = new Set<ChildProcess>();

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

/** Kills every child still running; called on exit and on failure. */
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** Runs a command to completion, pinned; resolves its stdout (rejects with output on failure). */
export function runPinned(cpus: string, cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawnPinned(cpus, cmd, args);
    const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
    p.child.once('exit', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(p.output());
      else reject(new Error(`bench: ${cmd} exited ${code}: ${p.output().slice(-2000)}`));
    });
  });
}

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime+stime of a process in microseconds, from /proc/<pid>/stat. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return parseCpuMicros(stat, CLK_TCK);
}

/** utime (user space) and stime (kernel) of a process in microseconds, read at once. */
export function cpuSplitMicros(pid: number): { user: number; sys: number } {
  return parseCpuSplit(readFileSync(`/proc/${pid}/stat`, 'latin1'), CLK_TCK);
}

/** Parses utime+stime (fields 14 and 15) out of a /proc/<pid>/stat line. */
export function parseCpuMicros(stat: string, clkTck: number): number {
  const t = parseCpuSplit(stat, clkTck);
  return t.user + t.sys;
}

/** utime (field 14) and stime (field 15) of a /proc/<pid>/stat line, in microseconds. */
export function parseCpuSplit(stat: string, clkTck: number): { user: number; sys: number } {
  // The command name (field 2) may contain spaces and parentheses; fields restart after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 14 is rest[11] and field 15 is rest[12].
  return { user: (Number(rest[11]) * 1e6) / clkTck, sys: (Number(rest[12]) * 1e6) / clkTck };
}

/** Resident set size in bytes from /proc/<pid>/status (VmRSS). */
export function rssBytes(pid: number): number {
  return parseRssBytes(readFileSync(`/proc/${pid}/status`, 'latin1'));
}

export function parseRssBytes(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error('bench: no VmRSS line in /proc status');
  return Number(m[1]) * 1024;
}

/** Samples RSS of `pids` every `everyMs` until stopped; returns the highest sum seen. */
export function sampleRss(pids: readonly number[], everyMs = 100): () => number {
  let max = 0;
  const take = () => {
    let sum = 0;
    for (const p of pids) { try { sum += rssBytes(p); } catch { /* gone */ } }
    if (sum > max) max = sum;
  };
  take();
  const t = setInterval(take, everyMs);
  return () => { clearInterval(t); take(); return max; };
}

/** Children of a pid (for multi-process candidates), read from /proc/<pid>/task/<pid>/children. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
