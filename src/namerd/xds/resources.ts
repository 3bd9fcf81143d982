/**
 * What namerd's dtabs look like as xDS resources (the messages of proto/xds/, as plain objects
 * for @grpc/proto-loader; an `Any` is an object with its `@type`):
 * - a Listener named after the target a client dials (`xds:///web` asks for `web`): an API
 *   listener whose HttpConnectionManager carries its route inline. `<prefix>/<name without
 *   :port>` is bound in the interface's namespace; the bound tree's leaves, with a Union's
 *   weights, become the route's cluster or weighted clusters;
 * - a Cluster per bound id (`/#/io.l5d.fs/users`, `/$/inet/127.1/9001`), of type EDS over ADS;
 * - a ClusterLoadAssignment per bound id: the id's addresses, one locality.
 */
import type { Address, Addr } from '../../naming/addr.js';
import type { BoundName } from '../../naming/contracts.js';
import type { NameTree } from '../../naming/name-tree.js';
import { simplifyTree } from '../../naming/tree-ops.js';

export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

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
  const ids = [...shares.keys()].sort();
  const action =
    ids.length === 1
      ? { cluster: ids[0]! }
      : { weighted_clusters: { clusters: ids.map((id) => ({ name: id, weight: { value: Math.max(1, Math.round(shares.get(id)! * WEIGHT_SCALE)) } })) } };
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
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
      },
    },
  };
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
