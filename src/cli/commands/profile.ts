/**
 * `meshwork profile [--admin URL] [--seconds N] [--out FILE] [--top N]`: where a running
 * linker (or namerd) spends its time. Takes a CPU profile through the admin endpoint
 * `/admin/profile.cpuprofile`, counts the requests its routers' servers answered meanwhile
 * (`/admin/metrics.json`), and prints time per request by part of the process and the
 * functions with the most self time. `--out` keeps the raw `.cpuprofile` for DevTools.
 * Exit codes: 0 ok, 1 the admin server is unreachable or refused, 2 bad usage.
 */
import { writeFileSync } from 'node:fs';
import type { Command, CommandIO } from '../command.js';
import { serverRequests, summarizeProfile, type CpuProfile } from '../../admin/profile-summary.js';

const DEFAULT_ADMIN = 'http://127.0.0.1:9990';
/** How long the metrics read may take, and the profile beyond its own seconds. */
const ANSWER_MS = 5000;

const usage = `usage: meshwork profile [--admin URL] [--seconds N] [--out FILE] [--top N]

Takes a CPU profile of a running linker or namerd through its admin server and prints where
the time went: per request served (the routers' server request counters) by part of the
process, and the functions with the most self time.

  --admin URL    the admin server (default ${DEFAULT_ADMIN})
  --seconds N    how long to profile, 0.1 to 60 (default 10)
  --out FILE     also write the raw profile (.cpuprofile: Chrome DevTools, speedscope)
  --top N        functions to list, 1 to 200 (default 15)
`;

interface Options {
  admin: string;
  seconds: number;
  out?: string;
  top: number;
}

function parse(args: string[]): Options | string {
  const o: Options = { admin: DEFAULT_ADMIN, seconds: 10, top: 15 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (!['--admin', '--seconds', '--out', '--top'].includes(name)) return `unknown argument '${a}'; allowed: --admin, --seconds, --out, --top`;
    const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
    if (v === undefined) return `option '${name}' needs a value`;
    if (name === '--admin') {
      if (!/^https?:\/\/[^/]/.test(v)) return `--admin must be an http(s) URL; found '${v}'`;
      o.admin = v.replace(/\/+$/, '');
    } else if (name === '--out') o.out = v;
    else {
      const n = Number(v);
      const [min, max] = name === '--seconds' ? [0.1, 60] : [1, 200];
      if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (name === '--top' && !Number.isInteger(n))) {
        return `${name} must be ${name === '--top' ? 'an integer' : 'a number'} from ${min} to ${max}; found '${v}'`;
      }
      if (name === '--seconds') o.seconds = n;
      else o.top = n;
    }
  }
  return o;
}

/** Requests answered so far by every router's servers (`rt/<label>/server/<ip>/<port>/requests`). */
async function requestsServed(admin: string): Promise<number> {
  const res = await fetch(`${admin}/admin/metrics.json`, { signal: AbortSignal.timeout(ANSWER_MS) });
  if (res.status !== 200) throw new Error(`${admin}/admin/metrics.json answered ${res.status}`);
  return serverRequests((await res.json()) as Record<string, unknown>);
}

const reason = (e: unknown): string => {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${ANSWER_MS} ms (beyond the profile's own seconds)`;
  return err.cause?.code ?? err.cause?.message ?? err.message;
};

async function run(args: string[], io: CommandIO): Promise<number> {
  const o = parse(args);
  if (typeof o === 'string') {
    io.stderr(`meshwork profile: ${o}\n${usage}`);
    return 2;
  }
  let before: number;
  let body: string;
  let after: number;
  try {
    before = await requestsServed(o.admin);
    io.stderr(`profiling ${o.admin} for ${o.seconds} s ...\n`);
    const res = await fetch(`${o.admin}/admin/profile.cpuprofile?seconds=${o.seconds}`, { signal: AbortSignal.timeout(o.seconds * 1000 + ANSWER_MS) });
    body = await res.text();
    if (res.status !== 200) {
      io.stderr(`meshwork profile: ${o.admin}/admin/profile.cpuprofile answered ${res.status}: ${body.trim()}\n`);
      return 1;
    }
    after = await requestsServed(o.admin);
  } catch (e) {
    io.stderr(`meshwork profile: cannot reach the admin server at ${o.admin}: ${reason(e)}\n`);
    return 1;
  }
  let profile: CpuProfile;
  try {
    profile = JSON.parse(body) as CpuProfile;
    if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) throw new Error('not a V8 CPU profile');
  } catch (e) {
    io.stderr(`meshwork profile: ${o.admin} answered something that is not a CPU profile: ${(e as Error).message}\n`);
    return 1;
  }
  if (o.out !== undefined) {
    try {
      writeFileSync(o.out, body);
    } catch (e) {
      io.stderr(`meshwork profile: cannot write ${o.out}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const requests = Math.max(0, after - before);
  const s = summarizeProfile(profile, requests, o.top);
  const perReq = requests > 0;
  const unit = perReq ? 'µs/req' : 'ms';
  const val = (usPerReq: number, share: number) => (perReq ? usPerReq.toFixed(2) : (share * s.profileMs).toFixed(1));
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const width = Math.max(20, ...s.parts.map((p) => p.part.length));
  const lines = [
    `CPU profile of ${o.admin}: ${s.profileMs.toFixed(0)} ms sampled; ${requests.toLocaleString('en-US')} requests served meanwhile${perReq ? ` (${(s.profileMs * 1000 / requests).toFixed(2)} µs of wall time each)` : ' (times below are totals)'}`,
    '',
    `${'part of the process'.padEnd(width)}  ${unit.padStart(8)}   share`,
    ...s.parts.map((p) => `${p.part.padEnd(width)}  ${val(p.usPerReq, p.share).padStart(8)}  ${pct(p.share).padStart(6)}`),
    '',
    `top ${s.top.length} functions by self time (${unit}, share, function, where, part)`,
    ...s.top.map((t) => `${val(t.usPerReq, t.share).padStart(8)}  ${pct(t.share).padStart(6)}  ${t.fn}  ${t.where}  [${t.part}]`),
  ];
  if (o.out !== undefined) lines.push('', `raw profile written to ${o.out} (open it in Chrome DevTools or speedscope)`);
  io.stdout(lines.join('\n') + '\n');
  return 0;
}

export const command: Command = {
  name: 'profile',
  summary: 'profile a running linker or namerd: where each request\'s time goes',
  usage,
  run,
};
