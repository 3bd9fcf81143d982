/**
 * HTTP/2 and gRPC response classifiers (kinds `io.l5d.h2.*`), for h2 routers.
 *
 * Contract: `createH2Classifier(config)` once per service stack (default
 * `io.l5d.h2.nonRetryable5XX`). Per attempt the router asks `classifyHeaders` at the response
 * headers; when it answers `undefined` the class is only known at the end of the stream and the
 * router asks `classifyEnd` with the trailers. A stream that fails first is `classifyError`.
 *
 * Semantics follow Linkerd 1.x (finagle/h2 .../service/H2Classifiers.scala,
 * linkerd/protocol/h2 .../grpc/GrpcClassifier.scala, router/h2 ClassifierFilter.scala), where an
 * h2 classifier is a pair of partial functions: one over the response headers (classify early)
 * and one over the final frame of the stream (classify late). In particular:
 * - The 5XX kinds decide a 5XX at the headers; any other status is a success only once the
 *   stream ends cleanly (a stream that fails midway is a failure).
 * - Unlike the HTTP/1.1 classifiers, none of them reads `l5d-retryable`, and none looks at the
 *   request body: whether a streamed request can be replayed is the retry layer's business.
 * - gRPC kinds read `grpc-status` from the response headers (a trailers-only response), else
 *   from the trailers; a 4XX/5XX without `grpc-status` is decided by its HTTP status; a stream
 *   that ends without any `grpc-status` is a non-retryable failure.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { PluginSpec } from '../../config/schema.js';
import { PluginError } from '../plugin-errors.js';
import type { ResponseClass } from './classifier.js';
import { ALL_METHODS, IDEMPOTENT_METHODS, READ_METHODS, isRetryableError } from './classifier.js';

export interface H2ResponseClassifier {
  readonly kind: string;
  /** At the response headers; undefined when the class is only known at the end of the stream
   *  (e.g. gRPC, whose grpc-status usually comes in trailers). */
  classifyHeaders(method: string, status: number, headers: IncomingHttpHeaders): ResponseClass | undefined;
  /** At the end of the response stream, with its trailers (empty object if none). Answers what
   *  `classifyHeaders` answered when that was defined, so calling it for every stream is safe. */
  classifyEnd(method: string, status: number, headers: IncomingHttpHeaders, trailers: IncomingHttpHeaders): ResponseClass;
  /**
   * The stream failed (reset, connection lost, timeout) before the response ended. As in
   * Linkerd, the class does not depend on `responseStarted`: whether a retryable failure can
   * still be retried once response frames were forwarded is the retry layer's decision.
   * Errors are read by their flags (see `isRetryableError` in classifier.ts) and, for
   * `io.l5d.h2.grpc.compliant`, by `isRefusedStream`.
   */
  classifyError(method: string, err: Error, responseStarted: boolean): ResponseClass;
}

export const DEFAULT_H2_CLASSIFIER_KIND = 'io.l5d.h2.nonRetryable5XX';

/** RST_STREAM error code REFUSED_STREAM (RFC 9113 §7): the upstream did not process the stream. */
export const H2_REFUSED_STREAM = 0x7;

/**
 * Whether an error is (or wraps, via `cause`) an upstream RST_STREAM with REFUSED_STREAM: an
 * error carrying `rstCode` 7 (node:http2 streams expose it), a `refusedStream: true` flag, or
 * node's `ERR_HTTP2_STREAM_ERROR` naming NGHTTP2_REFUSED_STREAM.
 */
export function isRefusedStream(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    const x = e as { rstCode?: unknown; refusedStream?: unknown; code?: unknown; message?: unknown; cause?: unknown };
    if (x.rstCode === H2_REFUSED_STREAM || x.refusedStream === true) return true;
    if (x.code === 'ERR_HTTP2_STREAM_ERROR' && typeof x.message === 'string' && x.message.includes('NGHTTP2_REFUSED_STREAM')) return true;
    e = x.cause;
  }
  return false;
}

function methodTable(methods: readonly string[]): Readonly<Record<string, true>> {
  const t: Record<string, true> = Object.create(null) as Record<string, true>;
  for (const m of methods) t[m] = true;
  return t;
}

function is5XX(status: number): boolean {
  return status >= 500 && status <= 599;
}

/**
 * The five status-code kinds. `retryMethods`: methods whose 5XX responses and retryable
 * errors may be retried (null: none); `allSuccessful`: no response status is a failure.
 * The method lists are Linkerd's H2Classifiers.Requests, the same as HTTP/1.1's.
 */
class H2StatusClassifier implements H2ResponseClassifier {
  private readonly retryMethods: Readonly<Record<string, true>> | null;

  constructor(
    readonly kind: string,
    retryMethods: readonly string[] | null,
    private readonly allSuccessful = false,
  ) {
    this.retryMethods = retryMethods === null ? null : methodTable(retryMethods);
  }

  private retries(method: string): boolean {
    return this.retryMethods !== null && this.retryMethods[method] === true;
  }

  classifyHeaders(method: string, status: number): ResponseClass | undefined {
    if (this.allSuccessful || !is5XX(status)) return undefined;
    return this.retries(method) ? 'retryable-failure' : 'failure';
  }

  classifyEnd(method: string, status: number): ResponseClass {
    return this.classifyHeaders(method, status) ?? 'success';
  }

  classifyError(method: string, err: Error): ResponseClass {
    return this.retries(method) && isRetryableError(err) ? 'retryable-failure' : 'failure';
  }
}

/** HTTP statuses gRPC maps to UNAVAILABLE (doc/http-grpc-status-mapping.md): retryable for `compliant`. */
const COMPLIANT_RETRYABLE_HTTP: Readonly<Record<number, true>> = { 429: true, 502: true, 503: true, 504: true };

/** Linkerd's GrpcStatus code for UNKNOWN, used for a header `grpc-status` that is not a number. */
const GRPC_UNKNOWN = 2;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Java's Integer.parseInt: an optional sign, ASCII digits, within 32 bits; else undefined. */
function parseCode(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= -2147483648 && n <= 2147483647 ? n : undefined;
}

/**
 * The gRPC kinds. `success`: codes that are a success (`successStatusCodes`, default [0]);
 * `retryable`: codes that are retryable failures; `compliant`: HTTP 429/502/503/504 and a
 * refused stream are retryable too.
 */
class GrpcClassifier implements H2ResponseClassifier {
  constructor(
    readonly kind: string,
    private readonly success: ReadonlySet<number>,
    private readonly retryable: (code: number) => boolean,
    private readonly compliant = false,
  ) {}

  private byCode(code: number): ResponseClass {
    if (this.success.has(code)) return 'success';
    return this.retryable(code) ? 'retryable-failure' : 'failure';
  }

  classifyHeaders(_method: string, status: number, headers: IncomingHttpHeaders): ResponseClass | undefined {
    const raw = first(headers['grpc-status']);
    // In headers Linkerd reads a non-numeric grpc-status as UNKNOWN (GrpcStatus.tryFromHeaders).
    if (raw !== undefined) return this.byCode(parseCode(raw) ?? GRPC_UNKNOWN);
    if (status >= 400 && status <= 599) {
      return this.compliant && COMPLIANT_RETRYABLE_HTTP[status] === true ? 'retryable-failure' : 'failure';
    }
    return undefined;
  }

  classifyEnd(method: string, status: number, headers: IncomingHttpHeaders, trailers: IncomingHttpHeaders): ResponseClass {
    const early = this.classifyHeaders(method, status, headers);
    if (early !== undefined) return early;
    // In trailers a non-numeric grpc-status counts as absent (GrpcStatus.unapply(Frame)).
    const raw = first(trailers['grpc-status']);
    const code = raw === undefined ? undefined : parseCode(raw);
    return code === undefined ? 'failure' : this.byCode(code);
  }

  classifyError(_method: string, err: Error): ResponseClass {
    return this.compliant && isRefusedStream(err) ? 'retryable-failure' : 'failure';
  }
}

type Cfg = Readonly<Record<string, unknown>>;

/** An int list key (`successStatusCodes`, `retryableStatusCodes`); undefined when absent. */
function codesKey(kind: string, cfg: Cfg, key: string): ReadonlySet<number> | undefined {
  const v = cfg[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((c) => typeof c === 'number' && Number.isInteger(c))) {
    throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `${kind}: '${key}' must be a list of integers, found ${JSON.stringify(v)}`, key);
  }
  return new Set(v as number[]);
}

function successCodes(kind: string, cfg: Cfg): ReadonlySet<number> {
  return codesKey(kind, cfg, 'successStatusCodes') ?? new Set([0]);
}

const GRPC_UNAVAILABLE = 14;

const makers: Readonly<Record<string, (kind: string, cfg: Cfg) => H2ResponseClassifier>> = {
  'io.l5d.h2.nonRetryable5XX': (k) => new H2StatusClassifier(k, null),
  'io.l5d.h2.retryableRead5XX': (k) => new H2StatusClassifier(k, READ_METHODS),
  'io.l5d.h2.retryableIdempotent5XX': (k) => new H2StatusClassifier(k, IDEMPOTENT_METHODS),
  'io.l5d.h2.retryableAll5XX': (k) => new H2StatusClassifier(k, ALL_METHODS),
  'io.l5d.h2.allSuccessful': (k) => new H2StatusClassifier(k, null, true),
  'io.l5d.h2.grpc.default': (k, c) => new GrpcClassifier(k, successCodes(k, c), (code) => code === GRPC_UNAVAILABLE),
  // Linkerd's CompliantInitializer registers DefaultConfig by mistake, so Linkerd 1.x actually
  // builds `default` for this kind; Meshwork builds what the kind documents (and Linkerd's
  // GrpcClassifiers.Compliant implements).
  'io.l5d.h2.grpc.compliant': (k, c) => new GrpcClassifier(k, successCodes(k, c), (code) => code === GRPC_UNAVAILABLE, true),
  'io.l5d.h2.grpc.alwaysRetryable': (k, c) => new GrpcClassifier(k, successCodes(k, c), () => true),
  'io.l5d.h2.grpc.neverRetryable': (k, c) => new GrpcClassifier(k, successCodes(k, c), () => false),
  'io.l5d.h2.grpc.retryableStatusCodes': (k, c) => {
    const retryable = codesKey(k, c, 'retryableStatusCodes');
    if (retryable === undefined) {
      throw new PluginError('MESH_ERR_PLUGIN_MISSING_KEY', `${k}: 'retryableStatusCodes' is required`, 'retryableStatusCodes');
    }
    return new GrpcClassifier(k, successCodes(k, c), (code) => retryable.has(code));
  },
};

export const H2_CLASSIFIER_KINDS: readonly string[] = Object.keys(makers);

export function createH2Classifier(config: Cfg | undefined): H2ResponseClassifier {
  const kind = config?.['kind'] ?? DEFAULT_H2_CLASSIFIER_KIND;
  const make = typeof kind === 'string' && Object.hasOwn(makers, kind) ? makers[kind] : undefined;
  if (make === undefined) {
    throw new PluginError(
      'MESH_ERR_PLUGIN_UNKNOWN_KIND',
      `responseClassifier: unknown kind ${JSON.stringify(kind)}; supported: ${H2_CLASSIFIER_KINDS.join(', ')}`,
      'kind',
    );
  }
  return make(kind as string, config ?? {});
}

const grpcSuccessField = { successStatusCodes: { type: { array: 'int' }, default: [0] } } as const;

/**
 * The h2 kinds as config plugins (category `responseClassifier`), with the keys the catalogue
 * documents. The area that builds the h2 router registers them (registerPlugin), so they stay
 * "not supported yet" until an h2 router exists.
 */
export const h2ClassifierPlugins: readonly PluginSpec<Record<string, unknown>, H2ResponseClassifier, unknown>[] =
  H2_CLASSIFIER_KINDS.map((kind) => ({
    category: 'responseClassifier' as const,
    kind,
    fields: kind.startsWith('io.l5d.h2.grpc.')
      ? kind === 'io.l5d.h2.grpc.retryableStatusCodes'
        ? { retryableStatusCodes: { type: { array: 'int' }, required: true }, ...grpcSuccessField }
        : { ...grpcSuccessField }
      : {},
    create: (config: Record<string, unknown>) => createH2Classifier({ ...config, kind }),
  }));
