/**
 * `meshwork.otlp` (Meshwork's own kind): spans exported with OpenTelemetry's OTLP/HTTP JSON
 * encoding to `<endpoint>/v1/traces`. Trace ids are padded to 128 bits, so a trace that came in
 * with a 64-bit B3 id keeps the same low half. W3C `traceparent` is propagated by the tracer
 * for every request (see tracing.ts).
 *
 *   telemetry:
 *   - kind: meshwork.otlp
 *     host: 127.0.0.1
 *     port: 4318
 *     sampleRate: 1.0
 */
import type { PluginSpec } from '../config/schema.js';
import { SpanBatcher } from './span-batcher.js';
import type { Telemeter, TelemeterContext } from './telemeter.js';
import { traceId128 } from './trace-context.js';
import type { FinishedSpan } from './tracing.js';

export interface OtlpConfig {
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  readonly sampleRate?: number;
  readonly flushIntervalMs?: number;
}

// OTLP SpanKind enum values.
const KIND = { SERVER: 2, CLIENT: 3 } as const;
// OTLP StatusCode: 1 ok, 2 error.
const STATUS_OK = 1;
const STATUS_ERROR = 2;

function attr(key: string, value: string): { key: string; value: { stringValue: string } } {
  return { key, value: { stringValue: value } };
}

/** One ExportTraceServiceRequest in OTLP JSON, grouped by service (router label). */
export function toOtlpJson(spans: readonly FinishedSpan[]): unknown {
  const byService = new Map<string, FinishedSpan[]>();
  for (const s of spans) {
    const list = byService.get(s.service);
    if (list === undefined) byService.set(s.service, [s]);
    else list.push(s);
  }
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [attr('service.name', service)] },
      scopeSpans: [
        {
          scope: { name: 'meshwork' },
          spans: list.map((s) => {
            const attributes = Object.keys(s.tags).map((k) => attr(k, s.tags[k]!));
            if (s.remote !== null) attributes.push(attr('net.peer.name', s.remote.ip), attr('net.peer.port', String(s.remote.port)));
            const failed = s.error !== null || s.status >= 500;
            return {
              traceId: traceId128(s.traceId),
              spanId: s.spanId,
              ...(s.parentId !== null ? { parentSpanId: s.parentId } : {}),
              name: s.name,
              kind: KIND[s.kind],
              startTimeUnixNano: String(BigInt(s.startUs) * 1000n),
              endTimeUnixNano: String(BigInt(s.startUs + s.durationUs) * 1000n),
              attributes,
              status: failed ? { code: STATUS_ERROR, message: s.error ?? `HTTP ${s.status}` } : { code: STATUS_OK },
            };
          }),
        },
      ],
    })),
  };
}

export function createOtlpTelemeter(cfg: OtlpConfig, _ctx: TelemeterContext): Telemeter {
  const batcher = new SpanBatcher({
    host: cfg.host ?? '127.0.0.1',
    port: cfg.port ?? 4318,
    path: cfg.path ?? '/v1/traces',
    encode: (spans) => JSON.stringify(toOtlpJson(spans)),
    flushIntervalMs: cfg.flushIntervalMs ?? 1000,
  });
  return {
    kind: 'meshwork.otlp',
    adminRoutes: [],
    spanSink: batcher,
    sampleRate: cfg.sampleRate ?? 1,
    close: () => batcher.close(),
  };
}

export const otlpSpec: PluginSpec<OtlpConfig, Telemeter, TelemeterContext> = {
  category: 'telemeter',
  kind: 'meshwork.otlp',
  fields: {
    host: { type: 'string', default: '127.0.0.1', doc: 'OTLP/HTTP collector host' },
    port: { type: 'int', default: 4318, min: 1, max: 65535 },
    path: { type: 'string', default: '/v1/traces' },
    sampleRate: { type: 'number', default: 1, min: 0, max: 1 },
    flushIntervalMs: { type: 'int', default: 1000, min: 1 },
  },
  create: createOtlpTelemeter,
};
