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
import type { Path } from '../../naming/path.js';
import type { ServerSpan } from '../../telemetry/tracing.js';
import { childTraceId, encodeTraceId } from '../../telemetry/trace-context.js';
import { ThriftConnPool, ThriftPoolError, type ThriftCallContext } from '../../protocol/thrift/client-pool.js';
import { MessageType, type MessageHead, type ThriftProtocolKind } from '../../protocol/thrift/wire.js';
import { RouterError } from '../errors.js';
import { MessageRouter, type AttemptFailure, type MessageRouterDeps } from '../message-router.js';
import type { PoolClient } from '../pool-client.js';
import type { DtabLike } from '../router-base.js';
import type { CommonClientParams } from '../router-config.js';
import type { Address } from '../../naming/addr.js';
import type { TransportTimeout } from '../../protocol/transport-watch.js';

type Obj = Readonly<Record<string, unknown>>;

/** Largest thrift message (request or reply) a thrift router accepts: Finagle's default frame bound. */
export const MAX_THRIFT_MESSAGE_BYTES = 16 * 1024 * 1024;

export type ThriftClient = PoolClient<ThriftConnPool>;

export interface ThriftRouterDeps<D extends DtabLike = DtabLike> extends MessageRouterDeps<D> {
  readonly protocol: 'thrift' | 'thriftmux';
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
  /** The caller's Finagle deadline (a Tdispatch's Deadline context): it tightens the total timeout. */
  readonly deadline?: { readonly timestampNs: bigint; readonly deadlineNs: bigint } | undefined;
}

export class ThriftRouter<D extends DtabLike = DtabLike> extends MessageRouter<D, ThriftConnPool> {
  readonly proto: ThriftProtocolKind;
  private readonly methodInDst: boolean;
  private readonly protocol: 'thrift' | 'thriftmux';

  constructor(deps: ThriftRouterDeps<D>) {
    super(deps);
    this.protocol = deps.protocol;
    this.proto = deps.config['thriftProtocol'] === 'compact' ? 'compact' : 'binary';
    this.methodInDst = deps.config['thriftMethodInDst'] === true;
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
    return this.routeMessage(
      () => this.identify(req.head, req.dest),
      { trace: req.trace, system: this.protocol, method: req.head.name, deadline: req.deadline },
      signal,
      serverTimeoutMs,
      (dst, sig, span) => this.send(req, dst, sig, span),
    );
  }

  private async send(req: ThriftRequest, dst: Path, signal: AbortSignal, span: ServerSpan | null): Promise<Buffer | null> {
    const delegations = req.delegations ?? [];
    const localText = this.localDtab(delegations.map((d) => [d.src, d.dst] as const), "the request's delegations");
    const { client } = await this.boundClient(dst, localText, signal);
    span?.tag('l5d.dst.client', client.id);
    // Without spans a caller's ids still go on (to a TTwitter upstream), as a child of its span.
    const trace = span === null && req.trace !== undefined ? childTraceId(req.trace) : undefined;
    const ctx: ThriftCallContext = { ...(req.dest !== undefined && req.dest !== '' ? { dest: req.dest } : {}), delegations, trace };
    const oneway = req.head.type === MessageType.ONEWAY;
    return this.attempts(
      client,
      dst,
      localText,
      signal,
      span,
      // A client span's ids are what a TTwitter-upgraded upstream sees.
      (ep, attempt, cs) => ep.pool.call(req.msg, req.head.seqid, oneway, cs === null ? ctx : { ...ctx, trace: encodeTraceId(cs.context) }, attempt),
      thriftFailure,
    );
  }

  protected endpointPool(p: Obj, params: CommonClientParams, onTransportTimeout: ((kind: TransportTimeout) => void) | undefined): (address: Address) => ThriftConnPool {
    const framed = p['thriftFramed'] !== false;
    const pool = (p['hostConnectionPool'] as Obj | null | undefined) ?? {};
    const n = (o: Obj, k: string): number | undefined => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
    const ttwitter = p['attemptTTwitterUpgrade'] === true;
    const proto = this.proto;
    return (address) =>
      new ThriftConnPool({
        host: address.host,
        port: address.port,
        framed,
        proto,
        ttwitter,
        tls: params.tls,
        idleTimeoutMs: n(pool, 'idleTimeMs') ?? params.sessionIdleTimeMs,
        lifeTimeMs: params.sessionLifeTimeMs,
        maxMessageBytes: MAX_THRIFT_MESSAGE_BYTES,
        maxSize: n(pool, 'maxSize') ?? 0,
        maxWaiters: n(pool, 'maxWaiters') ?? Infinity,
        minSize: n(pool, 'minSize') ?? 0,
        noDelay: params.socket.noDelay,
        keepAlive: params.socket.keepAlive,
        readTimeoutMs: params.socket.readTimeoutMs,
        writeTimeoutMs: params.socket.writeTimeoutMs,
        onTransportTimeout,
      });
  }
}

/**
 * A thrift attempt's failure: a full pool or a refused connection never reached the upstream
 * (only the connection failure is requeued, as Finagle requeues it); anything else ended the
 * connection under the request.
 */
function thriftFailure(e: unknown): AttemptFailure {
  const message = e instanceof Error ? e.message : String(e);
  const connectFailed = e instanceof ThriftPoolError && e.connectFailed;
  if (e instanceof ThriftPoolError && e.code === 'MESH_ERR_THRIFT_POOL_FULL') {
    return { error: new RouterError('MESH_ERR_ROUTER_POOL_EXHAUSTED', message, { rejected: true, retryable: true }), connectFailed, unseen: false };
  }
  return { error: new RouterError(connectFailed ? 'MESH_ERR_ROUTER_CONNECT_FAILED' : 'MESH_ERR_ROUTER_UPSTREAM_RESET', message, { retryable: connectFailed }), connectFailed, unseen: connectFailed };
}
