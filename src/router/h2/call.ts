/**
 * One request stream on its way through an h2 router, after identification. It reads the
 * name's bound tree, picks a branch, a client and an endpoint, and opens a stream on that
 * endpoint's HTTP/2 session; bodies stream both ways with backpressure, trailers are forwarded
 * both ways, and a reset on one side resets the other (the caller cancels: the upstream stream
 * gets RST_STREAM CANCEL; the upstream resets a response under way: the caller's stream is
 * reset with the same code).
 *
 * Request bodies up to the service's `retryBufferSize.requestBytes` are kept, so a request
 * whose attempt never reached the application (connect failure, REFUSED_STREAM) is requeued
 * and a response classified retryable is retried (within the retry budget). A response whose
 * class is only known at its end (gRPC's trailers) is held, up to `responseBytes` and
 * `classificationTimeoutMs`, when a retry is possible; otherwise it streams at once.
 */
import * as http2 from 'node:http2';
import type { Path } from '../../naming/path.js';
import type { ResponseClass } from '../classifiers/classifier.js';
import { isConnectFailure, type H2SessionPool } from '../../protocol/h2/session-pool.js';
import { resetSoon } from '../../protocol/h2/reset-soon.js';
import { endedByReset } from '../../protocol/h2/stream-end.js';
import { MAX_REQUEUES } from '../client.js';
import { errorResponse } from '../error-responder.js';
import { RouterError } from '../errors.js';
import * as H from '../headers.js';
import { H_XFCC, connectionCertValue } from '../client-cert.js';
import type { ClientSpan, ServerSpan } from '../../telemetry/tracing.js';
import { MAX_RETRIES } from '../service.js';
import { RoutedCall } from '../routed-call.js';
import type { H2Client, H2Endpoint } from './client.js';
import type { H2RouterCore, H2ServerContext, H2Service } from './router.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_HTTP_1_1_REQUIRED, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Response fields never forwarded on an HTTP/2 hop, and those a clearContext server strips. */
const CONNECTION_FIELDS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);
const CLEARED_FIELDS: ReadonlySet<string> = new Set([H.H_ERR, H.H_RETRYABLE, 'l5d-success-class']);

/** Response headers (or trailers) as forwarded: connection-specific fields out. */
export function cleanResponseHeaders(h: http2.IncomingHttpHeaders, clearContext: boolean, trailers = false): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const name of Object.keys(h)) {
    const v = h[name];
    if (v === undefined || CONNECTION_FIELDS.has(name)) continue;
    if (name.charCodeAt(0) === 58 && (trailers || name !== ':status')) continue;
    if (clearContext && CLEARED_FIELDS.has(name)) continue;
    out[name] = v;
  }
  keepNeverIndexed(h, out);
  return out;
}

/**
 * Marks in `to` the fields of `from` that came never-indexed (node:http2 lists their names under
 * `http2.sensitiveHeaders`) and that `to` still carries: an intermediary must not re-encode such
 * a field so that it is indexed (RFC 7541 §7.1.3), and node:http2 indexes any field not marked.
 */
export function keepNeverIndexed(from: http2.IncomingHttpHeaders, to: http2.OutgoingHttpHeaders): void {
  const never = (from as Record<symbol, readonly string[] | undefined>)[http2.sensitiveHeaders];
  if (never === undefined || never.length === 0) return;
  (to as Record<symbol, string[]>)[http2.sensitiveHeaders] = never.filter((n) => to[n] !== undefined);
}

/** The headers of a response the router makes itself (Linkerd's error responder). */
export function errorHeaders(r: { status: number; l5dErr: string | undefined; retryable: boolean }): http2.OutgoingHttpHeaders {
  const h: http2.OutgoingHttpHeaders = { ':status': r.status, 'content-type': 'text/plain; charset=utf-8' };
  if (r.l5dErr !== undefined) h[H.H_ERR] = r.l5dErr;
  if (r.retryable) h[H.H_RETRYABLE] = 'true';
  return h;
}

/** Request trailers as forwarded. */
function cleanTrailers(h: http2.IncomingHttpHeaders | undefined): http2.OutgoingHttpHeaders {
  return h === undefined ? {} : cleanResponseHeaders(h, false, true);
}

const RST_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(http2.constants)
    .filter(([k]) => k.startsWith('NGHTTP2_') && !k.startsWith('NGHTTP2_FLAG') && !k.startsWith('NGHTTP2_SETTINGS') && !k.startsWith('NGHTTP2_SESSION') && !k.startsWith('NGHTTP2_STREAM') && !k.startsWith('NGHTTP2_ERR_') && !k.startsWith('NGHTTP2_HCAT') && !k.startsWith('NGHTTP2_NV') && !k.startsWith('NGHTTP2_DEFAULT') && !k.startsWith('NGHTTP2_DATA'))
    .map(([k, v]) => [v as number, k.slice('NGHTTP2_'.length)]),
);

export class H2Call extends RoutedCall<H2SessionPool, H2Client> {
  /** The status the caller got (0 until a response was committed). */
  status = 0;
  private finalClass: ResponseClass | undefined = undefined;
  private finished = false;
  private retries = 0;
  private requeues = 0;
  private schedule: { next(): number } | undefined = undefined;
  private ep: H2Endpoint | undefined = undefined;
  private up: http2.ClientHttp2Stream | undefined = undefined;
  private upError: Error | undefined = undefined;
  private attemptStarted = 0;
  private attemptRecorded = false;
  private attemptTimer: NodeJS.Timeout | undefined = undefined;
  private retryTimer: NodeJS.Timeout | undefined = undefined;
  private totalTimer: NodeJS.Timeout | undefined = undefined;

  // Request body: chunks kept for a resend (all of them while within the buffer), `written`
  // of them sent on the current attempt.
  private chunks: Buffer[] = [];
  private written = 0;
  private reqBytes = 0;
  private overflow = false;
  private reqEnded: boolean;
  private reqTrailers: http2.IncomingHttpHeaders | undefined = undefined;
  private upReqEnded = false;
  private dropBody = false;
  /** A reset of the caller's stream is on its way (resetSoon): nothing more is written to it. */
  private downReset = false;
  /** When the caller last sent body bytes or was last seen held back by the router (ms). */
  private bodyAt = 0;
  private bodyTimer: NodeJS.Timeout | undefined = undefined;

  // Response.
  private responding = false;
  private respEnded = false;
  private held = false;
  private holdTimer: NodeJS.Timeout | undefined = undefined;
  private respHeaders: http2.IncomingHttpHeaders = {};
  private respStatus = 0;
  private respChunks: Buffer[] = [];
  private respBytes = 0;
  /** Body bytes of the current attempt's response (to hold against its content-length). */
  private respBodyBytes = 0;
  private respTrailers: http2.IncomingHttpHeaders | undefined = undefined;
  private upEnded = false;
  private readonly remote: string | undefined;

  /** The `x-forwarded-client-cert` the caller sent (not forwarded unless the client forwards certificates). */
  callerCert: string | undefined = undefined;
  /** The request's server span (null: no tracer); each attempt gets a client span. */
  span: ServerSpan | null = null;
  private clientSpan: ClientSpan | null = null;
  /** Why the router answered with an error (for the server span). */
  private failure: string | undefined = undefined;

  constructor(
    private readonly router: H2RouterCore,
    private readonly down: http2.ServerHttp2Stream,
    flags: number,
    /** The request headers as received (for the access log). */
    private readonly reqHeaders: http2.IncomingHttpHeaders,
    /** The request headers as forwarded (edited by the router). */
    private readonly fwd: http2.OutgoingHttpHeaders,
    private readonly method: string,
    private readonly srv: H2ServerContext,
    private readonly svc: H2Service,
    dst: Path,
    dtabKey: string,
    localDtab: string,
    private readonly started: number,
  ) {
    super(router, dst, dtabKey, localDtab);
    this.reqEnded = (flags & NGHTTP2_FLAG_END_STREAM) !== 0 || down.readableEnded;
    this.remote = down.session?.socket?.remoteAddress;
  }

  start(timeoutMs: number): void {
    const down = this.down;
    const base = this.svc.base;
    base.requests.incr();
    base.budget.deposit(this.started);
    down.on('data', (c: Buffer) => this.onRequestData(c));
    down.on('end', () => {
      this.reqEnded = true;
      this.pump();
    });
    down.on('trailers', (t: http2.IncomingHttpHeaders) => {
      this.reqTrailers = t;
    });
    down.on('close', () => this.onDownClose());
    down.on('wantTrailers', () => {
      try {
        down.sendTrailers(cleanResponseHeaders(this.respTrailers ?? {}, this.srv.clearContext, true));
      } catch {
        this.resetDown(NGHTTP2_INTERNAL_ERROR);
      }
    });
    if (timeoutMs > 0) this.totalTimer = setTimeout(() => this.totalTimeout(timeoutMs), timeoutMs);
    const idle = this.srv.bodyIdleMs;
    if (!this.reqEnded && idle > 0) {
      this.bodyAt = this.started;
      this.watchBody(idle, idle);
    }
    this.attempt(this.started);
  }

  // ---- routing -------------------------------------------------------------------------

  /** The caller has its answer (or is gone): no attempt may start any more. */
  protected get settled(): boolean {
    return this.finished || this.responding;
  }

  /** Opens one attempt's stream on `ep`'s session. */
  protected sendTo(ep: H2Endpoint, now: number): void {
    const client = this.client!;
    const headers: http2.OutgoingHttpHeaders = { ...this.fwd, ':scheme': ep.pool.scheme, [H.H_DST_CLIENT]: client.id };
    if (client.params.forwardClientCert) {
      // The caller's TLS client certificate, or without one what the caller sent (client-cert.ts).
      const session = this.down.session;
      const peer = session === undefined ? undefined : connectionCertValue(session, () => peerCertificate(session.socket));
      const v = peer ?? this.callerCert;
      if (v !== undefined) headers[H_XFCC] = v;
    }
    if (this.span !== null) {
      this.clientSpan?.finish(0, undefined, 'retried');
      const cs = this.span.child(client.id);
      this.clientSpan = cs;
      cs.injectInto(new HeaderEdits(headers), this.router.propagator.write);
    }
    const residual = this.bound?.residual;
    if (residual !== undefined && !residual.isEmpty) headers[H.H_DST_RESIDUAL] = residual.show();
    const endStream = this.reqEnded && this.chunks.length === 0 && this.reqBytes === 0 && this.reqTrailers === undefined;
    let up: http2.ClientHttp2Stream;
    try {
      up = ep.pool.request(headers, endStream ? { endStream: true } : { endStream: false, waitForTrailers: true });
    } catch (e) {
      this.fail(new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', `could not open a stream to ${ep.label}: ${(e as Error).message}`));
      return;
    }
    this.ep = ep;
    this.up = up;
    this.upError = undefined;
    this.upEnded = false;
    this.upReqEnded = endStream;
    this.written = 0;
    this.attemptRecorded = false;
    this.attemptStarted = now;
    ep.pending++;
    client.m.requests.incr();
    ep.accrual.onRequest();
    up.on('error', (e: Error) => {
      if (up === this.up) this.upError = e;
    });
    up.on('response', (h: http2.IncomingHttpHeaders, flags: number) => this.onResponse(up, h, flags));
    up.on('data', (c: Buffer) => this.onResponseData(up, c));
    up.on('trailers', (t: http2.IncomingHttpHeaders) => {
      if (up === this.up) this.respTrailers = t;
    });
    up.on('end', () => this.onResponseEnd(up));
    up.on('close', () => this.onUpClose(up));
    if (!endStream) {
      up.on('wantTrailers', () => {
        try {
          up.sendTrailers(cleanTrailers(this.reqTrailers));
        } catch {
          resetSoon(up, NGHTTP2_CANCEL);
        }
      });
    }
    const t = client.params.requestAttemptTimeoutMs;
    if (t > 0) this.attemptTimer = setTimeout(() => this.attemptTimeout(t), t);
    if (this.down.isPaused()) this.down.resume();
    this.pump();
  }

  // ---- request body --------------------------------------------------------------------

  private onRequestData(c: Buffer): void {
    if (this.dropBody) return;
    if (this.bodyTimer !== undefined) this.bodyAt = Date.now();
    this.chunks.push(c);
    this.reqBytes += c.length;
    if (this.reqBytes > this.svc.requestBufferBytes) this.overflow = true;
    this.pump();
  }

  /** Writes what the current attempt has not had yet, with backpressure both ways. */
  private pump(): void {
    const up = this.up;
    const down = this.down;
    // The upstream closed the stream before the request ended (an early answer, then RST_STREAM
    // NO_ERROR): node:http2 has ended the sending side, and a write now would be an error that
    // also stops the response being read.
    const cut = up !== undefined && !this.upReqEnded && up.writableEnded;
    if (up === undefined || up.destroyed || this.upReqEnded || cut) {
      // No attempt taking the body: the caller waits (flow control) once the buffer is full.
      if (!this.dropBody && (this.up === undefined || cut) && this.overflow && !down.isPaused()) down.pause();
      return;
    }
    while (this.written < this.chunks.length) {
      if (!up.write(this.chunks[this.written++]!)) {
        down.pause();
        up.once('drain', () => {
          if (up !== this.up) return;
          down.resume();
          this.pump();
        });
        break;
      }
    }
    if (this.overflow && this.written > 0) {
      // Past the retry buffer: what was sent is not kept.
      this.chunks.splice(0, this.written);
      this.written = 0;
    }
    if (this.reqEnded && this.written === this.chunks.length) {
      this.upReqEnded = true;
      up.end();
    }
  }

  /**
   * `serverSession.idleTimeMs` for a body still coming: checks, `ms` from now, that the caller
   * has sent some of it within the last `idle` ms. Silence while the router holds the caller
   * back (the upstream or the retry buffer is full) is not the caller's; once the response has
   * started the exchange is the upstream's to end.
   */
  private watchBody(idle: number, ms: number): void {
    this.bodyTimer = setTimeout(() => {
      this.bodyTimer = undefined;
      if (this.finished || this.reqEnded || this.responding || this.dropBody) return;
      const now = Date.now();
      if (this.down.isPaused()) this.bodyAt = now;
      const quiet = now - this.bodyAt;
      if (quiet < idle) this.watchBody(idle, idle - quiet);
      else {
        this.fail(new RouterError('MESH_ERR_ROUTER_BODY_TIMEOUT', `request body stalled: nothing received for ${idle} ms`, { interrupted: true }));
        this.resetWhenAnswered();
      }
    }, ms);
  }

  /**
   * Frees the stream of a caller answered before its request ended and no longer sending: once
   * the answer's END_STREAM is out, RST_STREAM NO_ERROR tells it to stop (RFC 9113 §8.1). A
   * caller that has not let the answer out within a second (its window closed) gets CANCEL.
   */
  private resetWhenAnswered(): void {
    const down = this.down;
    let checks = 0;
    const check = (): void => {
      if (down.destroyed || down.closed) return;
      if (down.state.localClose === 1) down.close(NGHTTP2_NO_ERROR);
      else if (++checks > 100) down.close(NGHTTP2_CANCEL);
      else setTimeout(check, 10);
    };
    setImmediate(check);
  }

  /** The request can be sent again: every byte of its body is still held. */
  private get replayable(): boolean {
    return !this.overflow;
  }

  // ---- response ------------------------------------------------------------------------

  private onResponse(up: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders, flags: number): void {
    if (up !== this.up || this.finished) return;
    this.clearAttemptTimer();
    const status = Number(h[':status']);
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    this.respHeaders = h;
    this.respStatus = status;
    this.respChunks = [];
    this.respBytes = 0;
    this.respBodyBytes = 0;
    this.respTrailers = undefined;
    const classifier = this.svc.classifier;
    let cls = classifier.classifyHeaders(this.method, status, h);
    // A trailers-only response (gRPC errors): its headers are its trailers.
    if (cls === undefined && endStream) cls = classifier.classifyEnd(this.method, status, h, h);
    if (cls !== undefined) {
      this.recordAttempt(status, cls);
      if (cls === 'retryable-failure' && this.retryAllowed()) {
        this.abandonAttempt();
        this.retryLater();
        return;
      }
      this.finalClass = cls;
      this.commit(endStream);
      return;
    }
    if (this.svc.retries && this.replayable && this.retries < MAX_RETRIES) {
      this.held = true;
      const ms = this.svc.classificationTimeoutMs;
      this.holdTimer = setTimeout(() => this.release(), ms);
      return;
    }
    this.commit(false);
  }

  /** Sends the response headers to the caller: from here on the response is the caller's. */
  private commit(endStream: boolean): void {
    this.responding = true;
    this.status = this.respStatus;
    const down = this.down;
    if (down.destroyed || down.closed || this.downReset) return;
    try {
      down.respond(cleanResponseHeaders(this.respHeaders, this.srv.clearContext), endStream ? { endStream: true } : { waitForTrailers: true });
      if (endStream) this.respEnded = true;
    } catch {
      this.resetDown(NGHTTP2_INTERNAL_ERROR);
    }
  }

  /**
   * Resets the caller's stream (after the current I/O callback: reset-soon.ts); until then
   * nothing is written to it, or node:http2 would answer it with the writes.
   */
  private resetDown(code: number): void {
    if (this.downReset || this.down.destroyed) return;
    this.downReset = true;
    resetSoon(this.down, code);
  }

  /** A held response streams after all (too large, too slow, or not retried). */
  private release(): void {
    if (!this.held) return;
    this.held = false;
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.commit(false);
    const down = this.down;
    if (!down.destroyed && !down.closed && !this.downReset) for (const c of this.respChunks) down.write(c);
    this.respChunks = [];
    if (this.upEnded) this.endResponse();
  }

  private onResponseData(up: http2.ClientHttp2Stream, c: Buffer): void {
    if (up !== this.up || this.finished) return;
    this.respBodyBytes += c.length;
    if (this.held) {
      this.respChunks.push(c);
      this.respBytes += c.length;
      if (this.respBytes > this.svc.responseBufferBytes) this.release();
      return;
    }
    if (!this.responding) return;
    const down = this.down;
    // Closed by the caller (node:http2 then ends the sending side), or being reset: nothing more goes to it.
    if (down.destroyed || down.closed || this.downReset) return;
    if (!down.write(c)) {
      up.pause();
      down.once('drain', () => up.resume());
    }
  }

  private onResponseEnd(up: http2.ClientHttp2Stream): void {
    if (up !== this.up || this.finished) return;
    // node:http2 also ends a stream the upstream reset with CANCEL (its rstCode then says so)
    // or with NO_ERROR (nothing says so but a content-length the body fell short of: nghttp2
    // holds content-length only against END_STREAM). Ending the caller's stream would relay a
    // truncated (with its content-length, malformed) response: it is left to the close that
    // follows, as a reset.
    if (up.rstCode !== NGHTTP2_NO_ERROR || endedByReset(up) || this.cutShort()) return;
    this.upEnded = true;
    if (!this.attemptRecorded) {
      const cls = this.svc.classifier.classifyEnd(this.method, this.respStatus, this.respHeaders, this.respTrailers ?? {});
      this.recordAttempt(this.respStatus, cls);
      this.finalClass = cls;
      if (this.held && cls === 'retryable-failure' && this.retryAllowed()) {
        this.held = false;
        if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
        this.abandonAttempt();
        this.retryLater();
        return;
      }
    }
    if (this.held) this.release();
    else if (this.responding) this.endResponse();
  }

  /** The response declares a content-length its body did not reach (HEAD, 204 and 304 have none to reach). */
  private cutShort(): boolean {
    const declared = this.respHeaders['content-length'];
    if (declared === undefined || this.method === 'HEAD' || this.respStatus === 204 || this.respStatus === 304) return false;
    return Number(declared) !== this.respBodyBytes;
  }

  private endResponse(): void {
    if (this.respEnded) return;
    this.respEnded = true;
    const down = this.down;
    if (!down.destroyed && !down.writableEnded && !this.downReset) down.end();
  }

  /** The upstream stream closed: normal after its response ended, else a failure. */
  private onUpClose(up: http2.ClientHttp2Stream): void {
    if (up !== this.up || this.finished) return;
    if (this.upEnded) {
      // Response complete; the request side may still have been open (its body unwanted). The
      // caller may be paused for backpressure toward this stream: it is read and dropped now,
      // else it could never finish sending and its stream would never close.
      if (!this.upReqEnded) {
        this.dropBody = true;
        this.chunks = [];
        if (this.down.isPaused()) this.down.resume();
      }
      this.releaseEndpoint();
      this.up = undefined;
      return;
    }
    const ep = this.ep!;
    const rst = up.rstCode ?? NGHTTP2_INTERNAL_ERROR;
    const connect = isConnectFailure(this.upError);
    const committed = this.responding;
    this.up = undefined;
    if (this.held) {
      this.held = false;
      if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    }
    let err: RouterError;
    if (connect) {
      const cause = (this.upError as { cause?: Error } | undefined)?.cause;
      err = new RouterError('MESH_ERR_ROUTER_CONNECT_FAILED', `connection to ${ep.label} failed: ${cause?.message ?? this.upError?.message ?? 'closed'}`, { retryable: true });
    } else {
      const refused = rst === NGHTTP2_REFUSED_STREAM;
      err = new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', `stream to ${ep.label} reset (${RST_NAMES[rst] ?? rst})${this.upError !== undefined && rst === NGHTTP2_INTERNAL_ERROR ? `: ${this.upError.message}` : ''}`, { retryable: refused });
    }
    if (!this.attemptRecorded) {
      this.attemptRecorded = true;
      this.client!.attemptFailed(ep, Date.now() - this.attemptStarted, connect);
      this.clientSpan?.finish(0, { ip: ep.host, port: ep.port }, err.message);
    }
    this.releaseEndpoint();
    this.clearAttemptTimer();
    if (committed) {
      // A response under way cannot become another one: the caller's stream is reset too.
      this.finalClass = 'failure';
      // NO_ERROR would tell the caller nothing went wrong, and a code RFC 9113 does not define
      // (the upstream's own, or garbage) is INTERNAL_ERROR to the caller (§7 allows that)
      // rather than passed on to a hop that never saw the upstream.
      this.resetDown(rst === NGHTTP2_NO_ERROR || rst > NGHTTP2_HTTP_1_1_REQUIRED ? NGHTTP2_INTERNAL_ERROR : rst);
      return;
    }
    if (err.retryable && this.replayable && this.requeues < MAX_REQUEUES && this.client!.tryRequeue()) {
      this.requeues++;
      this.send();
      return;
    }
    this.retryOrFail(err);
  }

  private recordAttempt(status: number, cls: ResponseClass): void {
    if (this.attemptRecorded) return;
    this.attemptRecorded = true;
    const ep = this.ep!;
    this.clientSpan?.finish(status, { ip: ep.host, port: ep.port });
    this.client!.attemptDone(this.ep!, Date.now() - this.attemptStarted, status, cls === 'success');
  }

  private releaseEndpoint(): void {
    const ep = this.ep;
    if (ep === undefined) return;
    this.ep = undefined;
    ep.pending--;
  }

  /** Drops the attempt in flight (its stream is reset with CANCEL). */
  /** Drops the attempt in flight; `why` ends its client span when no response came. */
  private abandonAttempt(why = 'abandoned'): void {
    const up = this.up;
    this.up = undefined;
    this.clearAttemptTimer();
    if (up !== undefined && !up.destroyed) resetSoon(up, NGHTTP2_CANCEL);
    const ep = this.ep;
    if (ep !== undefined && !this.attemptRecorded) {
      this.attemptRecorded = true;
      this.client!.attemptFailed(ep, Date.now() - this.attemptStarted, false);
      this.clientSpan?.finish(0, { ip: ep.host, port: ep.port }, why);
    }
    this.releaseEndpoint();
  }

  private clearAttemptTimer(): void {
    if (this.attemptTimer !== undefined) clearTimeout(this.attemptTimer);
    this.attemptTimer = undefined;
  }

  private clearRetryTimer(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  // ---- retries, timeouts, failures -----------------------------------------------------

  private retryOrFail(err: RouterError): void {
    if (this.svc.classifier.classifyError(this.method, err, false) === 'retryable-failure' && this.retryAllowed()) this.retryLater();
    else this.fail(err);
  }

  private retryAllowed(): boolean {
    if (this.finished || !this.svc.retries || !this.replayable || this.retries >= MAX_RETRIES) return false;
    if (!this.svc.base.budget.tryWithdraw()) {
      this.svc.base.budgetExhausted.incr();
      return false;
    }
    return true;
  }

  private retryLater(): void {
    this.retries++;
    this.svc.base.retriesTotal.incr();
    const wait = (this.schedule ??= this.svc.base.backoff()).next();
    if (wait > 0) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.attempt();
      }, wait);
    } else this.attempt();
  }

  private attemptTimeout(ms: number): void {
    this.attemptTimer = undefined;
    if (this.finished || this.responding || this.up === undefined) return;
    const label = this.ep?.label ?? '';
    this.held = false;
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    const err = new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms request attempt timeout to ${label}`, { interrupted: true });
    this.abandonAttempt(err.message);
    this.retryOrFail(err);
  }

  private totalTimeout(ms: number): void {
    this.totalTimer = undefined;
    if (this.finished || this.responding) return;
    const err = new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms total timeout for ${this.dst.show()}`, { interrupted: true });
    if (this.up !== undefined) this.abandonAttempt(err.message);
    this.fail(err);
  }

  /** Answers with the error (Linkerd's error responder), or resets a response under way. */
  fail(err: unknown): void {
    if (this.finished) return;
    this.failure = err instanceof Error ? err.message : String(err);
    const down = this.down;
    this.clearRetryTimer();
    if (this.held) {
      // A held response of the abandoned attempt is dropped, not released later.
      this.held = false;
      if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
    if (this.up !== undefined) this.abandonAttempt();
    this.finalClass = 'failure';
    this.dropBody = true;
    this.chunks = [];
    if (down.isPaused()) down.resume();
    if (this.responding) {
      this.resetDown(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const r = errorResponse(err, this.srv.clearContext);
    this.responding = true;
    this.respEnded = true;
    this.status = r.status;
    if (down.destroyed || down.closed || this.downReset) return;
    try {
      down.respond(errorHeaders(r));
      down.end(r.body);
    } catch {
      this.resetDown(NGHTTP2_INTERNAL_ERROR);
    }
  }

  /** The caller's stream closed: the exchange is over (a cancelled caller cancels upstream). */
  private onDownClose(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.totalTimer !== undefined) clearTimeout(this.totalTimer);
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    if (this.bodyTimer !== undefined) clearTimeout(this.bodyTimer);
    this.clearAttemptTimer();
    this.clearRetryTimer();
    const up = this.up;
    if (up !== undefined) {
      this.up = undefined;
      if (!up.destroyed && !up.closed) resetSoon(up, NGHTTP2_CANCEL);
      if (this.ep !== undefined && !this.attemptRecorded) {
        this.attemptRecorded = true;
        this.client!.attemptFailed(this.ep, Date.now() - this.attemptStarted, false);
      }
    }
    this.releaseEndpoint();
    const completed = this.respEnded && this.down.rstCode === NGHTTP2_NO_ERROR;
    const ms = Date.now() - this.started;
    const base = this.svc.base;
    base.latency.add(ms);
    if (completed && this.finalClass === 'success') base.success.incr();
    else base.failures.incr();
    base.retriesPerRequest.add(this.retries);
    this.clientSpan?.finish(0, undefined, 'cancelled');
    const status = completed || this.status !== 0 ? this.status : 0;
    this.span?.finish(status, this.failure ?? (completed ? undefined : 'the stream was reset'));
    this.router.finish(this.srv, status, ms, { remote: this.remote, headers: this.reqHeaders, dst: this.dst.show(), ...(this.client !== undefined ? { client: this.client.id } : {}) });
  }
}

/** The DER certificate a TLS client presented on `socket` (undefined: none, or not TLS). */
function peerCertificate(socket: unknown): Buffer | undefined {
  const s = socket as { getPeerCertificate?: () => { raw?: Buffer } | null } | undefined;
  if (s === undefined || typeof s.getPeerCertificate !== 'function') return undefined;
  return s.getPeerCertificate()?.raw;
}

/** An h2 request's forwarded headers as the trace propagators edit them. */
class HeaderEdits {
  constructor(private readonly h: http2.OutgoingHttpHeaders) {}
  set(name: string, value: string): void {
    this.h[name] = value;
  }
  remove(name: string): void {
    delete this.h[name];
  }
}
