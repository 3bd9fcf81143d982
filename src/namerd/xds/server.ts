/**
 * `io.meshwork.xds`: namerd's dtabs over Envoy's xDS v3 API (state-of-the-world ADS,
 * `envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`), so
 * proxyless gRPC clients (`xds:///web` targets) are steered by the same dtab writes as the
 * linkers: a canary `/svc/web => 9 * /#/io.l5d.fs/web-v1 & 1 * /#/io.l5d.fs/web-v2` becomes a
 * route with weighted clusters. Resources (resources.ts): Listener (route inline), Cluster
 * (EDS), ClusterLoadAssignment. A proxyless client never asks for a RouteConfiguration, since
 * its routes travel inside its Listener; asked for anyway, none is sent.
 *
 * With `envoy` configured, an Envoy proxy is steered by the same dtabs (envoy-routes.ts): a
 * wildcard LDS subscription (a first request naming nothing, or naming `*`) gets the configured
 * HTTP listeners, whose HttpConnectionManager asks RDS for the RouteConfiguration named
 * `<namespace><prefix>` (`default/svc`); a wildcard CDS subscription gets every cluster that
 * route configuration sends to. Named and wildcard subscriptions mix on one stream: a response
 * carries what the names ask for plus, when wildcard, what the wildcard stands for.
 *
 * The protocol, per type URL on one stream: the client names the resources it wants; every
 * response carries all of them that exist (a Listener or Cluster left out does not exist), with
 * a version and a nonce. A request echoing the last nonce ACKs it (`version_info` set) or NACKs
 * it (`error_detail` set); either way a response follows only when what is wanted or what
 * exists changes. A request with an older nonce is stale and only updates nothing. Resources
 * are watched once per server however many streams want them, and dropped when none does.
 * A resource still unresolved (its namer has not answered) holds back the responses of its
 * type for at most SETTLE_MS; it is then left out until it resolves.
 *
 * Make-before-break, per stream, where an Envoy's clusters come from a wildcard CDS
 * subscription (Envoy's xDS protocol, "eventual consistency considerations": CDS, then EDS,
 * then RDS; removals last): a RouteConfiguration waits until every cluster it sends to is warm
 * on that stream (the stream ACKed a CDS response with the Cluster and an EDS response with its
 * endpoints), or for `warmMs` at most; and the wildcard CDS keeps the clusters that the stream's
 * last sent or last ACKed RouteConfiguration sends to. So a dtab write reaches an Envoy as CDS
 * (new clusters added), EDS, RDS, then, once that RDS is ACKed, CDS (old clusters removed). A
 * NACKed CDS or EDS leaves its clusters cold: the routes go out after `warmMs` all the same. A
 * NACKed RDS leaves the routes the client ACKed last in use, so their clusters stay in CDS until
 * a later RouteConfiguration is ACKed.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ActivityState, BoundName, Closable } from '../../naming/contracts.js';
import type { NameTree } from '../../naming/name-tree.js';
import { Path } from '../../naming/path.js';
import { readPath } from '../../naming/index.js';
import type { Namespaces } from '../namespaces.js';
import type { Counter, Metrics } from '../../telemetry/metrics.js';
import { grpcServer, listenGrpc, shutdownGrpc, watchLookedUp, type NamedInterfaceOptions } from '../grpc-server.js';
import { protoFile } from '../proto-file.js';
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  addrAddresses,
  clusterResource,
  clusterShares,
  endpointResource,
  envoyListenerResource,
  isBoundId,
  listenerHost,
  listenerResource,
  resourceName,
  routeConfigClusters,
  type EnvoyListener,
  type Resource,
} from './resources.js';
import { EnvoyRoutes } from './envoy-routes.js';
import { envoyListenerName } from '../../config/namerd-schema.js';

/** What namerd gives Envoy proxies (the interface's `envoy` config). */
export interface XdsEnvoyOptions {
  /** The HTTP listeners of a wildcard LDS subscription; `name` defaults to `http-<port>`, `ip` to 0.0.0.0. */
  readonly listeners: readonly { readonly name?: string; readonly ip?: string; readonly port: number }[];
  /** Service names routed besides those the dtab spells out under the prefix. */
  readonly services?: readonly string[];
}


/** Listener `web` is the name `<prefix>/web`, bound in `namespace`. */
export interface XdsServerOptions extends NamedInterfaceOptions {
  /** namerd's metrics: `xds/streams`, `xds/watches` (gauges), `xds/nacks` and `xds/responses` (counters). */
  readonly metrics?: Metrics;
  /** How often host names among a cluster's addresses are looked up again (default grpc-server's DNS_REFRESH_MS). */
  readonly dnsRefreshMs?: number;
  /** Serve Envoy proxies too: wildcard LDS and CDS, and RDS. */
  readonly envoy?: XdsEnvoyOptions;
  /** How long, at most, a stream's RouteConfiguration waits for its new clusters to warm (default SETTLE_MS). */
  readonly warmMs?: number;
}

/** The port xDS control planes commonly serve on (go-control-plane's examples). */
export const DEFAULT_XDS_PORT = 18000;

/** How long an unresolved resource may hold back its type's responses. */
export const SETTLE_MS = 5000;

/** Listeners remembered after their last watch ends (their last good value), at most. */
const REMEMBERED = 10_000;

/** The ADS service definition (also what tests build raw clients from). */
export function xdsService(): { AggregatedDiscoveryService: grpc.ServiceClientConstructor } {
  const files = ['discovery', 'listener', 'http', 'router', 'route', 'cluster', 'endpoint'].map((f) => `xds/${f}.proto`);
  const def = protoLoader.loadSync(files, { includeDirs: [protoFile('')], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } } };
  return pkg.envoy.service.discovery.v3;
}

export interface DiscoveryRequestMsg {
  version_info?: string;
  node?: { id?: string };
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface DiscoveryResponseMsg {
  version_info: string;
  resources: Resource[];
  type_url: string;
  nonce: string;
}

/**
 * One resource, watched for every stream that wants it. `value`: undefined while unresolved,
 * null when it does not exist, else the message.
 */
class Watched<T = Resource> {
  value: T | null | undefined = undefined;
  key = '';
  settled = false;
  refs = 0;
  readonly listeners = new Set<() => void>();
  private sub: Closable | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    start: (set: (v: T | null) => void) => Closable | undefined,
    private readonly onChanged: () => void,
  ) {
    this.timer = setTimeout(() => {
      if (this.settled) return;
      this.settled = true;
      this.notify();
    }, SETTLE_MS);
    this.timer.unref();
    this.sub = start((v) => this.set(v));
  }

  private set(v: T | null): void {
    const key = v === null ? '' : JSON.stringify(v);
    if (this.value !== undefined && key === this.key) return;
    this.value = v;
    this.key = key;
    this.settled = true;
    this.onChanged();
    clearTimeout(this.timer);
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  close(): void {
    clearTimeout(this.timer);
    this.sub?.close();
    this.sub = undefined;
  }
}

const TYPES = [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE] as const;

/** The types a wildcard subscription means something for (Envoy's xDS protocol: LDS and CDS). */
const WILDCARD_TYPES: readonly string[] = [LISTENER_TYPE, CLUSTER_TYPE];

/** The resource name that subscribes to a type's wildcard. */
const WILDCARD = '*';

/** The key of a stream's wildcard watch of a type, beside its per-name watches. */
const wildcardKey = (type: string): string => `${type}\n\u0000*`;

/** The state of one type URL on one stream. */
interface Subscription {
  /** The names asked for (without `*`). */
  names: Set<string>;
  /** Subscribed to the wildcard: every resource of the type this server has for Envoy. */
  wildcard: boolean;
  /** Wildcard by the legacy rule (the first request named nothing): stays so while requests name nothing. */
  legacyWildcard: boolean;
  /** The names watched now: `names` plus, when wildcard, what the wildcard stands for. */
  watched: string[];
  /** The nonce of the last response sent; requests with another one are stale. */
  nonce: string;
  /** The resources' keys in the last response, to send only what changed. */
  sentKey: string | undefined;
  /** A response is due once every wanted resource has settled. */
  due: boolean;
  /** The resources of the last response sent, and of the last one the client ACKed. */
  sent: readonly Resource[];
  acked: readonly Resource[];
}

/** One ADS stream. */
class AdsStream {
  private readonly subs = new Map<string, Subscription>();
  private readonly watchers = new Map<string, Watched>();
  /** The wildcard watch of each type subscribed to as wildcard. */
  private readonly wildcards = new Map<string, Watched<string[]>>();
  private nonces = 0;
  private closed = false;
  private scheduled = false;
  private readonly onChange = (): void => this.schedule();

  /** The stream's buffer is full: responses wait (as due) for `drained()`. */
  private blocked = false;

  /** Since when a RouteConfiguration has waited for its clusters to warm (make-before-break), and the timer ending the wait. */
  private holdingSince: number | undefined;
  private warmTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: XdsServer,
    /** Writes a response; false when the stream's buffer is full. */
    private readonly write: (r: DiscoveryResponseMsg) => boolean,
  ) {}

  /** The stream took what it had: what changed meanwhile goes out, as one response per type. */
  drained(): void {
    this.blocked = false;
    this.schedule();
  }

  onRequest(req: DiscoveryRequestMsg): void {
    if (this.closed) return;
    const type = req.type_url ?? '';
    let sub = this.subs.get(type);
    if (sub !== undefined && (req.response_nonce ?? '') !== '' && req.response_nonce !== sub.nonce) return; // stale
    if (sub !== undefined && req.response_nonce === sub.nonce && (req.error_detail === undefined || req.error_detail === null)) sub.acked = sub.sent;
    const list = req.resource_names ?? [];
    const first = sub === undefined;
    if (sub === undefined) {
      sub = { names: new Set(), wildcard: false, legacyWildcard: true, watched: [], nonce: '', sentKey: undefined, due: true, sent: [], acked: [] };
      this.subs.set(type, sub);
    }
    // Envoy's xDS protocol: a first request naming nothing subscribes to the wildcard, and so do
    // the empty requests after it; once names were sent, only `*` does.
    sub.legacyWildcard = sub.legacyWildcard && list.length === 0;
    const wildcard = WILDCARD_TYPES.includes(type) && (sub.legacyWildcard || list.includes(WILDCARD));
    const wanted = new Set(list.filter((n) => n !== WILDCARD));
    const changed = wildcard !== sub.wildcard || wanted.size !== sub.names.size || [...wanted].some((n) => !sub.names.has(n));
    if (!(TYPES as readonly string[]).includes(type)) {
      // A type this server has none of (secrets, runtime...): answered empty once.
      if (req.response_nonce === undefined || req.response_nonce === '' || changed) this.send(type, sub, []);
      sub.names = wanted;
      return;
    }
    if (wildcard !== sub.wildcard) {
      if (wildcard) this.acquireWildcard(type);
      else this.releaseWildcard(type);
    }
    sub.names = wanted;
    sub.wildcard = wildcard;
    this.reconcile(type, sub);
    // A first request, or new names, wants an answer even when nothing it names exists.
    if (first || changed || (req.response_nonce ?? '') === '') {
      sub.due = true;
      sub.sentKey = undefined;
    }
    this.schedule();
  }

  private acquire(type: string, name: string): void {
    const w = this.server.acquire(type, name);
    w.listeners.add(this.onChange);
    this.watchers.set(`${type}\n${name}`, w);
  }

  private release(type: string, name: string): void {
    const k = `${type}\n${name}`;
    const w = this.watchers.get(k);
    if (w === undefined) return;
    this.watchers.delete(k);
    w.listeners.delete(this.onChange);
    this.server.release(type, name, w);
  }

  private acquireWildcard(type: string): void {
    const w = this.server.acquireWildcard(type);
    w.listeners.add(this.onChange);
    this.wildcards.set(type, w);
  }

  private releaseWildcard(type: string): void {
    const w = this.wildcards.get(type);
    if (w === undefined) return;
    this.wildcards.delete(type);
    w.listeners.delete(this.onChange);
    this.server.releaseWildcard(type, w);
  }

  /** Watches what the subscription stands for now: its names, and what its wildcard does. */
  private reconcile(type: string, sub: Subscription): void {
    const target = new Set([...sub.names].filter((n) => this.server.mayServe(type, n)));
    if (sub.wildcard) for (const n of this.wildcards.get(type)?.value ?? []) target.add(n);
    if (sub.wildcard && type === CLUSTER_TYPE) for (const n of this.routedHere()) target.add(n);
    const before = new Set(sub.watched);
    for (const n of before) if (!target.has(n)) this.release(type, n);
    for (const n of target) if (!before.has(n)) this.acquire(type, n);
    // Names already watched keep their place: a kept cluster moving in the order is no change.
    sub.watched = [...sub.watched.filter((n) => target.has(n)), ...[...target].filter((n) => !before.has(n))];
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed) return;
    for (const [type, sub] of this.subs) {
      // A client that does not read gets no more until it does; a state-of-the-world response
      // replaces the ones before it, so only the latest is sent then.
      if (this.blocked) return;
      if (!(TYPES as readonly string[]).includes(type)) continue;
      if (sub.wildcard) {
        if (!this.wildcards.get(type)?.settled) continue;
        this.reconcile(type, sub);
      }
      const ws = sub.watched.map((n) => this.watchers.get(`${type}\n${n}`)).filter((w): w is Watched => w !== undefined);
      if (ws.some((w) => !w.settled)) continue;
      const resources = ws.filter((w) => w.value !== undefined && w.value !== null).map((w) => w.value as Resource);
      const key = ws.map((w) => w.key).join('\n');
      if (!sub.due && key === sub.sentKey) {
        if (type === ROUTE_TYPE) this.stopHolding();
        continue;
      }
      if (type === ROUTE_TYPE && this.holdsRoutes(resources)) continue;
      sub.due = false;
      sub.sentKey = key;
      this.send(type, sub, resources);
    }
  }

  /** The clusters the RouteConfigurations this stream was sent last, or ACKed last, send to. */
  private routedHere(): Set<string> {
    const rds = this.subs.get(ROUTE_TYPE);
    const out = new Set<string>();
    for (const r of [...(rds?.sent ?? []), ...(rds?.acked ?? [])]) for (const id of routeConfigClusters(r)) out.add(id);
    return out;
  }

  /**
   * True while `routes` must wait: on a stream with a wildcard CDS subscription (an Envoy), some
   * cluster they send to is not warm here yet (its Cluster and its endpoints not both ACKed),
   * for `warmMs` at most since the wait began, so a client that never asks for the endpoints,
   * or refuses the cluster, still gets its routes.
   */
  private holdsRoutes(routes: readonly Resource[]): boolean {
    const cds = this.subs.get(CLUSTER_TYPE);
    if (cds?.wildcard !== true) return false;
    const clusters = new Set(cds.acked.map(resourceName));
    const endpoints = new Set((this.subs.get(ENDPOINT_TYPE)?.acked ?? []).map(resourceName));
    const cold = routes.some((r) => routeConfigClusters(r).some((id) => !clusters.has(id) || !endpoints.has(id)));
    this.holdingSince ??= Date.now();
    const left = this.holdingSince + this.server.warmMs - Date.now();
    if (!cold || left <= 0) {
      this.stopHolding();
      return false;
    }
    if (this.warmTimer === undefined) {
      this.warmTimer = setTimeout(() => {
        this.warmTimer = undefined;
        this.schedule();
      }, left);
      this.warmTimer.unref();
    }
    return true;
  }

  private stopHolding(): void {
    this.holdingSince = undefined;
    clearTimeout(this.warmTimer);
    this.warmTimer = undefined;
  }

  private send(type: string, sub: Subscription, resources: Resource[]): void {
    sub.nonce = String(++this.nonces);
    sub.sent = resources;
    if (!this.write({ version_info: this.server.versionOf(type), resources, type_url: type, nonce: sub.nonce })) this.blocked = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopHolding();
    for (const [type, sub] of this.subs) for (const n of sub.watched) this.release(type, n);
    for (const type of [...this.wildcards.keys()]) this.releaseWildcard(type);
    this.subs.clear();
  }
}

export class XdsServer {
  private server: grpc.Server | undefined;
  private boundPort = 0;
  private readonly watched = new Map<string, Watched>();
  /** Changes of each type's resources so far: a response's version_info. */
  private readonly versions = new Map<string, number>();
  private readonly streams = new Set<AdsStream>();
  /**
   * Each Listener's last value from a binding that succeeded, kept past its watch: a client that
   * reconnects while the name's binding fails or has not answered yet gets it back instead of
   * losing the listener (in state-of-the-world LDS, a listener left out is deleted).
   */
  private readonly lastListeners = new Map<string, Resource | null>();
  /** The Envoy listeners by name, and what Envoy is routed by; none without `envoy`. */
  private readonly envoyListeners = new Map<string, EnvoyListener>();
  private readonly envoyRoutes: EnvoyRoutes | undefined;
  /** The RouteConfiguration name Envoy listeners ask RDS for: `<namespace><prefix>`. */
  readonly routeConfigName: string;
  /** @internal How long, at most, a stream's routes wait for their new clusters to warm. */
  readonly warmMs: number;
  /** NACKs received (a client refused a response) and the last one's text. */
  nacks = 0;
  lastNack = '';
  /** Responses written so far, all streams. */
  responses = 0;
  private readonly nackCounter: Counter | undefined;
  private readonly responseCounter: Counter | undefined;

  constructor(
    private readonly namespaces: Namespaces,
    private readonly options: XdsServerOptions,
  ) {
    const m = options.metrics;
    if (m !== undefined) {
      m.gauge(['xds', 'streams'], () => this.streams.size);
      m.gauge(['xds', 'watches'], () => this.watched.size);
      this.nackCounter = m.counter(['xds', 'nacks']);
      this.responseCounter = m.counter(['xds', 'responses']);
    }
    this.routeConfigName = `${options.namespace}${options.prefix.show()}`;
    this.warmMs = options.warmMs ?? SETTLE_MS;
    const envoy = options.envoy;
    if (envoy !== undefined) {
      for (const l of envoy.listeners) {
        const name = l.name ?? envoyListenerName(l.port);
        this.envoyListeners.set(name, { name, ip: l.ip ?? '0.0.0.0', port: l.port });
      }
      this.envoyRoutes = new EnvoyRoutes(namespaces, {
        prefix: options.prefix,
        namespace: options.namespace,
        services: envoy.services ?? [],
        name: this.routeConfigName,
        settleMs: SETTLE_MS,
      });
    }
  }

  /**
   * @internal False for a name that can never be a resource here (any RouteConfiguration but
   * Envoy's): it is answered as not existing without a watch.
   */
  mayServe(type: string, name: string): boolean {
    return type !== ROUTE_TYPE || (this.envoyRoutes !== undefined && name === this.routeConfigName);
  }

  /** The service names Envoy is routed for now (while some stream watches Envoy's routes). */
  envoyServices(): string[] {
    return this.envoyRoutes?.names() ?? [];
  }

  async listen(): Promise<number> {
    const svc = xdsService();
    const server = grpcServer({}, this.options.keepalive);
    server.addService(svc.AggregatedDiscoveryService.service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequestMsg, DiscoveryResponseMsg>): void => this.stream(call),
    });
    this.server = server;
    this.boundPort = await listenGrpc(server, this.options.ip, this.options.port, this.options.tls, 'io.meshwork.xds');
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Resources watched now (each once, however many streams want it). */
  watches(): number {
    return this.watched.size;
  }

  /** @internal */
  versionOf(type: string): string {
    return String(this.versions.get(type) ?? 0);
  }

  private stream(call: grpc.ServerDuplexStream<DiscoveryRequestMsg, DiscoveryResponseMsg>): void {
    const s = new AdsStream(this, (r) => {
      if (call.destroyed || call.writableEnded) return true;
      this.responses++;
      this.responseCounter?.incr();
      return call.write(r);
    });
    this.streams.add(s);
    call.on('drain', () => s.drained());
    const stop = (): void => {
      this.streams.delete(s);
      s.close();
    };
    call.on('data', (req: DiscoveryRequestMsg) => {
      if (req.error_detail !== undefined && req.error_detail !== null) {
        this.nacks++;
        this.nackCounter?.incr();
        this.lastNack = `${req.type_url ?? ''} version ${req.version_info ?? ''}: ${req.error_detail.message ?? ''}`;
      }
      s.onRequest(req);
    });
    call.on('end', () => {
      stop();
      call.end();
    });
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  }

  /** @internal The shared watch of one resource. */
  acquire(type: string, name: string): Watched {
    const k = `${type}\n${name}`;
    let w = this.watched.get(k);
    if (w === undefined) {
      w = new Watched(
        (set) => this.start(type, name, set),
        () => this.versions.set(type, (this.versions.get(type) ?? 0) + 1),
      );
      this.watched.set(k, w);
    }
    w.refs++;
    return w;
  }

  /** @internal */
  release(type: string, name: string, w: Watched): void {
    if (--w.refs > 0) return;
    this.watched.delete(`${type}\n${name}`);
    w.close();
  }

  /** @internal The shared watch of what a type's wildcard stands for: the names of its resources. */
  acquireWildcard(type: string): Watched<string[]> {
    const k = wildcardKey(type);
    let w = this.watched.get(k) as Watched<string[]> | undefined;
    if (w === undefined) {
      w = new Watched<string[]>(
        (set) => this.startWildcard(type, set),
        () => this.versions.set(type, (this.versions.get(type) ?? 0) + 1),
      );
      this.watched.set(k, w as unknown as Watched);
    }
    w.refs++;
    return w;
  }

  /** @internal */
  releaseWildcard(type: string, w: Watched<string[]>): void {
    if (--w.refs > 0) return;
    this.watched.delete(wildcardKey(type));
    w.close();
  }

  private startWildcard(type: string, set: (names: string[]) => void): Closable | undefined {
    if (type === LISTENER_TYPE) {
      set([...this.envoyListeners.keys()]);
      return undefined;
    }
    // CLUSTER_TYPE: the clusters Envoy's routes send to, as they change.
    if (this.envoyRoutes === undefined) {
      set([]);
      return undefined;
    }
    return this.envoyRoutes.subscribe((s) => set([...s.clusters]));
  }

  private start(type: string, name: string, set: (v: Resource | null) => void): Closable | undefined {
    if (type === LISTENER_TYPE) {
      // An Envoy listener's name is reserved for it, asked for by name or by wildcard.
      const envoyListener = this.envoyListeners.get(name);
      if (envoyListener !== undefined) {
        set(envoyListenerResource(envoyListener, this.routeConfigName));
        return undefined;
      }
      const host = listenerHost(name);
      if (host === '') {
        set(null);
        return undefined;
      }
      const path = this.options.prefix.concat(Path.utf8(host));
      let resolved = false;
      const sub = this.namespaces.bind(this.options.namespace, path).states.observe((st: ActivityState<NameTree<BoundName>>) => {
        // A failed binding keeps what clients have (as linkers keep routing on the last state).
        if (st.type !== 'ok') return;
        resolved = true;
        const v = listenerResource(name, clusterShares(st.value));
        this.lastListeners.delete(name);
        if (this.lastListeners.size >= REMEMBERED) this.lastListeners.delete(this.lastListeners.keys().next().value!);
        this.lastListeners.set(name, v);
        set(v);
      });
      // Not answered at once: what this name had before, if it had anything.
      const last = this.lastListeners.get(name);
      if (!resolved && last !== undefined && last !== null) set(last);
      return sub;
    }
    if (type === ROUTE_TYPE) {
      if (this.envoyRoutes === undefined || name !== this.routeConfigName) {
        set(null);
        return undefined;
      }
      return this.envoyRoutes.subscribe((s) => set(s.route));
    }
    if (type === CLUSTER_TYPE) {
      set(isBoundId(name) ? clusterResource(name) : null);
      return undefined;
    }
    // ENDPOINT_TYPE
    let id: Path;
    try {
      if (!isBoundId(name)) throw new Error('not a bound id');
      id = readPath(name);
    } catch {
      set(null);
      return undefined;
    }
    return watchLookedUp(
      this.namespaces.addrOf(id),
      (a) => {
        const addrs = addrAddresses(a);
        if (addrs !== null) set(endpointResource(name, addrs));
      },
      this.options.dnsRefreshMs,
    );
  }

  async close(graceMs = 1000): Promise<void> {
    for (const s of [...this.streams]) s.close();
    this.streams.clear();
    for (const w of this.watched.values()) w.close();
    this.watched.clear();
    this.envoyRoutes?.close();
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await shutdownGrpc(s, graceMs);
  }
}
