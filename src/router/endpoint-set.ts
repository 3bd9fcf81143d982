/**
 * The slow-path half of a per-bound-id client, shared by the http (client.ts) and h2
 * (h2/client.ts) clients: its metrics and gauges, the endpoint set that follows the id's Addr,
 * the waiters for a pending Addr and the admin snapshot. Plain functions over the client's own
 * fields, so the request path (`pick()`, `addrState`, the attempt bookkeeping) stays in each
 * client's class and reads its fields directly.
 */
import * as net from 'node:net';
import type { Addr, Address } from '../naming/addr.js';
import type { Counter, Metrics, Stat } from '../telemetry/metrics.js';
import type { AccrualState, Balancer, BalancerEndpoint } from './balancing.js';

/** `rt/<label>/client/<id>/...`: the same names for both clients. */
export interface ClientMetrics {
  requests: Counter;
  success: Counter;
  failures: Counter;
  latency: Stat;
  requeues: Counter;
  connectFailures: Counter;
  removals: Counter;
  revivals: Counter;
  status: Map<number, Counter>;
}

/** What the shared code reads of an endpoint (both clients' endpoint classes have it). */
export interface SetEndpoint extends BalancerEndpoint {
  readonly address: Address;
  readonly host: string;
  readonly port: number;
  readonly available: boolean;
  readonly accrual: AccrualState;
  readonly pool: { readonly size: number };
  /** Removed by service discovery and kept while healthy (`enableProbation`). */
  onProbation: boolean;
  close(): void;
}

/**
 * The client's counters, and its gauges over `endpoints()` (a getter: the client replaces its
 * endpoint map when the Addr changes).
 */
export function clientMetrics(metrics: Metrics, scope: readonly string[], endpoints: () => ReadonlyMap<string, SetEndpoint>): ClientMetrics {
  const m: ClientMetrics = {
    requests: metrics.counter([...scope, 'requests']),
    success: metrics.counter([...scope, 'success']),
    failures: metrics.counter([...scope, 'failures']),
    latency: metrics.stat([...scope, 'request_latency_ms']),
    requeues: metrics.counter([...scope, 'retries', 'requeues']),
    connectFailures: metrics.counter([...scope, 'connect_failures']),
    removals: metrics.counter([...scope, 'failure_accrual', 'removals']),
    revivals: metrics.counter([...scope, 'failure_accrual', 'revivals']),
    status: new Map(),
  };
  metrics.gauge([...scope, 'loadbalancer', 'size'], () => endpoints().size);
  metrics.gauge([...scope, 'connections'], () => {
    let n = 0;
    for (const e of endpoints().values()) n += e.pool.size;
    return n;
  });
  metrics.gauge([...scope, 'loadbalancer', 'available'], () => {
    let n = 0;
    for (const e of endpoints().values()) if (e.available) n++;
    return n;
  });
  return m;
}

/**
 * The endpoint set after Addr `a`: a bound Addr keeps the endpoints it still lists, makes the
 * new ones and closes the rest; a negative one closes them all; failed or pending keep the
 * endpoints there were (Finagle keeps the last good set). With `probation` a removed endpoint
 * that is still available stays, on probation, until it is listed again or becomes unavailable
 * (`dropUnhealthy`), as Finagle's EnableProbation treats removals as advisory. The balancer
 * gets every new set.
 */
export function nextEndpoints<E extends SetEndpoint>(current: Map<string, E>, a: Addr, make: (address: Address) => E, balancer: Balancer<E>, probation = false): Map<string, E> {
  if (a.type !== 'bound' && a.type !== 'neg') return current;
  const next = new Map<string, E>();
  if (a.type === 'bound') {
    for (const address of a.addrs) {
      const key = `${address.host}\n${address.port}`;
      const e = current.get(key) ?? next.get(key) ?? make(address);
      e.onProbation = false;
      next.set(key, e);
    }
  }
  for (const [k, e] of current) {
    if (next.has(k)) continue;
    if (probation && e.available) {
      e.onProbation = true;
      next.set(k, e);
    } else e.close();
  }
  balancer.update([...next.values()]);
  return next;
}

/**
 * The endpoint set without the endpoints on probation that became unavailable (closed), or
 * `current` itself when there are none.
 */
export function dropUnhealthy<E extends SetEndpoint>(current: Map<string, E>, balancer: Balancer<E>): Map<string, E> {
  let next: Map<string, E> | undefined;
  for (const [k, e] of current) {
    if (!e.onProbation || e.available) continue;
    next ??= new Map(current);
    next.delete(k);
    e.close();
  }
  if (next === undefined) return current;
  balancer.update([...next.values()]);
  return next;
}

/** Closes every endpoint and empties the set (the client is closing). */
export function closeEndpoints(endpoints: Map<string, SetEndpoint>): void {
  for (const e of endpoints.values()) e.close();
  endpoints.clear();
}

/** Requests waiting for a pending Addr to settle; each gives up after its own timeout. */
export class AddrWaiters {
  private waiters: Array<() => void> = [];

  /** Resolves when `wake` is called or after `timeoutMs`, whichever comes first. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  wake(): void {
    if (this.waiters.length === 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** An endpoint's failure-accrual state as the admin shows it. */
export function accrualText(accrual: AccrualState): string {
  return accrual.available() ? (accrual.marked() ? 'probing' : 'alive') : 'dead';
}

/**
 * A client's state for the admin's `/client_state.json` (Linkerd's shape: the Addr's state
 * and its endpoints) plus each endpoint's load and failure-accrual state (`accrual`).
 */
export function clientSnapshot<E extends SetEndpoint>(addr: Addr, endpoints: ReadonlyMap<string, E>, accrual: (e: E) => string): Record<string, unknown> {
  return {
    state: addr.type,
    // Beyond Linkerd's shape: why the Addr failed (what `meshwork check` shows).
    ...(addr.type === 'failed' ? { error: addr.cause.message } : {}),
    addresses: [...endpoints.values()].map((e) => ({
      ip: e.host,
      port: e.port,
      meta: e.address.meta,
      available: e.available,
      load: e.pending,
      accrual: accrual(e),
      connections: e.pool.size,
    })),
  };
}

/**
 * `failFast`: after a connection failure an endpoint is out until a plain TCP connection to it
 * succeeds again; this probes it with backoff (100 ms doubling to 10 s) while `wanted()` holds,
 * and calls `onUp` once a connection succeeds.
 */
const PROBE_CONNECT_TIMEOUT_MS = 5_000;

export function probeUntilUp(host: string, port: number, wanted: () => boolean, onUp: () => void): void {
  let delay = 100;
  const attempt = (): void => {
    if (!wanted()) return;
    const sock = net.connect({ host, port });
    sock.unref();
    let done = false;
    const retry = (): void => {
      if (done) return;
      done = true;
      sock.destroy();
      delay = Math.min(delay * 2, 10_000);
      setTimeout(attempt, delay).unref();
    };
    // A host that drops SYNs would hold a probe for the kernel's ~2 minutes: 5 s is enough.
    sock.setTimeout(PROBE_CONNECT_TIMEOUT_MS, retry);
    sock.once('connect', () => {
      if (done) return;
      done = true;
      sock.destroy();
      if (wanted()) onUp();
    });
    sock.once('error', retry);
  };
  setTimeout(attempt, delay).unref();
}
