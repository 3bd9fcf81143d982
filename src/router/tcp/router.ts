/**
 * One raw TCP router (a `routers[]` entry with `protocol: tcp`): Meshwork's own, for services
 * that speak neither HTTP nor Finagle's protocols (databases, caches, queues, TLS passthrough).
 *
 * A plain connection carries no name, so every connection to a router's servers is named
 * `dstPrefix` (as Linkerd's thrift router names every request when `thriftMethodInDst` is off):
 * one router per logical service, `dstPrefix: /svc/redis` with `/svc => /#/io.l5d.fs` in its
 * dtab or namerd's. With `sniInDst: true` a TLS connection is named by the server name its
 * ClientHello asks for, `dstPrefix ++ /<name>` (the server reads it, server.ts), so one port can
 * carry many TLS services passed through or terminated here. The name is bound with the router's dtab (there is no per-request dtab),
 * a branch, a client and an endpoint are picked as for any router, and the router connects
 * to that endpoint (TLS when the client config says so). A connection refused, unreachable or
 * timed out (`requestAttemptTimeoutMs`, else 5 s) counts against the endpoint (failure
 * accrual, failFast) and is tried on another endpoint within the requeue budget. The service's
 * `totalTimeoutMs` and the server's `timeoutMs` bound the whole of it: binding and connecting.
 *
 * Once connected the connection is the server's to carry (server.ts). Each endpoint counts its
 * open connections as its load, which the least-loaded balancers read. The client's
 * `socketOptions.readTimeoutMs` / `writeTimeoutMs` close an upstream connection that sent
 * nothing, or took none of its bytes, for that long (counted as the client's `read_timeout` /
 * `write_timeout`); the client's side is then reset.
 */
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Path } from '../../naming/path.js';
import { TcpError, connectTcp, readHeldBack } from '../../protocol/tcp/index.js';
import { SocketTimeouts, type TransportTimeout } from '../../protocol/transport-watch.js';
import { RouterError } from '../errors.js';
import { MessageRouter, type AttemptFailure, type MessageRouterDeps } from '../message-router.js';
import type { EndpointPool, PoolEndpoint } from '../pool-client.js';
import type { DtabLike } from '../router-base.js';
import type { CommonClientParams } from '../router-config.js';
import type { Address } from '../../naming/addr.js';

type Obj = Readonly<Record<string, unknown>>;

/** One endpoint's open upstream connections (no pooling: each belongs to one client connection). */
export class TcpEndpointPool implements EndpointPool {
  private readonly open = new Set<Socket>();

  /**
   * `timeouts`: the client's `socketOptions.readTimeoutMs` / `writeTimeoutMs` sweep (shared by
   * its endpoints); an upstream connection that passes one is closed with an error, which
   * resets the client's side of the splice. `onTransportTimeout` counts it.
   */
  constructor(
    readonly host: string,
    readonly port: number,
    readonly tls: ConnectionOptions | undefined,
    readonly socket: { readonly noDelay: boolean; readonly keepAlive: boolean },
    private readonly timeouts?: SocketTimeouts,
    private readonly onTransportTimeout?: (kind: TransportTimeout) => void,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Counts `sock` until it closes, then calls `closed`. */
  track(sock: Socket, closed: () => void): void {
    this.open.add(sock);
    const timeouts = this.timeouts;
    timeouts?.watch(
      sock,
      (kind) => {
        this.onTransportTimeout?.(kind);
        sock.destroy(new TcpError('MESH_ERR_TCP_TRANSPORT_TIMEOUT', `${this.host}:${this.port}: ${timeouts.reason(kind)}`));
      },
      readHeldBack,
    );
    sock.once('close', () => {
      this.open.delete(sock);
      closed();
    });
  }

  /**
   * The endpoint left service discovery: connections open to it carry on until either side
   * closes them (as Envoy's TCP proxy keeps them by default); new ones go elsewhere.
   */
  close(): void {}
}

export type TcpRouterDeps<D extends DtabLike = DtabLike> = MessageRouterDeps<D>;

export class TcpRouter<D extends DtabLike = DtabLike> extends MessageRouter<D, TcpEndpointPool> {
  /**
   * Routes one accepted connection: resolves with a connected upstream socket, or rejects with
   * a RouterError. `signal` aborts it (the client went away); `serverTimeoutMs` is the server's
   * `timeoutMs` (0: none).
   */
  route(signal: AbortSignal, serverTimeoutMs = 0, serverName?: string): Promise<Socket> {
    return this.routeMessage(
      () => this.identify(serverName),
      { trace: undefined, system: 'tcp', method: '' },
      signal,
      serverTimeoutMs,
      (dst, sig) => this.send(dst, sig),
    );
  }

  /**
   * `dstPrefix`, or with `sniInDst` `dstPrefix ++ /<server name>` for a connection whose TLS
   * ClientHello named one (lower case, as DNS names compare).
   */
  identify(serverName: string | undefined): Path {
    return serverName === undefined ? this.deps.dstPrefix : this.deps.dstPrefix.concat(Path.of(serverName));
  }

  private async send(dst: Path, signal: AbortSignal): Promise<Socket> {
    const { client } = await this.boundClient(dst, '', signal);
    const connectMs = client.params.requestAttemptTimeoutMs;
    return this.attempts(
      client,
      dst,
      '',
      signal,
      null,
      async (ep, attempt) => {
        const pool = ep.pool;
        const upstream = await connectTcp({
          host: pool.host,
          port: pool.port,
          tls: pool.tls,
          noDelay: pool.socket.noDelay,
          keepAlive: pool.socket.keepAlive,
          signal: attempt,
          ...(connectMs > 0 ? { connectTimeoutMs: connectMs } : {}),
        });
        openOn(ep, upstream);
        return upstream;
      },
      tcpFailure,
    );
  }

  protected endpointPool(_p: Obj, params: CommonClientParams, onTransportTimeout: ((kind: TransportTimeout) => void) | undefined): (address: Address) => TcpEndpointPool {
    const so = params.socket;
    const timeouts = SocketTimeouts.when(so.readTimeoutMs, so.writeTimeoutMs) ?? undefined;
    return (address) => new TcpEndpointPool(address.host, address.port, params.tls, params.socket, timeouts, onTransportTimeout);
  }
}

/** The open connection is the endpoint's load until it closes (the least-loaded balancers read it). */
function openOn(ep: PoolEndpoint<TcpEndpointPool>, upstream: Socket): void {
  ep.pending++;
  ep.pool.track(upstream, () => ep.pending--);
}

/**
 * A connection attempt's failure: the endpoint never saw a byte of the client's, so it may go to
 * another endpoint; it counts as a connection failure against this one.
 */
function tcpFailure(e: unknown, endpoint: string): AttemptFailure {
  const message = e instanceof Error ? e.message : String(e);
  return { error: new RouterError('MESH_ERR_ROUTER_CONNECT_FAILED', message.startsWith(endpoint) ? message : `${endpoint}: ${message}`, { retryable: true }), connectFailed: true, unseen: true };
}
