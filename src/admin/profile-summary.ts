/**
 * Reads a V8 `.cpuprofile` (what `/admin/profile.cpuprofile` answers) into time per request:
 * by part of the code (the engine, the router, telemetry, Node's internals, native code, GC,
 * idle) and by function (self time). Used by `meshwork profile` and `npm run bench:profile`.
 */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  /** Node id of each sample, in order. */
  samples: number[];
  /** µs from the previous sample (the first: from startTime). */
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  /** Wall time the samples cover (ms). */
  profileMs: number;
  parts: { part: string; ms: number; usPerReq: number; share: number }[];
  top: { fn: string; where: string; part: string; usPerReq: number; share: number }[];
}

/**
 * Requests answered so far by every router's servers, from `/admin/metrics.json`'s flat form
 * (`rt/<label>/server/<ip>/<port>/requests`): what a profile's time is divided by.
 */
export function serverRequests(metrics: Readonly<Record<string, unknown>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(metrics)) if (typeof v === 'number' && /^rt\/[^/]+\/server\/.+\/requests$/.test(k)) n += v;
  return n;
}

/** The part of the process a frame belongs to, by its script URL (or V8's pseudo-frames). */
export function partOf(frame: CpuProfileNode['callFrame']): string {
  const { functionName: name, url } = frame;
  if (url === '') {
    // Node marks the isolate idle for the whole poll phase, so "(idle)" is epoll and libuv's
    // socket reads as much as time with nothing to do (compare the process CPU per request).
    if (name === '(idle)') return 'event loop poll (epoll, socket reads in libuv, idle)';
    if (name === '(garbage collector)') return 'garbage collector';
    if (name === '(program)') return 'native, outside JS (V8, Node C++)';
    if (name === '(root)') return 'root';
    return 'native called from JS (bindings: socket writes, Buffer)';
  }
  if (url.startsWith('node:')) return 'Node.js internals (node:*)';
  const m = /\/dist\/src\/([^/]+)\//.exec(url);
  if (m !== null) {
    if (m[1] === 'protocol') return 'engine (src/protocol)';
    if (m[1] === 'router') return 'router (src/router)';
    if (m[1] === 'telemetry') return 'telemetry (src/telemetry)';
    return `other Meshwork (src/${m[1]})`;
  }
  if (url.includes('/node_modules/')) return 'libraries (node_modules)';
  return 'other scripts';
}

function where(frame: CpuProfileNode['callFrame']): string {
  if (frame.url === '') return '(native)';
  const short = frame.url.replace(/^file:\/\/.*?\/dist\//, '').replace(/^file:\/\//, '');
  return `${short}:${frame.lineNumber + 1}`;
}

/**
 * Self time per function and per part, over `requests` requests. A sample's time is the gap
 * to the next sample (the last one gets the mean gap), as DevTools draws it.
 */
export function summarizeProfile(p: CpuProfile, requests: number, topN = 25): ProfileSummary {
  const byId = new Map<number, CpuProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const n = p.samples.length;
  const total = p.timeDeltas.reduce((a, b) => a + Math.max(0, b), 0);
  const mean = n > 0 ? total / n : 0;
  const fnTime = new Map<string, { fn: string; where: string; part: string; us: number }>();
  const partTime = new Map<string, number>();
  let covered = 0;
  for (let i = 0; i < n; i++) {
    const node = byId.get(p.samples[i]!);
    if (node === undefined) continue;
    const us = i + 1 < n ? Math.max(0, p.timeDeltas[i + 1]!) : mean;
    covered += us;
    const f = node.callFrame;
    const part = partOf(f);
    partTime.set(part, (partTime.get(part) ?? 0) + us);
    const fn = f.functionName === '' ? '(anonymous)' : f.functionName;
    const key = `${fn}\u0000${where(f)}`;
    const e = fnTime.get(key);
    if (e === undefined) fnTime.set(key, { fn, where: where(f), part, us });
    else e.us += us;
  }
  const perReq = (us: number) => (requests > 0 ? us / requests : 0);
  const share = (us: number) => (covered > 0 ? us / covered : 0);
  return {
    profileMs: covered / 1000,
    parts: [...partTime].sort((a, b) => b[1] - a[1]).map(([part, us]) => ({ part, ms: us / 1000, usPerReq: perReq(us), share: share(us) })),
    top: [...fnTime.values()].sort((a, b) => b.us - a.us).slice(0, topN).map((e) => ({ fn: e.fn, where: e.where, part: e.part, usPerReq: perReq(e.us), share: share(e.us) })),
  };
}
