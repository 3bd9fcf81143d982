/** `roundRobin`: cycles through the available nodes in order. */
import type { PluginSpec } from '../../config/schema.js';
import { numberKey } from '../plugin-errors.js';
import type { BalancerContext, BalancerNode, LoadBalancer, Picker } from './balancer.js';
import { BaseBalancer, ENABLE_PROBATION } from './balancer.js';

export const KIND = 'roundRobin';

/** Each picker has its own cursor (a weight class cycles on its own). */
class Cursor {
  next = 0;
}

class RoundRobinPicker<E extends BalancerNode> implements Picker<E> {
  constructor(
    readonly nodes: readonly E[],
    private readonly cursor: Cursor,
    private readonly maxEffort: number,
  ) {}

  pick(): E | null {
    const nodes = this.nodes;
    const n = nodes.length;
    let node = nodes[this.cursor.next++ % n]!;
    for (let i = 0; i < this.maxEffort && !node.available; i++) node = nodes[this.cursor.next++ % n]!;
    if (this.cursor.next >= 0x40000000) this.cursor.next %= n;
    return node;
  }
}

export class RoundRobinBalancer<E extends BalancerNode> extends BaseBalancer<E> {
  readonly kind = KIND;
  protected build(nodes: readonly E[]): Picker<E> {
    return new RoundRobinPicker(nodes, new Cursor(), this.effort);
  }
}

export const roundRobinBalancer: PluginSpec<Record<string, unknown>, LoadBalancer<BalancerNode>, BalancerContext> = {
  category: 'loadBalancer',
  kind: KIND,
  fields: {
    maxEffort: { type: 'int', default: 5, min: 0 },
    enableProbation: ENABLE_PROBATION,
  },
  create: (cfg, ctx) => new RoundRobinBalancer(numberKey(KIND, cfg, 'maxEffort', 5, 0, undefined, true), ctx),
};
