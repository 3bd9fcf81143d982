/**
 * What the http and h2 routers read alike from a `routers[i]` entry, at build time or on a
 * cache miss: the binding cache's sizes and timeouts, a client's common params (per bound id)
 * and a service's common settings (per logical name).
 */
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type { Metrics } from '../telemetry/metrics.js';
import { TlsFiles, clientTlsOptions } from '../config/tls.js';
import type { AccrualFactory, BalancerFactory, Budget } from './balancing.js';
import type { ClassifyFn } from './client.js';
import { accrualFactory, balancerFactory, requeueBudgetFactory, retryBackoff, retryBudgetFactory } from './plugin-adapters.js';
import { Service } from './service.js';

type Obj = Readonly<Record<string, unknown>>;

/** `o[k]` when it is a number, else `d`. */
export const num = (o: Obj, k: string, d: number): number => (typeof o[k] === 'number' ? (o[k] as number) : d);

export interface RouterCacheSettings {
  readonly bindingTimeoutMs: number;
  /** Bound trees, services and clients unused this long are dropped (0: never). */
  readonly idleTtlMs: number;
  readonly treeCapacity: number;
  readonly serviceCapacity: number;
  readonly clientCapacity: number;
}

/**
 * Linkerd's bindingCache: `paths` logical names (our service entries), `trees` bound trees,
 * `bounds` bound names and `clients` client stacks (both our per-bound-id clients).
 */
export function routerCacheSettings(cfg: Obj): RouterCacheSettings {
  const cache = (cfg['bindingCache'] as Obj | undefined) ?? {};
  return {
    bindingTimeoutMs: num(cfg, 'bindingTimeoutMs', 10_000),
    idleTtlMs: num(cache, 'idleTtlSecs', 600) * 1000,
    treeCapacity: num(cache, 'trees', 1000),
    serviceCapacity: num(cache, 'paths', 1000),
    clientCapacity: Math.min(num(cache, 'clients', 1000), num(cache, 'bounds', 1000)),
  };
}

/** For routers built without a linker (tests): no client `tls` blocks were read. */
const NO_TLS_FILES = new TlsFiles(undefined);

/** The client params both routers' clients take. */
export interface CommonClientParams {
  readonly requestAttemptTimeoutMs: number;
  readonly sessionIdleTimeMs: number;
  /** `clientSession.lifeTimeMs`: upstream connections are closed once this old (0: never). */
  readonly sessionLifeTimeMs: number;
  readonly balancer: BalancerFactory;
  /**
   * `loadBalancer.enableProbation`: an endpoint service discovery removes stays in the balancer
   * while it is healthy (until failure accrual marks it dead), as Finagle's probation keeps it.
   */
  readonly probation: boolean;
  readonly accrual: AccrualFactory;
  readonly requeueBudget: () => Budget;
  readonly tls?: ConnectionOptions | undefined;
  /** `forwardClientCert`: send the caller's TLS client certificate as `x-forwarded-client-cert`. */
  readonly forwardClientCert: boolean;
  /** `failFast`: an endpoint whose connection failed is out until a connection succeeds. */
  readonly failFast: boolean;
  /**
   * `socketOptions` applied to upstream connections (the others: config-warnings.ts);
   * `readTimeoutMs` and `writeTimeoutMs` (0: none) http, thrift, thriftmux and mux clients apply.
   */
  readonly socket: { readonly noDelay: boolean; readonly keepAlive: boolean; readonly readTimeoutMs: number; readonly writeTimeoutMs: number };
}

/** The common client params from a bound id's `client` config `p`. */
export function commonClientParams(p: Obj, tlsFiles: TlsFiles | undefined): CommonClientParams {
  const session = (p['clientSession'] as Obj | undefined) ?? {};
  const so = (p['socketOptions'] as Obj | null | undefined) ?? {};
  return {
    requestAttemptTimeoutMs: num(p, 'requestAttemptTimeoutMs', 0),
    sessionIdleTimeMs: num(session, 'idleTimeMs', 0),
    sessionLifeTimeMs: num(session, 'lifeTimeMs', 0),
    balancer: balancerFactory(p['loadBalancer'] as Obj | undefined),
    probation: (p['loadBalancer'] as Obj | null | undefined)?.['enableProbation'] === true,
    accrual: accrualFactory(p['failureAccrual'] as Obj | undefined),
    requeueBudget: requeueBudgetFactory(p['requeueBudget'] as Obj | undefined),
    tls: clientTlsOptions(p['tls'] as Obj | undefined, tlsFiles ?? NO_TLS_FILES),
    forwardClientCert: p['forwardClientCert'] === true,
    failFast: p['failFast'] === true,
    socket: { noDelay: so['noDelay'] !== false, keepAlive: so['keepAlive'] === true, readTimeoutMs: num(so, 'readTimeoutMs', 0), writeTimeoutMs: num(so, 'writeTimeoutMs', 0) },
  };
}

/**
 * A logical name's service (`rt/<label>/service/<name>/...`) from its `service` config `p`:
 * total timeout, retry budget and backoff, with the router's classification.
 */
export function commonService(label: string, metrics: Metrics, key: string, p: Obj, classify: ClassifyFn): Service {
  const retries = (p['retries'] as Obj | undefined) ?? {};
  return new Service({
    name: key,
    scope: ['rt', label, 'service', key.slice(1)],
    metrics,
    totalTimeoutMs: num(p, 'totalTimeoutMs', 0),
    budget: retryBudgetFactory(retries['budget'] as Obj | undefined)(),
    backoff: retryBackoff(retries['backoff'] as Obj | undefined),
    classify,
  });
}

/** What every protocol's server reads alike: `timeoutMs`, `serverSession` and `socketOptions`. */
export interface ServerConnectionSettings {
  /** `timeoutMs`: no request through the server takes longer; 0: none. */
  readonly timeoutMs: number;
  /** `serverSession.idleTimeMs` (undefined: not set; each server has its default) and `lifeTimeMs` (0: never). */
  readonly idleTimeMs: number | undefined;
  readonly lifeTimeMs: number;
  /**
   * `socketOptions` the listener applies (the others are warned about: config-warnings.ts);
   * `readTimeoutMs` and `writeTimeoutMs` (0: none) http, thrift, thriftmux and mux servers apply.
   */
  readonly socket: { readonly noDelay: boolean; readonly keepAlive: boolean; readonly backlog?: number; readonly readTimeoutMs: number; readonly writeTimeoutMs: number };
}

/** A thrift, thriftmux or mux server's settings: where it listens, its limits and its TLS. */
export interface MessageServerSettings extends ServerConnectionSettings {
  readonly ip: string;
  readonly port: number;
  readonly clearContext: boolean;
  readonly maxConcurrentRequests: number;
  readonly tls: TlsOptions | undefined;
}

/** A message server's settings from its validated `servers[j]` entry (`defaultPort`: its protocol's). */
export function messageServerSettings(cfg: Obj, tls: TlsOptions | undefined, defaultPort: number): MessageServerSettings {
  return {
    ip: typeof cfg['ip'] === 'string' ? (cfg['ip'] as string) : '127.0.0.1',
    port: typeof cfg['port'] === 'number' ? (cfg['port'] as number) : defaultPort,
    clearContext: cfg['clearContext'] === true,
    maxConcurrentRequests: typeof cfg['maxConcurrentRequests'] === 'number' ? (cfg['maxConcurrentRequests'] as number) : 0,
    tls,
    ...serverConnectionSettings(cfg),
  };
}

export function serverConnectionSettings(cfg: Obj): ServerConnectionSettings {
  const session = (cfg['serverSession'] as Obj | null | undefined) ?? {};
  const so = (cfg['socketOptions'] as Obj | null | undefined) ?? {};
  return {
    timeoutMs: num(cfg, 'timeoutMs', 0),
    idleTimeMs: typeof session['idleTimeMs'] === 'number' ? (session['idleTimeMs'] as number) : undefined,
    lifeTimeMs: num(session, 'lifeTimeMs', 0),
    socket: {
      noDelay: so['noDelay'] !== false,
      keepAlive: so['keepAlive'] === true,
      ...(typeof so['backlog'] === 'number' ? { backlog: so['backlog'] as number } : {}),
      readTimeoutMs: num(so, 'readTimeoutMs', 0),
      writeTimeoutMs: num(so, 'writeTimeoutMs', 0),
    },
  };
}

/** The longest delay a Node timer takes (a longer one fires after 1 ms). */
export const MAX_TIMER_MS = 0x7fffffff;

/**
 * A caller's deadline (`leftMs` from now, > 0) against the router's total timeout `timeoutMs`
 * (0: none): the timeout to arm, whether the deadline set it, and the deadline to pass on (the
 * caller's, or now + the router's timeout when that is tighter). A deadline too far away for a
 * timer (over ~24.8 days) arms nothing and is passed on as it came.
 */
export function callerDeadline(timeoutMs: number, leftMs: number, deadlineNs: bigint, now: number): { timeoutMs: number; byDeadline: boolean; passNs: bigint } {
  if (leftMs <= MAX_TIMER_MS && (timeoutMs <= 0 || leftMs < timeoutMs)) return { timeoutMs: leftMs, byDeadline: true, passNs: deadlineNs };
  return { timeoutMs, byDeadline: false, passNs: timeoutMs > 0 ? BigInt(now + timeoutMs) * 1_000_000n : deadlineNs };
}

/** The tighter of two timeouts in ms, where 0 means none (a server's `timeoutMs` and a service's total). */
export function tighterTimeout(a: number, b: number): number {
  return a > 0 && (b <= 0 || a < b) ? a : b;
}
