/**
 * The http router's client for one bound id: a PoolClient (pool-client.ts) whose endpoints
 * each keep an engine connection pool (protocol/http1/pool.ts) per address, and which carries
 * the fields every request through it forwards. The request is driven by the route (route.ts).
 */
import type { Addr, Address } from '../naming/addr.js';
import type { Var } from '../naming/contracts.js';
import type { Metrics } from '../telemetry/metrics.js';
import { Http1Pool } from '../protocol/http1/pool.js';
import { H_DST_CLIENT, fieldBytes } from './headers.js';
import { PoolClient, type PoolEndpoint } from './pool-client.js';
import type { CommonClientParams } from './router-config.js';
import { transportTimeoutCounter } from './transport-timeout-counters.js';

export type Classification = 'success' | 'failure' | 'retryable-failure';
export type ClassifyFn = (method: string, status: number | undefined, err: unknown) => Classification;

/** The common client params (router-config.ts) plus the http client's connection pool. */
export interface ClientParams extends CommonClientParams {
  readonly pool: { readonly maxSize: number; readonly minSize: number; readonly idleTimeMs: number; readonly maxWaiters: number };
  /** How long a request waits for a pending Addr. */
  readonly bindingTimeoutMs: number;
}

/** Finagle's cap on requeues per request, whatever the budget says. */
export const MAX_REQUEUES = 25;

export type ClientEndpoint = PoolEndpoint<Http1Pool>;

/** An endpoint's engine pool, sized by the client's `hostConnectionPool` and session idle time. */
function http1Pool(address: Address, params: ClientParams, onTransportTimeout: ((kind: 'read' | 'write') => void) | undefined): Http1Pool {
  const idle = Math.min(params.pool.idleTimeMs > 0 ? params.pool.idleTimeMs : Infinity, params.sessionIdleTimeMs > 0 ? params.sessionIdleTimeMs : Infinity);
  return new Http1Pool({
    host: address.host,
    port: address.port,
    maxConnections: params.pool.maxSize > 0 ? params.pool.maxSize : Infinity,
    maxQueue: params.pool.maxWaiters,
    idleTimeoutMs: Number.isFinite(idle) ? idle : 0,
    minConnections: params.pool.minSize,
    lifeTimeMs: params.sessionLifeTimeMs,
    ...(params.tls !== undefined ? { tls: params.tls } : {}),
    noDelay: params.socket.noDelay,
    keepAlive: params.socket.keepAlive,
    readTimeoutMs: params.socket.readTimeoutMs,
    writeTimeoutMs: params.socket.writeTimeoutMs,
    onTransportTimeout,
  });
}

export class Client extends PoolClient<Http1Pool> {
  /** `l5d-dst-client: <id>`, as every request through this client forwards it. */
  readonly dstField: Buffer;
  /** `forwardClientCert`: the caller's client certificate goes upstream (client-cert.ts). */
  readonly forwardClientCert: boolean;

  constructor(id: string, addrVar: Var<Addr>, params: ClientParams, metrics: Metrics, scope: readonly string[]) {
    // Finagle's client `read_timeout` / `write_timeout` counters, when those timeouts are set.
    const onTimeout = transportTimeoutCounter(metrics, scope, params.socket);
    super(id, addrVar, params, (address) => http1Pool(address, params, onTimeout), metrics, scope);
    this.dstField = fieldBytes(H_DST_CLIENT, id);
    this.forwardClientCert = params.forwardClientCert;
  }
}
