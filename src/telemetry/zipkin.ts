/**
 * `io.l5d.zipkin`: spans sent to Zipkin. Linkerd's Finagle tracer spoke Scribe on port 9410;
 * Meshwork speaks Zipkin's v2 HTTP JSON API (`POST /api/v2/spans`), which every current Zipkin
 * (and Jaeger, Tempo…) accepts, so `port` should point at the HTTP collector (9411). The keys
 * are Linkerd's: `host` (default localhost), `port` (9410), `sampleRate` (0.001).
 */
import type { PluginSpec } from '../config/schema.js';
import { SpanBatcher } from './span-batcher.js';
import type { Telemeter, TelemeterContext } from './telemeter.js';
import type { FinishedSpan } from './tracing.js';

export interface ZipkinConfig {
  readonly host?: string;
  readonly port?: number;
  readonly sampleRate?: number;
  /** Meshwork addition: flush period of the span batcher. */
  readonly flushIntervalMs?: number;
}

export interface ZipkinSpanJson {
  traceId: string;
  id: string;
  parentId?: string;
  kind: string;
  name: string;
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  remoteEndpoint?: { ipv4?: string; ipv6?: string; port: number };
  tags: Record<string, string>;
}

export function toZipkinJson(s: FinishedSpan): ZipkinSpanJson {
  const out: ZipkinSpanJson = {
    traceId: s.traceId,
    id: s.spanId,
    kind: s.kind,
    name: s.name.toLowerCase(),
    timestamp: s.startUs,
    duration: Math.max(1, s.durationUs),
    localEndpoint: { serviceName: s.service },
    tags: s.error === null ? { ...s.tags } : { ...s.tags, error: s.error },
  };
  if (s.parentId !== null) out.parentId = s.parentId;
  if (s.remote !== null) {
    out.remoteEndpoint = s.remote.ip.includes(':') ? { ipv6: s.remote.ip, port: s.remote.port } : { ipv4: s.remote.ip, port: s.remote.port };
  }
  return out;
}

export function createZipkinTelemeter(cfg: ZipkinConfig, _ctx: TelemeterContext): Telemeter {
  const batcher = new SpanBatcher({
    host: cfg.host ?? 'localhost',
    port: cfg.port ?? 9410,
    path: '/api/v2/spans',
    encode: (spans) => JSON.stringify(spans.map(toZipkinJson)),
    flushIntervalMs: cfg.flushIntervalMs ?? 1000,
  });
  return {
    kind: 'io.l5d.zipkin',
    adminRoutes: [],
    spanSink: batcher,
    sampleRate: cfg.sampleRate ?? 0.001,
    close: () => batcher.close(),
  };
}

export const zipkinSpec: PluginSpec<ZipkinConfig, Telemeter, TelemeterContext> = {
  category: 'telemeter',
  kind: 'io.l5d.zipkin',
  fields: {
    host: { type: 'string', default: 'localhost', doc: 'Zipkin collector host' },
    port: { type: 'int', default: 9410, min: 1, max: 65535, doc: "Zipkin HTTP collector port (Zipkin's v2 JSON API)" },
    sampleRate: { type: 'number', default: 0.001, min: 0, max: 1 },
    flushIntervalMs: { type: 'int', default: 1000, min: 1, doc: 'Meshwork: how often buffered spans are sent' },
  },
  create: createZipkinTelemeter,
};
