/**
 * One mux router (a `routers[]` entry with `protocol: mux`): Linkerd's experimental router for
 * Finagle's mux protocol with opaque bodies.
 *
 * Its servers (server.ts) hand it each Tdispatch: body, destination, dtab and broadcast
 * contexts. As Linkerd's Mux.Router does, the name is `dstPrefix ++ destination` (a Treq, or a
 * Tdispatch without one, is `dstPrefix` alone), bound with the router's dtab and the Tdispatch's
 * dtab as the request's local dtab; a branch, a client and an endpoint are picked; the request
 * goes on over a mux session to that endpoint (one multiplexed session per endpoint) with the
 * bound name's residual path as its destination (Linkerd's MuxEncodeResidual), the same local
 * dtab, and the caller's contexts.
 *
 * A failure is a RouterError, which the server answers with an Rdispatch error carrying its
 * message; an upstream's Rdispatch error goes back with its own message. A request the
 * endpoint never saw (its session could not open, or it nacked the request) is requeued to
 * another endpoint within the requeue budget; a nack with no requeue left is passed on as a
 * nack, so the caller may send it elsewhere. Every reply is a success: mux has no status to
 * classify, so nothing else is retried.
 *
 * Tracing (a router with a tracer): each request gets a server span continuing the caller's
 * trace (the `com.twitter.finagle.tracing.TraceContext` context), each attempt a client span
 * whose ids go upstream in that context. Without a tracer a caller's ids still go on, as a
 * child of its span, as Finagle forwards them.
 */
import type { Path } from '../../naming/path.js';
import type { ServerSpan } from '../../telemetry/tracing.js';
import { childTraceId, encodeTraceId } from '../../telemetry/trace-context.js';
import { DEADLINE_CONTEXT_KEY, MuxClient, MuxError, deadlineOf, encodeDeadline, traceContextOf, withContext, withTraceContext, type MuxDtab, type MuxPairs } from '../../protocol/mux/index.js';
import { RouterError } from '../errors.js';
import { MessageRouter, type AttemptFailure, type MessageRouterDeps, type PassedDeadline } from '../message-router.js';
import type { EndpointPool, PoolClient } from '../pool-client.js';
import type { DtabLike } from '../router-base.js';
import type { CommonClientParams } from '../router-config.js';
import type { Address } from '../../naming/addr.js';
import type { TransportTimeout } from '../../protocol/transport-watch.js';

type Obj = Readonly<Record<string, unknown>>;

/** Largest mux message (request or reply) a mux router accepts: Finagle's default frame bound. */
export const MAX_MUX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** An endpoint's one mux client (its sessions multiplex every request to the endpoint). */
export class MuxEndpointPool implements EndpointPool {
  constructor(readonly client: MuxClient) {}
  get size(): number {
    return this.client.openSessions;
  }
  close(): void {
    this.client.close();
  }
}

export type MuxRouterClient = PoolClient<MuxEndpointPool>;

export type MuxRouterDeps<D extends DtabLike = DtabLike> = MessageRouterDeps<D>;

/** One request as a server hands it over. */
export interface MuxRequest {
  readonly body: Buffer;
  /** The Tdispatch's destination ('' for none, and for a Treq). */
  readonly dst: string;
  /** The Tdispatch's dtab: the request's local dtab, as (prefix, destination) pairs. */
  readonly dtab: MuxDtab;
  /** The Tdispatch's broadcast contexts, passed on upstream. */
  readonly contexts: MuxPairs;
}

export class MuxRouter<D extends DtabLike = DtabLike> extends MessageRouter<D, MuxEndpointPool> {
  /** Linkerd's Mux.Router identifier: `dstPrefix ++ destination`. */
  identify(dst: string): Path {
    if (dst === '' || dst === '/') return this.deps.dstPrefix;
    try {
      return this.deps.dstPrefix.concat(this.deps.readPath(dst));
    } catch (e) {
      throw new RouterError('MESH_ERR_ROUTER_UNIDENTIFIED', `the request's destination ${JSON.stringify(dst)} is not a path: ${(e as Error).message}`);
    }
  }

  /**
   * Routes one request: resolves with the reply body, or rejects with a RouterError (or a nack,
   * a MuxError with code MESH_ERR_MUX_NACK). `signal` aborts it (the caller discarded it or went
   * away); `serverTimeoutMs` is its server's `timeoutMs` (0: none).
   */
  route(req: MuxRequest, signal?: AbortSignal, serverTimeoutMs = 0): Promise<Buffer> {
    const trace = traceContextOf(req.contexts);
    return this.routeMessage(
      () => this.identify(req.dst),
      { trace, system: 'mux', method: req.dst === '' ? '/' : req.dst, deadline: deadlineOf(req.contexts) },
      signal,
      serverTimeoutMs,
      (dst, sig, span, deadline) => this.send(req, trace, dst, sig, span, deadline),
    );
  }

  /** `callerTrace`: the caller's trace context, if it sent one. */
  private async send(req: MuxRequest, callerTrace: Buffer | undefined, dst: Path, signal: AbortSignal, span: ServerSpan | null, deadline: PassedDeadline): Promise<Buffer> {
    const localText = this.localDtab(req.dtab, "the request's Tdispatch");
    const { client, bound } = await this.boundClient(dst, localText, signal);
    span?.tag('l5d.dst.client', client.id);
    // Linkerd's MuxEncodeResidual: the upstream sees what is left of the name past the bound id.
    const residual = bound.residual.isEmpty ? '' : bound.residual.show();
    // The deadline goes on tightened by this router's timeout.
    const base = deadline === undefined ? req.contexts : withContext(req.contexts, DEADLINE_CONTEXT_KEY, encodeDeadline(deadline.timestampNs, deadline.deadlineNs));
    // Without spans a caller's ids still go on, as a child of its span.
    const contexts = span === null && callerTrace !== undefined ? withTraceContext(base, childTraceId(callerTrace)) : base;
    return this.attempts(
      client,
      dst,
      localText,
      signal,
      span,
      (ep, attempt, cs) =>
        ep.pool.client.dispatch(req.body, attempt, { dst: residual, dtab: req.dtab, contexts: cs === null ? contexts : withTraceContext(base, encodeTraceId(cs.context)) }),
      muxFailure,
    );
  }

  protected endpointPool(_p: Obj, params: CommonClientParams, onTransportTimeout: ((kind: TransportTimeout) => void) | undefined): (address: Address) => MuxEndpointPool {
    return (address) =>
      new MuxEndpointPool(
        new MuxClient({
          host: address.host,
          port: address.port,
          ...(params.tls !== undefined ? { tls: params.tls } : {}),
          maxFrameSize: MAX_MUX_MESSAGE_BYTES,
          readTimeoutMs: params.socket.readTimeoutMs,
          writeTimeoutMs: params.socket.writeTimeoutMs,
          idleTimeMs: params.sessionIdleTimeMs,
          lifeTimeMs: params.sessionLifeTimeMs,
          ...(onTransportTimeout !== undefined ? { onTransportTimeout } : {}),
        }),
      );
  }
}

/**
 * A mux attempt's failure. A request the endpoint never saw (its session could not open, or it
 * nacked the request, or the session's tags ran out) may go elsewhere; an Rdispatch error is the
 * upstream's answer and counts against the endpoint, as Finagle classifies a mux exception. A
 * nack goes back as a nack (the caller may resend it) and the upstream's own error message as
 * it is, as Finagle's mux server answers a failure.
 */
function muxFailure(e: unknown, endpoint: string): AttemptFailure {
  if (!(e instanceof MuxError)) return { error: new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', `${endpoint}: ${e instanceof Error ? e.message : String(e)}`), connectFailed: false, unseen: false };
  const unseen = e.rejected;
  if (e.code === 'MESH_ERR_MUX_NACK' || e.code === 'MESH_ERR_MUX_REMOTE') return { error: e, connectFailed: false, unseen };
  if (e.code === 'MESH_ERR_MUX_TAGS_EXHAUSTED') return { error: new RouterError('MESH_ERR_ROUTER_POOL_EXHAUSTED', `${endpoint}: ${e.message}`, { rejected: true, retryable: true }), connectFailed: false, unseen };
  return { error: new RouterError(unseen ? 'MESH_ERR_ROUTER_CONNECT_FAILED' : 'MESH_ERR_ROUTER_UPSTREAM_RESET', `${endpoint}: ${e.message}`, { retryable: unseen }), connectFailed: unseen, unseen };
}
