/** The failure accrual policies Linkerd configures (Finagle's FailureAccrualPolicy kinds). */
import type { Backoff, BackoffSchedule } from '../retries.js';
import type { FailureAccrualPolicy } from './accrual.js';
import { Ema } from './accrual.js';

/** `io.l5d.consecutiveFailures`: dead after `failures` failures in a row. */
export class ConsecutiveFailuresPolicy implements FailureAccrualPolicy {
  private failures = 0;
  private schedule: BackoffSchedule;

  constructor(
    private readonly threshold: number,
    private readonly backoff: Backoff,
  ) {
    this.schedule = backoff();
  }

  recordSuccess(): void {
    this.failures = 0;
  }

  markDeadOnFailure(): number | undefined {
    this.failures++;
    return this.failures >= this.threshold ? this.schedule.next() : undefined;
  }

  revived(): void {
    this.failures = 0;
    this.schedule = this.backoff();
  }
}

/**
 * `io.l5d.successRate`: an exponentially weighted success rate over about `requests`
 * requests; dead when it falls below `successRate`, once at least `requests` were seen (counted again
 * from zero after a revival).
 */
export class SuccessRatePolicy implements FailureAccrualPolicy {
  private readonly ema: Ema;
  private total = 0;
  private schedule: BackoffSchedule;

  constructor(
    private readonly required: number,
    private readonly requests: number,
    private readonly backoff: Backoff,
  ) {
    this.ema = new Ema(requests);
    this.schedule = backoff();
  }

  recordSuccess(): void {
    this.total++;
    this.ema.update(this.total, 1);
  }

  markDeadOnFailure(): number | undefined {
    this.total++;
    const sr = this.ema.update(this.total, 0);
    return this.total >= this.requests && sr < this.required ? this.schedule.next() : undefined;
  }

  revived(): void {
    this.ema.reset();
    this.total = 0;
    this.schedule = this.backoff();
  }

  get successRate(): number {
    return this.ema.value;
  }
}

/**
 * `io.l5d.successRateWindowed`: the same rate weighted over `window` seconds of time; dead
 * when below `successRate`, once the endpoint has been observed for a whole window.
 */
export class SuccessRateWindowedPolicy implements FailureAccrualPolicy {
  private readonly ema: Ema;
  private readonly windowMs: number;
  private since: number;
  private schedule: BackoffSchedule;

  constructor(
    private readonly required: number,
    windowSecs: number,
    private readonly backoff: Backoff,
    private readonly clock: () => number,
  ) {
    this.windowMs = windowSecs * 1000;
    this.ema = new Ema(this.windowMs);
    this.since = clock();
    this.schedule = backoff();
  }

  recordSuccess(): void {
    this.ema.update(this.clock(), 1);
  }

  markDeadOnFailure(): number | undefined {
    const now = this.clock();
    const sr = this.ema.update(now, 0);
    return now - this.since >= this.windowMs && sr < this.required ? this.schedule.next() : undefined;
  }

  revived(): void {
    this.ema.reset();
    this.since = this.clock();
    this.schedule = this.backoff();
  }

  get successRate(): number {
    return this.ema.value;
  }
}
