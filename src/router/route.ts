/**
 * One request on its way through a router, after identification: the per-request state the
 * engine calls back into (it is the exchange's ResponseListener). It reads the name's bound
 * tree, picks a branch and an endpoint, sends the attempt on that endpoint's pool, and decides
 * on each outcome:
 *
 *   response head  -> classify; retryable failure within budget: discard it and retry after
 *                     the backoff; otherwise it streams to the client
 *   upstream error -> never reached the application: requeue on the same client (requeue
 *                     budget); else classify and retry or answer with the error
 *   done           -> metrics, spans and the access log line; endpoint load released
 *
 * Timeouts (`totalTimeoutMs` and the caller's `l5d-ctx-deadline`, `requestAttemptTimeoutMs`)
 * are one timer each, only when configured. The common case (binding and addresses already
 * known, one attempt) runs synchronously from the request head to the upstream write.
 */
import type { Http1Error } from '../protocol/http1/errors.js';
import { responseField, type ResponseInfo, type ResponseListener } from '../protocol/http1/index.js';
import type { HeadExtra } from '../protocol/http1/request-head.js';
import { copyBytes } from '../protocol/http1/chars.js';
import type { Http1Exchange } from '../protocol/http1/server.js';
import type { Http1Pool } from '../protocol/http1/pool.js';
import type { Path } from '../naming/path.js';
import type { ClientSpan, ServerSpan } from '../telemetry/tracing.js';
import { newIdInto } from '../telemetry/trace-context.js';
import { MAX_REQUEUES, type Client, type ClientEndpoint } from './client.js';
import { errorResponse, statusFor } from './error-responder.js';
import { RouterError } from './errors.js';
import * as H from './headers.js';
import { H_XFCC } from './client-cert.js';
import { MAX_RETRIES, type Service } from './service.js';
import { RoutedCall } from './routed-call.js';
import type { RouterCore, ServerContext } from './router.js';

/** Response fields a `clearContext` server never passes to its (untrusted) callers. */
const CLEARED_RESPONSE_FIELDS: readonly string[] = [H.H_ERR, H.H_RETRYABLE, 'l5d-success-class'];
/** Response fields holding absolute URLs, fixed after a Host rewrite (Linkerd's RewriteHostHeader). */
const REWRITTEN_RESPONSE_FIELDS: readonly string[] = ['location', 'refresh'];

/** Small request bodies are kept for a resend when the classifier may retry the response. */
const KEEP_BODY_LIMIT = 64 * 1024;

export class Route extends RoutedCall<Http1Pool, Client> implements ResponseListener, HeadExtra {
  /** The request came without `Via`: this router's entry is the whole field. */
  addVia = false;
  /** The `x-forwarded-client-cert` the caller sent (removed unless a client forwards certificates). */
  callerCert: string | undefined = undefined;
  /** This route's head carries an `x-forwarded-client-cert` edit. */
  private certSet = false;
  /**
   * The caller's Host ('' for none) once an attempt went to a client whose Addr names an
   * authority; `hostAuthority` is the Host the current attempt sent (undefined: the caller's).
   */
  private callerHost: string | undefined = undefined;
  private hostAuthority: string | undefined = undefined;
  /** The trace context forwarded in `l5d-ctx-trace` (`traceLen` bytes; 0: none, a span writes it). */
  trace: Uint8Array | null = null;
  traceLen = 0;
  /** `trace` stands for an unrecorded client span: each attempt gets a new span id. */
  newSpanPerAttempt = false;
  private traceSent = false;
  /** Status the client got (0 until known). */
  status = 0;
  private retries = 0;
  private requeues = 0;
  private schedule: { next(): number } | undefined = undefined;
  /** The endpoint of the attempt in flight or of the response streaming, or undefined. */
  private ep: ClientEndpoint | undefined = undefined;
  private attemptStarted = 0;
  private attemptTimer: NodeJS.Timeout | undefined = undefined;
  private totalTimer: NodeJS.Timeout | undefined = undefined;
  private finished = false;
  private byDeadline = false;
  private error: string | undefined = undefined;
  span: ServerSpan | null = null;
  private clientSpan: ClientSpan | null = null;

  constructor(
    private readonly core: RouterCore,
    /** When the router took the request (ms since the epoch). */
    readonly started: number,
    readonly ex: Http1Exchange,
    readonly srv: ServerContext,
    readonly svc: Service,
    dst: Path,
    dtabKey: string,
    localDtab: string,
  ) {
    super(core, dst, dtabKey, localDtab);
  }

  /**
   * Starts the request; `timeoutMs` is the effective total timeout (0: none), `byDeadline`
   * when the caller's `l5d-ctx-deadline` set it.
   */
  start(timeoutMs: number, byDeadline = false): void {
    this.byDeadline = byDeadline;
    const svc = this.svc;
    svc.requests.incr();
    const now = this.started;
    svc.budget.deposit(now);
    if (this.ex.hasBody && svc.mayRetryResponse(this.ex.head.method)) this.ex.keepBody(KEEP_BODY_LIMIT);
    if (timeoutMs > 0) this.totalTimer = setTimeout(() => this.totalTimeout(timeoutMs), timeoutMs);
    this.attempt(now);
  }

  protected get settled(): boolean {
    return this.finished;
  }

  /** Sends one attempt to `ep`, on its engine pool. */
  protected sendTo(ep: ClientEndpoint, now: number): void {
    const client = this.client!;
    this.ep = ep;
    ep.pending++;
    client.m.requests.incr();
    ep.accrual.onRequest();
    this.attemptStarted = now;
    const ex = this.ex;
    if (this.span !== null) {
      this.clientSpan?.finish(0, undefined, 'retried');
      const cs = this.span.child(client.id);
      this.clientSpan = cs;
      cs.injectInto(ex.head, this.core.propagator.write);
    } else if (this.newSpanPerAttempt) {
      if (this.traceSent) newIdInto(this.trace!, 0);
      this.traceSent = true;
    }
    if (client.forwardClientCert || this.certSet) this.clientCert(client);
    if (client.authority !== undefined || this.callerHost !== undefined) this.rewriteHost(client);
    const t = this.core.attemptTimeoutMs(client);
    if (t > 0) this.attemptTimer = setTimeout(() => this.attemptTimeout(t), t);
    ex.responseListener = this;
    ep.pool.dispatch(ex);
  }

  /**
   * Linkerd's RewriteHostHeader: a client whose bound Addr carries `authority` metadata gets it
   * as the request's Host; a retry to a client without one sends the caller's Host again.
   */
  private rewriteHost(client: Client): void {
    const head = this.ex.head;
    const authority = client.authority;
    if (this.callerHost === undefined) this.callerHost = head.header('host') ?? '';
    if (authority !== undefined) head.set('host', authority);
    else if (this.callerHost !== '') head.set('host', this.callerHost);
    else head.remove('host');
    this.hostAuthority = authority;
  }

  /**
   * After a Host rewrite, the response's `Location` and `Refresh` name the caller's Host where
   * they named the authority (absolute URLs the upstream built from the Host it saw), as
   * Linkerd (and nginx and Apache) rewrite them.
   */
  private restoreHost(ex: Http1Exchange, info: ResponseInfo, authority: string): void {
    const caller = this.callerHost;
    if (caller === undefined || caller === '' || caller === authority) return;
    let lines = '';
    const drop: string[] = [];
    for (const name of REWRITTEN_RESPONSE_FIELDS) {
      const v = responseField(info, name);
      if (v === undefined || !v.includes(authority)) continue;
      drop.push(name);
      lines += `${name}: ${v.split(authority).join(caller)}\r\n`;
    }
    if (drop.length === 0) return;
    ex.stripResponseHeaders = ex.stripResponseHeaders === null ? drop : [...ex.stripResponseHeaders, ...drop];
    const extra = Buffer.from(lines, 'latin1');
    ex.responseHeaders = ex.responseHeaders === null ? extra : Buffer.concat([ex.responseHeaders, extra]);
  }

  /**
   * `forwardClientCert`: the caller's TLS client certificate, or without one what the caller
   * sent, goes upstream; a client without it sends none (a retry may change clients).
   */
  private clientCert(client: Client): void {
    const head = this.ex.head;
    if (client.forwardClientCert) {
      const v = this.core.peerCertValue(this.ex) ?? this.callerCert;
      if (v !== undefined) {
        head.set(H_XFCC, v);
        this.certSet = true;
        return;
      }
    }
    head.remove(H_XFCC);
    this.certSet = false;
  }

  /** Releases the endpoint of the attempt that just ended; returns its latency in ms. */
  private endAttempt(): number {
    if (this.attemptTimer !== undefined) {
      clearTimeout(this.attemptTimer);
      this.attemptTimer = undefined;
    }
    return Date.now() - this.attemptStarted;
  }

  // ResponseListener: the upstream's final response head.
  onResponseHead(ex: Http1Exchange, status: number, info: ResponseInfo): boolean {
    const ep = this.ep!;
    const client = this.client!;
    const ms = this.endAttempt();
    let cls = this.svc.classify(ex.head.method, status, undefined);
    // `l5d-retryable: true` from a downstream linker: the request never reached the application.
    if (info.retryable && cls === 'failure' && status >= 500) cls = 'retryable-failure';
    client.attemptDone(ep, ms, status, cls === 'success');
    this.clientSpan?.finish(status, { ip: ep.host, port: ep.port });
    this.clientSpan = null;
    if (cls === 'retryable-failure' && status !== 101 && this.retryAllowed()) {
      ep.pending--;
      this.ep = undefined;
      this.retryLater();
      return false;
    }
    if (this.srv.clearContext) ex.stripResponseHeaders = CLEARED_RESPONSE_FIELDS;
    if (this.hostAuthority !== undefined) this.restoreHost(ex, info, this.hostAuthority);
    this.status = status;
    return true;
  }

  // ResponseListener: the attempt failed before a response head.
  onUpstreamError(ex: Http1Exchange, err: Http1Error): void {
    const rerr = toRouterError(err);
    const client = this.client!;
    this.attemptFailed(rerr, 502, err.code === 'MESH_ERR_HTTP1_UPSTREAM_CONNECT');
    if (this.finished) return;
    if (rerr.retryable && ex.replayable && this.requeues < MAX_REQUEUES && client.tryRequeue()) {
      this.requeues++;
      this.send();
      return;
    }
    this.retryOrFail(rerr);
  }

  /**
   * The attempt in flight ended without a response (error, timeout, caller gone): its endpoint
   * is released and the failure recorded for the balancer, failure accrual and the span.
   */
  private attemptFailed(err: RouterError, spanStatus: number, connectFailed: boolean): void {
    const ep = this.ep;
    if (ep === undefined) return;
    const ms = this.endAttempt();
    ep.pending--;
    this.ep = undefined;
    const ok = this.svc.classify(this.ex.head.method, undefined, err) === 'success';
    this.client!.attemptFailed(ep, ms, connectFailed, ok);
    this.clientSpan?.finish(spanStatus, { ip: ep.host, port: ep.port }, err.message);
    this.clientSpan = null;
  }

  /** Retries a failed attempt when the classifier and the budget allow, else answers with it. */
  private retryOrFail(err: RouterError): void {
    if (this.svc.classify(this.ex.head.method, undefined, err) === 'retryable-failure' && this.retryAllowed()) this.retryLater();
    else this.fail(err);
  }

  /** Whether a failed attempt may be retried: replayable, under the cap, within the budget. */
  private retryAllowed(): boolean {
    if (this.finished || !this.ex.replayable || this.ex.head.expectContinue || this.retries >= MAX_RETRIES) return false;
    if (!this.svc.budget.tryWithdraw()) {
      this.svc.budgetExhausted.incr();
      return false;
    }
    return true;
  }

  private retryLater(): void {
    this.retries++;
    this.svc.retriesTotal.incr();
    const wait = (this.schedule ??= this.svc.backoff()).next();
    if (wait > 0) setTimeout(() => this.attempt(), wait);
    else this.attempt();
  }

  private attemptTimeout(ms: number): void {
    this.attemptTimer = undefined;
    const ep = this.ep;
    if (this.finished || ep === undefined || this.ex.responseStarted) return;
    // The attempt is abandoned: its connection is dropped and the failure classified.
    this.ex.canceller?.cancel();
    const err = new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms request attempt timeout to ${ep.label}`, { interrupted: true });
    this.attemptFailed(err, statusFor(err.code), false);
    this.retryOrFail(err);
  }

  private totalTimeout(ms: number): void {
    this.totalTimer = undefined;
    if (this.finished || this.ex.responseStarted) return;
    const why = this.byDeadline ? `the caller's deadline (l5d-ctx-deadline, ${ms}ms left)` : `${ms}ms total timeout`;
    const err = new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${why} for ${this.dst.show()}`, { interrupted: true });
    if (this.ep !== undefined) {
      this.ex.canceller?.cancel();
      this.attemptFailed(err, statusFor(err.code), false);
    }
    this.fail(err);
  }

  /** Answers with the error (Linkerd's ErrorResponder), or cuts a response under way. */
  fail(err: unknown): void {
    const ex = this.ex;
    if (ex.done) return;
    if (ex.responseStarted) {
      ex.abort();
      return;
    }
    const r = errorResponse(err, this.srv.clearContext);
    this.error = err instanceof Error ? err.message : String(err);
    this.status = r.status;
    const headers: [string, string][] = [['content-type', 'text/plain; charset=utf-8']];
    if (r.l5dErr !== undefined) headers.push([H.H_ERR, r.l5dErr]);
    if (r.retryable) headers.push([H.H_RETRYABLE, 'true']);
    ex.responseListener = this;
    ex.respond(r.status, headers, r.body);
  }

  // ResponseListener: the exchange is over.
  onDone(ex: Http1Exchange): void {
    if (this.finished) return;
    this.finished = true;
    if (this.totalTimer !== undefined) clearTimeout(this.totalTimer);
    if (this.attemptTimer !== undefined) clearTimeout(this.attemptTimer);
    const ep = this.ep;
    if (ep !== undefined) {
      this.ep = undefined;
      ep.pending--;
      if (this.status === 0) {
        // The client left while the attempt was in flight.
        this.client!.attemptFailed(ep, Date.now() - this.attemptStarted, false, false);
      }
    }
    const status = this.status !== 0 ? this.status : ex.status;
    const ms = Date.now() - this.started;
    const svc = this.svc;
    svc.latency.add(ms);
    if (status !== 0 && svc.classify(ex.head.method, status, undefined) === 'success') svc.success.incr();
    else svc.failures.incr();
    svc.retriesPerRequest.add(this.retries);
    this.core.finish(this.srv, ex, status, ms, this);
  }

  // HeadExtra: the fields every forwarded request gets (Via, l5d-dst-service, l5d-dst-client,
  // l5d-dst-residual, l5d-ctx-trace and l5d-reqid), written into the forwarded head without
  // per-request strings.
  extraLength(): number {
    let n = this.svc.dstField.length;
    if (this.addVia) n += H.VIA_FIELD.length;
    if (this.client !== undefined) n += this.client.dstField.length;
    const residual = this.bound?.residual;
    if (residual !== undefined && !residual.isEmpty) n += H.residualFieldLength(residual.show());
    if (this.traceLen !== 0) n += H.traceFieldsLength(this.traceLen);
    return n;
  }

  writeExtra(out: Buffer, at: number): number {
    if (this.addVia) at = copyBytes(H.VIA_FIELD, 0, H.VIA_FIELD.length, out, at);
    const svcField = this.svc.dstField;
    at = copyBytes(svcField, 0, svcField.length, out, at);
    const client = this.client;
    if (client !== undefined) at = copyBytes(client.dstField, 0, client.dstField.length, out, at);
    const residual = this.bound?.residual;
    if (residual !== undefined && !residual.isEmpty) at = H.writeResidualField(out, at, residual.show());
    if (this.traceLen !== 0) at = H.writeTraceFields(out, at, this.trace!, this.traceLen);
    return at;
  }

  /** The bound client's id, once one was chosen. */
  get clientId(): string | undefined {
    return this.client?.id;
  }

  get errorMessage(): string | undefined {
    return this.error;
  }
}

function toRouterError(err: Http1Error): RouterError {
  switch (err.code) {
    case 'MESH_ERR_HTTP1_UPSTREAM_CONNECT':
      return new RouterError('MESH_ERR_ROUTER_CONNECT_FAILED', err.message, { retryable: true });
    case 'MESH_ERR_HTTP1_POOL_QUEUE_FULL':
      return new RouterError('MESH_ERR_ROUTER_POOL_EXHAUSTED', err.message, { rejected: true, retryable: true });
    default:
      return new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', err.message, { retryable: err.retryable });
  }
}

export type { ServerContext };
