/**
 * What the message routers share (thrift and thriftmux in thrift/, mux in mux/: one request
 * message, one reply, no status to classify): the binding cache under the router's and the
 * request's dtabs, a service per logical name (`rt/<label>/service/...`) with its total
 * timeout, the clients per bound id, the server span of a traced request, and the bound client
 * for a name once both the name's tree and the client's Addr are known. Each protocol adds how
 * a request is named and how an attempt is sent (its subclass's `route` and attempt loop).
 */
import type { BoundName } from '../naming/contracts.js';
import type { Path } from '../naming/path.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { TlsFiles } from '../config/tls.js';
import type { ClientSpan, ServerSpan, Tracer } from '../telemetry/tracing.js';
import { decodeTraceId, type TraceContext } from '../telemetry/trace-context.js';
import { RouterError, isRouterError, noBrokersMessage } from './errors.js';
import { PoolClient, type EndpointPool, type PoolEndpoint } from './pool-client.js';
import type { Address } from '../naming/addr.js';
import { MAX_REQUEUES } from './client.js';
import { RouterBase, type DtabLike, type RouterBaseDeps } from './router-base.js';
import { callerDeadline, commonClientParams, commonService, tighterTimeout, type CommonClientParams } from './router-config.js';
import type { Service } from './service.js';
import { transportTimeoutCounter } from './transport-timeout-counters.js';
import type { TransportTimeout } from '../protocol/transport-watch.js';

type Obj = Readonly<Record<string, unknown>>;

export interface MessageRouterDeps<D extends DtabLike = DtabLike> extends RouterBaseDeps<D> {
  readonly dstPrefix: Path;
  readonly readPath: (s: string) => Path;
  readonly metrics: Metrics;
  readonly tlsFiles?: TlsFiles;
  /** Spans for requests through this router (null or absent: no tracing telemeter). */
  readonly tracer?: Tracer | null;
}

/**
 * What a request says about itself besides its name: for a traced request's server span the
 * caller's trace bytes, the RPC system and method; and the caller's Finagle deadline, if any.
 */
export interface RpcSpanStart {
  readonly trace: Buffer | undefined;
  readonly system: string;
  readonly method: string;
  /** The caller's deadline (Finagle's Deadline context): it tightens the total timeout. */
  readonly deadline?: { readonly timestampNs: bigint; readonly deadlineNs: bigint } | undefined;
}

/** The deadline a request goes on with: the caller's, tightened by the router's timeout. */
export type PassedDeadline = { readonly timestampNs: bigint; readonly deadlineNs: bigint } | undefined;

type Send<R> = (dst: Path, signal: AbortSignal, span: ServerSpan | null, deadline: PassedDeadline) => Promise<R>;

export abstract class MessageRouter<D extends DtabLike, P extends EndpointPool> extends RouterBase<D, PoolClient<P>, Service> {
  protected readonly tracer: Tracer | null;

  constructor(protected readonly deps: MessageRouterDeps<D>) {
    super(deps);
    this.tracer = deps.tracer ?? null;
  }

  /**
   * How a client for a bound id makes each endpoint's pool, from its `client` config `p` and
   * `params` read from it; `onTransportTimeout` counts a connection closed by the client's
   * `socketOptions.readTimeoutMs` / `writeTimeoutMs` (undefined: neither is set).
   */
  protected abstract endpointPool(p: Obj, params: CommonClientParams, onTransportTimeout: ((kind: TransportTimeout) => void) | undefined): (address: Address) => P;

  /**
   * One request: named by `identify`, under its service's counters and total timeout (the
   * tighter of the service's `totalTimeoutMs` and the server's `serverTimeoutMs`), aborted with
   * the caller's `signal` and bounded by the caller's deadline (`span.deadline`, Finagle's
   * Deadline context), and with a tracer inside a server span started from `span`. `send` gets
   * the request's own signal (total timeout or caller gone), the span (null untraced) and the
   * deadline to pass on (the caller's, tightened by the router's timeout; undefined without one).
   */
  protected routeMessage<R>(
    identify: () => Path,
    span: RpcSpanStart,
    signal: AbortSignal | undefined,
    serverTimeoutMs: number,
    send: Send<R>,
  ): Promise<R> {
    const tracer = this.tracer;
    if (tracer === null) return this.underService(identify(), null, span.deadline, signal, serverTimeoutMs, send);
    return this.traced(tracer, identify, span, signal, serverTimeoutMs, send);
  }

  private async traced<R>(
    tracer: Tracer,
    identify: () => Path,
    start: RpcSpanStart,
    signal: AbortSignal | undefined,
    serverTimeoutMs: number,
    send: Send<R>,
  ): Promise<R> {
    const span = tracer.startRpcSpan(callerContext(start.trace), this.label, start.system, start.method);
    try {
      const reply = await this.underService(identify(), span, start.deadline, signal, serverTimeoutMs, send);
      span.finish(0);
      return reply;
    } catch (e) {
      span.finish(0, e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  private async underService<R>(
    dst: Path,
    span: ServerSpan | null,
    deadline: RpcSpanStart['deadline'],
    signal: AbortSignal | undefined,
    serverTimeoutMs: number,
    send: Send<R>,
  ): Promise<R> {
    const dstText = dst.show();
    span?.tag('l5d.dst.service', dstText);
    const svc = this.serviceFor(dst, dstText);
    // The server's timeoutMs and the caller's deadline tighten the total timeout; the tighter
    // deadline travels on, as the http router does with l5d-ctx-deadline.
    let total = tighterTimeout(serverTimeoutMs, svc.totalTimeoutMs);
    let byDeadline = false;
    let passed: PassedDeadline;
    if (deadline !== undefined) {
      const now = Date.now();
      const left = Number(deadline.deadlineNs / 1_000_000n) - now;
      if (left <= 0) throw new RouterError('MESH_ERR_ROUTER_TIMEOUT', `the caller's deadline passed ${-left}ms before ${dstText} was called`, { interrupted: true });
      const c = callerDeadline(total, left, deadline.deadlineNs, now);
      total = c.timeoutMs;
      byDeadline = c.byDeadline;
      passed = { timestampNs: deadline.timestampNs, deadlineNs: c.passNs };
    }
    const started = Date.now();
    svc.requests.incr();
    const ac = new AbortController();
    const onCallerGone = (): void => ac.abort(new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'the caller went away', { interrupted: true }));
    signal?.addEventListener('abort', onCallerGone, { once: true });
    const why = byDeadline ? `the caller's deadline (${total}ms left)` : `${total}ms total timeout`;
    const timer = total > 0 ? setTimeout(() => ac.abort(new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${why} for ${dstText}`, { interrupted: true })), total) : undefined;
    try {
      const reply = await send(dst, ac.signal, span, passed);
      svc.success.incr();
      return reply;
    } catch (e) {
      svc.failures.incr();
      throw e;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerGone);
      svc.latency.add(Date.now() - started);
    }
  }

  /**
   * The request's local dtab (its text, '' for none) from its (prefix, destination) pairs;
   * `where` names what carried them in the error for pairs that do not parse.
   */
  protected localDtab(pairs: readonly (readonly [string, string])[], where: string): string {
    if (pairs.length === 0) return '';
    const text = pairs.map(([src, dst]) => `${src}=>${dst}`).join(';');
    try {
      return this.requestDtabs.local(text, '');
    } catch (e) {
      throw new RouterError('MESH_ERR_ROUTER_BAD_DTAB', `Invalid dtab in ${where}: ${isRouterError(e) ? e.message.replace(/^Invalid dtab in \S+ header: /, '') : String(e)}`);
    }
  }

  /** The no-brokers failure for `dst` under the request's local dtab. */
  protected noBrokers(dst: Path, localText: string): RouterError {
    return new RouterError('MESH_ERR_ROUTER_NO_BROKERS', noBrokersMessage(dst.show(), this.baseDtabText, localText));
  }

  /**
   * The attempts of one request to `client`'s endpoints: each picks an endpoint, gets a client
   * span when the request is traced, and is sent by `send` within `requestAttemptTimeoutMs`.
   * A failure is read by the protocol's `failure` (the error to fail with, whether the
   * connection failed, whether the endpoint never saw the request); one the endpoint never saw
   * is requeued to another within the requeue budget (and Finagle's cap).
   */
  protected async attempts<R>(
    client: PoolClient<P>,
    dst: Path,
    localText: string,
    signal: AbortSignal,
    span: ServerSpan | null,
    send: (ep: PoolEndpoint<P>, attempt: AbortSignal, cs: ClientSpan | null) => Promise<R>,
    failure: (e: unknown, endpoint: string) => AttemptFailure,
  ): Promise<R> {
    const attemptMs = client.params.requestAttemptTimeoutMs;
    for (let requeues = 0; ; requeues++) {
      throwIfAborted(signal);
      const ep = client.pick();
      if (ep === null) throw this.noBrokers(dst, localText);
      const attempt = attemptMs > 0 ? AbortSignal.any([signal, AbortSignal.timeout(attemptMs)]) : signal;
      // Each attempt is a client span; its ids are what the upstream sees.
      const cs = span === null ? null : span.child(client.id);
      const t0 = Date.now();
      ep.pending++;
      ep.accrual.onRequest();
      client.m.requests.incr();
      try {
        const reply = await send(ep, attempt, cs);
        client.attemptDone(ep, Date.now() - t0, undefined, true);
        cs?.finish(0, { ip: ep.host, port: ep.port });
        return reply;
      } catch (e) {
        const f = failure(e, ep.label);
        // A caller that went away or ran out of time says nothing about the endpoint (Finagle
        // leaves interrupted requests out of failure accrual).
        if (!signal.aborted) client.attemptFailed(ep, Date.now() - t0, f.connectFailed);
        const stopped = abortedAttempt(signal, attempt, attemptMs, ep.label);
        const error = stopped ?? f.error;
        cs?.finish(0, { ip: ep.host, port: ep.port }, error.message);
        if (stopped === undefined && f.unseen && requeues < MAX_REQUEUES && client.tryRequeue()) continue;
        throw error;
      } finally {
        ep.pending--;
      }
    }
  }

  /** The bound tree's pick and its client, once both the tree and the client's Addr are known. */
  protected async boundClient(dst: Path, localText: string, signal: AbortSignal): Promise<{ client: PoolClient<P>; bound: BoundName }> {
    const ms = this.bindingTimeoutMs;
    const entry = this.bindings.get(this.requestDtabs.keyOf(localText), dst);
    if (entry.state.type === 'pending') {
      await Promise.race([entry.settled(ms), aborted(signal)]);
      throwIfAborted(signal);
      if (entry.state.type === 'pending') {
        throw new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms binding timeout while resolving name: ${dst.show()}`, { interrupted: true });
      }
    }
    const st = entry.state;
    if (st.type === 'failed') throw new RouterError('MESH_ERR_ROUTER_BINDING_FAILED', `failed to bind ${dst.show()}: ${st.error.message}`);
    if (st.type !== 'ok') throw new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms binding timeout while resolving name: ${dst.show()}`, { interrupted: true });
    const bound = this.pick(st.value);
    if (bound === undefined) throw this.noBrokers(dst, localText);
    const client = this.clientFor(bound);
    client.deposit();
    if (client.addrState.type === 'pending') {
      await Promise.race([client.addrSettled(ms), aborted(signal)]);
      throwIfAborted(signal);
      if (client.addrState.type === 'pending') {
        throw new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms binding timeout while resolving name: ${client.id}`, { interrupted: true });
      }
    }
    const a = client.addrState;
    if (a.type === 'failed' && client.endpointCount === 0) throw new RouterError('MESH_ERR_ROUTER_BINDING_FAILED', `failed to resolve ${client.id}: ${a.cause.message}`);
    return { client, bound };
  }

  protected makeService(p: Obj, key: string): Service {
    // Every reply is a success, every failure final (no status to classify).
    return commonService(this.label, this.deps.metrics, key, p, (_method, _status, err) => (err === undefined ? 'success' : 'failure'));
  }

  private clientFor(bound: BoundName): PoolClient<P> {
    const idText = bound.id.show();
    const c = this.clients.get(idText);
    if (c !== undefined) return c;
    const p = this.clientConfigs.paramsFor(bound.id);
    const params = commonClientParams(p, this.deps.tlsFiles);
    const scope = ['rt', this.label, 'client', idText.slice(1)];
    const onTimeout = transportTimeoutCounter(this.deps.metrics, scope, params.socket);
    const made = new PoolClient(idText, bound.addr, params, this.endpointPool(p, params, onTimeout), this.deps.metrics, scope);
    this.clientCache.add(idText, made);
    return made;
  }

}

/**
 * The caller's context for the server span: a debug trace is sampled whatever its sampled bit
 * says, as Finagle's TraceId reads it.
 */
function callerContext(trace: Buffer | undefined): TraceContext | undefined {
  const ctx = trace === undefined ? undefined : decodeTraceId(trace);
  return ctx !== undefined && ctx.debug && ctx.sampled !== true ? { ...ctx, sampled: true } : ctx;
}

/** The error a call whose signal aborted fails with: the signal's reason when it is one. */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'the request was cancelled', { interrupted: true });
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/** Settles when `signal` aborts (never rejects; the caller checks the signal). */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** What a protocol makes of an attempt's failure. */
export interface AttemptFailure {
  /** The error the request fails with (unless requeued). */
  readonly error: Error;
  /** The connection to the endpoint failed (failure accrual and failFast count it so). */
  readonly connectFailed: boolean;
  /** The endpoint never saw the request: it may go to another one. */
  readonly unseen: boolean;
}

/**
 * Why an attempt failed when the call was aborted or its attempt timed out (undefined: neither,
 * the protocol says why).
 */
function abortedAttempt(signal: AbortSignal, attempt: AbortSignal, attemptMs: number, endpoint: string): Error | undefined {
  if (signal.aborted) return abortError(signal);
  if (attempt !== signal && attempt.aborted) {
    return new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${attemptMs}ms request attempt timeout to ${endpoint}`, { interrupted: true });
  }
  return undefined;
}
