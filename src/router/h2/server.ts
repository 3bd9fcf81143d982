/**
 * One `servers[]` entry of an h2 router: an HTTP/2 listener (src/protocol/h2) whose request
 * streams go to the router. It adds `maxConcurrentRequests` (503 with l5d-err), the server
 * metrics under `rt/<label>/server/<ip>/<port>/...` (as the http router's servers), and drains
 * on close.
 */
import * as http2 from 'node:http2';
import type { TlsOptions } from 'node:tls';
import { DEFAULT_PROBE_MS, H2Server, type H2Settings } from '../../protocol/h2/server.js';
import { h2Settings } from './settings.js';
import type { Counter, Metrics } from '../../telemetry/metrics.js';
import { serverStats } from '../server-stats.js';
import { RouterError } from '../errors.js';
import { serverConnectionSettings, type ServerConnectionSettings } from '../router-config.js';
import type { H2Router, H2ServerContext } from './router.js';
import { resetSoon } from '../../protocol/h2/reset-soon.js';
import type { TransportTimeout } from '../../protocol/transport-watch.js';
import { transportTimeoutCounter } from '../transport-timeout-counters.js';

type Obj = Readonly<Record<string, unknown>>;

/** `timeoutMs`, `serverSession` and `socketOptions`: ServerConnectionSettings (router-config.ts). */
export interface H2ServerOptions extends ServerConnectionSettings {
  readonly ip: string;
  readonly port: number;
  readonly clearContext: boolean;
  readonly maxConcurrentRequests: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS (Linkerd's default 1000). */
  readonly maxConcurrentStreamsPerConnection: number;
  readonly maxCallDepth: number;
  readonly tls: TlsOptions | undefined;
  /** SETTINGS announced besides SETTINGS_MAX_CONCURRENT_STREAMS (undefined: node's defaults). */
  readonly settings: H2Settings | undefined;
  /** `addForwardedHeader` (by/for labelers); undefined: no `forwarded` field is added. */
  readonly addForwardedHeader: Obj | undefined;
  /** Quiet time before a session must answer a PING (protocol/h2/server.ts); not a Linkerd key. */
  readonly probeMs: number;
}

/**
 * How long a request body may stall before its answer when `serverSession.idleTimeMs` is not
 * set: 5 minutes, the http servers' idle default and Envoy's stream idle timeout.
 */
export const DEFAULT_BODY_IDLE_MS = 300_000;

/** Linkerd's h2 default bound on proxies a request may pass (protocol-h2.md). */
export const DEFAULT_H2_MAX_CALL_DEPTH = 10;

export function h2ServerOptions(cfg: Obj, tls: TlsOptions | undefined): H2ServerOptions {
  const n = (k: string, d: number): number => (typeof cfg[k] === 'number' ? (cfg[k] as number) : d);
  // Tests that must see unresponsive sessions go within seconds shorten the probe.
  const envProbe = Number(process.env['MESHWORK_H2_PROBE_MS']);
  return {
    ip: typeof cfg['ip'] === 'string' ? (cfg['ip'] as string) : '127.0.0.1',
    port: n('port', 4142),
    clearContext: cfg['clearContext'] === true,
    maxConcurrentRequests: n('maxConcurrentRequests', 0),
    maxConcurrentStreamsPerConnection: n('maxConcurrentStreamsPerConnection', 1000),
    maxCallDepth: n('maxCallDepth', DEFAULT_H2_MAX_CALL_DEPTH),
    tls,
    settings: h2Settings(cfg),
    addForwardedHeader: (cfg['addForwardedHeader'] as Obj | null | undefined) ?? undefined,
    probeMs: Number.isFinite(envProbe) && envProbe > 0 ? envProbe : DEFAULT_PROBE_MS,
    ...serverConnectionSettings(cfg),
  };
}

export class H2RouterServer {
  private readonly server: H2Server;
  private ctx: H2ServerContext | undefined;
  private draining = false;
  private tlsFailures: Counter | undefined;
  /** Counts a connection closed by `socketOptions.readTimeoutMs` / `writeTimeoutMs` (Finagle's `read_timeout`, `write_timeout`; set once listening). */
  private countTimeout: ((kind: TransportTimeout) => void) | undefined;

  constructor(
    readonly router: H2Router,
    readonly options: H2ServerOptions,
    private readonly metrics: Metrics,
  ) {
    this.server = new H2Server((stream, headers, flags) => this.onStream(stream, headers, flags), {
      maxConcurrentStreams: options.maxConcurrentStreamsPerConnection,
      ...(options.settings !== undefined ? { settings: options.settings } : {}),
      tls: options.tls,
      onTlsError: () => this.tlsFailures?.incr(),
      idleTimeMs: options.idleTimeMs ?? 0,
      lifeTimeMs: options.lifeTimeMs,
      probeMs: options.probeMs,
      socket: options.socket,
      onTransportTimeout: (kind) => this.countTimeout?.(kind),
    });
  }

  async listen(): Promise<{ ip: string; port: number }> {
    const a = await this.server.listen(this.options.port, this.options.ip);
    const stats = serverStats(this.metrics, this.router.label, this.options.ip, a.port, () => this.server.connectionCount);
    const scope = stats.scope;
    // The stats object itself, so its `load` gauge reads the `inflight` the router keeps.
    this.ctx = Object.assign(stats, {
      clearContext: this.options.clearContext,
      addForwardedHeader: this.options.addForwardedHeader,
      maxCallDepth: this.options.maxCallDepth,
      timeoutMs: this.options.timeoutMs,
      bodyIdleMs: this.options.idleTimeMs ?? DEFAULT_BODY_IDLE_MS,
    });
    if (this.options.tls !== undefined) this.tlsFailures = this.metrics.counter([...scope, 'handshake_failures']);
    this.countTimeout = transportTimeoutCounter(this.metrics, scope, this.options.socket);
    return { ip: this.options.ip, port: a.port };
  }

  get inFlight(): number {
    return this.ctx?.inflight ?? 0;
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): void {
    const ctx = this.ctx;
    if (ctx === undefined) {
      // Not listening yet: the request was not processed.
      resetSoon(stream, http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const max = this.options.maxConcurrentRequests;
    let refusal: RouterError | undefined;
    if (this.draining) refusal = new RouterError('MESH_ERR_ROUTER_SHUTTING_DOWN', 'router is shutting down', { rejected: true, retryable: true });
    else if (max > 0 && ctx.inflight >= max) refusal = new RouterError('MESH_ERR_ROUTER_OVERLOADED', `max concurrent requests (${max}) exceeded`, { rejected: true, retryable: true });
    if (refusal === undefined) {
      this.router.handle(stream, headers, flags, ctx);
      return;
    }
    ctx.inflight++;
    this.router.answerLocally(stream, ctx, Date.now(), refusal, headers);
  }

  async close(graceMs: number): Promise<void> {
    this.draining = true;
    await this.server.close(graceMs);
  }
}
