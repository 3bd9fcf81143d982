/**
 * The telemeter registry (`telemetry:` kinds) and the one call that builds them all:
 * `buildTelemetry(configs, ctx)` gives the admin routes to mount, the router's tracer (null
 * when no telemeter traces, so a request pays one comparison), and a close hook. A kind's
 * module is loaded when a config uses it (Node 20's synchronous `require` of an ES module), as
 * the namers' are: a linker without telemeters holds none of their code. The config area
 * registers the kinds from TELEMETERS (config/lazy-plugins.ts); telemetry itself imports
 * nothing outside itself at run time.
 */
import { createRequire } from 'node:module';
import type { LazyPluginEntry } from '../config/lazy-plugins.js';
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

/** What TELEMETERS' module paths are relative to. */
export const TELEMETERS_FROM = import.meta.url;

const requireModule = createRequire(import.meta.url);

/** The spec of a kind in TELEMETERS, its module loaded now if it was not. */
function telemeterSpec(kind: string): TelemeterSpec | undefined {
  const e = TELEMETERS.find((t) => t.kind === kind);
  return e === undefined ? undefined : (requireModule(e.module) as Record<string, TelemeterSpec | undefined>)[e.spec];
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
    if (spec?.create === undefined) throw new Error(`telemeter kind ${c.kind} is not built; known: ${TELEMETERS.map((t) => t.kind).join(', ')}`);
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
