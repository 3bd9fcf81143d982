/**
 * `aperture`: least loaded among a window ("aperture") of the nodes, in an order shuffled per
 * rebuild. The window widens when the smoothed load per node in it reaches `highLoad` and
 * narrows when it falls to `lowLoad`, never below `minAperture` (Finagle's ApertureLeastLoaded,
 * load smoothed over `smoothWindowMs`).
 */
import type { PluginSpec } from '../../config/schema.js';
import { PluginError, numberKey } from '../plugin-errors.js';
import type { BalancerContext, BalancerNode, LoadBalancer, Picker } from './balancer.js';
import { BaseBalancer, ENABLE_PROBATION } from './balancer.js';

export const KIND = 'aperture';

export interface ApertureParams {
  readonly maxEffort: number;
  readonly smoothWindowMs: number;
  readonly lowLoad: number;
  readonly highLoad: number;
  readonly minAperture: number;
}

/** Survives rebuilds, so a change in the node set does not reset the learned width. */
class ApertureState {
  width: number;
  load = 0;
  stamp: number | undefined = undefined;
  constructor(min: number) {
    this.width = min;
  }
}

class AperturePicker<E extends BalancerNode> implements Picker<E> {
  constructor(
    readonly nodes: readonly E[],
    private readonly state: ApertureState,
    private readonly p: ApertureParams,
    private readonly rng: () => number,
    private readonly now: () => number,
  ) {}

  pick(): E | null {
    const nodes = this.nodes;
    const n = nodes.length;
    const st = this.state;
    const min = Math.min(this.p.minAperture, n);
    if (st.width < min) st.width = min;
    if (st.width > n) st.width = n;
    this.adjust(n, min);
    const w = st.width;
    if (w === 1) return nodes[0]!;
    let chosen = this.once(w);
    for (let i = 0; i < this.p.maxEffort && !chosen.available; i++) chosen = this.once(w);
    return chosen;
  }

  private once(w: number): E {
    const nodes = this.nodes;
    const i = Math.floor(this.rng() * w);
    let j = Math.floor(this.rng() * (w - 1));
    if (j >= i) j++;
    const a = nodes[i]!;
    const b = nodes[j]!;
    if (a.available !== b.available) return a.available ? a : b;
    return b.pending < a.pending ? b : a;
  }

  private adjust(n: number, min: number): void {
    const st = this.state;
    const nodes = this.nodes;
    let total = 0;
    for (let i = 0; i < st.width; i++) total += nodes[i]!.pending;
    const perNode = total / st.width;
    const t = this.now();
    if (st.stamp === undefined) st.load = perNode;
    else {
      const decay = Math.exp(-Math.max(t - st.stamp, 0) / this.p.smoothWindowMs);
      st.load = st.load * decay + perNode * (1 - decay);
    }
    st.stamp = t;
    if (st.load >= this.p.highLoad && st.width < n) st.width++;
    else if (st.load <= this.p.lowLoad && st.width > min) st.width--;
  }
}

export class ApertureBalancer<E extends BalancerNode> extends BaseBalancer<E> {
  readonly kind = KIND;
  private readonly state: ApertureState;

  constructor(
    private readonly params: ApertureParams,
    ctx: BalancerContext,
  ) {
    super(params.maxEffort, ctx);
    this.state = new ApertureState(params.minAperture);
  }

  /** The current aperture width (for stats and tests). */
  get width(): number {
    return this.state.width;
  }

  protected build(nodes: readonly E[]): Picker<E> {
    const order = nodes.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    return new AperturePicker(Object.freeze(order), this.state, { ...this.params, maxEffort: this.effort }, this.rng, this.now);
  }
}

export const apertureBalancer: PluginSpec<Record<string, unknown>, LoadBalancer<BalancerNode>, BalancerContext> = {
  category: 'loadBalancer',
  kind: KIND,
  fields: {
    maxEffort: { type: 'int', default: 5, min: 0 },
    smoothWindowMs: { type: 'int', default: 5_000, min: 1, doc: 'The window of concurrent load observation.' },
    lowLoad: { type: 'number', default: 0.5, min: 0 },
    highLoad: { type: 'number', default: 2, min: 0 },
    minAperture: { type: 'int', default: 1, min: 1 },
    enableProbation: ENABLE_PROBATION,
  },
  create: (cfg, ctx) => {
    const lowLoad = numberKey(KIND, cfg, 'lowLoad', 0.5, 0);
    const highLoad = numberKey(KIND, cfg, 'highLoad', 2, 0);
    if (lowLoad > highLoad) {
      throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `${KIND}: 'lowLoad' (${lowLoad}) must not exceed 'highLoad' (${highLoad})`, 'lowLoad');
    }
    return new ApertureBalancer(
      {
        maxEffort: numberKey(KIND, cfg, 'maxEffort', 5, 0, undefined, true),
        smoothWindowMs: numberKey(KIND, cfg, 'smoothWindowMs', 5_000, 1, undefined, true),
        lowLoad,
        highLoad,
        minAperture: numberKey(KIND, cfg, 'minAperture', 1, 1, undefined, true),
      },
      ctx,
    );
  },
};
