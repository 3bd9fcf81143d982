/**
 * Retry budgets and backoffs (Linkerd's `service.retries` and `client.requeueBudget`).
 *
 * Budget (Finagle's RetryBudget): every request deposits, every retry withdraws. A deposit is
 * worth 1000 units and a retry costs `1000 / percentCanRetry`, so `percentCanRetry: 0.2` allows
 * one retry per five requests; `minRetriesPerSec * ttlSecs` retries are always in reserve.
 * Deposits and withdrawals are forgotten after `ttlSecs` (a windowed sum in 10 slices).
 *
 * Backoffs (category `retryBackoff`): `constant` (`ms`, default 0) and `jittered`
 * (`minMs`, `maxMs`: decorrelated jitter). A backoff is a factory of fresh schedules; each
 * retried request walks its own schedule with `next()`.
 */
import type { Fields, PluginSpec } from '../config/schema.js';
import { PluginError, numberKey } from './plugin-errors.js';

type Obj = Readonly<Record<string, unknown>>;

export interface RetryBudget {
  /** Called once per request that is not itself a retry (`now`: the time, when known). */
  deposit(now?: number): void;
  /** Called before a retry; false means the budget is spent and the failure stands. */
  tryWithdraw(): boolean;
  /** Retries available right now. */
  balance(): number;
}

export interface BudgetParams {
  readonly ttlSecs: number;
  readonly minRetriesPerSec: number;
  readonly percentCanRetry: number;
}

export const DEFAULT_BUDGET: BudgetParams = Object.freeze({ ttlSecs: 10, minRetriesPerSec: 10, percentCanRetry: 0.2 });

const SCALE = 1000;
const SLICES = 10;

/** A sum over the last `rangeMs`, kept in `SLICES` time slots (Finagle's WindowedAdder). */
class WindowedSum {
  private readonly slots = new Float64Array(SLICES);
  private readonly slotMs: number;
  private gen: number;

  constructor(
    rangeMs: number,
    private readonly now: () => number,
  ) {
    this.slotMs = rangeMs / SLICES;
    this.gen = Math.floor(now() / this.slotMs);
  }

  private expire(now: number): void {
    const g = Math.floor(now / this.slotMs);
    const passed = g - this.gen;
    if (passed <= 0) return;
    if (passed >= SLICES) this.slots.fill(0);
    else for (let i = 1; i <= passed; i++) this.slots[(this.gen + i) % SLICES] = 0;
    this.gen = g;
  }

  add(n: number, now = this.now()): void {
    this.expire(now);
    this.slots[this.gen % SLICES]! += n;
  }

  sum(): number {
    this.expire(this.now());
    let s = 0;
    for (let i = 0; i < SLICES; i++) s += this.slots[i]!;
    return s;
  }
}

export class TokenRetryBudget implements RetryBudget {
  private readonly window: WindowedSum;
  private readonly depositAmount: number;
  private readonly withdrawalAmount: number;
  private readonly reserve: number;

  constructor(params: BudgetParams, now: () => number = Date.now) {
    const pct = params.percentCanRetry;
    this.depositAmount = pct === 0 ? 0 : SCALE;
    this.withdrawalAmount = pct === 0 ? 1 : Math.floor(SCALE / pct);
    this.reserve = params.minRetriesPerSec * params.ttlSecs * this.withdrawalAmount;
    this.window = new WindowedSum(params.ttlSecs * 1000, now);
  }

  deposit(now?: number): void {
    if (this.depositAmount !== 0) this.window.add(this.depositAmount, now);
  }

  tryWithdraw(): boolean {
    if (this.window.sum() + this.reserve < this.withdrawalAmount) return false;
    this.window.add(-this.withdrawalAmount);
    return true;
  }

  balance(): number {
    return Math.floor((this.window.sum() + this.reserve) / this.withdrawalAmount);
  }
}

/** The budget that never allows a retry (`minRetriesPerSec: 0, percentCanRetry: 0`). */
export const EMPTY_BUDGET: RetryBudget = Object.freeze({
  deposit: () => {},
  tryWithdraw: () => false,
  balance: () => 0,
});

export const retryBudgetFields: Fields = {
  ttlSecs: { type: 'int', default: 10, min: 1, max: 60, doc: 'Seconds a request counts towards the budget.' },
  minRetriesPerSec: { type: 'int', default: 10, min: 0, doc: 'Retries per second always allowed.' },
  percentCanRetry: { type: 'number', default: 0.2, min: 0, max: 1000, doc: 'Retries allowed per request.' },
};

export function budgetParams(cfg: Obj | undefined, where = 'budget'): BudgetParams {
  const c = cfg ?? {};
  return {
    ttlSecs: numberKey(where, c, 'ttlSecs', DEFAULT_BUDGET.ttlSecs, 1, 60, true),
    minRetriesPerSec: numberKey(where, c, 'minRetriesPerSec', DEFAULT_BUDGET.minRetriesPerSec, 0, undefined, true),
    percentCanRetry: numberKey(where, c, 'percentCanRetry', DEFAULT_BUDGET.percentCanRetry, 0, 1000),
  };
}

/** A budget from a `budget:` / `requeueBudget:` object (absent keys take Linkerd's defaults). */
export function createRetryBudget(cfg: Obj | undefined, now: () => number = Date.now, where = 'budget'): RetryBudget {
  const p = budgetParams(cfg, where);
  if (p.minRetriesPerSec === 0 && p.percentCanRetry === 0) return EMPTY_BUDGET;
  return new TokenRetryBudget(p, now);
}

/** `client.requeueBudget`: the same budget, for connection-level requeues (no backoff). */
export function createRequeueBudget(cfg: Obj | undefined, now: () => number = Date.now): RetryBudget {
  return createRetryBudget(cfg, now, 'requeueBudget');
}

// ---- backoffs ----

export interface BackoffSchedule {
  /** Milliseconds to wait before the next attempt. */
  next(): number;
}

/** Starts a fresh schedule (one per retried request, or per endpoint for failure accrual). */
export type Backoff = () => BackoffSchedule;

export interface BackoffContext {
  readonly rng?: () => number;
}

export function constantBackoff(ms: number): Backoff {
  const schedule: BackoffSchedule = Object.freeze({ next: () => ms });
  return () => schedule;
}

/** Decorrelated jitter: `min` first, then uniform in [min, 3 * previous), capped at `max`. */
export function decorrelatedJitteredBackoff(minMs: number, maxMs: number, rng: () => number = Math.random): Backoff {
  return () => {
    let prev = -1;
    return {
      next(): number {
        if (prev < 0) prev = minMs;
        else {
          const range = Math.abs(prev * 3 - minMs);
          prev = Math.min(range === 0 ? minMs : minMs + Math.floor(rng() * range), maxMs);
        }
        return prev;
      },
    };
  };
}

/**
 * Equal jitter (Finagle's default for failure accrual, 5s..300s): `start` first, then half of
 * an exponential step plus a random part of the other half, capped at `max`.
 */
export function equalJitteredBackoff(startMs: number, maxMs: number, rng: () => number = Math.random): Backoff {
  return () => {
    let attempt = 0;
    return {
      next(): number {
        if (attempt === 0) {
          attempt = 1;
          return Math.min(startMs, maxMs);
        }
        const half = startMs * 2 ** Math.min(attempt - 1, 52);
        attempt++;
        if (half >= maxMs) return maxMs;
        return Math.min(half + Math.floor(rng() * half), maxMs);
      },
    };
  };
}

export const constantBackoffPlugin: PluginSpec<Record<string, unknown>, Backoff, BackoffContext> = {
  category: 'retryBackoff',
  kind: 'constant',
  fields: { ms: { type: 'int', default: 0, min: 0, doc: 'Milliseconds to wait before each retry.' } },
  create: (cfg) => constantBackoff(numberKey('constant', cfg, 'ms', 0, 0, undefined, true)),
};

export const jitteredBackoffPlugin: PluginSpec<Record<string, unknown>, Backoff, BackoffContext> = {
  category: 'retryBackoff',
  kind: 'jittered',
  fields: {
    // Finagle requires 0 < minMs <= maxMs.
    minMs: { type: 'int', required: true, min: 1 },
    maxMs: { type: 'int', required: true, min: 1 },
  },
  create: (cfg, ctx) => {
    const min = numberKey('jittered', cfg, 'minMs', undefined, 1, undefined, true);
    const max = numberKey('jittered', cfg, 'maxMs', undefined, 1, undefined, true);
    if (min > max) throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `jittered: 'minMs' (${min}) must not exceed 'maxMs' (${max})`, 'minMs');
    return decorrelatedJitteredBackoff(min, max, ctx?.rng);
  },
};

export const backoffPlugins: readonly PluginSpec<Record<string, unknown>, Backoff, BackoffContext>[] = [
  constantBackoffPlugin,
  jitteredBackoffPlugin,
];

export function createBackoff(cfg: Obj | undefined, ctx: BackoffContext = {}, dflt: Backoff = constantBackoff(0)): Backoff {
  if (cfg === undefined) return dflt;
  const spec = backoffPlugins.find((p) => p.kind === cfg['kind']);
  if (spec === undefined || spec.create === undefined) {
    throw new PluginError(
      'MESH_ERR_PLUGIN_UNKNOWN_KIND',
      `backoff: unknown kind ${JSON.stringify(cfg['kind'])}; supported: constant, jittered`,
      'kind',
    );
  }
  return spec.create(cfg as Record<string, unknown>, ctx);
}

/** `service.retries`: its budget and the backoff between retries (default: none). */
export interface RetryPolicy {
  readonly budget: RetryBudget;
  readonly backoff: Backoff;
}

export const retriesFields: Fields = {
  budget: { type: { object: retryBudgetFields } },
  backoff: { type: { plugin: 'retryBackoff' } },
};

export function createRetryPolicy(cfg: Obj | undefined, ctx: { now?: () => number; rng?: () => number } = {}): RetryPolicy {
  return {
    budget: createRetryBudget(cfg?.['budget'] as Obj | undefined, ctx.now),
    backoff: createBackoff(cfg?.['backoff'] as Obj | undefined, { rng: ctx.rng }),
  };
}
