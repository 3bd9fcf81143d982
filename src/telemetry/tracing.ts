/**
 * The tracer the router calls per request. A router holds `tracer: Tracer | null`, built once
 * from the telemeters; with no tracing telemeter it is null and a request pays one comparison:
 *
 *   const span = this.tracer === null ? null : this.tracer.startServerSpan(req.headers, label, req.method, req.url, propagator.extract);
 *   ...
 *   const cspan = span === null ? null : span.child(clientName);   // per attempt
 *   if (cspan !== null) cspan.injectInto(head, propagator.write);
 *   ... cspan?.finish(status, remoteAddr, error);  span?.finish(status, error);
 *
 * A router using Linkerd's propagator decides the sampling itself as a server span would (the
 * caller's 32-byte context when it says, else one draw) and skips the spans when nothing will
 * be recorded (router.ts), forwarding the ids its client span would have carried; otherwise it
 * passes the draw it made, if any, to `startServerSpan`.
 *
 * Span model: each hop makes a new span whose parent is the caller's span (Zipkin v2 and
 * OpenTelemetry style, not Finagle's shared server/client span). A server span continues the
 * trace its router's propagator finds (propagators.ts; without one, `l5d-ctx-trace`, `x-b3-*`
 * or `traceparent`, in that order); `l5d-sample: <rate>`
 * overrides the sampling decision as in Linkerd. The client span's
 * id is what the downstream sees as its parent. The sampling decision of the caller wins;
 * otherwise one random draw per new trace is compared with each telemeter's own `sampleRate`
 * (so recentRequests at 1.0 and zipkin at 0.001 each see their share), and the propagated
 * decision is "sampled by at least one". Unsampled requests still propagate ids (so a
 * downstream keeps the same trace) but record nothing.
 *
 * The thrift routers start RPC spans (`startRpcSpan`): no headers, the caller's context read
 * from a TTwitter RequestHeader or a mux Tdispatch, named by the thrift method, status 0.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { extractContext, newSpanId, writeContext, type TraceContext, type TraceHeaderEdits } from './trace-context.js';

export type SpanKind = 'SERVER' | 'CLIENT';

export interface FinishedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentId: string | null;
  readonly kind: SpanKind;
  /** Server spans: `<METHOD> <uri path>` (RPC spans: the method, e.g. a thrift message name); client spans: the client (bound) name. */
  readonly name: string;
  /** The router label: Zipkin's localEndpoint.serviceName, OTLP's service.name. */
  readonly service: string;
  /** Epoch microseconds. */
  readonly startUs: number;
  readonly durationUs: number;
  /** The HTTP status (0: none came; always 0 for RPC spans, whose failures are in `error`). */
  readonly status: number;
  readonly error: string | null;
  readonly tags: Readonly<Record<string, string>>;
  readonly remote: { readonly ip: string; readonly port: number } | null;
}

export interface SpanSink {
  record(span: FinishedSpan): void;
  /** Sends what is buffered (exporters batch). */
  flush?(): Promise<void>;
}

function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** `l5d-sample: <0..1>`, or undefined when absent or not a rate (or no headers: an RPC span). */
function sampleOverride(h: IncomingHttpHeaders | null): number | undefined {
  if (h === null) return undefined;
  const v = h['l5d-sample'];
  if (typeof v !== 'string' || v === '') return undefined;
  const n = Number(v);
  return n >= 0 && n <= 1 ? n : undefined;
}

export class ClientSpan {
  readonly context: TraceContext;
  /** Start time, read only for a span that will be recorded (sampled); else 0. */
  private readonly startUs: number;
  private done = false;
  private tags: Record<string, string> | null = null;

  constructor(
    private readonly tracer: Tracer,
    private readonly server: ServerSpan,
    readonly clientName: string,
  ) {
    const p = server.context;
    this.context = { traceId: p.traceId, spanId: newSpanId(), parentId: p.spanId, sampled: p.sampled, debug: p.debug };
    this.startUs = p.sampled === true ? nowUs() : 0;
  }

  /**
   * Sets the trace headers on the request head being forwarded: `write` is the router's
   * propagator's (default: every format).
   */
  injectInto(head: TraceHeaderEdits, write: (ctx: TraceContext, h: TraceHeaderEdits) => void = writeContext): void {
    write(this.context, head);
  }

  /** Kept only when the span will be recorded. */
  tag(key: string, value: string): void {
    if (this.context.sampled === true) (this.tags ??= {})[key] = value;
  }

  finish(status: number, remote?: { ip: string; port: number }, error?: string): void {
    if (this.done) return;
    this.done = true;
    if (this.context.sampled !== true) return;
    this.tracer.emit(this.server.draw, {
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      parentId: this.context.parentId,
      kind: 'CLIENT',
      name: this.clientName,
      service: this.server.service,
      startUs: this.startUs,
      durationUs: Math.max(0, nowUs() - this.startUs),
      status,
      error: error ?? null,
      tags: this.server.rpcSystem === null ? { ...(this.tags ?? {}), 'http.status_code': String(status), 'client': this.clientName } : { ...(this.tags ?? {}), 'client': this.clientName },
      remote: remote ?? null,
    });
  }
}

export class ServerSpan {
  readonly context: TraceContext;
  /** The sampling draw: -1 when the caller decided "sampled", so every sink records. */
  readonly draw: number;
  /** Start time, read only for a span that will be recorded (sampled); else 0. */
  readonly startUs: number;
  private done = false;
  private tags: Record<string, string> | null = null;

  constructor(
    private readonly tracer: Tracer,
    /** null for an RPC span (no headers, no `l5d-sample`). */
    headers: IncomingHttpHeaders | null,
    incoming: TraceContext | undefined,
    readonly service: string,
    /** The HTTP method, or an RPC span's method (a thrift message name). */
    readonly method: string,
    readonly uri: string,
    /** For a new trace (no override, no caller's decision): the draw already made for it. */
    draw?: number,
    /** An RPC span's protocol (`thrift`, `thriftmux`); null: an HTTP span. */
    readonly rpcSystem: string | null = null,
  ) {
    let sampled: boolean;
    const override = sampleOverride(headers);
    if (override !== undefined) {
      // Linkerd's `l5d-sample` header: the caller asks for this rate, whatever came before.
      sampled = tracer.draw() < override;
      this.draw = sampled ? -1 : 2;
    } else if (incoming?.sampled !== undefined) {
      sampled = incoming.sampled;
      this.draw = sampled ? -1 : 2;
    } else {
      this.draw = draw ?? tracer.draw();
      sampled = this.draw < tracer.sampleRate;
    }
    this.context =
      incoming === undefined
        ? { traceId: newSpanId(), spanId: newSpanId(), parentId: null, sampled, debug: false }
        : { traceId: incoming.traceId, spanId: newSpanId(), parentId: incoming.spanId, sampled, debug: incoming.debug };
    this.startUs = sampled ? nowUs() : 0;
  }

  get sampled(): boolean {
    return this.context.sampled === true;
  }

  /** Annotations such as `l5d.dst.service` (the logical name) or `l5d.dst.client`; kept only when the span will be recorded. */
  tag(key: string, value: string): void {
    if (this.context.sampled === true) (this.tags ??= {})[key] = value;
  }

  child(clientName: string): ClientSpan {
    return new ClientSpan(this.tracer, this, clientName);
  }

  finish(status: number, error?: string): void {
    if (this.done) return;
    this.done = true;
    if (this.context.sampled !== true) return;
    if (this.rpcSystem !== null) {
      // An RPC span is named by its method, as Finagle names a thrift span by its rpc.
      this.tracer.emit(this.draw, {
        traceId: this.context.traceId,
        spanId: this.context.spanId,
        parentId: this.context.parentId,
        kind: 'SERVER',
        name: this.method,
        service: this.service,
        startUs: this.startUs,
        durationUs: Math.max(0, nowUs() - this.startUs),
        status,
        error: error ?? null,
        tags: { ...(this.tags ?? {}), 'rpc.system': this.rpcSystem, 'rpc.method': this.method },
        remote: null,
      });
      return;
    }
    const q = this.uri.indexOf('?');
    this.tracer.emit(this.draw, {
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      parentId: this.context.parentId,
      kind: 'SERVER',
      name: `${this.method} ${q < 0 ? this.uri : this.uri.slice(0, q)}`,
      service: this.service,
      startUs: this.startUs,
      durationUs: Math.max(0, nowUs() - this.startUs),
      status,
      error: error ?? null,
      tags: { ...(this.tags ?? {}), 'http.method': this.method, 'http.path': q < 0 ? this.uri : this.uri.slice(0, q), 'http.status_code': String(status) },
      remote: null,
    });
  }
}

export interface SampledSink {
  readonly sink: SpanSink;
  /** Proportion of new traces this sink records, 0..1. */
  readonly sampleRate: number;
}

export class Tracer {
  /** The largest sink rate: the proportion of new traces propagated as sampled. */
  readonly sampleRate: number;

  constructor(
    private readonly sinks: readonly SampledSink[],
    private readonly random: () => number = Math.random,
  ) {
    this.sampleRate = sinks.reduce((m, s) => Math.max(m, s.sampleRate), 0);
  }

  /** A draw in [0, 1); a rate of 1 always samples. */
  draw(): number {
    return this.random();
  }

  /**
   * `extract` reads the caller's context (a router passes its propagator's; default: every
   * format). `draw`: the sampling draw for a new trace, when the caller has already made it.
   */
  startServerSpan(headers: IncomingHttpHeaders, routerLabel: string, method: string, uri: string, extract: (h: IncomingHttpHeaders) => TraceContext | undefined = extractContext, draw?: number): ServerSpan {
    return new ServerSpan(this, headers, extract(headers), routerLabel, method, uri, draw);
  }

  /**
   * A server span for an RPC request (thrift, thriftmux), which has no headers: `incoming` is the
   * caller's context (a TTwitter RequestHeader's or a mux Tdispatch's), undefined for a new trace;
   * `method` names the span. Its client spans and `finish` carry status 0 (no HTTP status).
   */
  startRpcSpan(incoming: TraceContext | undefined, routerLabel: string, rpcSystem: string, method: string): ServerSpan {
    return new ServerSpan(this, null, incoming, routerLabel, method, '', undefined, rpcSystem);
  }

  emit(draw: number, span: FinishedSpan): void {
    for (const s of this.sinks) {
      if (!(draw < s.sampleRate) && draw !== -1) continue;
      try {
        s.sink.record(span);
      } catch {
        // a failing sink must not fail the request that produced the span
      }
    }
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => (s.sink.flush === undefined ? undefined : s.sink.flush())));
  }
}
