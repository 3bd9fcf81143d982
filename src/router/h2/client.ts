/**
 * The h2 router's client for one bound id: it follows the id's Addr, keeps one HTTP/2 session
 * pool (one multiplexed session) per address, gives the balancer's pick per attempt, feeds
 * failure accrual and holds the requeue budget. Same metrics as the http router's client
 * (`rt/<label>/client/<id>/...`) and the same admin snapshot shape.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Addr, Address } from '../../naming/addr.js';
import type { Closable, Var } from '../../naming/contracts.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { H2SessionPool } from '../../protocol/h2/session-pool.js';
import type { H2Settings } from '../../protocol/h2/server.js';
import type { AccrualFactory, AccrualState, Balancer, BalancerEndpoint, BalancerFactory, Budget } from '../balancing.js';
import { AddrWaiters, accrualText, clientMetrics, clientSnapshot, closeEndpoints, nextEndpoints, type ClientMetrics } from '../endpoint-set.js';

export interface H2ClientParams {
  readonly requestAttemptTimeoutMs: number;
  readonly sessionIdleTimeMs: number;
  readonly balancer: BalancerFactory;
  readonly accrual: AccrualFactory;
  readonly requeueBudget: () => Budget;
  readonly tls?: ConnectionOptions | undefined;
  /** SETTINGS each session sends (`headerTableBytes`, `initialStreamWindowBytes`, ...). */
  readonly settings?: H2Settings | undefined;
}

export class H2Endpoint implements BalancerEndpoint {
  pending = 0;
  queued = 0;
  ewmaMs = 0;
  readonly pool: H2SessionPool;
  readonly accrual: AccrualState;

  constructor(
    readonly address: Address,
    params: H2ClientParams,
    onAvailability: (available: boolean) => void,
  ) {
    this.pool = new H2SessionPool({ host: address.host, port: address.port, tls: params.tls, idleTimeoutMs: params.sessionIdleTimeMs, settings: params.settings });
    this.accrual = params.accrual(onAvailability);
  }
  get label(): string {
    return this.pool.authority;
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
    return this.accrual.available();
  }
  close(): void {
    this.accrual.close();
    this.pool.close();
  }
}

export class H2Client {
  private endpoints = new Map<string, H2Endpoint>();
  private addr: Addr = { type: 'pending' };
  private readonly sub: Closable;
  private readonly balancer: Balancer<H2Endpoint>;
  private readonly requeueBudget: Budget;
  private readonly addrWaiters = new AddrWaiters();
  private closed = false;
  lastUsed = Date.now();
  readonly m: ClientMetrics;

  constructor(
    readonly id: string,
    addrVar: Var<Addr>,
    readonly params: H2ClientParams,
    private readonly metrics: Metrics,
    private readonly scope: readonly string[],
  ) {
    this.balancer = params.balancer<H2Endpoint>();
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

  get addrState(): Addr {
    return this.addr;
  }

  private readonly makeEndpoint = (address: Address): H2Endpoint => new H2Endpoint(address, this.params, this.onAvailability);

  private onAddr(a: Addr): void {
    this.addr = a;
    this.endpoints = nextEndpoints(this.endpoints, a, this.makeEndpoint, this.balancer);
    if (a.type !== 'pending') this.addrWaiters.wake();
  }

  addrSettled(timeoutMs: number): Promise<void> {
    if (this.addr.type !== 'pending') return Promise.resolve();
    return this.addrWaiters.wait(timeoutMs);
  }

  pick(): H2Endpoint | null {
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

  /** An attempt got a response (`status`), classified `ok` or not. */
  attemptDone(ep: H2Endpoint, ms: number, status: number, ok: boolean): void {
    this.balancer.observe(ep, ms);
    this.m.latency.add(ms);
    let c = this.m.status.get(status);
    if (c === undefined) {
      c = this.metrics.counter([...this.scope, 'status', String(status)]);
      this.m.status.set(status, c);
    }
    c.incr();
    if (ok) this.m.success.incr();
    else this.m.failures.incr();
    this.recordOutcome(ep, ok);
  }

  /** An attempt failed before a response (connect failure, reset, timeout). */
  attemptFailed(ep: H2Endpoint, ms: number, connectFailed: boolean): void {
    this.m.latency.add(ms);
    this.m.failures.incr();
    if (connectFailed) this.m.connectFailures.incr();
    this.recordOutcome(ep, false);
  }

  private recordOutcome(ep: H2Endpoint, ok: boolean): void {
    const wasMarked = ep.accrual.marked();
    const wasAvailable = ep.accrual.available();
    if (ok) ep.accrual.onSuccess();
    else ep.accrual.onFailure();
    const marked = ep.accrual.marked();
    if (wasMarked !== marked) (marked ? this.m.removals : this.m.revivals).incr();
    if (wasAvailable !== ep.accrual.available()) this.balancer.rebuild();
    if (!ep.accrual.available()) {
      const wait = ep.accrual.msUntilProbe();
      if (wait !== undefined) {
        setTimeout(() => {
          if (!this.closed) this.balancer.rebuild();
        }, wait + 1).unref();
      }
    }
  }

  snapshot(): Record<string, unknown> {
    return clientSnapshot(this.addr, this.endpoints, (e) => accrualText(e.accrual));
  }

  close(): void {
    this.closed = true;
    this.sub.close();
    closeEndpoints(this.endpoints);
    this.metrics.remove(this.scope);
    this.addrWaiters.wake();
  }
}
