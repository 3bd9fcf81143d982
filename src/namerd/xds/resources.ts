/**
 * What namerd's dtabs look like as xDS resources (the messages of proto/xds/, as plain objects
 * for @grpc/proto-loader; an `Any` is an object with its `@type`):
 * - a Listener named after the target a client dials (`xds:///web` asks for `web`): an API
 *   listener whose HttpConnectionManager carries its route inline. `<prefix>/<name without
 *   :port>` is bound in the interface's namespace; the bound tree's leaves, with a Union's
 *   weights, become the route's cluster or weighted clusters;
 * - a Cluster per bound id (`/#/io.l5d.fs/users`, `/$/inet/127.1/9001`), of type EDS over ADS;
 * - a ClusterLoadAssignment per bound id: the id's addresses, one locality;
 * - for an Envoy proxy (the interface's `envoy` config): real Listeners with an address and one
 *   filter chain whose HttpConnectionManager fetches its routes over RDS, and that
 *   RouteConfiguration: one virtual host per service name (Linkerd's default identifier routes
 *   by Host, `/svc/<host>`), routing to the clusters `<prefix>/<name>` binds to.
 */
import type { Address, Addr } from '../../naming/addr.js';
import type { BoundName } from '../../naming/contracts.js';
import type { NameTree } from '../../naming/name-tree.js';
import { ANY_ELEM, type Dtab } from '../../naming/dtab.js';
import { type Path, utf8Text } from '../../naming/path.js';
import { simplifyTree } from '../../naming/tree-ops.js';
import { XDS_SERVICE_NAME } from '../../config/namerd-schema.js';

export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
/** The well-known names of the two filters an Envoy listener runs. */
const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
const ROUTER_FILTER = 'envoy.filters.http.router';

/** A resource message as proto-loader serialises it. */
export type Resource = Readonly<Record<string, unknown>>;

/** Integer weights of a route's clusters add up to about this. */
const WEIGHT_SCALE = 10_000;

/** The host a listener name stands for: `web:50051` -> `web`, `[::1]:80` -> `::1`. */
export function listenerHost(name: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(name);
  if (v6 !== null) return v6[1]!;
  const colon = name.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(name.slice(colon + 1)) ? name.slice(0, colon) : name;
}

/**
 * The share of requests each bound id gets under a bound tree, as Linkerd's load balancing
 * picks: an Alt's first branch that binds, a Union's branches by weight. Empty when nothing
 * binds (Neg, Fail, Empty, or only zero weights).
 */
export function clusterShares(tree: NameTree<BoundName>): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (t: NameTree<BoundName>, share: number, depth: number): void => {
    if (depth > 100 || share <= 0) return;
    switch (t.type) {
      case 'leaf': {
        const id = t.value.id.show();
        out.set(id, (out.get(id) ?? 0) + share);
        return;
      }
      case 'alt':
        if (t.trees.length > 0) walk(t.trees[0]!, share, depth + 1);
        return;
      case 'union': {
        let total = 0;
        for (const w of t.trees) if (w.weight > 0) total += w.weight;
        if (total <= 0) return;
        for (const w of t.trees) if (w.weight > 0) walk(w.tree, (share * w.weight) / total, depth + 1);
        return;
      }
      default:
        return;
    }
  };
  walk(simplifyTree(tree), 1, 0);
  return out;
}

/** The Listener for `name` routing by `shares` (clusterShares), or null when there is nowhere to route. */
export function listenerResource(name: string, shares: ReadonlyMap<string, number>): Resource | null {
  if (shares.size === 0) return null;
  const action = routeAction(shares);
  return {
    '@type': LISTENER_TYPE,
    name,
    api_listener: {
      api_listener: {
        '@type': HCM_TYPE,
        stat_prefix: name,
        route_config: {
          name,
          virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '' }, route: action }] }],
        },
        http_filters: [{ name: ROUTER_FILTER, typed_config: { '@type': ROUTER_TYPE } }],
      },
    },
  };
}

/** A RouteAction to the clusters of `shares` (not empty): one cluster, or weighted clusters (ids sorted). */
function routeAction(shares: ReadonlyMap<string, number>): Resource {
  const ids = [...shares.keys()].sort();
  return ids.length === 1
    ? { cluster: ids[0]! }
    : { weighted_clusters: { clusters: ids.map((id) => ({ name: id, weight: { value: Math.max(1, Math.round(shares.get(id)! * WEIGHT_SCALE)) } })) } };
}

/** An HTTP listener namerd gives Envoy (the interface's `envoy.listeners`). */
export interface EnvoyListener {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
}

/** An Envoy Listener: `ip:port`, one filter chain, HTTP routed by the RouteConfiguration `routeConfig` over ADS. */
export function envoyListenerResource(l: EnvoyListener, routeConfig: string): Resource {
  return {
    '@type': LISTENER_TYPE,
    name: l.name,
    address: { socket_address: { address: l.ip, port_value: l.port } },
    filter_chains: [
      {
        filters: [
          {
            name: HCM_FILTER,
            typed_config: {
              '@type': HCM_TYPE,
              stat_prefix: l.name,
              rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: routeConfig },
              http_filters: [{ name: ROUTER_FILTER, typed_config: { '@type': ROUTER_TYPE } }],
            },
          },
        ],
      },
    ],
  };
}

/**
 * The service names under `prefix` that `dtab` names literally: the dentries whose prefix is
 * `prefix` plus exactly one element, no wildcard, usable as a host name (XDS_SERVICE_NAME).
 */
export function dtabServiceNames(dtab: Dtab, prefix: Path): string[] {
  const out: string[] = [];
  for (const d of dtab.dentries) {
    const e = d.prefix.elems;
    if (e.length !== prefix.size + 1) continue;
    if (!prefix.elems.every((p, i) => e[i] === p)) continue;
    const last = e[e.length - 1]!;
    if (last === ANY_ELEM) continue;
    const name = utf8Text(last);
    if (XDS_SERVICE_NAME.test(name)) out.push(name);
  }
  return out;
}

/**
 * The service names Envoy gets virtual hosts for: sorted, each once, and once per spelling
 * that differs only in case (Envoy matches domains without case and refuses duplicates).
 */
export function envoyServiceNames(configured: readonly string[], fromDtab: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const n of [...new Set([...configured, ...fromDtab])].sort()) {
    if (!XDS_SERVICE_NAME.test(n) || seen.has(n.toLowerCase())) continue;
    seen.add(n.toLowerCase());
    out.push(n);
  }
  return out;
}

/** What one service name routes to: its cluster shares, or null when `<prefix>/<name>` binds to nothing. */
export type ServiceRoute = ReadonlyMap<string, number>;

/**
 * The RouteConfiguration `name` for Envoy: a virtual host per service (`domains: [name,
 * name:*]`) routing `/` to its cluster or weighted clusters; a service whose name binds to no
 * cluster (Neg, Fail, Empty) answers 503 itself, saying so.
 */
export function routeConfigResource(name: string, services: ReadonlyMap<string, ServiceRoute>, unbound: (service: string) => string): Resource {
  const hosts = [...services.keys()].sort().map((svc) => {
    const shares = services.get(svc)!;
    const route =
      shares.size > 0
        ? { match: { prefix: '/' }, route: routeAction(shares) }
        : { match: { prefix: '/' }, direct_response: { status: 503, body: { inline_string: unbound(svc) } } };
    return { name: svc, domains: [svc, `${svc}:*`], routes: [route] };
  });
  return { '@type': ROUTE_TYPE, name, virtual_hosts: hosts };
}

/** The clusters a RouteConfiguration (routeConfigResource) sends to, sorted. */
export function routeConfigClusters(route: Resource): string[] {
  type Action = { cluster?: string; weighted_clusters?: { clusters?: { name?: string }[] } };
  const ids = new Set<string>();
  for (const vh of (route['virtual_hosts'] as { routes?: { route?: Action }[] }[] | undefined) ?? []) {
    for (const r of vh.routes ?? []) {
      if (r.route?.cluster !== undefined) ids.add(r.route.cluster);
      for (const w of r.route?.weighted_clusters?.clusters ?? []) if (w.name !== undefined) ids.add(w.name);
    }
  }
  return [...ids].sort();
}

/** A resource's name: a ClusterLoadAssignment's `cluster_name`, any other's `name`. */
export function resourceName(r: Resource): string {
  return String(r['@type'] === ENDPOINT_TYPE ? r['cluster_name'] : r['name']);
}

/** True for a name a Cluster is served for: a bound id (`/#/...` or `/$/...`). */
export function isBoundId(name: string): boolean {
  return /^\/[#$]\/./.test(name);
}

/** The Cluster for a bound id: its endpoints over EDS (same stream), round robin. */
export function clusterResource(name: string): Resource {
  return {
    '@type': CLUSTER_TYPE,
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    connect_timeout: { seconds: '5' },
    lb_policy: 'ROUND_ROBIN',
  };
}

/** Linkerd's key for an address's weight in its metadata (a relative, possibly fractional, number). */
const ADDR_WEIGHT = 'endpoint_addr_weight';

/**
 * An address's weight as xDS's whole number: Linkerd's relative weight times 100 (0.5 -> 50,
 * 3 -> 300), at least 1 and at most 1,000,000 so that a locality's sum stays a uint32; none
 * without a weight (the client's default, 1, is then 1/100 of a weighted one: weights are
 * only sent when every address has one).
 */
function weightOf(a: Address): number | undefined {
  const w = a.meta[ADDR_WEIGHT];
  if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) return undefined;
  return Math.min(1_000_000, Math.max(1, Math.round(w * 100)));
}

/** The ClusterLoadAssignment for a bound id whose addresses are `addrs` (host names already looked up). */
export function endpointResource(name: string, addrs: readonly Address[]): Resource {
  const weights = addrs.map(weightOf);
  const weighted = weights.every((w) => w !== undefined);
  return {
    '@type': ENDPOINT_TYPE,
    cluster_name: name,
    endpoints:
      addrs.length === 0
        ? []
        : [
            {
              locality: {},
              load_balancing_weight: { value: 1 },
              priority: 0,
              lb_endpoints: addrs.map((a, i) => {
                const w = weighted ? weights[i] : undefined;
                return {
                  endpoint: { address: { socket_address: { address: a.host, port_value: a.port } } },
                  health_status: 'HEALTHY',
                  ...(w !== undefined ? { load_balancing_weight: { value: w } } : {}),
                };
              }),
            },
          ],
  };
}

/** An Addr's addresses, or null for one that says nothing new (pending, failed). */
export function addrAddresses(a: Addr): readonly Address[] | null {
  if (a.type === 'bound') return a.addrs;
  if (a.type === 'neg') return [];
  return null;
}
