/**
 * The client for one bound id (`/#/io.l5d.fs/users`), whose endpoints each own a connection
 * pool of the router's protocol: the http router's engine pool (client.ts), the h2 router's one
 * multiplexed HTTP/2 session (h2/client.ts), the thrift routers' one-request-at-a-time thrift
 * connections (thrift/router.ts). It follows the id's Addr, keeps an endpoint per address,
 * gives the balancer's pick per attempt, feeds failure accrual and holds the requeue budget;
 * the request itself is driven by the router's call (route.ts, h2/call.ts, thrift/router.ts).
 * Metrics go to `rt/<label>/client/<id>/...` and the admin snapshot is endpoint-set.ts's.
 */
import type { Addr, Address } from '../naming/addr.js';
import type { Closable, Var } from '../naming/contracts.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { AccrualState, Balancer, BalancerEndpoint, Budget } from './balancing.js';
import { AddrWaiters, accrualText, clientMetrics, clientSnapshot, closeEndpoints, dropUnhealthy, nextEndpoints, probeUntilUp, type ClientMetrics } from './endpoint-set.js';
import type { CommonClientParams } from './router-config.js';

/** What an endpoint's connection pool must offer the client. */
export interface EndpointPool {
  /** Open connections (the client's `connections` gauge). */
  readonly size: number;
  close(): void;
}

export class PoolEndpoint<P extends EndpointPool> implements BalancerEndpoint {
  pending = 0;
  queued = 0;
  ewmaMs = 0;
  readonly accrual: AccrualState;
  /** `host:port` (`[v6]:port`), as errors and logs name it. */
  readonly label: string;
  /** failFast: out after a connection failure until a connection succeeds again. */
  failFastDown = false;
  onProbation = false;

  constructor(
    readonly address: Address,
    readonly pool: P,
    accrual: AccrualState,
  ) {
    this.accrual = accrual;
    this.label = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
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

export class PoolClient<P extends EndpointPool> {
  private endpoints = new Map<string, PoolEndpoint<P>>();
  private addr: Addr = { type: 'pending' };
  private readonly sub: Closable;
  private readonly balancer: Balancer<PoolEndpoint<P>>;
  private readonly requeueBudget: Budget;
  private readonly addrWaiters = new AddrWaiters();
  private closed = false;
  lastUsed = Date.now();
  readonly m: ClientMetrics;

  constructor(
    readonly id: string,
    addrVar: Var<Addr>,
    readonly params: CommonClientParams,
    /** A new endpoint's connection pool. */
    private readonly makePool: (address: Address) => P,
    private readonly metrics: Metrics,
    private readonly scope: readonly string[],
  ) {
    this.balancer = params.balancer<PoolEndpoint<P>>();
    this.requeueBudget = params.requeueBudget();
    this.m = clientMetrics(metrics, scope, () => this.endpoints);
    this.sub = addrVar.observe((a) => this.onAddr(a));
  }

  private readonly onAvailability = (): void => {
    if (!this.closed) this.availabilityChanged();
  };

  /** An endpoint became available or not: the picker is rebuilt, and one on probation that is unhealthy leaves. */
  private availabilityChanged(): void {
    if (this.params.probation) this.endpoints = dropUnhealthy(this.endpoints, this.balancer);
    this.balancer.rebuild();
  }

  get endpointCount(): number {
    return this.endpoints.size;
  }

  get addrState(): Addr {
    return this.addr;
  }

  private readonly makeEndpoint = (address: Address): PoolEndpoint<P> =>
    new PoolEndpoint(address, this.makePool(address), this.params.accrual(this.onAvailability));

  /**
   * The bound Addr's `authority` metadata (Linkerd's Metadata.authority: io.l5d.consul's
   * `setHost`, or namerd's answer), which the http router sends as the Host of requests to this
   * client (Linkerd's RewriteHostHeader); undefined: none.
   */
  authority: string | undefined = undefined;

  private onAddr(a: Addr): void {
    this.addr = a;
    if (a.type === 'bound') {
      const auth = a.meta['authority'];
      this.authority = typeof auth === 'string' && auth !== '' ? auth : undefined;
    }
    this.endpoints = nextEndpoints(this.endpoints, a, this.makeEndpoint, this.balancer, this.params.probation);
    if (a.type !== 'pending') this.addrWaiters.wake();
  }

  addrSettled(timeoutMs: number): Promise<void> {
    if (this.addr.type !== 'pending') return Promise.resolve();
    return this.addrWaiters.wait(timeoutMs);
  }

  pick(): PoolEndpoint<P> | null {
    return this.balancer.pick();
  }

  deposit(now = Date.now()): void {
    this.lastUsed = now;
    this.requeueBudget.deposit(now);
  }

  tryRequeue(): boolean {
    if (!this.requeueBudget.tryWithdraw()) return false;
    this.m.requeues.incr();
    return true;
  }

  /** An attempt got a response, classified `ok` or not; `status` counts it under `status/<n>` (HTTP only). */
  attemptDone(ep: PoolEndpoint<P>, ms: number, status: number | undefined, ok: boolean): void {
    this.balancer.observe(ep, ms);
    this.m.latency.add(ms);
    if (status !== undefined) {
      let c = this.m.status.get(status);
      if (c === undefined) {
        c = this.metrics.counter([...this.scope, 'status', String(status)]);
        this.m.status.set(status, c);
      }
      c.incr();
    }
    if (ok) this.m.success.incr();
    else this.m.failures.incr();
    this.recordOutcome(ep, ok);
  }

  /**
   * An attempt failed before a response (connect failure, reset, timeout, pool full). `ok`:
   * the router's classifier counted the failure as a success for failure accrual.
   */
  attemptFailed(ep: PoolEndpoint<P>, ms: number, connectFailed: boolean, ok = false): void {
    this.m.latency.add(ms);
    this.m.failures.incr();
    if (connectFailed) {
      this.m.connectFailures.incr();
      if (this.params.failFast && !ep.failFastDown) {
        ep.failFastDown = true;
        this.availabilityChanged();
        probeUntilUp(ep.host, ep.port, () => !this.closed && this.endpointsHas(ep), () => {
          ep.failFastDown = false;
          this.balancer.rebuild();
        });
      }
    }
    this.recordOutcome(ep, ok);
  }

  private endpointsHas(ep: PoolEndpoint<P>): boolean {
    for (const e of this.endpoints.values()) if (e === ep) return true;
    return false;
  }

  private recordOutcome(ep: PoolEndpoint<P>, ok: boolean): void {
    const wasMarked = ep.accrual.marked();
    const wasAvailable = ep.accrual.available();
    if (ok) ep.accrual.onSuccess();
    else ep.accrual.onFailure();
    const marked = ep.accrual.marked();
    if (wasMarked !== marked) (marked ? this.m.removals : this.m.revivals).incr();
    if (wasAvailable !== ep.accrual.available()) this.availabilityChanged();
    if (!ep.accrual.available()) {
      const wait = ep.accrual.msUntilProbe();
      if (wait !== undefined) {
        // Back-off elapsed: the endpoint may be tried again (half-open); rebuild the picker.
        setTimeout(() => {
          if (!this.closed) this.balancer.rebuild();
        }, wait + 1).unref();
      }
    }
  }

  /**
   * This client's state for the admin's `/client_state.json` (Linkerd's shape: the Addr's
   * state and its endpoints) plus each endpoint's load and failure-accrual state.
   */
  snapshot(): Record<string, unknown> {
    return clientSnapshot(this.addr, this.endpoints, (e) => (e.failFastDown ? 'failFast' : accrualText(e.accrual)));
  }

  close(): void {
    this.closed = true;
    this.sub.close();
    closeEndpoints(this.endpoints);
    this.metrics.remove(this.scope);
    this.addrWaiters.wake();
  }
}
