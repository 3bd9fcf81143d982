/**
 * What a telemeter plugin (`telemetry:` entries of linkerd.yaml) makes: admin routes it serves,
 * a trace sink it feeds, and a close hook. The admin server mounts the routes; the tracer
 * fans finished spans out to every sink. Types only: this file imports nothing above it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { MetricsRegistry } from './metrics-registry.js';
import type { SpanSink } from './tracing.js';

/** A request to an admin route, already read in full (admin bodies are small). */
export interface AdminRequest {
  readonly method: string;
  /** The path without the query string, e.g. `/admin/metrics.json`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface AdminResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
}

export interface AdminRoute {
  /** Exact path; a path ending in `/` also serves everything below it. */
  readonly path: string;
  /** Allowed methods; default GET and HEAD. Others answer 405 with an `Allow` header. */
  readonly methods?: readonly string[];
  /** Shown in the dashboard's navigation when set. */
  readonly navLabel?: string;
  handle(req: AdminRequest): AdminResponse | Promise<AdminResponse>;
}

export interface TelemeterContext {
  readonly metrics: MetricsRegistry;
  /** Where log-style telemeters (tracelog) write a line; defaults to stderr. */
  readonly log?: (line: string) => void;
}

export interface Telemeter {
  readonly kind: string;
  readonly adminRoutes: readonly AdminRoute[];
  /** Present for telemeters that receive finished spans. */
  readonly spanSink?: SpanSink;
  /** Proportion of new traces this telemeter wants sampled, when it has a span sink. */
  readonly sampleRate?: number;
  close(): Promise<void>;
}

export function json(status: number, value: unknown): AdminResponse {
  return { status, headers: { 'content-type': 'application/json;charset=utf-8' }, body: JSON.stringify(value) };
}

export function text(status: number, body: string, contentType = 'text/plain;charset=utf-8'): AdminResponse {
  return { status, headers: { 'content-type': contentType }, body };
}
