/**
 * One `servers[]` entry of a router: an engine listener (src/protocol/http1) that parses each
 * request head in place and hands it to the router. The engine enforces the request-line and
 * header limits (414 / 431), slow-client timeouts (408) and strict framing (400 on
 * smuggling-shaped requests); this wrapper adds `maxConcurrentRequests` (503), counts the
 * engine's rejections in the server metrics, and drains on close.
 */
import type { TlsOptions } from 'node:tls';
import type { Http1Error } from '../protocol/http1/errors.js';
import { createHttp1Server, type Http1Exchange, type Http1Server } from '../protocol/http1/server.js';
import type { Counter, Metrics } from '../telemetry/metrics.js';
import type { TransportTimeout } from '../protocol/transport-watch.js';
import { transportTimeoutCounter } from './transport-timeout-counters.js';
import { countServerRequest, serverStats } from './server-stats.js';
import { RouterError } from './errors.js';
import { serverConnectionSettings, type ServerConnectionSettings } from './router-config.js';
import type { Router, ServerContext } from './router.js';

type Obj = Readonly<Record<string, unknown>>;

/** `timeoutMs`, `serverSession` and `socketOptions`: ServerConnectionSettings (router-config.ts). */
export interface ServerOptions extends ServerConnectionSettings {
  readonly ip: string;
  readonly port: number;
  readonly clearContext: boolean;
  readonly maxConcurrentRequests: number;
  readonly addForwardedHeader: Obj | undefined;
  /** Slow clients: the whole request head must arrive within this time. */
  readonly headersTimeoutMs: number;
  readonly maxCallDepth: number;
  /** Serve TLS with these options (tls.ts); undefined: plain TCP. */
  readonly tls: TlsOptions | undefined;
}

/** Linkerd's default bound on proxies a request may pass (counted from `Via`). */
export const DEFAULT_MAX_CALL_DEPTH = 1000;

export function serverOptions(cfg: Obj, tls?: TlsOptions): ServerOptions {
  const envTimeout = Number(process.env['MESHWORK_HEADERS_TIMEOUT_MS']);
  return {
    ip: typeof cfg['ip'] === 'string' ? (cfg['ip'] as string) : '127.0.0.1',
    port: typeof cfg['port'] === 'number' ? (cfg['port'] as number) : 4140,
    clearContext: cfg['clearContext'] === true,
    maxConcurrentRequests: typeof cfg['maxConcurrentRequests'] === 'number' ? (cfg['maxConcurrentRequests'] as number) : 0,
    addForwardedHeader: (cfg['addForwardedHeader'] as Obj | null | undefined) ?? undefined,
    headersTimeoutMs: Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 30_000,
    maxCallDepth: typeof cfg['maxCallDepth'] === 'number' ? (cfg['maxCallDepth'] as number) : DEFAULT_MAX_CALL_DEPTH,
    tls,
    ...serverConnectionSettings(cfg),
  };
}

/** How long a response may stop coming before the exchange is cut (Envoy's stream idle default). */
export const DEFAULT_RESPONSE_IDLE_MS = 300_000;

/**
 * The engine's response idle timeout for a server's `serverSession.idleTimeMs`: Envoy's 5
 * minutes, or the idle time if longer. A short idle time, set (as in Linkerd) to close idle
 * keep-alive connections, must not cut slow answers; 0 turns both off.
 */
export function responseIdleFor(idleTimeMs: number | undefined): number {
  return idleTimeMs === 0 ? Infinity : Math.max(idleTimeMs ?? 0, DEFAULT_RESPONSE_IDLE_MS);
}

export class RouterServer {
  private readonly server: Http1Server;
  private ctx: ServerContext | undefined;
  private draining = false;
  /** TLS handshakes with clients that failed (TLS servers only). */
  private tlsFailures: Counter | undefined;
  /** Counts a connection closed by `socketOptions.readTimeoutMs` / `writeTimeoutMs` (Finagle's `read_timeout`, `write_timeout`; set once listening). */
  private countTimeout: ((kind: TransportTimeout) => void) | undefined;

  constructor(
    private readonly router: Router,
    readonly options: ServerOptions,
    private readonly metrics: Metrics,
  ) {
    const limits = router.limits;
    this.server = createHttp1Server(
      (ex) => this.onRequest(ex),
      {
        maxInitialLineKB: limits.maxInitialLineBytes / 1024,
        maxHeadersKB: limits.maxHeadersBytes / 1024,
        headerTimeoutMs: options.headersTimeoutMs,
        // Linkerd keeps idle connections forever by default; we close them after 5 minutes.
        idleTimeoutMs: options.idleTimeMs === undefined ? 300_000 : options.idleTimeMs === 0 ? Infinity : options.idleTimeMs,
        responseIdleTimeoutMs: responseIdleFor(options.idleTimeMs),
        lifeTimeMs: options.lifeTimeMs,
        readTimeoutMs: options.socket.readTimeoutMs,
        writeTimeoutMs: options.socket.writeTimeoutMs,
      },
      {
        onReject: (err) => this.onReject(err),
        onTransportTimeout: (kind) => this.countTimeout?.(kind),
        socket: options.socket,
        ...(options.tls !== undefined ? { tls: options.tls, onTlsError: () => this.tlsFailures?.incr() } : {}),
      },
    );
  }

  /** Listens; resolves with the bound address (port 0 picks a free port). */
  async listen(): Promise<{ ip: string; port: number }> {
    const a = await this.server.listen(this.options.port, this.options.ip);
    const port = a.port;
    const stats = serverStats(this.metrics, this.router.label, this.options.ip, port, () => this.server.connectionCount);
    const scope = stats.scope;
    // The stats object itself, so its `load` gauge reads the `inflight` the router keeps.
    this.ctx = Object.assign(stats, {
      clearContext: this.options.clearContext,
      addForwardedHeader: this.options.addForwardedHeader,
      localAddress: this.options.ip,
      localPort: port,
      maxCallDepth: this.options.maxCallDepth,
      timeoutMs: this.options.timeoutMs,
    });
    if (this.options.tls !== undefined) this.tlsFailures = this.metrics.counter([...scope, 'handshake_failures']);
    this.countTimeout = transportTimeoutCounter(this.metrics, scope, this.options.socket);
    return { ip: this.options.ip, port };
  }

  get inFlight(): number {
    return this.ctx?.inflight ?? 0;
  }

  private onRequest(ex: Http1Exchange): void {
    const ctx = this.ctx!;
    const max = this.options.maxConcurrentRequests;
    let refusal: RouterError | undefined;
    if (this.draining) refusal = new RouterError('MESH_ERR_ROUTER_SHUTTING_DOWN', 'router is shutting down', { rejected: true, retryable: true });
    else if (max > 0 && ctx.inflight >= max) {
      refusal = new RouterError('MESH_ERR_ROUTER_OVERLOADED', `max concurrent requests (${max}) exceeded`, { rejected: true, retryable: true });
    }
    if (refusal === undefined) {
      this.router.handle(ex, ctx);
      return;
    }
    // Counted in flight like any request: the router's finish() takes it back off.
    ctx.inflight++;
    this.router.answerLocally(ex, ctx, Date.now(), refusal);
  }

  /** The engine refused a request head (it answered 400/408/414/431/501/505 itself). */
  private onReject(err: Http1Error): void {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    countServerRequest(this.metrics, ctx, err.status);
  }

  /**
   * Stops accepting, lets requests in flight finish within `graceMs`, then cuts what is left.
   */
  async close(graceMs: number): Promise<void> {
    this.draining = true;
    await this.server.close(graceMs);
  }
}
