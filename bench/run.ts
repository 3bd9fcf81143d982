/**
 * `npm run bench`: one nginx upstream, then in turns direct, HAProxy (1 thread), Meshwork
 * (`meshwork linkerd` and the lean http1 engine proxy, when they are built) and the undici
 * reference proxy. The proxy runs on CPU 0; wrk, nginx and the fixed-rate generator on CPU 1
 * (on CPU 2 and up when the machine has them: bench/lib/layout.ts). After the interleaved 13 B
 * rounds, meshwork linkerd and HAProxy also run in back-to-back pairs of short runs, whose
 * median ratio a change in the machine's speed between rounds does not tilt.
 * Writes bench/results/<date>.json, prints a markdown table and appends it to bench/RESULTS.md.
 * BENCH_QUICK=1 is a short smoke run; BENCH_ONLY=a,b limits the candidates; BENCH_RATE=n fixes
 * the latency run's rate (default: half of HAProxy's measured max).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NICE, childPids, cpuMicros, cpuSplitMicros, freePort, killAll, requireTools, rssBytes, sampleRss, spawnPinned, waitReady, type Pinned } from './lib/proc.js';
import { haproxyMaxconn, startHaproxy, startNginx } from './lib/upstreams.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';
import { holdIdle } from './lib/idle-conns.js';
import { cpuLayout } from './lib/layout.js';
import { LAUNCHER, benchLinkerdYaml, launcherEnv } from './lib/linkerd-config.js';
import { markdown, medianByP99, ratios, type BenchRecord, type CandidateResult, type FixedRateRound, type PairedRuns } from './lib/report.js';
import type { FixedRateResult } from './lib/fixed-rate.js';
import type { StallResult } from './lib/stall-probe.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, '..', '..');
const quick = process.env['BENCH_QUICK'] === '1';
const only = process.env['BENCH_ONLY']?.split(',').filter(Boolean);
const SECONDS = quick ? 2 : 5;
const BODY_SECONDS = quick ? 2 : 4;
const FIXED_SECONDS = quick ? 3 : 4;
/** Sent at the rate before each fixed-rate round records (see bench/lib/fixed-rate.ts). */
const FIXED_WARMUP = quick ? 1 : 2;
const FIXED_ROUNDS = quick ? 1 : 5;
const CONNS = 50;
const ROUNDS = quick ? 1 : 3;
/** Back-to-back pairs of short 13 B runs, meshwork linkerd against HAProxy (report.ts PairedRuns). */
const PAIRS = quick ? 2 : 8;
const PAIR_SECONDS = 2;
const IDLE_CONNS = quick ? 1000 : 10_000;
const LAYOUT = (() => {
  try {
    return cpuLayout(cpus().length);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return process.exit(1);
  }
})();
const PROXY_CPU = LAYOUT.proxy;
const LOAD_CPU = LAYOUT.load;

interface Running { port: number; pids(): number[]; stop(): Promise<void>; note?: string; maxIdle?: number }
interface Candidate { name: string; start(): Promise<Running> }

function fromPinned(p: Pinned, port: number): Running {
  // Include children so a multi-process (cluster) candidate is measured whole.
  return { port, pids: () => [p.pid, ...childPids(p.pid)], stop: () => p.stop() };
}

function nofileLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1_048_576;
}

function meshworkHas(sub: string): boolean {
  const r = spawnSync(LAUNCHER, [sub, '--help'], { encoding: 'utf8', timeout: 20_000, env: launcherEnv });
  return r.status === 0;
}

/** `meshwork linkerd` with the bench config (bench/lib/linkerd-config.ts), telemeters on or off. */
async function startMeshworkLinkerd(dir: string, upstream: number, telemetry = false, workers = 1): Promise<Running> {
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = join(dir, `linkerd${telemetry ? '-telemetry' : ''}${workers > 1 ? `-w${workers}` : ''}.yaml`);
  writeFileSync(cfg, benchLinkerdYaml({ port, adminPort, upstreamPort: upstream, ...(telemetry ? { zipkinPort: await freePort() } : {}) }));
  // Two workers run on CPUs 0 and 1 (bench/lib/layout.ts).
  const args = workers > 1 ? ['linkerd', '--workers', String(workers), cfg] : ['linkerd', cfg];
  const p = spawnPinned(workers > 1 ? LAYOUT.workers2 : PROXY_CPU, LAUNCHER, args, launcherEnv);
  await waitReady(p, port, 15_000);
  return fromPinned(p, port);
}

/** `meshwork linkerd` with the tcp bench config (bench/lib/linkerd-config.ts). */
async function startMeshworkTcp(dir: string, upstream: number): Promise<Running> {
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = join(dir, 'linkerd-tcp.yaml');
  writeFileSync(cfg, benchLinkerdYaml({ port, adminPort, upstreamPort: upstream, tcp: true }));
  const p = spawnPinned(PROXY_CPU, LAUNCHER, ['linkerd', cfg], launcherEnv);
  await waitReady(p, port, 15_000);
  return fromPinned(p, port);
}

async function startEngineProxy(upstream: number): Promise<Running> {
  const port = await freePort();
  const p = spawnPinned(PROXY_CPU, LAUNCHER, ['http1-proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstream}`], launcherEnv);
  await waitReady(p, port, 15_000);
  return fromPinned(p, port);
}

/**
 * One fixed-rate round against `port`. With `pids` (a proxy's), also the CPU they used over the
 * whole round, warm-up included: per request at the rate the recorded window achieved, and as
 * a share of the round's wall time (of one CPU).
 */
async function fixedRate(port: number, rate: number, pids?: readonly number[]): Promise<FixedRateRound> {
  const t0 = pids === undefined ? undefined : cpuTimes(pids);
  const wall0 = performance.now();
  const p = spawnPinned(LOAD_CPU, process.execPath, [join(here, 'lib', 'fixed-rate.js'), '127.0.0.1', String(port), '/small', String(rate), String(FIXED_SECONDS), String(CONNS), String(FIXED_WARMUP)]);
  const code = await new Promise<number | null>((resolve) => p.child.once('exit', resolve));
  const wallUs = (performance.now() - wall0) * 1000;
  const line = p.output().split('\n').find((l) => l.startsWith('FIXEDJSON '));
  if (code !== 0 || !line) throw new Error(`bench: fixed-rate generator failed: ${p.output().slice(-2000)}`);
  const r = JSON.parse(line.slice('FIXEDJSON '.length)) as FixedRateResult;
  if (pids === undefined || t0 === undefined) return r;
  const t1 = cpuTimes(pids);
  const cpu = t1.user - t0.user + t1.sys - t0.sys;
  const requests = r.achievedRps * (FIXED_WARMUP + FIXED_SECONDS);
  return { ...r, proxyCpuUsPerReq: requests > 0 ? cpu / requests : 0, proxyBusy: wallUs > 0 ? cpu / wallUs : 0 };
}

/** Milliseconds of the idle stall probe on each CPU before each fixed-rate round. */
const STALL_MS = quick ? 1000 : 2000;

/** Runs the stall probe on every CPU at once (bench/lib/stall-probe.ts). */
async function stallProbes(cpuList: readonly string[]): Promise<StallResult[]> {
  return Promise.all(cpuList.map(async (cpu) => {
    const p = spawnPinned(cpu, process.execPath, [join(here, 'lib', 'stall-probe.js'), String(STALL_MS)]);
    const code = await new Promise<number | null>((resolve) => p.child.once('exit', resolve));
    const line = p.output().split('\n').find((l) => l.startsWith('STALLJSON '));
    if (code !== 0 || !line) throw new Error(`bench: stall probe on CPU ${cpu} failed: ${p.output().slice(-2000)}`);
    return JSON.parse(line.slice('STALLJSON '.length)) as StallResult;
  }));
}

const sum = (f: (pid: number) => number, pids: readonly number[]) => pids.reduce((a, p) => { try { return a + f(p); } catch { return a; } }, 0);
/** User and system CPU of the processes, summed (a process gone meanwhile counts 0). */
const cpuTimes = (pids: readonly number[]) => pids.reduce((a, p) => { try { const t = cpuSplitMicros(p); return { user: a.user + t.user, sys: a.sys + t.sys }; } catch { return a; } }, { user: 0, sys: 0 });

async function main(): Promise<number> {
  // Before anything here loads the machine: the table reports it as the load at the start.
  const loadAtStart = loadavg()[0]!;
  const tools = requireTools(['nginx', 'haproxy', 'wrk', 'taskset']);
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-bench-'));
  const lua = writeWrkScript(dir);
  const nginx = await startNginx(tools['nginx']!, dir, LOAD_CPU);
  const candidates: Candidate[] = [
    { name: 'direct', start: async () => ({ port: nginx.port, pids: () => [], stop: async () => {} }) },
    {
      name: 'haproxy',
      start: async () => {
        const maxconn = haproxyMaxconn(IDLE_CONNS + 500, nofileLimit());
        const h = await startHaproxy(tools['haproxy']!, dir, PROXY_CPU, nginx.port, maxconn);
        const maxIdle = Math.min(IDLE_CONNS, maxconn - 100);
        const note = maxIdle < IDLE_CONNS ? `maxconn ${maxconn} (fd limit ${nofileLimit()}), so its idle test holds ${maxIdle} connections` : undefined;
        return { ...fromPinned(h.proc, h.port), maxIdle, note };
      },
    },
  ];
  if (meshworkHas('linkerd')) {
    candidates.push({ name: 'meshwork linkerd', start: () => startMeshworkLinkerd(dir, nginx.port) });
    candidates.push({ name: 'meshwork linkerd +telemetry', start: () => startMeshworkLinkerd(dir, nginx.port, true) });
    candidates.push({ name: 'meshwork linkerd --workers 2', start: () => startMeshworkLinkerd(dir, nginx.port, false, 2) });
  }
  else process.stderr.write('bench: `meshwork linkerd` not available yet; skipping it\n');
  if (meshworkHas('http1-proxy')) candidates.push({ name: 'meshwork http1-proxy', start: () => startEngineProxy(nginx.port) });
  // The same two proxies as plain TCP: each client connection spliced to its own upstream one,
  // so a held idle connection takes two of the proxy's fds.
  const tcpIdle = Math.min(IDLE_CONNS, Math.floor((nofileLimit() - 100) / 2) - 100);
  const tcpIdleNote = tcpIdle < IDLE_CONNS ? `two sockets per connection and an fd limit of ${nofileLimit()}: its idle test holds ${tcpIdle} connections` : undefined;
  candidates.push({
    name: 'haproxy tcp',
    start: async () => {
      const maxconn = haproxyMaxconn(IDLE_CONNS + 500, nofileLimit());
      const h = await startHaproxy(tools['haproxy']!, dir, PROXY_CPU, nginx.port, maxconn, 'tcp');
      return { ...fromPinned(h.proc, h.port), maxIdle: tcpIdle, note: tcpIdleNote };
    },
  });
  if (meshworkHas('linkerd')) candidates.push({ name: 'meshwork tcp', start: async () => ({ ...(await startMeshworkTcp(dir, nginx.port)), maxIdle: tcpIdle, note: tcpIdleNote }) });
  candidates.push({
    name: 'undici',
    start: async () => {
      const port = await freePort();
      const p = spawnPinned(PROXY_CPU, process.execPath, [join(here, 'lib', 'undici-proxy.js'), String(port), String(nginx.port)]);
      await waitReady(p, port, 10_000);
      return fromPinned(p, port);
    },
  });

  // All candidates run side by side (idle ones cost nothing) so the 13 B runs can be interleaved
  // over several rounds: on a shared machine the best of the rounds is the least disturbed one.
  const running = new Map<string, Running>();
  const results = new Map<string, CandidateResult>();
  const failed = (name: string, e: unknown) => {
    process.stderr.write(`bench: ${name} failed: ${(e as Error).message}\n`);
    results.set(name, { name, throughput: {}, rssIdleMB: NaN, rssLoadMB: NaN, note: `failed: ${(e as Error).message.split('\n')[0]}` });
    const r = running.get(name);
    running.delete(name);
    return r?.stop();
  };
  for (const cand of candidates) {
    if (only && !only.includes(cand.name) && cand.name !== 'direct' && cand.name !== 'haproxy') continue;
    try {
      const run = await cand.start();
      running.set(cand.name, run);
      await runWrk(tools['wrk']!, LOAD_CPU, lua, `http://127.0.0.1:${run.port}/small`, CONNS, 1); // warm-up (JIT, pools)
      results.set(cand.name, { name: cand.name, throughput: {}, rssIdleMB: sum(rssBytes, run.pids()) / 2 ** 20, rssLoadMB: 0, ...(run.note ? { note: run.note } : {}) });
    } catch (e) { await failed(cand.name, e); }
  }
  const measure = async (name: string, path: string, seconds: number) => {
    const run = running.get(name)!;
    const res = results.get(name)!;
    const pids = run.pids();
    const t0 = cpuTimes(pids);
    const up0 = cpuMicros(nginx.proc.pid);
    const stopRss = sampleRss(pids);
    const w = await runWrk(tools['wrk']!, LOAD_CPU, lua, `http://127.0.0.1:${run.port}${path}`, CONNS, seconds);
    const peak = stopRss();
    const t1 = cpuTimes(pids);
    const user = t1.user - t0.user;
    const cpu = user + t1.sys - t0.sys;
    const up = cpuMicros(nginx.proc.pid) - up0;
    res.rssLoadMB = Math.max(res.rssLoadMB, peak / 2 ** 20);
    if (path === '/small') (res.rounds ??= []).push(w.rps);
    const prev = res.throughput[path];
    if (!prev || w.rps > prev.rps) res.throughput[path] = { ...w, cpuUsPerReq: w.requests ? cpu / w.requests : 0, userUsPerReq: w.requests ? user / w.requests : 0, upstreamCpuUsPerReq: w.requests ? up / w.requests : 0 };
    if (w.errors || w.non2xx) res.note = `${res.note ?? ''}${path}: ${w.errors} socket errors, ${w.non2xx} non-2xx. `;
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of [...running.keys()]) {
      process.stderr.write(`bench: round ${round + 1}/${ROUNDS} ${name} /small\n`);
      try { await measure(name, '/small', SECONDS); } catch (e) { await failed(name, e); }
    }
  }
  // The main target's ratio once more, from runs seconds apart (see PairedRuns).
  const paired: PairedRuns[] = [];
  const short = async (name: string) => {
    const run = running.get(name)!;
    const pids = run.pids();
    const t0 = cpuTimes(pids);
    const w = await runWrk(tools['wrk']!, LOAD_CPU, lua, `http://127.0.0.1:${run.port}/small`, CONNS, PAIR_SECONDS);
    const t1 = cpuTimes(pids);
    return { rps: w.rps, cpu: w.requests ? (t1.user - t0.user + t1.sys - t0.sys) / w.requests : 0 };
  };
  for (const [a, b] of [['meshwork linkerd', 'haproxy']] as const) {
    if (!running.has(a) || !running.has(b)) continue;
    const p: PairedRuns = { a, b, seconds: PAIR_SECONDS, pairs: [] };
    try {
      for (let i = 0; i < PAIRS; i++) {
        const first = i % 2 === 0 ? 'a' : 'b';
        process.stderr.write(`bench: pair ${i + 1}/${PAIRS} ${a} and ${b}, ${first === 'a' ? a : b} first\n`);
        const x = await short(first === 'a' ? a : b);
        const y = await short(first === 'a' ? b : a);
        const [ra, rb] = first === 'a' ? [x, y] : [y, x];
        p.pairs.push({ first, aRps: ra.rps, bRps: rb.rps, aCpuUsPerReq: ra.cpu, bCpuUsPerReq: rb.cpu });
      }
    } catch (e) {
      process.stderr.write(`bench: back-to-back pairs of ${a} and ${b} stopped: ${(e as Error).message}\n`);
    }
    paired.push(p);
  }
  for (const path of ['/1k', '/64k']) {
    for (const name of [...running.keys()]) {
      process.stderr.write(`bench: ${name} ${path}\n`);
      try { await measure(name, path, BODY_SECONDS); } catch (e) { await failed(name, e); }
    }
  }
  const rate = Number(process.env['BENCH_RATE'] ?? 0) || Math.round((results.get('haproxy')?.throughput['/small']?.rps ?? 10_000) / 2);
  // Fixed-rate rounds interleave direct and every proxy like the 13 B rounds, so each proxy's
  // p99 can be set against direct's from the same few seconds.
  const stalls = LAYOUT.roles.map((c) => ({ ...c, rounds: [] as StallResult[] }));
  for (let round = 0; round < FIXED_ROUNDS; round++) {
    process.stderr.write(`bench: round ${round + 1}/${FIXED_ROUNDS} idle stall probe, CPUs ${LAYOUT.roles.map((r) => r.cpu).join(', ')}\n`);
    const probed = await stallProbes(LAYOUT.roles.map((r) => r.cpu));
    probed.forEach((r, i) => stalls[i]!.rounds.push(r));
    for (const [name, run] of running) {
      process.stderr.write(`bench: round ${round + 1}/${FIXED_ROUNDS} ${name} fixed rate ${rate}/s\n`);
      const res = results.get(name)!;
      try { (res.fixedRateRounds ??= []).push(await fixedRate(run.port, rate, name === 'direct' ? undefined : run.pids())); } catch (e) { await failed(name, e); }
    }
  }
  for (const [name, run] of running) {
    process.stderr.write(`bench: ${name} ${IDLE_CONNS} idle connections\n`);
    const res = results.get(name)!;
    res.fixedRate = medianByP99(res.fixedRateRounds ?? []);
    try {
      if (name !== 'direct') {
        const hold = await holdIdle(run.port, run.maxIdle ?? IDLE_CONNS, '/small', 30_000);
        res.idleConns = { opened: hold.opened, answered: hold.answered, rssMB: sum(rssBytes, run.pids()) / 2 ** 20 };
        hold.close();
      }
    } catch (e) { await failed(name, e); }
  }
  for (const run of running.values()) await run.stop();
  await nginx.proc.stop();
  rmSync(dir, { recursive: true, force: true });

  const commit = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
  const record: BenchRecord = {
    date: new Date().toISOString(),
    commit,
    host: { cpus: cpus().length, node: process.version, kernel: release() },
    settings: { layout: LAYOUT.describe, nice: NICE, rounds: ROUNDS, loadavg: loadAtStart, seconds: SECONDS, connections: CONNS, fixedRate: rate, fixedRounds: FIXED_ROUNDS, fixedSeconds: FIXED_SECONDS, fixedWarmup: FIXED_WARMUP, idleConns: IDLE_CONNS, quick },
    candidates: [...results.values()],
    stalls,
    paired,
    ratios: ratios([...results.values()], paired),
  };
  const table = markdown(record);
  process.stdout.write(table);
  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${record.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(record, null, 2) + '\n');
  const md = join(root, 'bench', 'RESULTS.md');
  if (!existsSync(md)) writeFileSync(md, '# Bench results\n\nOne section per `npm run bench` run, newest last. Numbers are from `bench/run.ts`; see its header for the setup.\n\n');
  appendFileSync(md, '\n' + table);
  return 0;
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130); });
main().then((c) => { process.exitCode = c; }, (e: Error) => { process.stderr.write(`${e.message}\n`); killAll(); process.exitCode = 1; });
