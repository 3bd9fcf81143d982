/**
 * io.l5d.rancher (experimental, as in Linkerd): `/<port>/<stack>/<service>[/residual]` binds the
 * running containers of a Rancher 1.x service, read from Rancher's metadata API
 * (`http://rancher-metadata/2015-12-19/...`). As Linkerd's namer does:
 * - one long poll per namer, `GET /2015-12-19/version?wait=true&maxWait=<maxWait>&value=<last
 *   version or "initial">` with `Host: rancher-metadata`: the API answers when its version
 *   differs from `value`, or when `maxWait` seconds have passed; a new version is followed by
 *   `GET /2015-12-19/containers` (JSON), which every name of the namer shares;
 * - a container is an address when its `state` is `running`: its `primary_ip` and the port of
 *   the name (a container's published `ports`, `ip:public:private/proto`, do not matter);
 * - `<port>` is a number, else a `portMappings` name or the built-in `http` (80) and `https`
 *   (443); `portMappings` may redefine those two; an unknown port name is Neg;
 * - `<stack>` and `<service>` match `stack_name` and `service_name` case-insensitively; the id is
 *   the prefix and the first three elements as written, the rest is the residual; no running
 *   container (or fewer than three elements) is Neg, and the name follows containers coming
 *   and going;
 * - after a good answer, failures keep it (Linkerd's `stabilize`).
 * Unlike Linkerd: failures are retried with a doubling backoff capped at 5 s (Linkerd sleeps
 * 5 s), a failed containers read is retried rather than waiting for the next version, a
 * failure before the first answer fails the name (Linkerd stays pending), a `ports` entry
 * Meshwork cannot read does not fail the whole list, and the metadata API's `host` and `port`
 * are config keys (Linkerd always dials `rancher-metadata:80`).
 */
import { Activity, PENDING, failed, ok } from '../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../naming/addr.js';
import { addrEquals, boundName } from '../naming/bound.js';
import type { ActivityState, Closable, Name, NameNamer } from '../naming/contracts.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { AsyncVar, map, type BaseVar } from '../naming/var.js';
import { HttpClient } from '../namerd/stores/http-client.js';
import { NamerError, namerConfigError } from './errors.js';
import { addrLeaf, configuredPrefix, type NamerContext, type NamerSpec } from './spec.js';

const KIND = 'io.l5d.rancher';
const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});
/** The metadata API version Linkerd's namer reads. */
export const API_VERSION = '2015-12-19';
/** Linkerd's metadata host, dialled and sent as `Host`. */
export const DEFAULT_HOST = 'rancher-metadata';
export const DEFAULT_PORT = 80;
export const DEFAULT_MAX_WAIT_S = 30;
/** Ports every Rancher namer knows by name (Linkerd's built-ins). */
const BUILTIN_PORTS: Readonly<Record<string, number>> = Object.freeze({ http: 80, https: 443 });
/** The metadata API waits 60 s when told `maxWait=0`, and never more than 120 s. */
const API_DEFAULT_WAIT_S = 60;
const API_MAX_WAIT_S = 120;
/** Beyond the long poll's own wait, how long an answer may take (default). */
const REQUEST_TIMEOUT_MS = 10_000;
const BACKOFF_MS = 200;
/** Linkerd retries every 5 s; Meshwork backs off up to that. */
const MAX_BACKOFF_MS = 5000;
/** An unchanged version answered quicker than this (an API ignoring `wait`) is not asked again at once. */
const UNCHANGED_MIN_INTERVAL_MS = 1000;

export interface RancherNamerOptions {
  /** Where the metadata API is dialled. */
  readonly connectHost: string;
  readonly connectPort: number;
  /** The `Host` header of every request. */
  readonly host: string;
  /** Port names besides (or redefining) `http` and `https`. */
  readonly portMappings: Readonly<Record<string, number>>;
  /** Seconds the API may hold a version request before answering an unchanged version. */
  readonly maxWaitS: number;
  /** How long a request may take beyond the long poll's wait (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** First and largest delay before retrying a failed poll (defaults 200 ms and 5 s). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** What the namer reads of one entry of `GET /2015-12-19/containers`. */
export interface RancherContainer {
  readonly name: string;
  readonly stackName: string;
  readonly serviceName: string;
  readonly primaryIp: string;
  readonly state: string;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The version in a `/version` answer: plain text, or a JSON string when JSON was negotiated. */
export function versionOf(body: string): string {
  let v = body.trim();
  if (v.startsWith('"')) {
    try {
      const parsed: unknown = JSON.parse(v);
      v = typeof parsed === 'string' ? parsed.trim() : '';
    } catch {
      v = '';
    }
  }
  if (v === '') throw new NamerError('MESH_ERR_NAMER_BAD_DATA', `rancher metadata version: not a version: ${JSON.stringify(body.slice(0, 100))}`);
  return v;
}

/** The containers of a `/containers` answer; entries without the fields an address needs are skipped. */
export function containersOf(body: string): RancherContainer[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw new NamerError('MESH_ERR_NAMER_BAD_DATA', `rancher metadata containers: not JSON (${message(e)}): ${JSON.stringify(body.slice(0, 100))}`);
  }
  if (!Array.isArray(parsed)) throw new NamerError('MESH_ERR_NAMER_BAD_DATA', `rancher metadata containers: not a list: ${JSON.stringify(body.slice(0, 100))}`);
  const out: RancherContainer[] = [];
  for (const raw of parsed as unknown[]) {
    if (raw === null || typeof raw !== 'object') continue;
    const c = raw as Record<string, unknown>;
    const str = (k: string): string => (typeof c[k] === 'string' ? (c[k] as string) : '');
    const entry: RancherContainer = { name: str('name'), stackName: str('stack_name'), serviceName: str('service_name'), primaryIp: str('primary_ip'), state: str('state') };
    if (entry.stackName === '' || entry.serviceName === '' || entry.primaryIp === '') continue;
    out.push(entry);
  }
  return out;
}

/** The running containers of `stack`/`service` (case-insensitive) at `port`; none: Neg. */
export function addrOf(containers: readonly RancherContainer[], stack: string, service: string, port: number): Addr {
  const s = stack.toLowerCase();
  const svc = service.toLowerCase();
  const hosts = new Set<string>();
  for (const c of containers) {
    if (c.state === 'running' && c.stackName.toLowerCase() === s && c.serviceName.toLowerCase() === svc) hosts.add(c.primaryIp);
  }
  if (hosts.size === 0) return ADDR_NEG;
  const addrs: Address[] = [...hosts].sort().map((host) => ({ host, port, meta: EMPTY_META }));
  return { type: 'bound', addrs, meta: EMPTY_META };
}

const isPort = (n: number): boolean => Number.isInteger(n) && n > 0 && n < 65536;

export class RancherNamer implements NameNamer {
  readonly client: HttpClient;
  private readonly headers: Record<string, string>;
  private readonly ports: ReadonlyMap<string, number>;
  private readonly containers: AsyncVar<ActivityState<readonly RancherContainer[]>>;
  private readonly addrs = new Map<string, BaseVar<Addr>>();
  /** The metadata version of the containers held; kept while unobserved so a restart asks from there. */
  private version: string | undefined;

  constructor(
    readonly prefix: Path,
    readonly opts: RancherNamerOptions,
  ) {
    this.client = new HttpClient(opts.connectHost, opts.connectPort);
    this.headers = { host: opts.host };
    this.ports = new Map(Object.entries({ ...BUILTIN_PORTS, ...opts.portMappings }));
    this.containers = new AsyncVar<ActivityState<readonly RancherContainer[]>>(PENDING, (update) => this.watch(update));
  }

  /** A number wins over a name, as in Linkerd; undefined: no such port. */
  portOf(elem: string): number | undefined {
    if (/^\d+$/.test(elem)) {
      const n = Number(elem);
      return isPort(n) ? n : undefined;
    }
    return this.ports.get(elem);
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.size < 3) return Activity.value<NameTree<Name>>(NEG);
    const [port, stack, service] = path.utf8Elems as [string, string, string];
    const portNum = this.portOf(port);
    if (portNum === undefined) return Activity.value<NameTree<Name>>(NEG);
    return addrLeaf(boundName(this.prefix.concat(path.take(3)), this.addr(portNum, stack, service), path.drop(3)));
  }

  /** The addresses of `stack`/`service` at `port`, derived from the shared containers poll. */
  addr(port: number, stack: string, service: string): BaseVar<Addr> {
    const key = `${port}\u0000${stack.toLowerCase()}\u0000${service.toLowerCase()}`;
    let v = this.addrs.get(key);
    if (v === undefined) {
      v = map(
        this.containers,
        (s): Addr => {
          if (s.type === 'pending') return ADDR_PENDING;
          if (s.type === 'failed') return { type: 'failed', cause: s.error };
          return addrOf(s.value, stack, service, port);
        },
        addrEquals,
      );
      this.addrs.set(key, v);
    }
    return v;
  }

  /**
   * The long poll, while anything observes a name: version, then containers when it changed.
   * A failure is published only while no good answer is held; either way it is retried after a
   * doubling, capped backoff.
   */
  private watch(update: (s: ActivityState<readonly RancherContainer[]>) => void): Closable {
    const stop = new AbortController();
    const base = this.opts.backoffMs ?? BACKOFF_MS;
    const cap = this.opts.maxBackoffMs ?? MAX_BACKOFF_MS;
    const extra = this.opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const maxWait = this.opts.maxWaitS;
    const waitLimit = (maxWait === 0 ? API_DEFAULT_WAIT_S : Math.min(maxWait, API_MAX_WAIT_S)) * 1000 + extra;
    let backoff = base;
    let timer: NodeJS.Timeout | undefined;

    /** One round; resolves with the delay before the next. */
    const round = async (): Promise<number> => {
      const started = Date.now();
      const asked = this.version ?? 'initial';
      const url = `/${API_VERSION}/version?wait=true&maxWait=${maxWait}&value=${encodeURIComponent(asked)}`;
      const version = versionOf(await this.get(url, 'text/plain', waitLimit, stop.signal));
      if (version === this.version) return Math.max(0, UNCHANGED_MIN_INTERVAL_MS - (Date.now() - started));
      const list = containersOf(await this.get(`/${API_VERSION}/containers`, 'application/json', extra, stop.signal));
      if (stop.signal.aborted) return 0;
      // The version moves only with a good list, so a failed read is asked for again.
      this.version = version;
      update(ok(list));
      return 0;
    };
    const schedule = (delay: number): void => {
      if (stop.signal.aborted) return;
      timer = setTimeout(loop, delay);
      timer.unref();
    };
    const loop = (): void => {
      if (stop.signal.aborted) return;
      round().then(
        (delay) => {
          backoff = base;
          schedule(delay);
        },
        (e: unknown) => {
          if (stop.signal.aborted) return;
          if (this.containers.sample().type !== 'ok') update(failed(e instanceof Error ? e : new Error(String(e))));
          schedule(backoff);
          backoff = Math.min(backoff * 2, cap);
        },
      );
    };
    loop();
    return {
      close: () => {
        stop.abort();
        if (timer !== undefined) clearTimeout(timer);
      },
    };
  }

  /** GETs `path`, failing with MESH_ERR_NAMER_UNAVAILABLE on anything but a 200 within `limitMs`. */
  private async get(path: string, accept: string, limitMs: number, stop: AbortSignal): Promise<string> {
    const abort = new AbortController();
    const onStop = (): void => abort.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    const deadline = setTimeout(() => abort.abort(new Error(`no answer within ${limitMs} ms`)), limitMs);
    try {
      const r = await this.client.request('GET', path, { headers: { ...this.headers, accept }, signal: abort.signal });
      if (r.status !== 200) throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `rancher metadata GET ${path}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
      return r.body;
    } catch (e) {
      if (e instanceof NamerError) throw e;
      // A request our deadline aborted reports the deadline, not "This operation was aborted".
      const cause = abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason : e;
      throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `rancher metadata GET ${path}: ${message(cause)}`);
    } finally {
      clearTimeout(deadline);
      stop.removeEventListener('abort', onStop);
    }
  }
}

/** `portMappings` as a name → port map; each value a port number. */
function portMappingsOf(raw: unknown, ctx: NamerContext): Record<string, number> {
  const kp = `${ctx.keyPath ?? 'namer'}.portMappings`;
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, kp, raw, 'a map of port names to port numbers, e.g. {proxy: 8080}');
  const out: Record<string, number> = {};
  for (const [name, port] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof port !== 'number' || !isPort(port)) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.${name}`, port, 'a port number 1-65535');
    out[name] = port;
  }
  return out;
}

export const rancherNamerSpec: NamerSpec = {
  category: 'namer',
  kind: KIND,
  // Experimental in Linkerd: configs say `experimental: true`, as they must there.
  experimental: true,
  fields: {
    prefix: { type: 'path', default: '/io.l5d.rancher' },
    portMappings: { type: { map: 'int' }, doc: 'Port names usable as <port>, besides http (80) and https (443).' },
    maxWait: { type: 'int', min: 0, default: DEFAULT_MAX_WAIT_S, doc: 'Seconds the metadata API may hold a version request.' },
    host: { type: 'string', default: DEFAULT_HOST, doc: 'Meshwork addition: the metadata API host (Linkerd always uses rancher-metadata).' },
    port: { type: 'int', min: 1, max: 65535, default: DEFAULT_PORT, doc: 'Meshwork addition: the metadata API port (Linkerd always uses 80).' },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, KIND, ctx);
    const kp = ctx.keyPath ?? 'namer';
    const maxWait = config['maxWait'] ?? DEFAULT_MAX_WAIT_S;
    if (typeof maxWait !== 'number' || !Number.isInteger(maxWait) || maxWait < 0) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.maxWait`, maxWait, 'a whole number of seconds >= 0');
    const host = config['host'] ?? DEFAULT_HOST;
    if (typeof host !== 'string' || host === '') throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.host`, host, 'a host name or IP address');
    const port = config['port'] ?? DEFAULT_PORT;
    if (typeof port !== 'number' || !isPort(port)) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.port`, port, 'a port number 1-65535');
    const opts: RancherNamerOptions = { connectHost: host, connectPort: port, host, portMappings: portMappingsOf(config['portMappings'], ctx), maxWaitS: maxWait };
    return { prefix, namer: new RancherNamer(prefix, opts) };
  },
};
