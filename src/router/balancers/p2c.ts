/** `p2c`: power of two choices, least loaded (fewest requests in flight). */
import type { PluginSpec } from '../../config/schema.js';
import { numberKey } from '../plugin-errors.js';
import type { BalancerContext, BalancerNode, LoadBalancer, Picker } from './balancer.js';
import { BaseBalancer, P2CPicker, ENABLE_PROBATION } from './balancer.js';

export const KIND = 'p2c';

class LeastLoadedPicker<E extends BalancerNode> extends P2CPicker<E> {
  protected load(node: E): number {
    return node.pending;
  }
}

export class P2CBalancer<E extends BalancerNode> extends BaseBalancer<E> {
  readonly kind = KIND;
  protected build(nodes: readonly E[]): Picker<E> {
    return new LeastLoadedPicker(nodes, this.rng, this.effort);
  }
}

export const p2cBalancer: PluginSpec<Record<string, unknown>, LoadBalancer<BalancerNode>, BalancerContext> = {
  category: 'loadBalancer',
  kind: KIND,
  fields: {
    maxEffort: { type: 'int', default: 5, min: 0, doc: 'Re-picks allowed when a pick lands on an unavailable node.' },
    enableProbation: ENABLE_PROBATION,
  },
  create: (cfg, ctx) => new P2CBalancer(numberKey(KIND, cfg, 'maxEffort', 5, 0, undefined, true), ctx),
};
