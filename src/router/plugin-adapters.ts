/**
 * Builds the client stack's balancer / accrual / budget surfaces (balancing.ts) from router
 * config, all through the router plugin registries (balancers, failure-accrual, retries.ts).
 */
import type { AccrualFactory, BalancerEndpoint, BalancerFactory, Budget } from './balancing.js';
import { createFailureAccrual } from './failure-accrual/index.js';
import { createBackoff, createRequeueBudget, createRetryBudget } from './retries.js';
import { createBalancer } from './balancers/index.js';

type Obj = Readonly<Record<string, unknown>>;

/** Balancers come from the loadBalancer registry (src/router/balancers): p2c, ewma, aperture, heap, roundRobin. */
export function balancerFactory(cfg: Obj | undefined): BalancerFactory {
  return <E extends BalancerEndpoint>() => createBalancer<E>(cfg);
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

/** Service retry budget (`service.retries.budget`), Finagle's token budget from retries.ts. */
export function retryBudgetFactory(cfg: Obj | undefined): () => Budget {
  return () => createRetryBudget(cfg);
}

/** Client requeue budget (`client.requeueBudget`). */
export function requeueBudgetFactory(cfg: Obj | undefined): () => Budget {
  return () => createRequeueBudget(cfg);
}

/** Service retry backoff (`service.retries.backoff`): a fresh schedule per retried request. */
export function retryBackoff(cfg: Obj | undefined): () => { next(): number } {
  return createBackoff(cfg);
}
