/**
 * What namerd tells an Envoy proxy (the `envoy` config of `io.meshwork.xds`): the service names
 * it routes and where each one goes. The names are the configured `services` plus every name
 * the namespace's dtab spells out under the prefix (`/svc/web => ...`), so a dtab write adding
 * `/svc/new` adds its virtual host; each name `<prefix>/<name>` is bound in the namespace and
 * followed, and the whole becomes one RouteConfiguration and the set of clusters it sends to.
 * One EnvoyRoutes per xDS server, started by its first subscriber and stopped by its last.
 */
import type { ActivityState, BoundName, Closable } from '../../naming/contracts.js';
import type { Dtab } from '../../naming/dtab.js';
import type { NameTree } from '../../naming/name-tree.js';
import { Path } from '../../naming/path.js';
import type { Namespaces } from '../namespaces.js';
import { clusterShares, dtabServiceNames, envoyServiceNames, routeConfigClusters, routeConfigResource, type Resource, type ServiceRoute } from './resources.js';

export interface EnvoyRoutesState {
  /** The RouteConfiguration. */
  readonly route: Resource;
  /** The clusters it routes to, sorted (what a wildcard CDS subscription gets). */
  readonly clusters: readonly string[];
}

export interface EnvoyRoutesOptions {
  readonly prefix: Path;
  readonly namespace: string;
  /** Names routed whether the dtab names them or not (the config's `envoy.services`). */
  readonly services: readonly string[];
  /** The RouteConfiguration's name. */
  readonly name: string;
  /** How long a new name still unresolved holds back the next state. */
  readonly settleMs: number;
}

interface Service {
  /** undefined until its binding first succeeds; a later failed binding keeps the last one. */
  shares: ServiceRoute | undefined;
  readonly since: number;
  sub: Closable | undefined;
}

export class EnvoyRoutes {
  private readonly subscribers = new Set<(s: EnvoyRoutesState) => void>();
  private readonly services = new Map<string, Service>();
  private dtabSub: Closable | undefined;
  /** The dtab has answered: the names are known. */
  private known = false;
  private updating = false;
  private timer: NodeJS.Timeout | undefined;
  private state: EnvoyRoutesState | undefined;
  private stateKey = '';

  constructor(
    private readonly namespaces: Namespaces,
    private readonly options: EnvoyRoutesOptions,
  ) {}

  /** Calls `fn` with the current state (if there is one yet) and with each new one. */
  subscribe(fn: (s: EnvoyRoutesState) => void): Closable {
    this.subscribers.add(fn);
    if (this.subscribers.size === 1 && this.dtabSub === undefined) this.start();
    if (this.state !== undefined) fn(this.state);
    return {
      close: () => {
        if (!this.subscribers.delete(fn)) return;
        if (this.subscribers.size === 0) this.stop();
      },
    };
  }

  /** The names routed now (for tests and the admin). */
  names(): string[] {
    return [...this.services.keys()].sort();
  }

  private start(): void {
    this.dtabSub = this.namespaces.dtab(this.options.namespace).states.observe((st: ActivityState<Dtab>) => {
      // A store that fails keeps the names it gave last.
      if (st.type !== 'ok') return;
      this.known = true;
      this.setNames(envoyServiceNames(this.options.services, dtabServiceNames(st.value, this.options.prefix)));
    });
  }

  private setNames(names: readonly string[]): void {
    const wanted = new Set(names);
    this.updating = true;
    for (const [n, s] of this.services) {
      if (wanted.has(n)) continue;
      this.services.delete(n);
      s.sub?.close();
    }
    for (const n of names) {
      if (this.services.has(n)) continue;
      const s: Service = { shares: undefined, since: Date.now(), sub: undefined };
      this.services.set(n, s);
      s.sub = this.namespaces.bind(this.options.namespace, this.options.prefix.concat(Path.utf8(n))).states.observe((st: ActivityState<NameTree<BoundName>>) => {
        if (st.type !== 'ok' || this.services.get(n) !== s) return;
        s.shares = clusterShares(st.value);
        this.publish();
      });
    }
    this.updating = false;
    this.publish();
  }

  private publish(): void {
    if (this.updating || !this.known) return;
    const now = Date.now();
    let wait = Infinity;
    for (const s of this.services.values()) {
      const left = s.since + this.options.settleMs - now;
      if (s.shares === undefined && left > 0) wait = Math.min(wait, left);
    }
    if (wait !== Infinity) {
      // A name just added that has not resolved: its routes are worth a short wait.
      if (this.timer === undefined) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.publish();
        }, wait);
        this.timer.unref();
      }
      return;
    }
    const routes = new Map<string, ServiceRoute>();
    for (const [n, s] of this.services) if (s.shares !== undefined) routes.set(n, s.shares);
    const { prefix, namespace } = this.options;
    const route = routeConfigResource(this.options.name, routes, (n) => `${prefix.concat(Path.utf8(n)).show()} binds to no cluster in namerd namespace ${namespace}\n`);
    const clusters = routeConfigClusters(route);
    const key = JSON.stringify([route, clusters]);
    if (this.state !== undefined && key === this.stateKey) return;
    this.state = { route, clusters };
    this.stateKey = key;
    for (const fn of [...this.subscribers]) fn(this.state);
  }

  private stop(): void {
    this.dtabSub?.close();
    this.dtabSub = undefined;
    for (const s of this.services.values()) s.sub?.close();
    this.services.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.known = false;
    this.state = undefined;
    this.stateKey = '';
  }

  close(): void {
    this.subscribers.clear();
    this.stop();
  }
}
