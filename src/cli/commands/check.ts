/**
 * `meshwork check [--admin URL] [--namerd URL] [--resolve NS:PATH ...]`: says what is wrong
 * with a running mesh, one line per check, as `linkerd check` does for Linkerd 2.
 *
 * Linker (its admin server): the admin answers; its routers; every client each router has
 * bound (`/client_state.json`): an Addr that failed or is negative, no endpoints, endpoints
 * taken out by failure accrual or failFast; each router's share of failed requests
 * (`/admin/metrics.json`, server counters). namerd (its httpController): the namespaces and
 * each one's dtab, and with `--resolve` whether a name resolves to endpoints there.
 *
 * Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 bad usage.
 */
import type { Command, CommandIO } from '../command.js';

const DEFAULT_ADMIN = 'http://127.0.0.1:9990';
const DEFAULT_TIMEOUT_MS = 5000;
/** A router whose servers failed more than this share of at least MIN_REQUESTS requests is warned about. */
const FAILURE_SHARE = 0.05;
const MIN_REQUESTS = 20;

const usage = `usage: meshwork check [--admin URL] [--namerd URL] [--resolve NS:PATH ...] [--timeout-ms N]

Checks a running linker through its admin server and, with --namerd, a namerd through its
httpController, and says what is wrong: each check is a line, "ok", "warn" or "FAIL", with the
reason. Exits 1 when a check failed.

  --admin URL       the linker's admin server (default ${DEFAULT_ADMIN}); "none": skip the linker
  --namerd URL      namerd's io.l5d.httpController (e.g. http://127.0.0.1:4180)
  --resolve NS:PATH with --namerd: NS's dtab must resolve PATH to endpoints (repeatable)
  --timeout-ms N    how long each request may take, 100 to 60000 (default ${DEFAULT_TIMEOUT_MS})
`;

interface Options {
  admin: string | null;
  namerd: string | null;
  resolve: Array<{ ns: string; path: string }>;
  timeoutMs: number;
}

const OPTIONS = ['--admin', '--namerd', '--resolve', '--timeout-ms'];

function parse(args: string[]): Options | string {
  const o: Options = { admin: DEFAULT_ADMIN, namerd: null, resolve: [], timeoutMs: DEFAULT_TIMEOUT_MS };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (!OPTIONS.includes(name)) return `unknown argument '${a}'; allowed: ${OPTIONS.join(', ')}`;
    const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
    if (v === undefined) return `option '${name}' needs a value`;
    if (name === '--admin' || name === '--namerd') {
      if (name === '--admin' && v === 'none') {
        o.admin = null;
        continue;
      }
      if (!/^https?:\/\/[^/]/.test(v)) return `${name} must be an http(s) URL; found '${v}'`;
      if (name === '--admin') o.admin = v.replace(/\/+$/, '');
      else o.namerd = v.replace(/\/+$/, '');
    } else if (name === '--resolve') {
      const colon = v.indexOf(':');
      if (colon <= 0 || !v.slice(colon + 1).startsWith('/')) return `--resolve must be NS:PATH, e.g. default:/svc/users; found '${v}'`;
      o.resolve.push({ ns: v.slice(0, colon), path: v.slice(colon + 1) });
    } else {
      const n = Number(v);
      if (v.trim() === '' || !Number.isInteger(n) || n < 100 || n > 60_000) return `--timeout-ms must be an integer from 100 to 60000; found '${v}'`;
      o.timeoutMs = n;
    }
  }
  if (o.resolve.length > 0 && o.namerd === null) return '--resolve needs --namerd';
  if (o.admin === null && o.namerd === null) return 'nothing to check: --admin none and no --namerd';
  return o;
}

type Level = 'ok' | 'warn' | 'FAIL';

class Report {
  readonly counts: Record<Level, number> = { ok: 0, warn: 0, FAIL: 0 };
  constructor(private readonly io: CommandIO) {}
  heading(text: string): void {
    this.io.stdout(`${text}\n`);
  }
  line(level: Level, text: string): void {
    this.counts[level]++;
    this.io.stdout(`  ${level.padEnd(4)} ${text}\n`);
  }
}

/** An HTTP GET's outcome: the status and body, or why there was none. */
async function get(url: string, timeoutMs: number): Promise<{ status: number; body: string } | { error: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError') return { error: `no answer within ${timeoutMs} ms` };
    return { error: err.cause?.code ?? err.cause?.message ?? err.message };
  }
}

/** The JSON of a 200 answer, or a reason. */
async function getJson(url: string, timeoutMs: number): Promise<{ value: unknown } | { error: string }> {
  const r = await get(url, timeoutMs);
  if ('error' in r) return r;
  if (r.status !== 200) return { error: `${r.status}${r.body.trim() === '' ? '' : `: ${r.body.trim().slice(0, 200)}`}` };
  try {
    return { value: JSON.parse(r.body) as unknown };
  } catch {
    return { error: 'the answer is not JSON' };
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
const hostPort = (a: Obj): string => (String(a['ip']).includes(':') ? `[${String(a['ip'])}]:${String(a['port'])}` : `${String(a['ip'])}:${String(a['port'])}`);

async function checkLinker(admin: string, o: Options, r: Report): Promise<void> {
  const ping = await get(`${admin}/admin/ping`, o.timeoutMs);
  if ('error' in ping || ping.status !== 200) {
    r.heading(`linker admin ${admin}`);
    r.line('FAIL', `the admin server does not answer /admin/ping: ${'error' in ping ? ping.error : `status ${ping.status}`}`);
    return;
  }
  const info = await getJson(`${admin}/admin/server_info`, o.timeoutMs);
  const i = 'value' in info && isObj(info.value) ? info.value : {};
  const up = typeof i['uptime'] === 'number' ? `, up ${Math.round(i['uptime'] / 1000)} s` : '';
  r.heading(`linker admin ${admin} (${String(i['name'] ?? 'unknown')} ${String(i['version'] ?? '')}${up})`);
  r.line('ok', 'the admin server answers /admin/ping');

  const routersJson = await getJson(`${admin}/admin/routers.json`, o.timeoutMs);
  if ('error' in routersJson || !Array.isArray(routersJson.value)) {
    r.line('FAIL', `cannot read /admin/routers.json: ${'error' in routersJson ? routersJson.error : 'not a list'}`);
    return;
  }
  const routers = routersJson.value.filter(isObj).map((x) => ({ label: String(x['label']), protocol: String(x['protocol'] ?? '') }));
  if (routers.length === 0) {
    r.line('FAIL', 'no routers: is this admin server a namerd\'s? (use --namerd for namerd)');
    return;
  }
  r.line('ok', `${plural(routers.length, 'router')}: ${routers.map((x) => `${x.label} (${x.protocol})`).join(', ')}`);

  const states = await getJson(`${admin}/client_state.json`, o.timeoutMs);
  if ('error' in states || !isObj(states.value)) {
    r.line('FAIL', `cannot read /client_state.json: ${'error' in states ? states.error : 'not an object'}`);
  } else {
    for (const rt of routers) checkClients(rt.label, states.value[rt.label], r);
  }

  const metrics = await getJson(`${admin}/admin/metrics.json`, o.timeoutMs);
  if ('error' in metrics || !isObj(metrics.value)) {
    r.line('warn', `cannot read /admin/metrics.json: ${'error' in metrics ? metrics.error : 'not an object'}`);
  } else {
    for (const rt of routers) checkFailures(rt.label, rt.protocol, metrics.value, r);
  }
}

/** Every client a router has bound: its Addr and its endpoints' state. */
function checkClients(label: string, clients: unknown, r: Report): void {
  if (!isObj(clients) || Object.keys(clients).length === 0) {
    r.line('ok', `${label}: no clients yet (none is made before a request needs it)`);
    return;
  }
  let healthy = 0;
  for (const [id, c] of Object.entries(clients)) {
    if (!isObj(c)) continue;
    const state = String(c['state']);
    const addrs = Array.isArray(c['addresses']) ? c['addresses'].filter(isObj) : [];
    if (state === 'failed') {
      r.line('FAIL', `${label}: ${id}: its addresses could not be read${typeof c['error'] === 'string' ? `: ${c['error']}` : ''} (is its namer's backend reachable?)`);
    } else if (state === 'neg') {
      r.line('FAIL', `${label}: ${id}: the namer has no such name (negative): requests to it fail`);
    } else if (state === 'pending') {
      r.line('warn', `${label}: ${id}: its addresses are still being resolved`);
    } else if (addrs.length === 0) {
      r.line('FAIL', `${label}: ${id}: bound, but with no endpoints: requests to it fail`);
    } else {
      const out = addrs.filter((a) => a['available'] === false);
      if (out.length === addrs.length) {
        r.line('FAIL', `${label}: ${id}: all ${plural(addrs.length, 'endpoint')} taken out (${out.map((a) => `${hostPort(a)} ${String(a['accrual'])}`).join(', ')})`);
      } else if (out.length > 0) {
        r.line('warn', `${label}: ${id}: ${out.length} of ${plural(addrs.length, 'endpoint')} taken out (${out.map((a) => `${hostPort(a)} ${String(a['accrual'])}`).join(', ')})`);
      } else healthy++;
    }
  }
  if (healthy > 0) r.line('ok', `${label}: ${plural(healthy, 'client')} with every endpoint available`);
}

/** A router's servers' share of failed requests (a tcp router's: connections) since the linker started. */
function checkFailures(label: string, protocol: string, m: Obj, r: Report): void {
  const prefix = `rt/${label}/server/`;
  let requests = 0;
  let failures = 0;
  for (const [k, v] of Object.entries(m)) {
    if (!k.startsWith(prefix) || typeof v !== 'number') continue;
    if (k.endsWith('/requests') && k.split('/').length === 6) requests += v;
    else if (k.endsWith('/failures') && k.split('/').length === 6) failures += v;
  }
  if (requests === 0) return;
  const share = failures / requests;
  const text = `${label}: ${failures} of ${plural(requests, protocol === 'tcp' ? 'connection' : 'request')} failed since start (${(share * 100).toFixed(1)}%)`;
  r.line(requests >= MIN_REQUESTS && share > FAILURE_SHARE ? 'warn' : 'ok', text);
}

async function checkNamerd(api: string, o: Options, r: Report): Promise<void> {
  r.heading(`namerd ${api}`);
  const list = await getJson(`${api}/api/1/dtabs`, o.timeoutMs);
  if ('error' in list || !Array.isArray(list.value)) {
    r.line('FAIL', `cannot list namespaces (GET /api/1/dtabs): ${'error' in list ? list.error : 'not a list'}`);
    return;
  }
  const names = list.value.map(String);
  r.line(names.length === 0 ? 'warn' : 'ok', names.length === 0 ? 'no namespaces: linkers asking namerd get no dtab' : `${plural(names.length, 'namespace')}: ${names.join(', ')}`);
  for (const ns of names) {
    const d = await getJson(`${api}/api/1/dtabs/${encodeURIComponent(ns)}`, o.timeoutMs);
    if ('error' in d || !Array.isArray(d.value)) r.line('FAIL', `${ns}: cannot read its dtab: ${'error' in d ? d.error : 'not a list'}`);
    else r.line('ok', `${ns}: ${plural(d.value.length, 'dentry', 'dentries')}`);
  }
  for (const { ns, path } of o.resolve) {
    if (!names.includes(ns)) {
      r.line('FAIL', `${ns}: no such namespace, so ${path} cannot resolve`);
      continue;
    }
    const a = await getJson(`${api}/api/1/resolve/${encodeURIComponent(ns)}?path=${encodeURIComponent(path)}`, o.timeoutMs);
    if ('error' in a || !isObj(a.value)) {
      r.line('FAIL', `${ns}: ${path} does not resolve: ${'error' in a ? a.error : 'not an object'}`);
      continue;
    }
    const type = String(a.value['type']);
    const addrs = Array.isArray(a.value['addrs']) ? a.value['addrs'].filter(isObj) : [];
    if (type === 'bound' && addrs.length > 0) r.line('ok', `${ns}: ${path} resolves to ${plural(addrs.length, 'endpoint')} (${addrs.slice(0, 5).map(hostPort).join(', ')}${addrs.length > 5 ? ', ...' : ''})`);
    else if (type === 'bound') r.line('FAIL', `${ns}: ${path} is bound but has no endpoints`);
    else if (type === 'neg') r.line('FAIL', `${ns}: ${path} does not resolve (negative: no dentry or namer knows it)`);
    else r.line('FAIL', `${ns}: ${path}: ${type}${typeof a.value['error'] === 'string' ? `: ${a.value['error']}` : ''}`);
  }
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const o = parse(args);
  if (typeof o === 'string') {
    io.stderr(`meshwork check: ${o}\n${usage}`);
    return 2;
  }
  const r = new Report(io);
  if (o.admin !== null) await checkLinker(o.admin, o, r);
  if (o.namerd !== null) await checkNamerd(o.namerd, o, r);
  const c = r.counts;
  io.stdout(`${c.ok} ok, ${plural(c.warn, 'warning')}, ${c.FAIL} failed\n`);
  return c.FAIL > 0 ? 1 : 0;
}

export const command: Command = {
  name: 'check',
  summary: 'check a running linker (admin server) and namerd, and say what is wrong',
  usage,
  run,
};
