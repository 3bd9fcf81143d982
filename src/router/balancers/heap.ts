/**
 * `heap`: always the least-loaded node (fewest in flight). Finagle keeps a heap; pools are
 * small, so a scan does the same with no per-request bookkeeping. Ties go round-robin.
 */
import type { PluginSpec } from '../../config/schema.js';
import type { BalancerContext, BalancerNode, LoadBalancer, Picker } from './balancer.js';
import { BaseBalancer, ENABLE_PROBATION } from './balancer.js';

export const KIND = 'heap';

class Cursor {
  next = 0;
}

class LeastLoadedScanPicker<E extends BalancerNode> implements Picker<E> {
  constructor(
    readonly nodes: readonly E[],
    private readonly cursor: Cursor,
  ) {}

  pick(): E | null {
    const nodes = this.nodes;
    const n = nodes.length;
    const start = this.cursor.next++ % n;
    if (this.cursor.next >= 0x40000000) this.cursor.next = 0;
    let best = nodes[start]!;
    for (let k = 1; k < n; k++) {
      const node = nodes[(start + k) % n]!;
      if ((node.available && !best.available) || (node.available === best.available && node.pending < best.pending)) best = node;
    }
    return best;
  }
}

export class HeapBalancer<E extends BalancerNode> extends BaseBalancer<E> {
  readonly kind = KIND;
  protected build(nodes: readonly E[]): Picker<E> {
    return new LeastLoadedScanPicker(nodes, new Cursor());
  }
}

export const heapBalancer: PluginSpec<Record<string, unknown>, LoadBalancer<BalancerNode>, BalancerContext> = {
  category: 'loadBalancer',
  kind: KIND,
  fields: {
    enableProbation: ENABLE_PROBATION,
  },
  create: (_cfg, ctx) => new HeapBalancer(0, ctx),
};
