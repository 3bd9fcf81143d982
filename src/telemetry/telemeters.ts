/**
 * The telemeter registry (`telemetry:` kinds) and the one call that builds them all:
 * `buildTelemetry(configs, ctx)` gives the admin routes to mount, the router's tracer (null
 * when no telemeter traces, so a request pays one comparison), and a close hook. A kind's
 * module is loaded when a config uses it (Node 20's synchronous `require` of an ES module), as
 * the namers' are: a linker without telemeters holds none of their code.
 */
import { createRequire } from 'node:module';
import type { Fields, PluginSpec } from '../config/schema.js';
import type { AdminRoute, Telemeter, TelemeterContext } from './telemeter.js';
import { Tracer } from './tracing.js';

type TelemeterSpec = PluginSpec<Record<string, unknown>, Telemeter, TelemeterContext>;

/** A built kind: the module (relative to this file) exporting its spec, and Linkerd's experimental flag. */
export interface TelemeterEntry {
  readonly kind: string;
  readonly module: string;
  readonly spec: string;
  readonly experimental?: boolean;
}

export const TELEMETERS: readonly TelemeterEntry[] = [
  { kind: 'io.l5d.prometheus', module: './prometheus.js', spec: 'prometheusSpec' },
  { kind: 'io.l5d.influxdb', module: './influxdb.js', spec: 'influxDbSpec' },
  { kind: 'io.l5d.statsd', module: './statsd.js', spec: 'statsdSpec', experimental: true },
  { kind: 'io.l5d.tracelog', module: './tracelog.js', spec: 'tracelogSpec' },
  { kind: 'io.l5d.recentRequests', module: './recent-requests.js', spec: 'recentRequestsSpec' },
  { kind: 'io.l5d.zipkin', module: './zipkin.js', spec: 'zipkinSpec' },
  { kind: 'meshwork.otlp', module: './otlp.js', spec: 'otlpSpec' },
];

const requireModule = createRequire(import.meta.url);

/** The entry's spec, from its module (loaded now if it was not). */
export function loadTelemeterEntry(e: TelemeterEntry): TelemeterSpec {
  const spec = (requireModule(e.module) as Record<string, TelemeterSpec | undefined>)[e.spec];
  if (spec === undefined) throw new Error(`telemeter registry: ${e.module} exports no ${e.spec}`);
  return spec;
}

/** A spec standing for the entry: its fields and factory come from the module, loaded on first use. */
function lazySpec(e: TelemeterEntry): TelemeterSpec {
  let loaded: TelemeterSpec | undefined;
  const load = (): TelemeterSpec => (loaded ??= loadTelemeterEntry(e));
  return {
    category: 'telemeter',
    kind: e.kind,
    ...(e.experimental ? { experimental: true } : {}),
    get fields(): Fields {
      return load().fields;
    },
    create: (config, ctx) => load().create!(config, ctx),
  } as TelemeterSpec;
}

export const telemeterSpecs: readonly TelemeterSpec[] = TELEMETERS.map(lazySpec);

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
