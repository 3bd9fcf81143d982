/**
 * A router server's request metrics, under Linkerd's names: `rt/<label>/server/<ip>/<port>/`
 * `requests`, `success`, `failures`, `request_latency_ms`, `status/<code>` (HTTP), and the
 * gauges `load` (requests in flight) and `connections`. The http, h2 and thrift servers each
 * keep one per listening port; a request is recorded once, when it ends.
 */
import type { Counter, Metrics, Stat } from '../telemetry/metrics.js';

export interface ServerStats {
  readonly scope: readonly string[];
  readonly requests: Counter;
  readonly success: Counter;
  readonly failures: Counter;
  readonly latency: Stat;
  /** `status/<code>` counters, made on first use. */
  readonly statusCounters: Map<number, Counter>;
  /** Requests in flight on this server (the `load` gauge). */
  inflight: number;
}

/** Registers a server's metrics; `connections` reads its open connections. */
export function serverStats(metrics: Metrics, routerLabel: string, ip: string, port: number, connections: () => number): ServerStats {
  const scope = ['rt', routerLabel, 'server', `${ip}/${port}`];
  const stats: ServerStats = {
    scope,
    requests: metrics.counter([...scope, 'requests']),
    success: metrics.counter([...scope, 'success']),
    failures: metrics.counter([...scope, 'failures']),
    latency: metrics.stat([...scope, 'request_latency_ms']),
    statusCounters: new Map<number, Counter>(),
    inflight: 0,
  };
  metrics.gauge([...scope, 'load'], () => stats.inflight);
  metrics.gauge([...scope, 'connections'], connections);
  return stats;
}

/**
 * Counts one request that got `status` (0: none was sent, counted as a failure, as are 5xx;
 * undefined: a protocol without statuses, `ok` decides). `ms`: its latency, when it was routed.
 */
export function countServerRequest(metrics: Metrics, s: ServerStats, status: number | undefined, ms?: number, ok = status !== undefined && status !== 0 && status < 500): void {
  if (ms !== undefined) s.latency.add(ms);
  (ok ? s.success : s.failures).incr();
  s.requests.incr();
  if (status !== undefined && status !== 0) {
    let c = s.statusCounters.get(status);
    if (c === undefined) {
      c = metrics.counter([...s.scope, 'status', String(status)]);
      s.statusCounters.set(status, c);
    }
    c.incr();
  }
}
