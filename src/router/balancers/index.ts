/**
 * Load balancer registry (category `loadBalancer`).
 *
 * Contract (see balancer.ts): `createBalancer(config, {rng?, now?})` once per client gives a
 * `LoadBalancer<E>` over the client's endpoint objects (anything with `pending`, `ewmaMs`,
 * optional `ewmaStampMs`, and `available`; or the ready-made `Endpoint`). Slow path:
 * `update(endpoints)` when the address set changes, `rebuild()` when availability changes
 * (failure accrual calls it). Request path: `pick()` → endpoint or null (no endpoints), then
 * `node.pending++` ... `node.pending--` and `observe(node, latencyMs)`.
 */
import type { PluginSpec } from '../../config/schema.js';
import { PluginError } from '../plugin-errors.js';
import { apertureBalancer } from './aperture.js';
import type { BalancerContext, BalancerNode, LoadBalancer } from './balancer.js';
import { ewmaBalancer } from './ewma.js';
import { heapBalancer } from './heap.js';
import { p2cBalancer } from './p2c.js';
import { roundRobinBalancer } from './round-robin.js';

export type { BalancerContext, BalancerNode, EndpointStatus, LoadBalancer, Picker } from './balancer.js';
export { Endpoint, observeLatency, decayedCost, seededRandom } from './balancer.js';

export const DEFAULT_BALANCER_KIND = 'p2c';

export const balancerPlugins: readonly PluginSpec<Record<string, unknown>, LoadBalancer<BalancerNode>, BalancerContext>[] = [
  p2cBalancer,
  ewmaBalancer,
  apertureBalancer,
  heapBalancer,
  roundRobinBalancer,
];

export function createBalancer<E extends BalancerNode>(
  config: Readonly<Record<string, unknown>> | undefined,
  ctx: BalancerContext = {},
): LoadBalancer<E> {
  const cfg = config ?? { kind: DEFAULT_BALANCER_KIND };
  const kind = cfg['kind'] ?? DEFAULT_BALANCER_KIND;
  const spec = balancerPlugins.find((p) => p.kind === kind);
  if (spec === undefined || spec.create === undefined) {
    throw new PluginError(
      'MESH_ERR_PLUGIN_UNKNOWN_KIND',
      `loadBalancer: unknown kind ${JSON.stringify(kind)}; supported: ${balancerPlugins.map((p) => p.kind).join(', ')}`,
      'kind',
    );
  }
  return spec.create(cfg as Record<string, unknown>, ctx) as unknown as LoadBalancer<E>;
}
