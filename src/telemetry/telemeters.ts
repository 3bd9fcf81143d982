/**
 * The telemeter registry (`telemetry:` kinds) and the one call that builds them all:
 * `buildTelemetry(configs, ctx)` gives the admin routes to mount, the router's tracer (null
 * when no telemeter traces, so a request pays one comparison), and a close hook.
 */
import type { PluginSpec } from '../config/schema.js';
import { influxDbSpec } from './influxdb.js';
import { otlpSpec } from './otlp.js';
import { prometheusSpec } from './prometheus.js';
import { recentRequestsSpec } from './recent-requests.js';
import { statsdSpec } from './statsd.js';
import type { AdminRoute, Telemeter, TelemeterContext } from './telemeter.js';
import { tracelogSpec } from './tracelog.js';
import { Tracer } from './tracing.js';
import { zipkinSpec } from './zipkin.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const telemeterSpecs: readonly PluginSpec<any, Telemeter, TelemeterContext>[] = [
  prometheusSpec,
  influxDbSpec,
  statsdSpec,
  tracelogSpec,
  recentRequestsSpec,
  zipkinSpec,
  otlpSpec,
];

export function telemeterSpec(kind: string): PluginSpec<Record<string, unknown>, Telemeter, TelemeterContext> | undefined {
  return telemeterSpecs.find((s) => s.kind === kind);
}

export interface Telemetry {
  readonly telemeters: readonly Telemeter[];
  readonly adminRoutes: readonly AdminRoute[];
  readonly tracer: Tracer | null;
  close(): Promise<void>;
}

/**
 * Configs are already validated by src/config (kind known, keys typed, `experimental` set
 * where required); unknown kinds here are a programming error.
 */
export function buildTelemetry(configs: readonly ({ kind: string } & Record<string, unknown>)[], ctx: TelemeterContext): Telemetry {
  const telemeters = configs.map((c) => {
    const spec = telemeterSpec(c.kind);
    if (spec?.create === undefined) throw new Error(`telemeter kind ${c.kind} is not built; known: ${telemeterSpecs.map((s) => s.kind).join(', ')}`);
    return spec.create(c, ctx);
  });
  const sinks = telemeters.flatMap((t) => (t.spanSink === undefined ? [] : [{ sink: t.spanSink, sampleRate: t.sampleRate ?? 1 }]));
  return {
    telemeters,
    adminRoutes: telemeters.flatMap((t) => t.adminRoutes),
    tracer: sinks.length === 0 ? null : new Tracer(sinks),
    close: async () => {
      await Promise.all(telemeters.map((t) => t.close()));
    },
  };
}
