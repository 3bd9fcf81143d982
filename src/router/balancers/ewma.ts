/**
 * `ewma`: power of two choices over peak-EWMA cost — the latency average decayed to now,
 * times (in-flight + 1); a node with requests in flight and no latency yet is penalised.
 */
import type { PluginSpec } from '../../config/schema.js';
import { numberKey } from '../plugin-errors.js';
import type { BalancerContext, BalancerNode, LoadBalancer, Picker } from './balancer.js';
import { BaseBalancer, EWMA_PENALTY, P2CPicker, decayedCost, observeLatency, ENABLE_PROBATION } from './balancer.js';

export const KIND = 'ewma';
/** Finagle's default window of latency observations. */
const DEFAULT_DECAY_TIME_MS = 10_000;

class PeakEwmaPicker<E extends BalancerNode> extends P2CPicker<E> {
  /** The clock read once per pick, shared by both candidates' cost. */
  private t = 0;

  constructor(
    nodes: readonly E[],
    rng: () => number,
    maxEffort: number,
    private readonly now: () => number,
    private readonly decayMs: number,
  ) {
    super(nodes, rng, maxEffort);
  }

  override pick(): E | null {
    this.t = this.now();
    return super.pick();
  }

  protected load(node: E): number {
    const cost = decayedCost(node, this.t, this.decayMs);
    if (cost === 0 && node.pending !== 0) return EWMA_PENALTY + node.pending;
    return cost * (node.pending + 1);
  }
}

export class EwmaBalancer<E extends BalancerNode> extends BaseBalancer<E> {
  readonly kind = KIND;

  constructor(
    maxEffort: number,
    /** The window of latency observations (`decayTimeMs`). */
    private readonly decayMs: number,
    ctx: BalancerContext,
  ) {
    super(maxEffort, ctx);
  }
  protected build(nodes: readonly E[]): Picker<E> {
    return new PeakEwmaPicker(nodes, this.rng, this.effort, this.now, this.decayMs);
  }

  override observe(node: E, latencyMs: number): void {
    observeLatency(node, latencyMs, this.now(), this.decayMs);
  }
}

export const ewmaBalancer: PluginSpec<Record<string, unknown>, LoadBalancer<BalancerNode>, BalancerContext> = {
  category: 'loadBalancer',
  kind: KIND,
  fields: {
    maxEffort: { type: 'int', default: 5, min: 0 },
    decayTimeMs: { type: 'int', default: DEFAULT_DECAY_TIME_MS, min: 1, doc: 'The window of latency observations.' },
    enableProbation: ENABLE_PROBATION,
  },
  create: (cfg, ctx) =>
    new EwmaBalancer(
      numberKey(KIND, cfg, 'maxEffort', 5, 0, undefined, true),
      numberKey(KIND, cfg, 'decayTimeMs', DEFAULT_DECAY_TIME_MS, 1, undefined, true),
      ctx,
    ),
};
