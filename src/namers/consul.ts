/**
 * io.l5d.consul: `/<datacenter>/<service>[/residual]`, or `/<datacenter>/<tag>/<service>` with
 * `includeTag`. Each (dc, tag, service) is watched with Consul blocking queries on
 * /v1/catalog/service/<svc> (or /v1/health/service/<svc> with `useHealthCheck`, filtered by
 * `healthStatuses`) while observed: `?index=<X-Consul-Index>&wait=`; an index that goes
 * backwards (Consul restored / new leader) resets to 0. No instances -> Neg. Errors back off
 * and retry; the last good answer is kept (failFast: fail the Addr at once instead).
 *
 * As in Linkerd: every address carries `endpoint_addr_weight`, the highest `weights` entry among
 * its service tags (1 when none match). The datacenter `.local` and `setHost` read the local
 * agent's /v1/agent/self once per namer (retried while it answers 5xx or cannot be reached; the
 * name stays pending meanwhile): `.local` becomes the agent's datacenter, and `setHost` puts
 * `authority` = `[<tag>.]<service>.service.<dc>.<domain>` in the Addr's metadata.
 * `transferMetadata` adds the first instance's service Meta to the Addr's metadata and each
 * node's Meta to its address's, after (so over) the namer's own keys, as Linkerd merges them.
 */
import { Activity } from '../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../naming/addr.js';
import { addrEquals, boundName } from '../naming/bound.js';
import type { Name } from '../naming/contracts.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { AsyncVar } from '../naming/var.js';
import type { ConnectionOptions } from 'node:tls';
import { HttpClient } from '../namerd/stores/http-client.js';
import { NamerError, namerConfigError } from './errors.js';
import { namerTlsFields } from '../config/router-fields.js';
import { WEIGHT_KEY } from './fs.js';
import { addrLeaf, configuredPrefix, namerTls, type NamerContext, type NamerSpec } from './spec.js';

type Meta = Readonly<Record<string, unknown>>;
const EMPTY_META: Meta = Object.freeze({});
/** An address's metadata when no tag weight applies and no node Meta is carried. */
const DEFAULT_WEIGHT_META: Meta = Object.freeze({ [WEIGHT_KEY]: 1 });
/** Linkerd's moniker for the datacenter of the agent the namer talks to. */
const LOCAL_DC = '.local';
/** Consul's blocking wait; the request timeout is above it. */
const WAIT = '30s';
const BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5000;

export interface ConsulNamerOptions {
  readonly host: string;
  readonly port: number;
  readonly token?: string;
  readonly includeTag: boolean;
  readonly useHealthCheck: boolean;
  readonly healthStatuses: readonly string[];
  readonly consistencyMode: 'default' | 'stale' | 'consistent';
  readonly failFast: boolean;
  readonly preferServiceAddress: boolean;
  /** HTTPS to Consul (the namer's `tls` block); absent: plain HTTP. */
  readonly tls?: ConnectionOptions;
  /** Tag weights (Linkerd's `weights`); a later entry for the same tag wins. */
  readonly weights?: readonly TagWeight[];
  /** Put `authority` (the service's Consul DNS name) in every bound Addr's metadata. */
  readonly setHost?: boolean;
  /** Carry Consul's service Meta (Addr level) and node Meta (per address) over. */
  readonly transferMetadata?: boolean;
}

export interface TagWeight {
  readonly tag: string;
  readonly weight: number;
}

/** What the namer reads from /v1/agent/self. */
export interface LocalAgent {
  readonly datacenter: string | undefined;
  /** Config.Domain without its leading and trailing dot; `consul` when the agent names none. */
  readonly domain: string;
}

interface CatalogEntry {
  Address?: string;
  ServiceAddress?: string;
  ServicePort?: number;
  ServiceTags?: string[] | null;
  ServiceMeta?: Record<string, unknown> | null;
  NodeMeta?: Record<string, unknown> | null;
}
interface HealthEntry {
  Node?: { Address?: string; Meta?: Record<string, unknown> | null };
  Service?: { Address?: string; Port?: number; Tags?: string[] | null; Meta?: Record<string, unknown> | null };
  Checks?: { Status?: string }[];
}

/** A failed /v1/agent/self read; `retryable` as Linkerd's infinite retry filter decides (5xx, I/O). */
class AgentError extends NamerError {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super('MESH_ERR_NAMER_UNAVAILABLE', message);
  }
}

/** Consul Meta is string to string; anything else in it is dropped. Undefined when empty. */
function stringMeta(m: Record<string, unknown> | null | undefined): Record<string, string> | undefined {
  if (m === null || m === undefined || typeof m !== 'object') return undefined;
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(m)) if (typeof v === 'string') (out ??= {})[k] = v;
  return out;
}

export class ConsulNamer {
  readonly client: HttpClient;
  private readonly vars = new Map<string, AsyncVar<Addr>>();
  private readonly headers: Record<string, string>;
  private readonly weights: ReadonlyMap<string, number>;
  /** The agent's answer, kept once read: its datacenter and domain do not change while it runs. */
  private agent: LocalAgent | undefined;

  constructor(
    readonly prefix: Path,
    readonly opts: ConsulNamerOptions,
  ) {
    this.client = new HttpClient(opts.host, opts.port, opts.tls);
    this.headers = opts.token ? { 'x-consul-token': opts.token } : {};
    this.weights = new Map((opts.weights ?? []).map((w) => [w.tag, w.weight]));
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    const n = this.opts.includeTag ? 3 : 2;
    if (path.size < n) return Activity.value<NameTree<Name>>(NEG);
    const elems = path.utf8Elems;
    const dc = elems[0]!;
    const tag = this.opts.includeTag ? elems[1]! : undefined;
    const service = elems[n - 1]!;
    const v = this.addr(dc, tag, service);
    const bound = boundName(this.prefix.concat(path.take(n)), v, path.drop(n));
    return addrLeaf(bound);
  }

  /** The query path for one blocking read after `index`. */
  queryPath(dc: string, tag: string | undefined, service: string, index: number): string {
    const base = this.opts.useHealthCheck ? '/v1/health/service/' : '/v1/catalog/service/';
    let q = `?dc=${encodeURIComponent(dc)}`;
    if (tag !== undefined) q += `&tag=${encodeURIComponent(tag)}`;
    if (this.opts.useHealthCheck && this.opts.healthStatuses.length === 1 && this.opts.healthStatuses[0] === 'passing') q += '&passing';
    if (this.opts.consistencyMode !== 'default') q += `&${this.opts.consistencyMode}`;
    if (index > 0) q += `&index=${index}&wait=${WAIT}`;
    return base + encodeURIComponent(service) + q;
  }

  /**
   * Linkerd's `setHost` authority: the service's Consul DNS name, `<tag>.` first with
   * `includeTag`; service and tag in lower case, as Linkerd reads them from the path.
   */
  static authority(tag: string | undefined, service: string, dc: string, domain: string): string {
    const name = `${service.toLowerCase()}.service.${dc}.${domain}`;
    return tag === undefined ? name : `${tag.toLowerCase()}.${name}`;
  }

  /** The highest configured weight among `tags`; 1 when none is configured. */
  weightOf(tags: readonly string[] | null | undefined): number {
    if (this.weights.size === 0 || !tags) return 1;
    let best: number | undefined;
    for (const t of tags) {
      const w = this.weights.get(t);
      if (w !== undefined && (best === undefined || w > best)) best = w;
    }
    return best ?? 1;
  }

  private addressMeta(tags: readonly string[] | null | undefined, nodeMeta: Record<string, unknown> | null | undefined): Meta {
    const w = this.weightOf(tags);
    const node = this.opts.transferMetadata ? stringMeta(nodeMeta) : undefined;
    if (node === undefined) return w === 1 ? DEFAULT_WEIGHT_META : { [WEIGHT_KEY]: w };
    return { [WEIGHT_KEY]: w, ...node };
  }

  /** One catalog or health answer as an Addr; `base` is the Addr metadata (`authority`). */
  toAddr(body: string, base: Meta = EMPTY_META): Addr {
    const list = JSON.parse(body) as unknown[];
    const out: Address[] = [];
    // Linkerd takes the service Meta of the first instance: a service's instances are
    // expected to share it.
    let service: Record<string, string> | undefined;
    let first = true;
    for (const raw of list) {
      if (this.opts.useHealthCheck) {
        const e = raw as HealthEntry;
        const statuses = (e.Checks ?? []).map((c) => c.Status ?? 'passing');
        // The worst check decides, as Consul's own aggregate status does.
        const worst = statuses.includes('critical') ? 'critical' : statuses.includes('maintenance') ? 'maintenance' : statuses.includes('warning') ? 'warning' : 'passing';
        if (!this.opts.healthStatuses.includes(worst)) continue;
        if (first && this.opts.transferMetadata) service = stringMeta(e.Service?.Meta);
        first = false;
        const sa = e.Service?.Address ?? '';
        const host = this.opts.preferServiceAddress && sa !== '' ? sa : (e.Node?.Address ?? sa);
        if (host && e.Service?.Port) out.push({ host, port: e.Service.Port, meta: this.addressMeta(e.Service.Tags, e.Node?.Meta) });
      } else {
        const e = raw as CatalogEntry;
        if (first && this.opts.transferMetadata) service = stringMeta(e.ServiceMeta);
        first = false;
        const sa = e.ServiceAddress ?? '';
        const host = this.opts.preferServiceAddress && sa !== '' ? sa : (e.Address ?? sa);
        if (host && e.ServicePort) out.push({ host, port: e.ServicePort, meta: this.addressMeta(e.ServiceTags, e.NodeMeta) });
      }
    }
    if (list.length === 0) return ADDR_NEG;
    out.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
    return { type: 'bound', addrs: out, meta: service === undefined ? base : { ...base, ...service } };
  }

  /** Reads /v1/agent/self once; later calls answer from the first success. */
  async localAgent(signal?: AbortSignal): Promise<LocalAgent> {
    if (this.agent) return this.agent;
    let r;
    try {
      r = await this.client.request('GET', '/v1/agent/self', signal ? { headers: this.headers, signal } : { headers: this.headers });
    } catch (e) {
      throw new AgentError(`consul agent at ${this.opts.host}:${this.opts.port}: ${(e as Error).message}`, true);
    }
    if (r.status !== 200) throw new AgentError(`consul agent at ${this.opts.host}:${this.opts.port}: /v1/agent/self HTTP ${r.status} ${r.body.slice(0, 200)}`, r.status >= 500);
    let config: { Domain?: unknown; Datacenter?: unknown } | undefined;
    let debug: { DNSDomain?: unknown } | undefined;
    try {
      const self = JSON.parse(r.body) as { Config?: { Domain?: unknown; Datacenter?: unknown }; DebugConfig?: { DNSDomain?: unknown } } | null;
      config = self?.Config;
      debug = self?.DebugConfig;
    } catch (e) {
      throw new AgentError(`consul agent at ${this.opts.host}:${this.opts.port}: /v1/agent/self: ${(e as Error).message}`, false);
    }
    // Consul 0.x agents report Config.Domain (what Linkerd reads); 1.x agents report it only as
    // DebugConfig.DNSDomain, so a custom domain is taken from there when Config has none.
    const domain = typeof config?.Domain === 'string' ? config.Domain : typeof debug?.DNSDomain === 'string' && debug.DNSDomain !== '' ? debug.DNSDomain : 'consul';
    this.agent = {
      datacenter: typeof config?.Datacenter === 'string' ? config.Datacenter : undefined,
      // Only one dot comes off each end, as in Linkerd (`consul.` is Consul's default).
      domain: domain.replace(/^\./, '').replace(/\.$/, ''),
    };
    return this.agent;
  }

  addr(dc: string, tag: string | undefined, service: string): AsyncVar<Addr> {
    const key = `${dc}\u0000${tag ?? ''}\u0000${service}`;
    let v = this.vars.get(key);
    if (!v) {
      v = new AsyncVar<Addr>(
        ADDR_PENDING,
        (update) => {
          const abort = new AbortController();
          let index = 0;
          let backoff = BACKOFF_MS;
          let timer: NodeJS.Timeout | undefined;
          let good = false;
          const later = (f: () => void): void => {
            timer = setTimeout(f, backoff);
            timer.unref();
            backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          };
          const watch = (qdc: string, base: Meta): void => {
            const loop = (): void => {
              if (abort.signal.aborted) return;
              this.client.request('GET', this.queryPath(qdc, tag, service, index), { headers: this.headers, signal: abort.signal }).then(
                (r) => {
                  if (abort.signal.aborted) return;
                  if (r.status !== 200) throw new NamerError('MESH_ERR_NAMER_CONFIG', `consul ${service}@${qdc}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
                  const next = Number(r.headers['x-consul-index'] ?? '0');
                  // An index that goes backwards means Consul's state was reset: start over.
                  index = Number.isFinite(next) && next > 0 && next >= index ? next : 0;
                  update(this.toAddr(r.body, base));
                  good = true;
                  backoff = BACKOFF_MS;
                  loop();
                },
              ).catch((e: unknown) => {
                if (abort.signal.aborted) return;
                if (!good || this.opts.failFast) update({ type: 'failed', cause: e instanceof Error ? e : new Error(String(e)) });
                index = 0;
                later(loop);
              });
            };
            loop();
          };
          const setHost = this.opts.setHost === true;
          if (!setHost && dc !== LOCAL_DC) {
            watch(dc, EMPTY_META);
          } else {
            // The agent's datacenter and domain first; the name stays pending meanwhile.
            const resolve = (): void => {
              if (abort.signal.aborted) return;
              this.localAgent(abort.signal).then(
                (agent) => {
                  if (abort.signal.aborted) return;
                  const qdc = dc === LOCAL_DC ? (agent.datacenter ?? dc) : dc;
                  backoff = BACKOFF_MS;
                  watch(qdc, setHost ? Object.freeze({ authority: ConsulNamer.authority(tag, service, qdc, agent.domain) }) : EMPTY_META);
                },
                (e: unknown) => {
                  if (abort.signal.aborted) return;
                  if (e instanceof AgentError && e.retryable) return later(resolve);
                  update({ type: 'failed', cause: e instanceof Error ? e : new Error(String(e)) });
                },
              );
            };
            resolve();
          }
          return {
            close: () => {
              abort.abort();
              if (timer) clearTimeout(timer);
            },
          };
        },
        addrEquals,
      );
      this.vars.set(key, v);
    }
    return v;
  }
}

export const consulNamerSpec: NamerSpec = {
  category: 'namer',
  kind: 'io.l5d.consul',
  fields: {
    prefix: { type: 'path', default: '/io.l5d.consul' },
    host: { type: 'string', default: 'localhost' },
    port: { type: 'int', min: 1, max: 65535, default: 8500 },
    token: { type: 'string' },
    includeTag: { type: 'boolean', default: false },
    useHealthCheck: { type: 'boolean', default: false },
    healthStatuses: { type: { array: { enum: ['passing', 'warning', 'critical', 'maintenance'] } }, default: ['passing'] },
    consistencyMode: { type: { enum: ['default', 'stale', 'consistent'] }, default: 'default' },
    failFast: { type: 'boolean', default: false },
    preferServiceAddress: { type: 'boolean', default: true },
    setHost: { type: 'boolean', default: false },
    weights: { type: { array: { object: { tag: { type: 'string', required: true }, weight: { type: 'number', required: true, min: 0 } } } } },
    fixedLengthStreamedAfterKB: { type: 'int', min: 0, default: 5120 },
    tls: { type: { object: namerTlsFields } },
    transferMetadata: { type: 'boolean', default: false },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, 'io.l5d.consul', ctx);
    const str = (k: string, d: string): string => (typeof config[k] === 'string' ? (config[k] as string) : d);
    const bool = (k: string, d: boolean): boolean => (typeof config[k] === 'boolean' ? (config[k] as boolean) : d);
    const opts: ConsulNamerOptions = {
      host: str('host', 'localhost'),
      port: typeof config['port'] === 'number' ? config['port'] : 8500,
      ...(typeof config['token'] === 'string' ? { token: config['token'] } : {}),
      includeTag: bool('includeTag', false),
      useHealthCheck: bool('useHealthCheck', false),
      healthStatuses: Array.isArray(config['healthStatuses']) ? (config['healthStatuses'] as string[]) : ['passing'],
      consistencyMode: str('consistencyMode', 'default') as ConsulNamerOptions['consistencyMode'],
      failFast: bool('failFast', false),
      preferServiceAddress: bool('preferServiceAddress', true),
      setHost: bool('setHost', false),
      transferMetadata: bool('transferMetadata', false),
      ...(config['weights'] === undefined || config['weights'] === null ? {} : { weights: tagWeights(config['weights'], ctx) }),
    };
    const tls = namerTls(config, ctx);
    return { prefix, namer: new ConsulNamer(prefix, tls === undefined ? opts : { ...opts, tls }) };
  },
};

/** `weights:` as a list of {tag, weight}; anything else names the key and what it holds. */
function tagWeights(raw: unknown, ctx: NamerContext): TagWeight[] {
  const kp = `${ctx.keyPath ?? 'namer'}.weights`;
  if (!Array.isArray(raw)) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, kp, raw, 'a list of {tag, weight}');
  return raw.map((e: unknown, i) => {
    const o = (e ?? {}) as { tag?: unknown; weight?: unknown };
    if (typeof o.tag !== 'string') throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}[${i}].tag`, o.tag, 'a tag (string)');
    if (typeof o.weight !== 'number' || !Number.isFinite(o.weight) || o.weight < 0) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}[${i}].weight`, o.weight, 'a number >= 0');
    return { tag: o.tag, weight: o.weight };
  });
}
