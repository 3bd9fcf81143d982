/**
 * The telemeter registry (`telemetry:` kinds) and the one call that builds them all:
 * `buildTelemetry(configs, ctx)` gives the admin routes to mount, the router's tracer (null
 * when no telemeter traces, so a request pays one comparison), and a close hook. A kind's
 * module is loaded when a config uses it (Node 20's synchronous `require` of an ES module), as
 * the namers' are: a linker without telemeters holds none of their code.
 */
import { lazyPluginSpecs, type LazyPluginEntry } from '../config/lazy-plugins.js';
import type { PluginSpec } from '../config/schema.js';
import type { AdminRoute, Telemeter, TelemeterContext } from './telemeter.js';
import { Tracer } from './tracing.js';

type TelemeterSpec = PluginSpec<Record<string, unknown>, Telemeter, TelemeterContext>;

/** Every telemeter kind Meshwork builds, and the module that builds it. */
export const TELEMETERS: readonly LazyPluginEntry[] = [
  { kind: 'io.l5d.prometheus', module: './prometheus.js', spec: 'prometheusSpec' },
  { kind: 'io.l5d.influxdb', module: './influxdb.js', spec: 'influxDbSpec' },
  { kind: 'io.l5d.statsd', module: './statsd.js', spec: 'statsdSpec', experimental: true },
  { kind: 'io.l5d.tracelog', module: './tracelog.js', spec: 'tracelogSpec' },
  { kind: 'io.l5d.recentRequests', module: './recent-requests.js', spec: 'recentRequestsSpec' },
  { kind: 'io.l5d.zipkin', module: './zipkin.js', spec: 'zipkinSpec' },
  { kind: 'meshwork.otlp', module: './otlp.js', spec: 'otlpSpec' },
];

export const telemeterSpecs: readonly TelemeterSpec[] = lazyPluginSpecs<TelemeterSpec>('telemeter', import.meta.url, TELEMETERS);

export function telemeterSpec(kind: string): TelemeterSpec | undefined {
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
