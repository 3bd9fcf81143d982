/**
 * The load balancer contract. A balancer holds a client's endpoints; on slow-path events
 * (`update` when the address set changes, `rebuild` when an endpoint's availability changes)
 * it builds a new immutable `Picker` over the endpoints that are available (all of them when
 * none is: Finagle balances over busy nodes rather than fail). The request path calls only
 * `pick()` and keeps the endpoint's load counters: `pending` up on start and down on end,
 * and `observe(node, latencyMs)` (or `Endpoint.onEnd`) for the latency average that `ewma`
 * keeps (the other kinds ignore it).
 */

/** What a balancer reads from an endpoint. The client's own endpoint objects satisfy it. */
export interface BalancerNode {
  /** Requests in flight. */
  pending: number;
  /** Peak-EWMA latency in ms, kept by `observeLatency`. */
  ewmaMs: number;
  /** When `ewmaMs` was last updated (ms on the balancer's clock). */
  ewmaStampMs?: number;
  /** False while failure accrual (or the pool) has taken the endpoint out. */
  readonly available: boolean;
  /**
   * Relative weight (address metadata `endpoint_addr_weight`), default 1. Endpoints of equal
   * weight are balanced together; a weight class is chosen in proportion to weight × size
   * (Finagle's TrafficDistributor).
   */
  readonly weight?: number;
}

export interface Picker<E> {
  /** An endpoint, or null when the balancer has none. */
  pick(): E | null;
  /** Endpoints this picker chooses among. */
  readonly nodes: readonly E[];
}

export interface LoadBalancer<E extends BalancerNode> {
  readonly kind: string;
  /** Slow path: the endpoint set changed (same objects keep their identity and counters). */
  update(endpoints: readonly E[]): void;
  /** Slow path: some endpoint's availability changed. */
  rebuild(): void;
  /** The current picker; replaced, never mutated, by `update`/`rebuild`. */
  readonly picker: Picker<E>;
  /** Request path: `picker.pick()`. */
  pick(): E | null;
  /** Request path: records a finished request's latency into the node's EWMA. */
  observe(node: E, latencyMs: number): void;
  /** All endpoints, available or not. */
  readonly endpoints: readonly E[];
}

/** Injected for deterministic tests: a uniform [0, 1) source and a millisecond clock. */
export interface BalancerContext {
  readonly rng?: () => number;
  readonly now?: () => number;
}

/** A small seeded PRNG (mulberry32) for reproducible balancing in tests and benches. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Peak EWMA (Finagle's PeakEwma): a latency above the average replaces it at once; below,
 * it is folded in with weight `1 - exp(-elapsed/decay)`.
 */
export function observeLatency(node: BalancerNode, rttMs: number, nowMs: number, decayMs: number): void {
  const stamp = node.ewmaStampMs;
  if (stamp === undefined || rttMs > node.ewmaMs) {
    node.ewmaMs = stamp === undefined ? rttMs : Math.max(rttMs, node.ewmaMs);
  } else {
    const w = Math.exp(-Math.max(nowMs - stamp, 0) / decayMs);
    node.ewmaMs = node.ewmaMs * w + rttMs * (1 - w);
  }
  node.ewmaStampMs = nowMs;
}

/** A node's latency average decayed to `nowMs`, as if a zero latency had been observed. */
export function decayedCost(node: BalancerNode, nowMs: number, decayMs: number): number {
  const stamp = node.ewmaStampMs;
  if (stamp === undefined) return 0;
  return node.ewmaMs * Math.exp(-Math.max(nowMs - stamp, 0) / decayMs);
}

/** Finagle's penalty for a node with requests in flight but no latency history yet. */
/**
 * Every balancer's `enableProbation` key: endpoints removed by service discovery stay while
 * healthy (Finagle's probation; the client applies it: endpoint-set.ts).
 */
export const ENABLE_PROBATION = { type: 'boolean', default: false, doc: 'Endpoints removed by service discovery stay while healthy (Finagle probation).' } as const;

export const EWMA_PENALTY = 2 ** 40;

export type EndpointStatus = 'open' | 'busy' | 'closed';

/**
 * A ready-made node: stable identity (`key`, usually `host:port`), load counters, a status,
 * and a slot for the client's own data (its connection pool).
 */
export class Endpoint<T = unknown> implements BalancerNode {
  pending = 0;
  ewmaMs = 0;
  ewmaStampMs: number | undefined = undefined;
  status: EndpointStatus = 'open';
  attachment: T | undefined = undefined;

  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
    readonly meta: Readonly<Record<string, unknown>> = {},
  ) {}

  get available(): boolean {
    return this.status === 'open';
  }

  onStart(): void {
    this.pending++;
  }

  /** Ends a request: pending down and the latency into the balancer's average. */
  onEnd(balancer: LoadBalancer<BalancerNode>, latencyMs: number): void {
    if (this.pending > 0) this.pending--;
    balancer.observe(this, latencyMs);
  }
}

const EMPTY_PICKER: Picker<never> = Object.freeze({ pick: () => null, nodes: Object.freeze([]) as readonly never[] });

export function emptyPicker<E>(): Picker<E> {
  return EMPTY_PICKER as Picker<E>;
}

/**
 * Shared slow-path bookkeeping; subclasses say how to build a picker over the chosen nodes.
 * Pickers retry a pick that lands on an unavailable node up to `maxEffort` times (possible
 * only between a status change and the rebuild it triggers).
 */
export abstract class BaseBalancer<E extends BalancerNode> implements LoadBalancer<E> {
  abstract readonly kind: string;
  picker: Picker<E> = emptyPicker<E>();
  endpoints: readonly E[] = [];
  protected readonly rng: () => number;
  protected readonly now: () => number;
  /** `maxEffort` for the picker being built (0 when balancing over down nodes). */
  protected effort: number;

  constructor(
    protected readonly maxEffort: number,
    ctx: BalancerContext,
  ) {
    this.effort = maxEffort;
    this.rng = ctx.rng ?? Math.random;
    this.now = ctx.now ?? (() => performance.now());
  }

  update(endpoints: readonly E[]): void {
    this.endpoints = endpoints.slice();
    this.rebuild();
  }

  rebuild(): void {
    const all = this.endpoints;
    let live = all.filter((e) => e.available);
    // Every node down: re-picking cannot find a better one, so the picker does not try.
    this.effort = this.maxEffort;
    if (live.length === 0) {
      live = all.slice();
      this.effort = 0;
    }
    this.picker = live.length === 0 ? emptyPicker<E>() : this.buildWeighted(Object.freeze(live));
  }

  private buildWeighted(live: readonly E[]): Picker<E> {
    const w0 = live[0]!.weight ?? 1;
    let uniform = true;
    for (let i = 1; i < live.length && uniform; i++) uniform = (live[i]!.weight ?? 1) === w0;
    if (uniform) return this.build(live);
    const classes = new Map<number, E[]>();
    for (const e of live) {
      const w = e.weight ?? 1;
      if (!(w > 0)) continue;
      let c = classes.get(w);
      if (c === undefined) classes.set(w, (c = []));
      c.push(e);
    }
    if (classes.size === 0) return this.build(live);
    const pickers: Picker<E>[] = [];
    const cumulative: number[] = [];
    let total = 0;
    for (const [w, nodes] of classes) {
      total += w * nodes.length;
      cumulative.push(total);
      pickers.push(this.build(Object.freeze(nodes)));
    }
    return new WeightClassPicker(live, pickers, cumulative, total, this.rng);
  }

  pick(): E | null {
    return this.picker.pick();
  }

  /**
   * A request's latency on `node`. Only balancers that weigh latency keep an average (`ewma`
   * overrides this); the others need no clock read per request.
   */
  observe(_node: E, _latencyMs: number): void {}

  protected abstract build(nodes: readonly E[]): Picker<E>;
}

/** Chooses a weight class in proportion to weight × size, then that class's picker. */
class WeightClassPicker<E> implements Picker<E> {
  constructor(
    readonly nodes: readonly E[],
    private readonly pickers: readonly Picker<E>[],
    private readonly cumulative: readonly number[],
    private readonly total: number,
    private readonly rng: () => number,
  ) {}

  pick(): E | null {
    const r = this.rng() * this.total;
    const c = this.cumulative;
    let i = 0;
    while (i < c.length - 1 && r >= c[i]!) i++;
    return this.pickers[i]!.pick();
  }
}

/** Picks two distinct nodes at random and keeps the one `cheaper` prefers (Finagle's P2C). */
export abstract class P2CPicker<E extends BalancerNode> implements Picker<E> {
  constructor(
    readonly nodes: readonly E[],
    protected readonly rng: () => number,
    protected readonly maxEffort: number,
  ) {}

  protected abstract load(node: E): number;

  pick(): E | null {
    const nodes = this.nodes;
    const n = nodes.length;
    if (n === 1) return nodes[0]!;
    let chosen = this.once(nodes, n);
    for (let i = 0; i < this.maxEffort && !chosen.available; i++) chosen = this.once(nodes, n);
    return chosen;
  }

  private once(nodes: readonly E[], n: number): E {
    const i = Math.floor(this.rng() * n);
    let j = Math.floor(this.rng() * (n - 1));
    if (j >= i) j++;
    const a = nodes[i]!;
    const b = nodes[j]!;
    if (a.available !== b.available) return a.available ? a : b;
    return this.load(b) < this.load(a) ? b : a;
  }
}
