/**
 * The narrow surfaces the client stack needs from the router's pure pieces: a balancer that
 * publishes pickers, a per-endpoint failure-accrual state, and a retry/requeue budget. The
 * plugin implementations (src/router/balancers, failure-accrual, retries.ts) are adapted to
 * these in plugin-adapters.ts; the request path only calls `pick()`, `available()`,
 * `onSuccess/onFailure` and `tryWithdraw()`.
 */
export interface BalancerEndpoint {
  /** Requests in flight on this endpoint (the load p2c compares). */
  pending: number;
  /** Smoothed latency in ms (what ewma compares). */
  ewmaMs: number;
  readonly weight: number;
  /** False while failure accrual (or failFast) has taken it out. */
  readonly available: boolean;
}

export interface Balancer<E extends BalancerEndpoint> {
  /** Slow path: the endpoint set changed. */
  update(endpoints: readonly E[]): void;
  /** Slow path: availability of an endpoint changed. */
  rebuild(): void;
  /** Request path: an endpoint, or null when none is available. */
  pick(): E | null;
  /** Records a latency sample for an endpoint (the balancer keeps its own average). */
  observe(node: E, latencyMs: number): void;
}

export type BalancerFactory = <E extends BalancerEndpoint>() => Balancer<E>;

export interface AccrualState {
  available(): boolean;
  /** A request is being sent (claims the probe slot while probing). */
  onRequest(): void;
  /** The endpoint left the client: stop timers. */
  close(): void;
  /** True from being marked dead until a success revives it (also while probing). */
  marked(): boolean;
  onSuccess(): void;
  onFailure(): void;
  /** While out: ms until it may be probed again; undefined when available. */
  msUntilProbe(): number | undefined;
}

/** `onChange` hears availability changes (the client rebuilds its picker). */
export type AccrualFactory = (onChange: (available: boolean) => void) => AccrualState;

export interface Budget {
  /** `now`: the current time when the caller has it (ms since the epoch). */
  deposit(now?: number): void;
  tryWithdraw(): boolean;
}
