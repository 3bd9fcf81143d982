/**
 * One h2 router (a `routers[]` entry with `protocol: h2`). Its servers hand it each request
 * stream; the router edits the headers as Linkerd does (connection-specific fields out,
 * `l5d-dtab`/`l5d-ctx-dtab` read, `Via` loop check), identifies the logical name with the h2
 * identifiers, and starts an H2Call (call.ts) with the name's service. Services (per name),
 * clients (per bound id, one HTTP/2 session per endpoint) and bound trees (per dtab and name,
 * the router's BindingCache) are built once and cached.
 */
import * as http2 from 'node:http2';
import type { BoundName } from '../../naming/contracts.js';
import type { NameTree } from '../../naming/name-tree.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { countServerRequest, type ServerStats } from '../server-stats.js';
import { AccessLogWriter } from '../../telemetry/access-log.js';
import { Tracer } from '../../telemetry/tracing.js';
import { L5D_PROPAGATOR, propagatorFor, type TracePropagator } from '../../telemetry/propagators.js';
import type { TlsFiles } from '../../config/tls.js';
import type { BindingCache } from '../binding-cache.js';
import { errorResponse } from '../error-responder.js';
import { RouterError } from '../errors.js';
import * as H from '../headers.js';
import { H_XFCC } from '../client-cert.js';
import type { Identifier } from '../identifiers/identifier.js';
import { RouterBase, type DtabLike, type RouterBaseDeps } from '../router-base.js';
import { forwardedValue } from '../forwarded.js';
import { commonClientParams, commonService, num, tighterTimeout } from '../router-config.js';
import type { Service } from '../service.js';
import { createH2Classifier, type H2ResponseClassifier } from '../classifiers/h2.js';
import { newH2Client, type H2Client, type H2ClientParams } from './client.js';
import { h2Settings } from './settings.js';
import { H2HeadersView } from './identifiers.js';
import { H2Call, errorHeaders, keepNeverIndexed } from './call.js';
import { resetSoon } from '../../protocol/h2/reset-soon.js';
import { TARGET } from '../../protocol/http1/chars.js';

type Obj = Readonly<Record<string, unknown>>;

export interface H2RouterDeps<D extends DtabLike = DtabLike> extends RouterBaseDeps<D> {
  readonly identifier: Identifier;
  readonly metrics: Metrics;
  /** Where that config is, for errors (`routers[2]`). */
  readonly configKey?: string;
  readonly tlsFiles?: TlsFiles;
  /** Spans for requests through this router (null or absent: no tracing telemeter). */
  readonly tracer?: Tracer | null;
}

/** Per-server settings and metrics (same scope and names as the http router's servers). */
export interface H2ServerContext extends ServerStats {
  readonly clearContext: boolean;
  /** The server's `addForwardedHeader`; undefined: off. */
  readonly addForwardedHeader: Obj | undefined;
  readonly maxCallDepth: number;
  /** The server's `timeoutMs`: bounds every request's total time with the service's (0: none). */
  readonly timeoutMs: number;
  /**
   * `serverSession.idleTimeMs` for a request body: how long a caller may leave its body
   * unfinished without sending anything while the router is ready to read it, before an answer
   * (0: no limit).
   */
  readonly bodyIdleMs: number;
}

/** What a call reads from its router. */
export interface H2RouterCore {
  readonly bindings: BindingCache;
  readonly bindingTimeoutMs: number;
  readonly baseDtabText: string;
  /** Which headers carry the trace context (`tracePropagator`, default `io.l5d.default`). */
  readonly propagator: TracePropagator;
  pick(tree: NameTree<BoundName>): BoundName | undefined;
  clientFor(bound: BoundName): H2Client;
  finish(srv: H2ServerContext, status: number, ms: number, log?: H2LogInfo): void;
}

/** What an access log line says about a request. */
export interface H2LogInfo {
  /** The caller's address, read when the request arrived. */
  readonly remote: string | undefined;
  readonly headers: http2.IncomingHttpHeaders;
  readonly dst?: string;
  readonly client?: string;
}

/** Linkerd's h2 retry buffer defaults (protocol-h2.md, RetryBufferSize). */
export const DEFAULT_RETRY_BUFFER_BYTES = 16383;
/** Linkerd's h2 `classificationTimeoutMs` default. */
export const DEFAULT_CLASSIFICATION_TIMEOUT_MS = 100;

/** A logical name's service: the shared metrics and budget (service.ts) and the h2 classifier. */
export class H2Service {
  constructor(
    readonly base: Service,
    readonly classifier: H2ResponseClassifier,
    /** Request bytes kept for a resend (a larger request body is neither requeued nor retried). */
    readonly requestBufferBytes: number,
    /** Response bytes held while waiting for the class at the end of the stream. */
    readonly responseBufferBytes: number,
    readonly classificationTimeoutMs: number,
    /** `service.retries` was configured: responses may be retried. */
    readonly retries: boolean,
  ) {}
}

/**
 * Fields never forwarded on an HTTP/2 hop (RFC 9113 8.2.2; node:http2 refuses to send them),
 * plus `host` (`:authority` carries it).
 */
const CONNECTION_FIELDS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

export class H2Router<D extends DtabLike = DtabLike> extends RouterBase<D, H2Client, H2Service> implements H2RouterCore {
  readonly metrics: Metrics;
  /** The router's `h2AccessLog` (null: none). */
  private readonly accessLog: AccessLogWriter | null;
  readonly propagator: TracePropagator;
  /** null: no spans (no tracing telemeter and Linkerd's propagator, whose fields pass through). */
  private readonly tracer: Tracer | null;

  constructor(private readonly deps: H2RouterDeps<D>) {
    super(deps);
    this.metrics = deps.metrics;
    this.accessLog = AccessLogWriter.fromRouterConfig(deps.config, undefined, 'h2', deps.configKey !== undefined ? `${deps.configKey}.` : '');
    const cfg = deps.config;
    this.propagator = propagatorFor(cfg['tracePropagator']);
    // As the http router: another propagator than Linkerd's gets a tracer without sinks, which
    // makes and forwards ids in its format but records nothing.
    this.tracer = deps.tracer ?? (this.propagator === L5D_PROPAGATOR ? null : new Tracer([]));
  }

  /** Handles one request stream from a server; never throws (failures become responses). */
  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, srv: H2ServerContext): void {
    const started = Date.now();
    srv.inflight++;
    try {
      this.prepare(stream, headers, flags, srv, started);
    } catch (err) {
      this.answerLocally(stream, srv, started, err, headers);
    }
  }

  /** Answers a request the router refused before routing (counted like any other). */
  answerLocally(stream: http2.ServerHttp2Stream, srv: H2ServerContext, started: number, err: unknown, reqHeaders: http2.IncomingHttpHeaders = {}): void {
    let done = false;
    let status = 0;
    const remote = stream.session?.socket?.remoteAddress;
    const end = (): void => {
      if (done) return;
      done = true;
      this.finish(srv, status, Date.now() - started, { remote, headers: reqHeaders });
    };
    stream.once('close', end);
    if (stream.destroyed || stream.closed) {
      end();
      return;
    }
    const r = errorResponse(err, srv.clearContext);
    status = r.status;
    try {
      stream.respond(errorHeaders(r));
      stream.end(r.body);
    } catch {
      resetSoon(stream, http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
    // The request body, if any, is not wanted: read and dropped so the stream can close.
    stream.resume();
  }

  private prepare(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, srv: H2ServerContext, started: number): void {
    const clear = srv.clearContext;
    const fwd: http2.OutgoingHttpHeaders = {};
    let ctxDtab = '';
    let userDtab = '';
    let via: string | undefined;
    let callerCert: string | undefined;
    for (const name of Object.keys(headers)) {
      const v = headers[name];
      if (v === undefined) continue;
      if (name.charCodeAt(0) === 58 /* ':' */) {
        if (name === ':path') checkPath(v as string);
        if (name === ':method' || name === ':path' || name === ':authority' || name === ':scheme') fwd[name] = v;
        continue;
      }
      if (name.startsWith('l5d-')) {
        const text = Array.isArray(v) ? v.join(',') : v;
        if (name === H.H_DTAB) {
          if (!clear) userDtab = userDtab === '' ? text : userDtab + ';' + text;
        } else if (name === H.H_CTX_DTAB) {
          if (!clear) ctxDtab = ctxDtab === '' ? text : ctxDtab + ';' + text;
        } else if (!clear && name !== H.H_DST_SERVICE && name !== H.H_DST_CLIENT && name !== H.H_DST_RESIDUAL && name !== H.H_REQID && name !== H.H_SAMPLE) {
          // (l5d-sample is this hop's: the server span applied it; the next hop gets the decision.)
          fwd[name] = v;
        }
        continue;
      }
      if (name === 'via') {
        const text = Array.isArray(v) ? v.join(', ') : v;
        via = via === undefined ? text : via + ', ' + text;
        continue;
      }
      if (CONNECTION_FIELDS.has(name)) continue;
      if (name === H_XFCC) {
        // Only a client with forwardClientCert sends one on (client-cert.ts).
        if (!clear) callerCert = Array.isArray(v) ? v.join(',') : v;
        continue;
      }
      if (name === 'te') {
        // The one TE value HTTP/2 allows (gRPC sends it).
        if (String(v).toLowerCase().includes('trailers')) fwd['te'] = 'trailers';
        continue;
      }
      fwd[name] = v;
    }
    if (fwd[':authority'] === undefined && typeof headers['host'] === 'string') fwd[':authority'] = headers['host'];
    keepNeverIndexed(headers, fwd);

    const depth = via === undefined ? 0 : H.viaDepth([via]);
    if (depth >= srv.maxCallDepth) {
      throw new RouterError('MESH_ERR_ROUTER_CALL_DEPTH', `Maximum call depth ${srv.maxCallDepth} exceeded: the request passed ${depth} proxies (routing loop?)`);
    }
    fwd['via'] = via === undefined ? H.VIA_ENTRY : via + ', ' + H.VIA_ENTRY;

    // Request dtabs: base ++ l5d-ctx-dtab ++ l5d-dtab (request entries win), as the http router.
    let localText = '';
    let dtabKey = this.baseDtabText;
    if (ctxDtab !== '' || userDtab !== '') {
      localText = this.requestDtabs.local(ctxDtab, userDtab);
      if (localText !== '') {
        dtabKey = this.requestDtabs.keyOf(localText);
        fwd[H.H_CTX_DTAB] = localText;
      }
    }

    const id = this.deps.identifier.identify(new H2HeadersView(headers));
    if (id.type === 'unidentified') {
      throw new RouterError('MESH_ERR_ROUTER_UNIDENTIFIED', `Unknown destination: ${String(headers[':method'])} ${String(headers[':path'])} / ${id.reason}`);
    }
    if (srv.addForwardedHeader !== undefined) this.addForwarded(srv.addForwardedHeader, stream, headers, fwd);
    const dst = id.dst;
    const dstText = dst.show();
    fwd[H.H_DST_SERVICE] = dstText;
    const svc = this.serviceFor(dst, dstText);
    const method = String(headers[':method'] ?? 'GET');
    const call = new H2Call(this, stream, flags, headers, fwd, method, srv, svc, dst, dtabKey, localText, started);
    call.callerCert = callerCert;
    if (this.tracer !== null) {
      const span = this.tracer.startServerSpan(headers, this.label, method, String(headers[':path'] ?? '/'), this.propagator.extract);
      span.tag('l5d.dst.service', dstText);
      call.span = span;
      fwd[H.H_REQID] = span.context.traceId;
    }
    call.start(tighterTimeout(srv.timeoutMs, svc.base.totalTimeoutMs));
  }

  /** Appends Linkerd's `forwarded` field after any the client sent (forwarded.ts). */
  private addForwarded(cfg: Obj, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, fwd: http2.OutgoingHttpHeaders): void {
    const session = stream.session;
    const sock = session?.socket;
    const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
    const value = forwardedValue(
      cfg,
      this.label,
      sock?.localAddress ?? '',
      sock?.localPort ?? 0,
      sock?.remoteAddress ?? '',
      sock?.remotePort ?? 0,
      session ?? stream,
      one(headers[':authority']) ?? one(headers['host']),
      one(headers[':scheme']),
      'authority',
    );
    const prior = fwd['forwarded'];
    const all: string[] = prior === undefined ? [] : Array.isArray(prior) ? [...prior] : [String(prior)];
    all.push(value);
    // node:http2 sends an array as one field line per value.
    (fwd as Record<string, string | string[]>)['forwarded'] = all.length === 1 ? value : all;
  }

  protected makeService(p: Obj, key: string): H2Service {
    const retries = p['retries'] as Obj | undefined;
    const classifier = createH2Classifier(p['responseClassifier'] as Obj | undefined);
    const buf = (p['retryBufferSize'] as Obj | undefined) ?? {};
    // The service's success/failure counters are kept by the call with the h2 classes.
    const base: Service = commonService(this.label, this.deps.metrics, key, p, (method, status) =>
      status === undefined ? classifier.classifyError(method, new Error('failed'), false) : classifier.classifyHeaders(method, status, {}) ?? 'success',
    );
    return new H2Service(
      base,
      classifier,
      num(buf, 'requestBytes', DEFAULT_RETRY_BUFFER_BYTES),
      num(buf, 'responseBytes', DEFAULT_RETRY_BUFFER_BYTES),
      num(p, 'classificationTimeoutMs', DEFAULT_CLASSIFICATION_TIMEOUT_MS),
      retries !== undefined && retries !== null,
    );
  }

  clientFor(bound: BoundName): H2Client {
    const idText = bound.id.show();
    let c = this.clients.get(idText);
    if (c !== undefined) return c;
    const p = this.clientConfigs.paramsFor(bound.id);
    const params: H2ClientParams = { ...commonClientParams(p, this.deps.tlsFiles), settings: h2Settings(p) };
    c = newH2Client(idText, bound.addr, params, this.deps.metrics, ['rt', this.label, 'client', idText.slice(1)]);
    this.clientCache.add(idText, c);
    return c;
  }

  /** Every request ends here once: the server's metrics and the access log line. */
  finish(srv: H2ServerContext, status: number, ms: number, log?: H2LogInfo): void {
    if (this.accessLog !== null && log !== undefined) {
      const h = log.headers;
      const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v);
      this.accessLog.log({
        host: one(h[':authority']) ?? one(h['host']),
        remote: log.remote,
        method: String(h[':method'] ?? ''),
        uri: String(h[':path'] ?? ''),
        httpVersion: '2.0',
        status,
        responseBytes: undefined,
        referer: one(h['referer']),
        userAgent: one(h['user-agent']),
        logicalName: log.dst,
        client: log.client,
      });
    }
    srv.inflight--;
    countServerRequest(this.deps.metrics, srv, status, ms);
  }

  override close(): void {
    super.close();
    void this.accessLog?.close();
  }
}

/**
 * A `:path` is the path and query of a URI (RFC 9113 8.3.1), so only the bytes a request target
 * may hold (RFC 3986: visible ASCII, no `#`), as the HTTP/1.1 engine requires of its request
 * line. nghttp2 lets bytes 0x80-0xff through; an upstream would each read them its own way.
 */
function checkPath(path: string): void {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c > 0xff || TARGET[c] !== 1) {
      throw new RouterError('MESH_ERR_ROUTER_BAD_PATH', `:path has byte 0x${c.toString(16).padStart(2, '0')} at offset ${i}, which a request target cannot hold`);
    }
  }
}
