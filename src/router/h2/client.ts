/**
 * The h2 router's client for one bound id: a PoolClient (../pool-client.ts) whose endpoints
 * each keep one HTTP/2 session pool (one multiplexed session) per address. Same metrics as the
 * http router's client (`rt/<label>/client/<id>/...`) and the same admin snapshot shape.
 */
import type { Addr, Address } from '../../naming/addr.js';
import type { Var } from '../../naming/contracts.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { H2SessionPool } from '../../protocol/h2/session-pool.js';
import { SocketTimeouts } from '../../protocol/transport-watch.js';
import { DEFAULT_PROBE_MS, type H2Settings } from '../../protocol/h2/server.js';
import { PoolClient, type PoolEndpoint } from '../pool-client.js';
import type { CommonClientParams } from '../router-config.js';
import { transportTimeoutCounter } from '../transport-timeout-counters.js';

export interface H2ClientParams extends CommonClientParams {
  /** SETTINGS each session sends (`headerTableBytes`, `initialStreamWindowBytes`, ...). */
  readonly settings?: H2Settings | undefined;
}

export type H2Endpoint = PoolEndpoint<H2SessionPool>;
export type H2Client = PoolClient<H2SessionPool>;

export function newH2Client(id: string, addr: Var<Addr>, params: H2ClientParams, metrics: Metrics, scope: readonly string[]): H2Client {
  // Tests that must see ended sessions go within seconds shorten the probe (as for servers).
  const envProbe = Number(process.env['MESHWORK_H2_PROBE_MS']);
  const probeMs = Number.isFinite(envProbe) && envProbe > 0 ? envProbe : DEFAULT_PROBE_MS;
  // `socketOptions.readTimeoutMs` / `writeTimeoutMs`: one sweep for the sessions of all endpoints,
  // with Finagle's client counters `read_timeout` / `write_timeout`.
  const so = params.socket;
  const timeouts = SocketTimeouts.when(so.readTimeoutMs, so.writeTimeoutMs) ?? undefined;
  const onTransportTimeout = transportTimeoutCounter(metrics, scope, so);
  const pool = (address: Address): H2SessionPool =>
    new H2SessionPool({ host: address.host, port: address.port, tls: params.tls, idleTimeoutMs: params.sessionIdleTimeMs, lifeTimeMs: params.sessionLifeTimeMs, settings: params.settings, socket: params.socket, probeMs, timeouts, onTransportTimeout });
  return new PoolClient(id, addr, params, pool, metrics, scope);
}
