/**
 * One thrift or thriftmux router (a `routers[]` entry with `protocol: thrift` / `thriftmux`).
 * Its servers (server.ts) hand it each request message with what the connection said about it
 * (a TTwitter RequestHeader's or a mux Tdispatch's `dest` and dtab); the router names it as
 * Linkerd's thrift Identifier does — `dstPrefix [/ dest] [/ service] [/ method]` — binds the
 * name, picks a branch, a client and an endpoint, and forwards the message over a pooled thrift
 * connection (src/protocol/thrift/client-pool.ts). Failures are RouterErrors: the server turns
 * them into a TApplicationException reply, as Finagle's thrift server does.
 *
 * Finagle classifies every thrift reply as a success (it cannot read the IDL's exceptions from
 * bytes), so nothing is retried after a reply; a request that never left (connect failure) is
 * requeued to another endpoint within the requeue budget.
 *
 * Tracing (a router with a tracer): each request gets a server span named by its thrift method
 * that continues the caller's trace (a TTwitter RequestHeader's ids or a Tdispatch's trace
 * context, which the server hands over as Finagle's TraceId bytes), and each attempt a client
 * span whose ids a TTwitter-upgraded upstream connection receives in its RequestHeader. Without
 * a tracer nothing is made for a plain request; a caller's ids go on to a TTwitter upstream
 * as a child of the caller's span, as Finagle forwards them.
 */
import type { Activity, BoundName } from '../../naming/contracts.js';
import type { NameTree } from '../../naming/name-tree.js';
import type { Path } from '../../naming/path.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { TlsFiles } from '../../config/tls.js';
import type { ClientSpan, ServerSpan, Tracer } from '../../telemetry/tracing.js';
import { childTraceId, decodeTraceId, encodeTraceId, type TraceContext } from '../../telemetry/trace-context.js';
import { ThriftConnPool, ThriftPoolError, type ThriftCallContext } from '../../protocol/thrift/client-pool.js';
import { MessageType, type MessageHead, type ThriftProtocolKind } from '../../protocol/thrift/wire.js';
import { BindingCache } from '../binding-cache.js';
import { ClientCache } from '../client-cache.js';
import { MAX_REQUEUES } from '../client.js';
import { RouterError, isRouterError, noBrokersMessage } from '../errors.js';
import { PoolClient } from '../pool-client.js';
import { RequestDtabs } from '../request-dtabs.js';
import { pickLeaf, type DtabLike } from '../router.js';
import { cacheService, commonClientParams, commonService, routerCacheSettings, tighterTimeout } from '../router-config.js';
import { PrefixConfigs } from '../service-config.js';
import type { Service } from '../service.js';

type Obj = Readonly<Record<string, unknown>>;

/** Largest thrift message (request or reply) a thrift router accepts: Finagle's default frame bound. */
export const MAX_THRIFT_MESSAGE_BYTES = 16 * 1024 * 1024;

export type ThriftClient = PoolClient<ThriftConnPool>;

export interface ThriftRouterDeps<D extends DtabLike = DtabLike> {
  readonly label: string;
  readonly protocol: 'thrift' | 'thriftmux';
  readonly baseDtab: D;
  readonly dstPrefix: Path;
  readonly readPath: (s: string) => Path;
  readonly parseDtab: (s: string) => D;
  readonly bind: (dtab: D, path: Path) => Activity<NameTree<BoundName>>;
  readonly metrics: Metrics;
  /** The raw `routers[i]` config (validated and defaulted by src/config). */
  readonly config: Obj;
  readonly tlsFiles?: TlsFiles;
  /** Spans for requests through this router (null or absent: no tracing telemeter). */
  readonly tracer?: Tracer | null;
}

/** One request as a server hands it over. */
export interface ThriftRequest {
  /** The thrift message (no frame length, no TTwitter header). */
  readonly msg: Buffer;
  readonly head: MessageHead;
  /** The `dest` a TTwitter header or a mux Tdispatch carried ('' or absent: none). */
  readonly dest?: string | undefined;
  /** The request's dentries as (prefix, destination) pairs: TTwitter delegations, a Tdispatch's dtab. */
  readonly delegations?: readonly { src: string; dst: string }[] | undefined;
  /**
   * The caller's trace context as Finagle's TraceId serialization (32 or 40 bytes: span, parent,
   * trace, flags, trace high), from a TTwitter RequestHeader or a Tdispatch; absent: a new trace.
   */
  readonly trace?: Buffer | undefined;
}

export class ThriftRouter<D extends DtabLike = DtabLike> {
  readonly label: string;
  readonly proto: ThriftProtocolKind;
  private readonly methodInDst: boolean;
  private readonly bindings: BindingCache;
  private readonly bindingTimeoutMs: number;
  private readonly requestDtabs: RequestDtabs<D>;
  private readonly services = new Map<string, Service>();
  private readonly serviceCapacity: number;
  private readonly clientCache: ClientCache<ThriftClient>;
  private readonly clientConfigs: PrefixConfigs;
  private readonly serviceConfigs: PrefixConfigs;
  private readonly tracer: Tracer | null;

  constructor(private readonly deps: ThriftRouterDeps<D>) {
    const cfg = deps.config;
    this.label = deps.label;
    this.tracer = deps.tracer ?? null;
    this.proto = cfg['thriftProtocol'] === 'compact' ? 'compact' : 'binary';
    this.methodInDst = cfg['thriftMethodInDst'] === true;
    const cache = routerCacheSettings(cfg);
    this.bindingTimeoutMs = cache.bindingTimeoutMs;
    this.serviceCapacity = cache.serviceCapacity;
    this.clientCache = new ClientCache(cache.clientCapacity, cache.idleTtlMs);
    this.requestDtabs = new RequestDtabs(deps.baseDtab, deps.parseDtab);
    this.bindings = new BindingCache((dtabKey, path) => deps.bind(this.requestDtabs.get(dtabKey), path), cache.treeCapacity, cache.idleTtlMs);
    this.clientConfigs = new PrefixConfigs(cfg['client'] as Obj | undefined);
    this.serviceConfigs = new PrefixConfigs(cfg['service'] as Obj | undefined);
  }

  /**
   * Linkerd's thrift Identifier: `dstPrefix ++ dest ++ suffix`, where a multiplexed message
   * name `service:method` gives `/service/method` (`/service` without thriftMethodInDst) and a
   * plain name gives `/method` (nothing without thriftMethodInDst).
   */
  identify(head: MessageHead, dest: string | undefined): Path {
    let p = this.deps.dstPrefix;
    if (dest !== undefined && dest !== '' && dest !== '/') {
      try {
        p = p.concat(this.deps.readPath(dest));
      } catch (e) {
        throw new RouterError('MESH_ERR_ROUTER_UNIDENTIFIED', `the request's dest ${JSON.stringify(dest)} is not a path: ${(e as Error).message}`);
      }
    }
    const name = head.name;
    const parts = name.split(':');
    let suffix: string | undefined;
    if (parts.length === 2) suffix = this.methodInDst ? `/${parts[0]}/${parts[1]}` : `/${parts[0]}`;
    else if (this.methodInDst) suffix = `/${name}`;
    if (suffix !== undefined) {
      try {
        p = p.concat(this.deps.readPath(suffix));
      } catch (e) {
        throw new RouterError('MESH_ERR_ROUTER_UNIDENTIFIED', `the method name ${JSON.stringify(name)} does not make a path: ${(e as Error).message}`);
      }
    }
    return p;
  }

  /**
   * Routes one request: resolves with the reply message (null for a ONEWAY message, once sent),
   * or rejects with a RouterError. `signal` aborts it (the caller's connection is gone);
   * `serverTimeoutMs` is its server's `timeoutMs` (0: none).
   */
  route(req: ThriftRequest, signal?: AbortSignal, serverTimeoutMs = 0): Promise<Buffer | null> {
    return this.tracer === null ? this.routeWith(req, null, signal, serverTimeoutMs) : this.traced(this.tracer, req, signal, serverTimeoutMs);
  }

  /** `route` with a tracer: the request's server span ends with its reply or its failure. */
  private async traced(tracer: Tracer, req: ThriftRequest, signal: AbortSignal | undefined, serverTimeoutMs: number): Promise<Buffer | null> {
    const span = tracer.startRpcSpan(callerContext(req.trace), this.label, this.deps.protocol, req.head.name);
    try {
      const reply = await this.routeWith(req, span, signal, serverTimeoutMs);
      span.finish(0);
      return reply;
    } catch (e) {
      span.finish(0, e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  private async routeWith(req: ThriftRequest, span: ServerSpan | null, signal: AbortSignal | undefined, serverTimeoutMs: number): Promise<Buffer | null> {
    const dst = this.identify(req.head, req.dest);
    const dstText = dst.show();
    span?.tag('l5d.dst.service', dstText);
    const svc = this.services.get(dstText) ?? this.makeService(dst, dstText);
    const started = Date.now();
    svc.requests.incr();
    const ac = new AbortController();
    const onCallerGone = (): void => ac.abort(new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'the caller went away', { interrupted: true }));
    signal?.addEventListener('abort', onCallerGone, { once: true });
    // The server's timeoutMs bounds the service's total timeout.
    const total = tighterTimeout(serverTimeoutMs, svc.totalTimeoutMs);
    const timer = total > 0 ? setTimeout(() => ac.abort(new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${total}ms total timeout for ${dstText}`, { interrupted: true })), total) : undefined;
    try {
      const reply = await this.send(req, dst, ac.signal, span);
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

  private async send(req: ThriftRequest, dst: Path, signal: AbortSignal, span: ServerSpan | null): Promise<Buffer | null> {
    let localText = '';
    const delegations = req.delegations ?? [];
    if (delegations.length > 0) {
      const text = delegations.map((d) => `${d.src}=>${d.dst}`).join(';');
      try {
        localText = this.requestDtabs.local(text, '');
      } catch (e) {
        throw new RouterError('MESH_ERR_ROUTER_BAD_DTAB', `Invalid dtab in the request's delegations: ${isRouterError(e) ? e.message.replace(/^Invalid dtab in \S+ header: /, '') : String(e)}`);
      }
    }
    const dtabKey = this.requestDtabs.keyOf(localText);
    const client = await this.resolve(dtabKey, dst, localText, signal);
    span?.tag('l5d.dst.client', client.id);
    // Without spans a caller's ids still go on (to a TTwitter upstream), as a child of its span.
    const trace = span === null && req.trace !== undefined ? childTraceId(req.trace) : undefined;
    const ctx: ThriftCallContext = { ...(req.dest !== undefined && req.dest !== '' ? { dest: req.dest } : {}), delegations, trace };
    const oneway = req.head.type === MessageType.ONEWAY;
    const attemptMs = client.params.requestAttemptTimeoutMs;
    for (let requeues = 0; ; requeues++) {
      throwIfAborted(signal);
      const ep = client.pick();
      if (ep === null) throw new RouterError('MESH_ERR_ROUTER_NO_BROKERS', noBrokersMessage(dst.show(), this.requestDtabs.baseText, localText));
      const attempt = attemptMs > 0 ? AbortSignal.any([signal, AbortSignal.timeout(attemptMs)]) : signal;
      // Each attempt is a client span; its ids are what a TTwitter upstream sees.
      let cs: ClientSpan | null = null;
      let actx = ctx;
      if (span !== null) {
        cs = span.child(client.id);
        actx = { ...ctx, trace: encodeTraceId(cs.context) };
      }
      const t0 = Date.now();
      ep.pending++;
      ep.accrual.onRequest();
      client.m.requests.incr();
      try {
        const reply = await ep.pool.call(req.msg, req.head.seqid, oneway, actx, attempt);
        client.attemptDone(ep, Date.now() - t0, undefined, true);
        cs?.finish(0, { ip: ep.host, port: ep.port });
        return reply;
      } catch (e) {
        const connectFailed = e instanceof ThriftPoolError && e.connectFailed;
        // A caller that went away or ran out of time says nothing about the endpoint (Finagle
        // leaves interrupted requests out of failure accrual).
        if (!signal.aborted) client.attemptFailed(ep, Date.now() - t0, connectFailed);
        const err = attemptError(e, signal, attempt, attemptMs, ep.label);
        cs?.finish(0, { ip: ep.host, port: ep.port }, err.message);
        if (isRouterError(err) && err.code === 'MESH_ERR_ROUTER_CONNECT_FAILED' && requeues < MAX_REQUEUES && client.tryRequeue()) continue;
        throw err;
      } finally {
        ep.pending--;
      }
    }
  }

  /** The bound tree's pick and its client, once both the tree and the client's Addr are known. */
  private async resolve(dtabKey: string, dst: Path, localText: string, signal: AbortSignal): Promise<ThriftClient> {
    const ms = this.bindingTimeoutMs;
    const entry = this.bindings.get(dtabKey, dst);
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
    const bound = pickLeaf(st.value);
    if (bound === undefined) throw new RouterError('MESH_ERR_ROUTER_NO_BROKERS', noBrokersMessage(dst.show(), this.requestDtabs.baseText, localText));
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
    return client;
  }

  private makeService(dst: Path, key: string): Service {
    const p = this.serviceConfigs.paramsFor(dst);
    // Every reply is a success, every failure final (see the header comment).
    const svc = commonService(this.label, this.deps.metrics, key, p, (_method, _status, err) => (err === undefined ? 'success' : 'failure'));
    cacheService(this.services, key, svc, this.serviceCapacity);
    return svc;
  }

  private clientFor(bound: BoundName): ThriftClient {
    const idText = bound.id.show();
    const c = this.clientCache.byId.get(idText);
    if (c !== undefined) return c;
    const p = this.clientConfigs.paramsFor(bound.id);
    const params = commonClientParams(p, this.deps.tlsFiles);
    const framed = p['thriftFramed'] !== false;
    const pool = (p['hostConnectionPool'] as Obj | null | undefined) ?? {};
    const n = (o: Obj, k: string): number | undefined => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
    const ttwitter = p['attemptTTwitterUpgrade'] === true;
    const proto = this.proto;
    const made = new PoolClient(
      idText,
      bound.addr,
      params,
      (address) =>
        new ThriftConnPool({
          host: address.host,
          port: address.port,
          framed,
          proto,
          ttwitter,
          tls: params.tls,
          idleTimeoutMs: n(pool, 'idleTimeMs') ?? params.sessionIdleTimeMs,
          maxMessageBytes: MAX_THRIFT_MESSAGE_BYTES,
          maxSize: n(pool, 'maxSize') ?? 0,
          maxWaiters: n(pool, 'maxWaiters') ?? Infinity,
          minSize: n(pool, 'minSize') ?? 0,
          noDelay: params.socket.noDelay,
          keepAlive: params.socket.keepAlive,
        }),
      this.deps.metrics,
      ['rt', this.label, 'client', idText.slice(1)],
    );
    this.clientCache.add(idText, made);
    return made;
  }

  clientSnapshot(): Record<string, unknown> {
    return this.clientCache.snapshot();
  }

  boundNames(): string[] {
    return this.clientCache.ids();
  }

  close(): void {
    this.bindings.close();
    this.clientCache.close();
    this.services.clear();
  }
}

/** Why an attempt failed, as the RouterError the request fails with (unless requeued). */
function attemptError(e: unknown, signal: AbortSignal, attempt: AbortSignal, attemptMs: number, endpoint: string): Error {
  if (signal.aborted) return abortError(signal);
  if (attempt !== signal && attempt.aborted) {
    return new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${attemptMs}ms request attempt timeout to ${endpoint}`, { interrupted: true });
  }
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ThriftPoolError && e.code === 'MESH_ERR_THRIFT_POOL_FULL') return new RouterError('MESH_ERR_ROUTER_POOL_EXHAUSTED', message, { rejected: true, retryable: true });
  const connectFailed = e instanceof ThriftPoolError && e.connectFailed;
  return new RouterError(connectFailed ? 'MESH_ERR_ROUTER_CONNECT_FAILED' : 'MESH_ERR_ROUTER_UPSTREAM_RESET', message, { retryable: connectFailed });
}

/**
 * The caller's context for the server span: a debug trace is sampled whatever its sampled bit
 * says, as Finagle's TraceId reads it.
 */
function callerContext(trace: Buffer | undefined): TraceContext | undefined {
  const ctx = trace === undefined ? undefined : decodeTraceId(trace);
  return ctx !== undefined && ctx.debug && ctx.sampled !== true ? { ...ctx, sampled: true } : ctx;
}

function abortError(signal: AbortSignal): Error {
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
