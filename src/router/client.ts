/**
 * The client for one bound id (`/#/io.l5d.fs/users`): it follows the id's Addr, keeps a pooled
 * endpoint (an engine connection pool) per address, gives the load balancer's pick per attempt,
 * feeds failure accrual and holds the requeue budget. The request itself is driven by the
 * route (route.ts). Metrics go to `rt/<label>/client/<id>/...`.
 */
import type { Addr, Address } from '../naming/addr.js';
import type { Closable, Var } from '../naming/contracts.js';
import type { Counter, Metrics } from '../telemetry/metrics.js';
import { Http1Pool } from '../protocol/http1/pool.js';
import type { AccrualState, Balancer, BalancerEndpoint, Budget } from './balancing.js';
import { AddrWaiters, accrualText, clientMetrics, clientSnapshot, closeEndpoints, nextEndpoints, probeUntilUp, type ClientMetrics } from './endpoint-set.js';
import { H_DST_CLIENT, fieldBytes } from './headers.js';
import type { CommonClientParams } from './router-config.js';

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

export class ClientEndpoint implements BalancerEndpoint {
  pending = 0;
  queued = 0;
  ewmaMs = 0;
  readonly pool: Http1Pool;
  readonly label: string;
  accrual: AccrualState;
  /** failFast: marked down after a connection failure until a connection succeeds again. */
  failFastDown = false;

  constructor(
    readonly address: Address,
    params: ClientParams,
    onAvailability: (available: boolean) => void,
  ) {
    const idle = Math.min(params.pool.idleTimeMs > 0 ? params.pool.idleTimeMs : Infinity, params.sessionIdleTimeMs > 0 ? params.sessionIdleTimeMs : Infinity);
    this.pool = new Http1Pool({
      host: address.host,
      port: address.port,
      maxConnections: params.pool.maxSize > 0 ? params.pool.maxSize : Infinity,
      maxQueue: params.pool.maxWaiters,
      idleTimeoutMs: Number.isFinite(idle) ? idle : 0,
      minConnections: params.pool.minSize,
      ...(params.tls !== undefined ? { tls: params.tls } : {}),
      noDelay: params.socket.noDelay,
      keepAlive: params.socket.keepAlive,
    });
    this.label = this.pool.authority;
    this.accrual = params.accrual(onAvailability);
  }

  get host(): string {
    return this.address.host;
  }
  get port(): number {
    return this.address.port;
  }
  get weight(): number {
    const w = this.address.meta['endpoint_addr_weight'] ?? this.address.meta['weight'];
    return typeof w === 'number' && w > 0 ? w : 1;
  }
  get available(): boolean {
    return this.accrual.available() && !this.failFastDown;
  }

  close(): void {
    this.accrual.close();
    this.pool.close();
  }
}

export class Client {
  private endpoints = new Map<string, ClientEndpoint>();
  private addr: Addr = { type: 'pending' };
  private readonly sub: Closable;
  private readonly balancer: Balancer<ClientEndpoint>;
  private readonly requeueBudget: Budget;
  readonly m: ClientMetrics;
  private readonly addrWaiters = new AddrWaiters();
  lastUsed = Date.now();
  private closed = false;
  /** `l5d-dst-client: <id>`, as every request through this client forwards it. */
  readonly dstField: Buffer;
  /** `forwardClientCert`: the caller's client certificate goes upstream (client-cert.ts). */
  readonly forwardClientCert: boolean;

  constructor(
    readonly id: string,
    addrVar: Var<Addr>,
    private readonly params: ClientParams,
    private readonly metrics: Metrics,
    private readonly scope: readonly string[],
  ) {
    this.dstField = fieldBytes(H_DST_CLIENT, id);
    this.forwardClientCert = params.forwardClientCert;
    this.balancer = params.balancer<ClientEndpoint>();
    this.requeueBudget = params.requeueBudget();
    this.m = clientMetrics(metrics, scope, () => this.endpoints);
    this.sub = addrVar.observe((a) => this.onAddr(a));
  }

  private readonly onAvailability = (): void => {
    if (!this.closed) this.balancer.rebuild();
  };

  get endpointCount(): number {
    return this.endpoints.size;
  }

  private readonly makeEndpoint = (address: Address): ClientEndpoint => new ClientEndpoint(address, this.params, this.onAvailability);

  private onAddr(a: Addr): void {
    this.addr = a;
    this.endpoints = nextEndpoints(this.endpoints, a, this.makeEndpoint, this.balancer);
    if (a.type !== 'pending') this.addrWaiters.wake();
  }

  addrSettled(timeoutMs: number): Promise<void> {
    if (this.addr.type !== 'pending') return Promise.resolve();
    return this.addrWaiters.wait(timeoutMs);
  }

  private statusCounter(status: number): Counter {
    let c = this.m.status.get(status);
    if (c === undefined) {
      c = this.metrics.counter([...this.scope, 'status', String(status)]);
      this.m.status.set(status, c);
    }
    return c;
  }

  /**
   * The request path's pick: an available endpoint, or null. The caller counts the attempt
   * (`m.requests`, `ep.pending`) and reports its outcome with `recordOutcome`.
   */
  pick(): ClientEndpoint | null {
    return this.balancer.pick();
  }

  /** An attempt ended: feed the balancer's latency and the endpoint's failure accrual. */
  attemptDone(ep: ClientEndpoint, ms: number, status: number, ok: boolean): void {
    this.balancer.observe(ep, ms);
    this.m.latency.add(ms);
    this.statusCounter(status).incr();
    if (ok) this.m.success.incr();
    else this.m.failures.incr();
    this.recordOutcome(ep, ok);
  }

  /** An attempt failed before a response (connection refused, reset, pool full). */
  attemptFailed(ep: ClientEndpoint, ms: number, connectFailed: boolean, ok: boolean): void {
    this.m.latency.add(ms);
    this.m.failures.incr();
    if (connectFailed) {
      this.m.connectFailures.incr();
      if (this.params.failFast && !ep.failFastDown) {
        ep.failFastDown = true;
        this.balancer.rebuild();
        this.probeFailFast(ep);
      }
    }
    this.recordOutcome(ep, ok);
  }

  /** A requeue (a resend after a failure that never reached the application) within budget. */
  tryRequeue(): boolean {
    if (!this.requeueBudget.tryWithdraw()) return false;
    this.m.requeues.incr();
    return true;
  }

  /** Called once per request that reaches this client (funds its requeue budget). */
  deposit(now = Date.now()): void {
    this.lastUsed = now;
    this.requeueBudget.deposit(now);
  }

  /** The Addr state: callers wait on `addrSettled` while it is pending. */
  get addrState(): Addr {
    return this.addr;
  }

  /**
   * This client's state for the admin's `/client_state.json` (Linkerd's shape: the Addr's
   * state and its endpoints) plus each endpoint's load and failure-accrual state.
   */
  snapshot(): Record<string, unknown> {
    return clientSnapshot(this.addr, this.endpoints, (e) => (e.failFastDown ? 'failFast' : accrualText(e.accrual)));
  }

  private recordOutcome(ep: ClientEndpoint, ok: boolean): void {
    const wasMarked = ep.accrual.marked();
    const wasAvailable = ep.accrual.available();
    if (ok) ep.accrual.onSuccess();
    else ep.accrual.onFailure();
    const marked = ep.accrual.marked();
    if (wasMarked !== marked) {
      if (marked) this.m.removals.incr();
      else this.m.revivals.incr();
    }
    if (wasAvailable !== ep.accrual.available()) this.balancer.rebuild();
    if (!ep.accrual.available()) this.scheduleRevival(ep);
  }

  private scheduleRevival(ep: ClientEndpoint): void {
    const wait = ep.accrual.msUntilProbe();
    if (wait === undefined) return;
    const t = setTimeout(() => {
      if (this.closed) return;
      // Back-off elapsed: the endpoint may be tried again (half-open); rebuild the picker.
      this.balancer.rebuild();
    }, wait + 1);
    t.unref();
  }

  private probeFailFast(ep: ClientEndpoint): void {
    probeUntilUp(ep.host, ep.port, () => !this.closed && this.endpointsHas(ep), () => {
      ep.failFastDown = false;
      this.balancer.rebuild();
    });
  }

  private endpointsHas(ep: ClientEndpoint): boolean {
    for (const e of this.endpoints.values()) if (e === ep) return true;
    return false;
  }

  close(): void {
    this.closed = true;
    this.sub.close();
    closeEndpoints(this.endpoints);
    this.metrics.remove(this.scope);
    this.addrWaiters.wake();
  }
}
