/**
 * Builds the client stack's balancer / accrual / budget surfaces (balancing.ts) from router
 * config. Kinds are Linkerd's; parameters are read from the validated config objects.
 */
import type { AccrualFactory, BalancerEndpoint, BalancerFactory, Budget } from './balancing.js';
import { createFailureAccrual } from './failure-accrual/index.js';
import { createBalancer } from './balancers/index.js';

type Obj = Readonly<Record<string, unknown>>;

function num(o: Obj | undefined, k: string, dflt: number): number {
  const v = o?.[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

/** Balancers come from the loadBalancer registry (src/router/balancers): p2c, ewma, aperture, heap, roundRobin. */
export function balancerFactory(cfg: Obj | undefined): BalancerFactory {
  return <E extends BalancerEndpoint>() => createBalancer<E>(cfg);
}

/** Back-off schedule for service retries: `constant` (ms) or `jittered` (minMs..maxMs, doubling). */
function backoffFn(cfg: Obj | undefined): (attempt: number) => number {
  const kind = cfg?.['kind'];
  if (kind === 'constant') {
    const ms = num(cfg, 'ms', 0);
    return () => ms;
  }
  const min = num(cfg, 'minMs', 5_000);
  const max = num(cfg, 'maxMs', 300_000);
  return (attempt) => {
    const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 30));
    return min + Math.floor(Math.random() * Math.max(0, ceiling - min));
  };
}

/** Failure accrual from the failureAccrual registry (consecutiveFailures, successRate, ..., none). */
export function accrualFactory(cfg: Obj | undefined): AccrualFactory {
  const make = createFailureAccrual(cfg);
  return (onChange) => {
    const m = make(onChange);
    return {
      available: () => m.available(),
      marked: () => m.status !== 'alive',
      onRequest: () => m.onRequest(),
      onSuccess: () => m.onSuccess(),
      onFailure: () => m.onFailure(),
      msUntilProbe: () => m.msUntilProbe(),
      close: () => m.close(),
    };
  };
}

/** Finagle's RetryBudget: `minRetriesPerSec` plus `percentCanRetry` of requests over `ttlSecs`. */
export class RetryBudget implements Budget {
  private readonly deposits: number[];
  private readonly withdrawals: number[];
  private slot = 0;
  private slotSec = Math.floor(Date.now() / 1000);

  constructor(
    private readonly ttlSecs: number,
    private readonly minRetriesPerSec: number,
    private readonly percentCanRetry: number,
  ) {
    const n = Math.max(1, Math.ceil(ttlSecs));
    this.deposits = new Array<number>(n).fill(0);
    this.withdrawals = new Array<number>(n).fill(0);
  }

  private advance(): void {
    const now = Math.floor(Date.now() / 1000);
    const n = this.deposits.length;
    let steps = Math.min(now - this.slotSec, n);
    while (steps-- > 0) {
      this.slot = (this.slot + 1) % n;
      this.deposits[this.slot] = 0;
      this.withdrawals[this.slot] = 0;
    }
    this.slotSec = now;
  }

  deposit(): void {
    this.advance();
    this.deposits[this.slot]!++;
  }

  tryWithdraw(): boolean {
    this.advance();
    let d = 0;
    let w = 0;
    for (let i = 0; i < this.deposits.length; i++) {
      d += this.deposits[i]!;
      w += this.withdrawals[i]!;
    }
    const allowed = Math.floor(this.minRetriesPerSec * this.ttlSecs + this.percentCanRetry * d);
    if (w >= allowed) return false;
    this.withdrawals[this.slot]!++;
    return true;
  }
}

export function budgetFactory(cfg: Obj | undefined, dflt: { percentCanRetry: number }): () => Budget {
  const ttl = num(cfg, 'ttlSecs', 10);
  const min = num(cfg, 'minRetriesPerSec', 10);
  const pct = num(cfg, 'percentCanRetry', dflt.percentCanRetry);
  return () => new RetryBudget(ttl, min, pct);
}

export function retryBackoff(cfg: Obj | undefined): (attempt: number) => number {
  if (cfg === undefined) return () => 0;
  return backoffFn(cfg);
}
