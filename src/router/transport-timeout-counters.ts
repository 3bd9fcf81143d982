/**
 * Finagle's `read_timeout` / `write_timeout` counters of a server's or a client's scope: one
 * closing by `socketOptions.readTimeoutMs` / `writeTimeoutMs` counts one. Each counter is made
 * only when its timeout is set, so a config without them reports nothing new.
 */
import type { Metrics } from '../telemetry/metrics.js';
import type { TransportTimeout } from '../protocol/transport-watch.js';

/** The counting callback for `scope` (undefined when neither timeout is set: nothing is watched). */
export function transportTimeoutCounter(
  metrics: Metrics,
  scope: readonly string[],
  socket: { readonly readTimeoutMs: number; readonly writeTimeoutMs: number },
): ((kind: TransportTimeout) => void) | undefined {
  const read = socket.readTimeoutMs > 0 ? metrics.counter([...scope, 'read_timeout']) : undefined;
  const write = socket.writeTimeoutMs > 0 ? metrics.counter([...scope, 'write_timeout']) : undefined;
  if (read === undefined && write === undefined) return undefined;
  return (kind) => (kind === 'read' ? read : write)?.incr();
}
