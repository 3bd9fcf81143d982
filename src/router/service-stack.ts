/**
 * The service stack for one logical name, built once: stats, total timeout, classified
 * retries within the retry budget (with backoff), then the per-attempt dispatch to a client.
 * Metrics: `rt/<label>/service/<svc>/{requests,success,failures,request_latency_ms,
 * retries/per_request,retries/total,retries/budget_exhausted}`.
 */
import type { Counter, Metrics, Stat } from '../telemetry/metrics.js';
import type { Budget } from './balancing.js';
import type { ClassifyFn } from './client.js';
import { RouterError } from './errors.js';
import { compose, type Call, type Exchange, type Layer, type UpstreamResponse } from './exchange.js';

export interface ServiceParams {
  readonly scope: readonly string[];
  readonly metrics: Metrics;
  readonly totalTimeoutMs: number;
  readonly budget: Budget;
  /** Starts a backoff schedule for one request's retries. */
  readonly backoff: () => { next(): number };
  readonly classify: ClassifyFn;
  readonly attempt: Call;
}

/** Bounds retries per request whatever the budget allows (Finagle stops well before this). */
const MAX_RETRIES = 100;

function statsLayer(p: ServiceParams): Layer {
  const requests: Counter = p.metrics.counter([...p.scope, 'requests']);
  const success: Counter = p.metrics.counter([...p.scope, 'success']);
  const failures: Counter = p.metrics.counter([...p.scope, 'failures']);
  const latency: Stat = p.metrics.stat([...p.scope, 'request_latency_ms']);
  return {
    role: 'ServiceStats',
    make: (next) => async (ex) => {
      const t0 = Date.now();
      requests.incr();
      try {
        const rsp = await next(ex);
        latency.add(Date.now() - t0);
        if (p.classify(ex.method, rsp.status, undefined) === 'success') success.incr();
        else failures.incr();
        return rsp;
      } catch (e) {
        latency.add(Date.now() - t0);
        failures.incr();
        throw e;
      }
    },
  };
}

function totalTimeoutLayer(ms: number): Layer {
  return {
    role: 'TotalTimeout',
    make: (next) => (ex) => {
      ex.deadline = Date.now() + ms;
      return new Promise<UpstreamResponse>((resolve, reject) => {
        let done = false;
        const timer = setTimeout(() => {
          if (done) return;
          done = true;
          ex.aborted = true;
          ex.cancel?.();
          reject(new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms total timeout for ${ex.dst?.show() ?? '?'}`, { interrupted: true }));
        }, ms);
        next(ex).then(
          (r) => {
            clearTimeout(timer);
            if (done) {
              // Too late: the caller already got the timeout; release the upstream.
              r.body?.destroy();
              r.upgraded?.socket.destroy();
              return;
            }
            done = true;
            resolve(r);
          },
          (e) => {
            clearTimeout(timer);
            if (done) return;
            done = true;
            reject(e);
          },
        );
      });
    },
  };
}

function retryLayer(p: ServiceParams): Layer {
  const perRequest: Stat = p.metrics.stat([...p.scope, 'retries', 'per_request']);
  const total: Counter = p.metrics.counter([...p.scope, 'retries', 'total']);
  const exhausted: Counter = p.metrics.counter([...p.scope, 'retries', 'budget_exhausted']);
  return {
    role: 'ClassifiedRetries',
    make: (next) => async (ex) => {
      p.budget.deposit();
      let schedule: { next(): number } | undefined;
      for (let retries = 0; ; retries++) {
        let rsp: UpstreamResponse | undefined;
        let err: unknown;
        try {
          rsp = await next(ex);
        } catch (e) {
          err = e;
        }
        const cls = p.classify(ex.method, rsp?.status, err);
        const canRetry =
          cls === 'retryable-failure' &&
          !ex.aborted &&
          ex.replayable &&
          ex.upgrade === undefined &&
          retries < MAX_RETRIES &&
          !(err instanceof RouterError && (err.code === 'MESH_ERR_ROUTER_NO_BROKERS' || err.code === 'MESH_ERR_ROUTER_BINDING_FAILED'));
        if (canRetry && !p.budget.tryWithdraw()) exhausted.incr();
        else if (canRetry) {
          total.incr();
          // Discard the failed response's body; the connection goes back to the pool.
          rsp?.body?.resume();
          const wait = (schedule ??= p.backoff()).next();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          if (!ex.aborted) continue;
        }
        perRequest.add(retries);
        if (rsp !== undefined) return rsp;
        throw err;
      }
    },
  };
}

export class ServiceStack {
  readonly call: Call;
  readonly roles: readonly string[];

  constructor(p: ServiceParams) {
    const layers: Layer[] = [statsLayer(p)];
    if (p.totalTimeoutMs > 0) layers.push(totalTimeoutLayer(p.totalTimeoutMs));
    layers.push(retryLayer(p));
    this.roles = layers.map((l) => l.role);
    this.call = compose(layers, p.attempt);
  }
}

export type { Exchange };
