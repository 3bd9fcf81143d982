/**
 * io.l5d.consul: `/<datacenter>/<service>[/residual]`, or `/<datacenter>/<tag>/<service>` with
 * `includeTag`. Each (dc, tag, service) is watched with Consul blocking queries on
 * /v1/catalog/service/<svc> (or /v1/health/service/<svc> with `useHealthCheck`, filtered by
 * `healthStatuses`) while observed: `?index=<X-Consul-Index>&wait=`; an index that goes
 * backwards (Consul restored / new leader) resets to 0. No instances -> Neg. Errors back off
 * and retry; the last good answer is kept (failFast: fail the Addr at once instead).
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
import { NamerError } from './errors.js';
import { namerTlsFields } from '../config/router-fields.js';
import { addrLeaf, configuredPrefix, namerTls, type NamerSpec } from './spec.js';

const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});
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
}

interface CatalogEntry {
  Address?: string;
  ServiceAddress?: string;
  ServicePort?: number;
}
interface HealthEntry {
  Node?: { Address?: string };
  Service?: { Address?: string; Port?: number };
  Checks?: { Status?: string }[];
}

export class ConsulNamer {
  readonly client: HttpClient;
  private readonly vars = new Map<string, AsyncVar<Addr>>();
  private readonly headers: Record<string, string>;

  constructor(
    readonly prefix: Path,
    readonly opts: ConsulNamerOptions,
  ) {
    this.client = new HttpClient(opts.host, opts.port, opts.tls);
    this.headers = opts.token ? { 'x-consul-token': opts.token } : {};
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

  toAddr(body: string): Addr {
    const list = JSON.parse(body) as unknown[];
    const out: Address[] = [];
    for (const raw of list) {
      if (this.opts.useHealthCheck) {
        const e = raw as HealthEntry;
        const statuses = (e.Checks ?? []).map((c) => c.Status ?? 'passing');
        // The worst check decides, as Consul's own aggregate status does.
        const worst = statuses.includes('critical') ? 'critical' : statuses.includes('maintenance') ? 'maintenance' : statuses.includes('warning') ? 'warning' : 'passing';
        if (!this.opts.healthStatuses.includes(worst)) continue;
        const sa = e.Service?.Address ?? '';
        const host = this.opts.preferServiceAddress && sa !== '' ? sa : (e.Node?.Address ?? sa);
        if (host && e.Service?.Port) out.push({ host, port: e.Service.Port, meta: EMPTY_META });
      } else {
        const e = raw as CatalogEntry;
        const sa = e.ServiceAddress ?? '';
        const host = this.opts.preferServiceAddress && sa !== '' ? sa : (e.Address ?? sa);
        if (host && e.ServicePort) out.push({ host, port: e.ServicePort, meta: EMPTY_META });
      }
    }
    if (list.length === 0) return ADDR_NEG;
    out.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
    return { type: 'bound', addrs: out, meta: EMPTY_META };
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
          const loop = (): void => {
            if (abort.signal.aborted) return;
            this.client.request('GET', this.queryPath(dc, tag, service, index), { headers: this.headers, signal: abort.signal }).then(
              (r) => {
                if (abort.signal.aborted) return;
                if (r.status !== 200) throw new NamerError('MESH_ERR_NAMER_CONFIG', `consul ${service}@${dc}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
                const next = Number(r.headers['x-consul-index'] ?? '0');
                // An index that goes backwards means Consul's state was reset: start over.
                index = Number.isFinite(next) && next > 0 && next >= index ? next : 0;
                update(this.toAddr(r.body));
                good = true;
                backoff = BACKOFF_MS;
                loop();
              },
            ).catch((e: unknown) => {
              if (abort.signal.aborted) return;
              if (!good || this.opts.failFast) update({ type: 'failed', cause: e instanceof Error ? e : new Error(String(e)) });
              index = 0;
              timer = setTimeout(loop, backoff);
              timer.unref();
              backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
            });
          };
          loop();
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
    setHost: { type: 'boolean', default: false, notSupported: true },
    weights: { type: { array: { object: { tag: { type: 'string', required: true }, weight: { type: 'number', required: true, min: 0 } } } }, notSupported: true },
    fixedLengthStreamedAfterKB: { type: 'int', min: 0, default: 5120 },
    tls: { type: { object: namerTlsFields } },
    transferMetadata: { type: 'boolean', default: false, notSupported: true },
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
    };
    const tls = namerTls(config, ctx);
    return { prefix, namer: new ConsulNamer(prefix, tls === undefined ? opts : { ...opts, tls }) };
  },
};
