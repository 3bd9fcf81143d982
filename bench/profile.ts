/**
 * `npm run bench:profile [-- --telemetry] [-- --seconds N]`: where `meshwork linkerd` spends
 * its time per request under the bench's load. The same nginx upstream, config and CPU layout
 * as `npm run bench`; wrk (1 thread x 50 connections) runs throughout while the linker's
 * `/admin/profile.cpuprofile` samples it for N seconds (default 5). Prints a markdown summary:
 * the process's CPU per request (from /proc), the profile's time per request by part of the
 * code, and the functions with the most self time. Writes the summary to
 * bench/results/profile-<date>.json and the raw profile to the temp directory (its path is
 * printed: open it in Chrome DevTools or speedscope).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { cpuMicros, freePort, killAll, requireTools, spawnPinned, waitReady } from './lib/proc.js';
import { startNginx } from './lib/upstreams.js';
import { runWrk, writeWrkScript } from './lib/wrk.js';
import { cpuLayout } from './lib/layout.js';
import { LAUNCHER, benchLinkerdYaml, launcherEnv } from './lib/linkerd-config.js';
import { serverRequests, summarizeProfile, type CpuProfile } from '../src/admin/profile-summary.js';
import { profileMarkdown } from './lib/profile-report.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, '..', '..');
const CONNS = 50;

function parseArgs(argv: readonly string[]): { telemetry: boolean; seconds: number } {
  let telemetry = false;
  let seconds = 5;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--telemetry') telemetry = true;
    else if (a === '--seconds') {
      const v = argv[++i];
      const n = Number(v);
      if (v === undefined || !(n >= 1 && n <= 60)) throw new Error(`bench:profile: --seconds must be a number from 1 to 60; found ${JSON.stringify(v ?? null)}`);
      seconds = n;
    } else throw new Error(`bench:profile: unknown argument ${JSON.stringify(a)}; allowed: --telemetry, --seconds N`);
  }
  return { telemetry, seconds };
}

async function requestsServed(adminPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/admin/metrics.json`);
  return serverRequests((await res.json()) as Record<string, unknown>);
}

async function main(): Promise<void> {
  const { telemetry, seconds } = parseArgs(process.argv.slice(2));
  const layout = cpuLayout(cpus().length);
  const tools = requireTools(['nginx', 'wrk', 'taskset']);
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-profile-'));
  const lua = writeWrkScript(dir);
  const nginx = await startNginx(tools['nginx']!, dir, layout.load);
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = join(dir, 'linkerd.yaml');
  writeFileSync(cfg, benchLinkerdYaml({ port, adminPort, upstreamPort: nginx.port, ...(telemetry ? { zipkinPort: await freePort() } : {}) }));
  const linker = spawnPinned(layout.proxy, LAUNCHER, ['linkerd', cfg], launcherEnv);
  try {
    await waitReady(linker, port, 15_000);
    const url = `http://127.0.0.1:${port}/small`;
    await runWrk(tools['wrk']!, layout.load, lua, url, CONNS, 2); // warm-up (JIT, pools)
    // wrk runs a second longer on each side of the profile.
    const load = runWrk(tools['wrk']!, layout.load, lua, url, CONNS, seconds + 2);
    await new Promise((r) => setTimeout(r, 1000));
    const req0 = await requestsServed(adminPort);
    const cpu0 = cpuMicros(linker.pid);
    const res = await fetch(`http://127.0.0.1:${adminPort}/admin/profile.cpuprofile?seconds=${seconds}`);
    const body = await res.text();
    const cpu1 = cpuMicros(linker.pid);
    const req1 = await requestsServed(adminPort);
    const w = await load;
    if (res.status !== 200) throw new Error(`bench:profile: the linker answered ${res.status}: ${body.slice(0, 500)}`);
    const profile = JSON.parse(body) as CpuProfile;
    const requests = req1 - req0;
    const summary = summarizeProfile(profile, requests);
    const commit = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
    const date = new Date().toISOString();
    const record = {
      date,
      commit,
      candidate: `meshwork linkerd${telemetry ? ' +telemetry' : ''}`,
      layout: layout.describe,
      seconds,
      requests,
      processCpuUsPerReq: requests > 0 ? (cpu1 - cpu0) / requests : 0,
      wrkRps: w.rps,
      ...summary,
    };
    const rawPath = join(dir, `linkerd-${date.replace(/[:.]/g, '-')}.cpuprofile`);
    writeFileSync(rawPath, body);
    const resultsDir = join(root, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, `profile-${date.replace(/[:.]/g, '-')}.json`), JSON.stringify(record, null, 2) + '\n');
    process.stdout.write(profileMarkdown(record));
    process.stdout.write(`\nRaw profile: ${rawPath}\n`);
  } finally {
    await linker.stop();
    await nginx.proc.stop();
  }
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130); });
main().catch((e: Error) => { process.stderr.write(`${e.message}\n`); killAll(); process.exitCode = 1; });
