/**
 * The metrics contract the router, namerd and admin report into. Names are Linkerd's flat
 * paths (`rt/<label>/service/<svc>/requests`), built once per stack so the request path only
 * calls `incr()` / `add()`.
 */
export interface Counter {
  incr(n?: number): void;
  readonly value: number;
}

/** A distribution (latencies, sizes): summarised as count, min, max, avg and percentiles. */
export interface Stat {
  add(value: number): void;
}

export interface Gauge {
  readonly value: number;
}

export interface Metrics {
  counter(path: readonly string[], labels?: Readonly<Record<string, string>>): Counter;
  stat(path: readonly string[], labels?: Readonly<Record<string, string>>): Stat;
  gauge(path: readonly string[], fn: () => number, labels?: Readonly<Record<string, string>>): Gauge;
  /** Removes a subtree (a client that went away). */
  remove(path: readonly string[]): void;
}
