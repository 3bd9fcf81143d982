/**
 * Trace propagators: which headers carry the trace context into and out of an HTTP router
 * (Linkerd's router key `tracePropagator`). Linkerd 1.x had two, and Meshwork keeps their
 * meaning: `io.l5d.default` (the default) reads and writes `l5d-ctx-trace`; `io.l5d.zipkin`
 * reads and writes Zipkin's B3 headers (`x-b3-*`). Headers of the other format are not touched:
 * they travel on as any header does. Meshwork adds `meshwork.w3c` (W3C `traceparent`) and
 * `meshwork.all`, which reads `l5d-ctx-trace`, then B3, then `traceparent`, and writes all
 * three, for an estate where callers speak different ones.
 *
 * `l5d-reqid` (the trace id) is written by the router whatever the propagator.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  extractB3,
  extractContext,
  extractL5d,
  extractTraceparent,
  writeB3,
  writeContext,
  writeL5d,
  writeTraceparent,
  type TraceContext,
  type TraceHeaderEdits,
} from './trace-context.js';
import { TelemetryError } from './errors.js';

export interface TracePropagator {
  /** The `kind:` this propagator is configured by. */
  readonly kind: string;
  /** The caller's context, or undefined to start a new trace. */
  extract(h: IncomingHttpHeaders): TraceContext | undefined;
  /** Writes `ctx` onto the request being forwarded. */
  write(ctx: TraceContext, h: TraceHeaderEdits): void;
}

export const L5D_PROPAGATOR: TracePropagator = { kind: 'io.l5d.default', extract: extractL5d, write: writeL5d };
export const ZIPKIN_PROPAGATOR: TracePropagator = { kind: 'io.l5d.zipkin', extract: extractB3, write: writeB3 };
export const W3C_PROPAGATOR: TracePropagator = { kind: 'meshwork.w3c', extract: extractTraceparent, write: writeTraceparent };
export const ALL_PROPAGATOR: TracePropagator = { kind: 'meshwork.all', extract: extractContext, write: writeContext };

export const PROPAGATORS: readonly TracePropagator[] = [L5D_PROPAGATOR, ZIPKIN_PROPAGATOR, W3C_PROPAGATOR, ALL_PROPAGATOR];

/**
 * The propagator a router's `tracePropagator` value names (absent: `io.l5d.default`). The
 * config loader has already refused unknown kinds; this throws for one all the same.
 */
export function propagatorFor(cfg: unknown): TracePropagator {
  if (cfg === undefined || cfg === null) return L5D_PROPAGATOR;
  const kind = (cfg as { kind?: unknown }).kind;
  const p = PROPAGATORS.find((x) => x.kind === kind);
  if (p === undefined) {
    const allowed = PROPAGATORS.map((x) => x.kind);
    throw new TelemetryError('MESH_ERR_TRACE_PROPAGATOR_UNKNOWN', `tracePropagator.kind: unknown ${JSON.stringify(kind)}; allowed: ${allowed.join(', ')}`, { found: kind, allowed });
  }
  return p;
}
