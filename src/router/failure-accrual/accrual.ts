/**
 * Failure accrual: a per-endpoint state machine (Finagle's FailureAccrualFactory).
 *
 *   alive --policy says dead--> dead (for a backoff) --timer--> probe-open
 *   probe-open --a request is sent--> probe-closed (one probe at a time)
 *   probe-closed --success--> alive (policy revived) | --failure--> dead (next backoff)
 *
 * The endpoint is available while alive or probe-open. Each change of availability calls the
 * listener once (the client rebuilds its balancer's picker there). Clock and timer are
 * injectable so tests drive time.
 */
import type { Counter } from '../../telemetry/metrics.js';

/** When to mark an endpoint dead (Finagle's FailureAccrualPolicy). */
export interface FailureAccrualPolicy {
  recordSuccess(): void;
  /** Records a failure; returns how long (ms) to mark the endpoint dead, or undefined. */
  markDeadOnFailure(): number | undefined;
  /** The endpoint came back: start the backoff schedule and counts afresh. */
  revived(): void;
}

export interface AccrualTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimer: AccrualTimer = {
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

export type AccrualStatus = 'alive' | 'dead' | 'probe-open' | 'probe-closed';

/** Linkerd's `failure_accrual/{removals, revivals, probes, removed_for_ms}` counters. */
export interface AccrualStats {
  readonly removals: Counter;
  readonly revivals: Counter;
  readonly probes: Counter;
  readonly removedForMs: Counter;
}

const NO_COUNTER: Counter = Object.freeze({ incr: () => {}, value: 0 });
export const NO_ACCRUAL_STATS: AccrualStats = Object.freeze({
  removals: NO_COUNTER,
  revivals: NO_COUNTER,
  probes: NO_COUNTER,
  removedForMs: NO_COUNTER,
});

/** What the client stack calls per endpoint. */
export interface EndpointAccrual {
  readonly status: AccrualStatus;
  /** True while requests may be sent (alive, or open for a probe). */
  available(): boolean;
  /** A request is being sent to the endpoint (claims the probe slot when probing). */
  onRequest(): void;
  onSuccess(): void;
  onFailure(): void;
  /** The attempt ended in a way that says nothing about the endpoint (e.g. the caller cancelled). */
  onIgnored(): void;
  /** While dead: ms until it may be probed; otherwise undefined. */
  msUntilProbe(): number | undefined;
  /** Stops the timer (the endpoint left the client). */
  close(): void;
}

export type AvailabilityListener = (available: boolean) => void;

export class AccrualStateMachine implements EndpointAccrual {
  status: AccrualStatus = 'alive';
  private timer: unknown = undefined;
  private probeAt = 0;

  constructor(
    private readonly policy: FailureAccrualPolicy,
    private readonly listener: AvailabilityListener,
    private readonly clock: () => number,
    private readonly timers: AccrualTimer,
    private readonly stats: AccrualStats = NO_ACCRUAL_STATS,
  ) {}

  available(): boolean {
    return this.status === 'alive' || this.status === 'probe-open';
  }

  onRequest(): void {
    if (this.status === 'probe-open') {
      this.stats.probes.incr();
      this.status = 'probe-closed';
      this.listener(false);
    }
  }

  onIgnored(): void {
    // A probe that proved nothing: let another request probe.
    if (this.status === 'probe-closed') this.startProbing();
  }

  onSuccess(): void {
    if (this.status === 'probe-closed') {
      this.stats.revivals.incr();
      this.policy.revived();
      this.status = 'alive';
      this.listener(true);
    }
    this.policy.recordSuccess();
  }

  onFailure(): void {
    const s = this.status;
    if (s !== 'alive' && s !== 'probe-closed') return;
    const ms = this.policy.markDeadOnFailure();
    if (ms !== undefined) this.markDead(ms);
    // The probe failed but the policy would not mark it dead: probe again.
    else if (s === 'probe-closed') this.startProbing();
  }

  msUntilProbe(): number | undefined {
    if (this.status !== 'dead') return undefined;
    return Math.max(0, this.probeAt - this.clock());
  }

  close(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
  }

  private markDead(ms: number): void {
    const wasAvailable = this.available();
    // Like Finagle, a failed probe is not counted as another removal.
    if (this.status === 'alive') this.stats.removals.incr();
    this.stats.removedForMs.incr(ms);
    this.status = 'dead';
    this.probeAt = this.clock() + ms;
    this.close();
    this.timer = this.timers.set(() => {
      this.timer = undefined;
      if (this.status === 'dead') this.startProbing();
    }, ms);
    if (wasAvailable) this.listener(false);
  }

  private startProbing(): void {
    this.status = 'probe-open';
    this.listener(true);
  }
}

/** `none`: never marks anything dead. */
export const ALWAYS_AVAILABLE: EndpointAccrual = Object.freeze({
  status: 'alive' as const,
  available: () => true,
  onRequest: () => {},
  onSuccess: () => {},
  onFailure: () => {},
  onIgnored: () => {},
  msUntilProbe: () => undefined,
  close: () => {},
});

/**
 * Finagle's Ema: the first sample is the value; later ones are folded in with weight
 * `exp(-(stamp - last) / window)` on the old value.
 */
export class Ema {
  private last: number | undefined = undefined;
  value = 0;

  constructor(private readonly window: number) {}

  update(stamp: number, x: number): number {
    if (this.last === undefined) this.value = x;
    else {
      const w = this.window === 0 ? 0 : Math.exp(-(stamp - this.last) / this.window);
      this.value = x * (1 - w) + this.value * w;
    }
    this.last = stamp;
    return this.value;
  }

  /** Erases all observations (used when an endpoint is revived). */
  reset(): void {
    this.last = undefined;
    this.value = 0;
  }
}
