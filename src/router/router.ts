/**
 * One HTTP router (a `routers[]` entry). Its servers hand it each parsed request head
 * (an engine exchange); the router edits the head as Linkerd does (hop-by-hop fields out,
 * `l5d-*` context read and re-set, `Via`), identifies the logical name, and starts a Route
 * (route.ts) with the name's service settings. Services (per name), clients (per bound id)
 * and bound trees (per dtab and name) are built once and cached; the request path reads them.
 */
import type { Http1Exchange } from '../protocol/http1/server.js';
import type { ResponseInfo, ResponseListener } from '../protocol/http1/index.js';
import { eqLowerAt } from '../protocol/http1/chars.js';
import type { BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Metrics } from '../telemetry/metrics.js';
import { countServerRequest, type ServerStats } from './server-stats.js';
import { Tracer } from '../telemetry/tracing.js';
import { L5D_PROPAGATOR, propagatorFor, type TracePropagator } from '../telemetry/propagators.js';
import { callerSampling, readCallerTrace, traceContextInto, unsampledChildInto, unsampledRootInto } from '../telemetry/trace-context.js';
import type { AccessLogWriter } from '../telemetry/access-log.js';
import type { IdentifyRequest, IdentifyResult } from './identifiers/identifier.js';
import { createClassifier } from './classifiers/index.js';
import type { BindingCache } from './binding-cache.js';
import { Client, type ClassifyFn, type ClientParams } from './client.js';
import { errorResponse } from './error-responder.js';
import { RouterError } from './errors.js';
import * as H from './headers.js';
import { commonClientParams, commonService, num, callerDeadline, tighterTimeout } from './router-config.js';
import { RouterBase, type DtabLike, type RouterBaseDeps } from './router-base.js';
import type { Service } from './service.js';
import { Route } from './route.js';
import { forwardedValue, targetScheme } from './forwarded.js';
import { H_XFCC, connectionCertValue } from './client-cert.js';
import type { TlsFiles } from '../config/tls.js';

type Obj = Readonly<Record<string, unknown>>;

export type IdentifyFn = (req: IdentifyRequest) => IdentifyResult;

export interface RouterDeps<D extends DtabLike = DtabLike> extends RouterBaseDeps<D> {
  readonly identify: IdentifyFn;
  readonly metrics: Metrics;
  /** Spans for requests through this router (null or absent: no tracing telemeter). */
  readonly tracer?: Tracer | null;
  /** The router's `httpAccessLog` (null or absent: none). */
  readonly accessLog?: AccessLogWriter | null;
  /** TLS files the linker read at start (the client `tls` blocks' trust and client certs). */
  readonly tlsFiles?: TlsFiles;
}

/** Per-server settings and metrics the router needs while handling a request. */
export interface ServerContext extends ServerStats {
  readonly clearContext: boolean;
  readonly addForwardedHeader: Obj | undefined;
  readonly localAddress: string;
  readonly localPort: number;
  /** Requests that already passed this many proxies (`Via` entries) are refused (loops). */
  readonly maxCallDepth: number;
  /** The server's `timeoutMs`: bounds every request's total time with the service's (0: none). */
  readonly timeoutMs: number;
}

/** What a Route reads from its router. */
export interface RouterCore {
  readonly bindings: BindingCache;
  readonly bindingTimeoutMs: number;
  readonly baseDtabText: string;
  readonly propagator: TracePropagator;
  pick(tree: NameTree<BoundName>): BoundName | undefined;
  clientFor(bound: BoundName): Client;
  attemptTimeoutMs(client: Client): number;
  peerCertValue(ex: Http1Exchange): string | undefined;
  finish(srv: ServerContext, ex: Http1Exchange, status: number, ms: number, route: Route | null): void;
}

/**
 * The identifiers' view of a request head. A router keeps one and points it at each request
 * while its identifier runs (identification is synchronous and keeps no reference).
 */
class HeadView implements IdentifyRequest {
  ex: Http1Exchange = null as unknown as Http1Exchange;
  get method(): string {
    return this.ex.head.method;
  }
  get url(): string {
    return this.ex.head.target;
  }
  get httpVersion(): string {
    return this.ex.head.minor === 0 ? '1.0' : '1.1';
  }
  header(name: string): string | undefined {
    return this.ex.head.header(name.toLowerCase());
  }
  get originForm(): boolean {
    const h = this.ex.head;
    return h.buf[h.targetStart] === 0x2f;
  }
  headerIs(name: string, value: string): boolean {
    return this.ex.head.headerIs(name, value);
  }
}

/** A request answered by the router itself before routing (bad dtab, loop, unidentified). */
class LocalAnswer implements ResponseListener {
  constructor(
    private readonly core: RouterCore,
    private readonly srv: ServerContext,
    private readonly started: number,
  ) {}
  onResponseHead(_ex: Http1Exchange, _status: number, _info: ResponseInfo): boolean {
    return true;
  }
  onDone(ex: Http1Exchange): void {
    this.core.finish(this.srv, ex, ex.status, Date.now() - this.started, null);
  }
}

/**
 * Names of the fields the one pass over a request head removes, by length: the hop-by-hop
 * fields and `x-forwarded-client-cert` (only a client with `forwardClientCert` sends one on).
 */
const HOP_NAMES: readonly (readonly string[])[] = (() => {
  const byLen: string[][] = [];
  for (const n of [...H.HOP_BY_HOP, H_XFCC]) (byLen[n.length] ??= []).push(n);
  return byLen;
})();

export class Router<D extends DtabLike = DtabLike> extends RouterBase<D, Client, Service> implements RouterCore {
  private readonly attemptTimeouts = new WeakMap<Client, number>();
  private readonly maxInitialLineBytes: number;
  private readonly maxHeadersBytes: number;
  private readonly tracer: Tracer | null;
  /** Which headers carry the trace context (`tracePropagator`, default `io.l5d.default`). */
  readonly propagator: TracePropagator;
  private readonly accessLog: AccessLogWriter | null;
  private readonly view = new HeadView();

  constructor(private readonly deps: RouterDeps<D>) {
    super(deps);
    const cfg = deps.config;
    this.maxInitialLineBytes = num(cfg, 'maxInitialLineKB', 4) * 1024;
    this.maxHeadersBytes = num(cfg, 'maxHeadersKB', 8) * 1024;
    this.propagator = propagatorFor(cfg['tracePropagator']);
    // Without a tracing telemeter the l5d-ctx-trace path below needs no tracer; another
    // propagator gets one without sinks, which makes and forwards ids but records nothing.
    this.tracer = deps.tracer ?? (this.propagator === L5D_PROPAGATOR ? null : new Tracer([]));
    this.accessLog = deps.accessLog ?? null;
  }

  get limits(): { maxInitialLineBytes: number; maxHeadersBytes: number } {
    return { maxInitialLineBytes: this.maxInitialLineBytes, maxHeadersBytes: this.maxHeadersBytes };
  }

  /** Handles one request from a server; never throws (errors become responses). */
  handle(ex: Http1Exchange, srv: ServerContext): void {
    const started = Date.now();
    srv.inflight++;
    try {
      this.prepare(ex, srv, started);
    } catch (err) {
      this.answerLocally(ex, srv, started, err);
    }
  }

  /** Answers a request the router refused before routing (counted like any other). */
  answerLocally(ex: Http1Exchange, srv: ServerContext, started: number, err: unknown): void {
    ex.responseListener = new LocalAnswer(this, srv, started);
    const r = errorResponse(err, srv.clearContext);
    const headers: [string, string][] = [['content-type', 'text/plain; charset=utf-8']];
    if (r.l5dErr !== undefined) headers.push([H.H_ERR, r.l5dErr]);
    if (r.retryable) headers.push([H.H_RETRYABLE, 'true']);
    ex.respond(r.status, headers, r.body);
  }

  /**
   * Edits the request head as Linkerd does, identifies its logical name and starts its route.
   * One pass over the header fields; field names are decoded only for the `l5d-*` ones.
   */
  private prepare(ex: Http1Exchange, srv: ServerContext, started: number): void {
    const head = ex.head;
    const b = head.buf;
    const f = head.fields;
    const clear = srv.clearContext;
    let ctxDtab = '';
    let userDtab = '';
    let via: string | undefined;
    let deadlines: string[] | undefined;
    let trace: string | undefined;
    let sample: number | undefined;
    /** The client's l5d-ctx-trace fields (a tracer reads them, clearContext or not) and l5d-sample. */
    let traceFields = 0;
    let traceRaw = '';
    let sampleField = false;
    let connection: string | undefined;
    let upgrade = false;
    let callerCert: string | undefined;
    for (let i = 0; i < f.length; i += 4) {
      const ns = f[i]!;
      const len = f[i + 1]! - ns;
      if (len > 4 && (b[ns]! | 0x20) === 0x6c && b[ns + 1] === 0x35 && (b[ns + 2]! | 0x20) === 0x64 && b[ns + 3] === 0x2d) {
        const name = b.toString('latin1', ns, ns + len).toLowerCase();
        const value = b.toString('latin1', f[i + 2]!, f[i + 3]!);
        if (name === H.H_DTAB) {
          if (!clear) userDtab = userDtab === '' ? value : userDtab + ';' + value;
          head.remove(name);
        } else if (name === H.H_CTX_DTAB) {
          if (!clear) ctxDtab = ctxDtab === '' ? value : ctxDtab + ';' + value;
          head.remove(name);
        } else if (name === H.H_CTX_TRACE) {
          traceFields++;
          traceRaw = value;
          if (!clear) trace = value;
          // Without a tracer the forwarded context is written with the router's fields (Route).
          if (this.tracer === null) head.remove(name);
        } else if (name === H.H_CTX_DEADLINE) {
          if (!clear) (deadlines ??= []).push(value);
          head.remove(name);
        } else if (name === H.H_SAMPLE) {
          sampleField = true;
          const n = Number(value);
          if (!clear && value.trim() !== '' && Number.isFinite(n)) sample = n;
          head.remove(name);
        } else if (name === H.H_DST_SERVICE || name === H.H_DST_CLIENT || name === H.H_DST_RESIDUAL || name === H.H_REQID || clear) {
          // Set afresh by this router, or context an untrusted caller may not pass.
          head.remove(name);
        }
        continue;
      }
      if (len === 3 && (b[ns]! | 0x20) === 0x76 && (b[ns + 1]! | 0x20) === 0x69 && (b[ns + 2]! | 0x20) === 0x61) {
        const v = b.toString('latin1', f[i + 2]!, f[i + 3]!);
        via = via === undefined ? v : via + ', ' + v;
        continue;
      }
      const hop = HOP_NAMES[len];
      if (hop !== undefined) {
        for (const n of hop) {
          if (!eqLowerAt(b, ns, n)) continue;
          if (n === 'connection') {
            const v = b.toString('latin1', f[i + 2]!, f[i + 3]!);
            connection = connection === undefined ? v : connection + ',' + v;
          } else if (n === 'upgrade') upgrade = true;
          else if (n === H_XFCC && !clear) callerCert = b.toString('latin1', f[i + 2]!, f[i + 3]!);
          head.remove(n);
          break;
        }
      }
    }
    if (connection !== undefined) {
      // Fields named by Connection are hop-by-hop too; `Upgrade` survives for an upgrade.
      for (const t of connection.split(',')) {
        const tok = t.trim().toLowerCase();
        if (tok === 'upgrade') continue;
        if (tok !== '' && tok !== 'close' && tok !== 'keep-alive') head.remove(tok);
      }
      upgrade = upgrade && /(^|,)\s*upgrade\s*(,|$)/i.test(connection);
    } else upgrade = false;
    if (upgrade) {
      head.set('connection', 'Upgrade');
      head.set('upgrade', head.header('upgrade') ?? '');
    }

    const depth = via === undefined ? 0 : H.viaDepth([via]);
    if (depth >= srv.maxCallDepth) {
      throw new RouterError('MESH_ERR_ROUTER_CALL_DEPTH', `Maximum call depth ${srv.maxCallDepth} exceeded: the request passed ${depth} proxies (routing loop?)`);
    }
    if (via !== undefined) head.set('via', via + ', ' + H.VIA_ENTRY);

    // Request dtabs: base ++ l5d-ctx-dtab ++ l5d-dtab (request entries win).
    let localText = '';
    let dtabKey = this.baseDtabText;
    if (ctxDtab !== '' || userDtab !== '') {
      localText = this.requestDtabs.local(ctxDtab, userDtab);
      if (localText !== '') {
        dtabKey = this.requestDtabs.keyOf(localText);
        head.set(H.H_CTX_DTAB, localText);
      }
    }

    const view = this.view;
    view.ex = ex;
    const id = this.deps.identify(view);
    view.ex = null as unknown as Http1Exchange;
    if (id.type === 'unidentified') {
      throw new RouterError('MESH_ERR_ROUTER_UNIDENTIFIED', `Unknown destination: ${head.method} ${head.target} / ${id.reason}`);
    }
    if (srv.addForwardedHeader !== undefined) {
      head.append(
        'forwarded',
        forwardedValue(srv.addForwardedHeader, this.label, ex.localAddress, ex.localPort, ex.remoteAddress, ex.remotePort, ex.connection, head.header('host'), targetScheme(head.target)),
      );
    }
    if (id.rewrittenUrl !== undefined) head.target = id.rewrittenUrl;
    // Proxy-form request: forwarded in origin-form with the authority as Host.
    if (id.rewrittenHost !== undefined) head.set('host', id.rewrittenHost);
    const dst = id.dst;
    const dstText = dst.show();

    const svc = this.serviceFor(dst, dstText);

    // The server's timeoutMs and the caller's deadline tighten the total timeout; the tighter one travels on.
    let timeoutMs = tighterTimeout(srv.timeoutMs, svc.totalTimeoutMs);
    let byDeadline = false;
    if (deadlines !== undefined) {
      const d = H.parseDeadline(deadlines);
      if (d !== undefined) {
        const now = Date.now();
        const left = Number(d.deadlineNs / 1_000_000n) - now;
        if (left <= 0) {
          throw new RouterError('MESH_ERR_ROUTER_TIMEOUT', `the caller's deadline (l5d-ctx-deadline) passed ${-left}ms before ${dstText} was called`, { interrupted: true });
        }
        const c = callerDeadline(timeoutMs, left, d.deadlineNs, now);
        timeoutMs = c.timeoutMs;
        byDeadline = c.byDeadline;
        head.set(H.H_CTX_DEADLINE, H.formatDeadline(d.timestampNs, c.passNs));
      }
    }

    const route = new Route(this, started, ex, srv, svc, dst, dtabKey, localText);
    // Via (when the client sent none), l5d-dst-service, l5d-dst-client and, without a tracer,
    // the trace context are written by the route into the forwarded head.
    route.addVia = via === undefined;
    route.callerCert = callerCert;
    head.extra = route;
    if (this.tracer !== null) {
      const tracer = this.tracer;
      // With Linkerd's propagator and no l5d-sample the sampling is decided here, as the server
      // span would decide it; a request that will not be recorded makes no spans.
      const draw = this.propagator === L5D_PROPAGATOR && !sampleField && traceFields <= 1 ? this.unrecorded(tracer, route, traceFields === 1 ? traceRaw : undefined) : undefined;
      if (draw !== null) {
        const span = tracer.startServerSpan(headersOf(ex), this.label, head.method, head.target, this.propagator.extract, draw);
        span.tag('l5d.dst.service', dstText);
        route.span = span;
        head.set(H.H_REQID, span.context.traceId);
      }
    } else {
      const ctx = new Uint8Array(40);
      route.traceLen = traceContextInto(ctx, trace, sample);
      route.trace = ctx;
    }
    ex.responseListener = route;
    route.start(timeoutMs, byDeadline);
  }

  /**
   * Linkerd's propagator: the sampling a server span would decide for a request carrying the
   * caller's `l5d-ctx-trace` value `callerTrace` (undefined: none): the caller's 32-byte
   * context when it says, else one draw. When nothing will be recorded the route gets the ids
   * its client span would have carried (written with its other fields) and this returns null.
   * Otherwise it returns the draw made, if any, for the server span; a context that is not 32
   * bytes (a 128-bit trace id, or not a context) is left to the span.
   */
  private unrecorded(tracer: Tracer, route: Route, callerTrace: string | undefined): number | undefined | null {
    let draw: number | undefined;
    let sampled: boolean | undefined;
    if (callerTrace !== undefined) {
      if (readCallerTrace(callerTrace) !== 32) return undefined;
      sampled = callerSampling();
    }
    if (sampled === undefined) {
      draw = tracer.draw();
      sampled = draw < tracer.sampleRate;
    }
    if (sampled) return draw;
    const ctx = new Uint8Array(40);
    if (callerTrace === undefined) route.traceLen = unsampledRootInto(ctx);
    else {
      route.traceLen = unsampledChildInto(ctx);
      route.ex.head.remove(H.H_CTX_TRACE);
    }
    route.trace = ctx;
    route.newSpanPerAttempt = true;
    return null;
  }

  protected makeService(p: Obj, key: string): Service {
    const classifier = createClassifier(p['responseClassifier'] as Obj | undefined);
    const classify: ClassifyFn = (method, status, err) => classifier.classify(method, status, err);
    return commonService(this.label, this.deps.metrics, key, p, classify);
  }

  /** `x-forwarded-client-cert` for the caller's TLS client certificate (client-cert.ts). */
  peerCertValue(ex: Http1Exchange): string | undefined {
    return connectionCertValue(ex.connection, () => ex.peerCertificate());
  }

  attemptTimeoutMs(client: Client): number {
    return this.attemptTimeouts.get(client) ?? 0;
  }

  clientFor(bound: BoundName): Client {
    const idText = bound.id.show();
    let c = this.clients.get(idText);
    if (c !== undefined) return c;
    const p = this.clientConfigs.paramsFor(bound.id);
    const pool = (p['hostConnectionPool'] as Obj | undefined) ?? {};
    const params: ClientParams = {
      ...commonClientParams(p, this.deps.tlsFiles),
      pool: { maxSize: num(pool, 'maxSize', 0), minSize: num(pool, 'minSize', 0), idleTimeMs: num(pool, 'idleTimeMs', 0), maxWaiters: num(pool, 'maxWaiters', Infinity) },
      bindingTimeoutMs: this.bindingTimeoutMs,
    };
    c = new Client(idText, bound.addr, params, this.deps.metrics, ['rt', this.label, 'client', idText.slice(1)]);
    this.attemptTimeouts.set(c, params.requestAttemptTimeoutMs);
    this.clientCache.add(idText, c);
    return c;
  }

  /** Every request ends here once: server metrics, the access log line, the server span. */
  finish(srv: ServerContext, ex: Http1Exchange, status: number, ms: number, route: Route | null): void {
    srv.inflight--;
    countServerRequest(this.deps.metrics, srv, status, ms);
    if (route !== null && route.span !== null) route.span.finish(status, route.errorMessage);
    if (this.accessLog !== null) {
      const head = ex.head;
      this.accessLog.log({
        host: head.header('host'),
        remote: ex.remoteAddress,
        method: head.method,
        uri: head.target,
        httpVersion: head.minor === 0 ? '1.0' : '1.1',
        status,
        responseBytes: undefined,
        referer: head.header('referer'),
        userAgent: head.header('user-agent'),
        logicalName: route?.dst.show(),
        client: route?.clientId,
      });
    }
  }

  override close(): void {
    super.close();
    void this.accessLog?.close();
  }
}

/** The trace-context fields the tracer reads (B3, W3C, Linkerd's), by lowercase name. */
const TRACE_FIELDS = new Set(['l5d-ctx-trace', 'l5d-sample', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'traceparent']);

/**
 * The head's trace-context fields as Node-style headers, for the tracer. Only names that can
 * be one of them (by length and first letter) are decoded.
 */
function headersOf(ex: Http1Exchange): Record<string, string> {
  const h = ex.head;
  const b = h.buf;
  const f = h.fields;
  const out: Record<string, string> = {};
  for (let i = 0; i < f.length; i += 4) {
    const len = f[i + 1]! - f[i]!;
    if (len < 10 || len > 17) continue;
    const c = b[f[i]!]! | 0x20;
    if (c !== 0x6c && c !== 0x78 && c !== 0x74) continue; // l, x, t
    const name = b.toString('latin1', f[i]!, f[i + 1]!).toLowerCase();
    if (!TRACE_FIELDS.has(name)) continue;
    const v = b.toString('latin1', f[i + 2]!, f[i + 3]!);
    out[name] = out[name] === undefined ? v : out[name] + ', ' + v;
  }
  return out;
}
