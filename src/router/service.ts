/**
 * The service for one logical name (`/svc/users`), built once when the name is first routed:
 * its response classifier, retry budget and backoff, total timeout and its metrics
 * `rt/<label>/service/<svc>/{requests,success,failures,request_latency_ms,retries/per_request,
 * retries/total,retries/budget_exhausted}`. Requests to the name are driven by route.ts with
 * these settings; nothing here is built per request.
 */
import type { Counter, Metrics, Stat } from '../telemetry/metrics.js';
import type { Budget } from './balancing.js';
import type { ClassifyFn } from './client.js';
import { H_DST_SERVICE, fieldBytes } from './headers.js';

export interface ServiceParams {
  /** The logical name's text (`/svc/users`). */
  readonly name: string;
  readonly scope: readonly string[];
  readonly metrics: Metrics;
  readonly totalTimeoutMs: number;
  readonly budget: Budget;
  /** Starts a backoff schedule for one request's retries. */
  readonly backoff: () => { next(): number };
  readonly classify: ClassifyFn;
}

/** Bounds retries per request whatever the budget allows (Finagle stops well before this). */
export const MAX_RETRIES = 100;

export class Service {
  /** `l5d-dst-service: <name>`, as every request to this name forwards it. */
  readonly dstField: Buffer;
  readonly totalTimeoutMs: number;
  readonly budget: Budget;
  readonly backoff: () => { next(): number };
  readonly classify: ClassifyFn;
  readonly requests: Counter;
  readonly success: Counter;
  readonly failures: Counter;
  readonly latency: Stat;
  readonly retriesPerRequest: Stat;
  readonly retriesTotal: Counter;
  readonly budgetExhausted: Counter;
  /** Methods whose 5XX responses this classifier may retry (their small bodies are kept). */
  private readonly retriesResponses = new Map<string, boolean>();

  constructor(p: ServiceParams) {
    this.dstField = fieldBytes(H_DST_SERVICE, p.name);
    this.totalTimeoutMs = p.totalTimeoutMs;
    this.budget = p.budget;
    this.backoff = p.backoff;
    this.classify = p.classify;
    this.requests = p.metrics.counter([...p.scope, 'requests']);
    this.success = p.metrics.counter([...p.scope, 'success']);
    this.failures = p.metrics.counter([...p.scope, 'failures']);
    this.latency = p.metrics.stat([...p.scope, 'request_latency_ms']);
    this.retriesPerRequest = p.metrics.stat([...p.scope, 'retries', 'per_request']);
    this.retriesTotal = p.metrics.counter([...p.scope, 'retries', 'total']);
    this.budgetExhausted = p.metrics.counter([...p.scope, 'retries', 'budget_exhausted']);
  }

  /** True when a 5XX answer to `method` may be retried, so the request body is worth keeping. */
  mayRetryResponse(method: string): boolean {
    let v = this.retriesResponses.get(method);
    if (v === undefined) {
      v = this.classify(method, 503, undefined) === 'retryable-failure';
      if (this.retriesResponses.size < 64) this.retriesResponses.set(method, v);
    }
    return v;
  }
}
