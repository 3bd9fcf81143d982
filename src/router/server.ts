/**
 * One `servers[]` entry of a router: a Node HTTP/1.1 listener that hands requests, `Expect:
 * 100-continue` requests and upgrades to the router, enforces `maxConcurrentRequests`, the
 * request-line and header limits (414 / 431) and slow-client timeouts, answers malformed or
 * smuggling-shaped requests with 400, and drains on close.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Counter, Metrics } from '../telemetry/metrics.js';
import { rawErrorResponse, reasonPhrase, respondWithError } from './error-responder.js';
import { RouterError } from './errors.js';
import type { Router, ServerContext } from './router.js';

type Obj = Readonly<Record<string, unknown>>;

export interface ServerOptions {
  readonly ip: string;
  readonly port: number;
  readonly clearContext: boolean;
  readonly maxConcurrentRequests: number;
  readonly addForwardedHeader: Obj | undefined;
  /** Slow clients: the whole request head must arrive within this time. */
  readonly headersTimeoutMs: number;
  readonly maxCallDepth: number;
}

/** Linkerd's default bound on proxies a request may pass (counted from `Via`). */
export const DEFAULT_MAX_CALL_DEPTH = 1000;

export function serverOptions(cfg: Obj): ServerOptions {
  const envTimeout = Number(process.env['MESHWORK_HEADERS_TIMEOUT_MS']);
  return {
    ip: typeof cfg['ip'] === 'string' ? (cfg['ip'] as string) : '127.0.0.1',
    port: typeof cfg['port'] === 'number' ? (cfg['port'] as number) : 4140,
    clearContext: cfg['clearContext'] === true,
    maxConcurrentRequests: typeof cfg['maxConcurrentRequests'] === 'number' ? (cfg['maxConcurrentRequests'] as number) : 0,
    addForwardedHeader: (cfg['addForwardedHeader'] as Obj | null | undefined) ?? undefined,
    headersTimeoutMs: Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 30_000,
    maxCallDepth: typeof cfg['maxCallDepth'] === 'number' ? (cfg['maxCallDepth'] as number) : DEFAULT_MAX_CALL_DEPTH,
  };
}

export class RouterServer {
  private readonly server: http.Server;
  private inflight = 0;
  private ctx: ServerContext | undefined;
  private draining = false;
  private readonly upgraded = new Set<Duplex>();

  constructor(
    private readonly router: Router,
    readonly options: ServerOptions,
    private readonly metrics: Metrics,
  ) {
    const limits = router.limits;
    this.server = http.createServer({
      // Node's limit covers the request line and headers together; exact limits are checked below.
      maxHeaderSize: limits.maxInitialLineBytes + limits.maxHeadersBytes + 4,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: 0,
      // How often Node checks for clients that are slow to send their head.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(options.headersTimeoutMs / 4))),
      keepAliveTimeout: 10_000,
      insecureHTTPParser: false,
    });
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    this.server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => this.onClientError(err, socket));
  }

  /** Listens; resolves with the bound address (port 0 picks a free port). */
  listen(): Promise<{ ip: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.ip, () => {
        this.server.off('error', onError);
        const a = this.server.address();
        const port = typeof a === 'object' && a !== null ? a.port : this.options.port;
        const scope = ['rt', this.router.label, 'server', `${this.options.ip}/${port}`];
        this.ctx = {
          clearContext: this.options.clearContext,
          addForwardedHeader: this.options.addForwardedHeader,
          scope,
          requests: this.metrics.counter([...scope, 'requests']),
          success: this.metrics.counter([...scope, 'success']),
          failures: this.metrics.counter([...scope, 'failures']),
          latency: this.metrics.stat([...scope, 'request_latency_ms']),
          statusCounters: new Map<number, Counter>(),
          localAddress: this.options.ip,
          localPort: port,
          maxCallDepth: this.options.maxCallDepth,
        };
        this.metrics.gauge([...scope, 'load'], () => this.inflight);
        resolve({ ip: this.options.ip, port });
      });
    });
  }

  get inFlight(): number {
    return this.inflight;
  }

  private tooLarge(req: http.IncomingMessage): RouterError | undefined {
    const limits = this.router.limits;
    const lineLen = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 10;
    if (lineLen > limits.maxInitialLineBytes) {
      return new RouterError('MESH_ERR_ROUTER_LINE_TOO_LONG', `request line of ${lineLen} bytes exceeds maxInitialLineKB (${limits.maxInitialLineBytes / 1024})`);
    }
    let n = 0;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 4;
    if (n > limits.maxHeadersBytes) {
      return new RouterError('MESH_ERR_ROUTER_HEADERS_TOO_LARGE', `request headers of ${n} bytes exceed maxHeadersKB (${limits.maxHeadersBytes / 1024})`);
    }
    return undefined;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ctx = this.ctx!;
    if (this.draining) res.shouldKeepAlive = false;
    const big = this.tooLarge(req);
    if (big !== undefined) {
      ctx.requests.incr();
      ctx.failures.incr();
      res.shouldKeepAlive = false;
      respondWithError(res, big, ctx.clearContext);
      req.resume();
      return;
    }
    const max = this.options.maxConcurrentRequests;
    if (max > 0 && this.inflight >= max) {
      ctx.requests.incr();
      ctx.failures.incr();
      respondWithError(
        res,
        new RouterError('MESH_ERR_ROUTER_OVERLOADED', `max concurrent requests (${max}) exceeded`, { rejected: true, retryable: true }),
        ctx.clearContext,
      );
      req.resume();
      return;
    }
    this.inflight++;
    let released = false;
    res.once('close', () => {
      if (!released) {
        released = true;
        this.inflight--;
      }
    });
    this.router.handle(req, res, ctx);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const ctx = this.ctx!;
    if (this.draining) {
      socket.end(rawErrorResponse(new RouterError('MESH_ERR_ROUTER_SHUTTING_DOWN', 'router is shutting down'), ctx.clearContext));
      return;
    }
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    socket.on('error', () => socket.destroy());
    const big = this.tooLarge(req);
    if (big !== undefined) {
      socket.end(rawErrorResponse(big, ctx.clearContext));
      return;
    }
    this.router.handle(req, undefined, ctx, { socket, head });
  }

  private onClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex): void {
    const s = socket as Socket;
    if (!s.writable || (s as unknown as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      s.destroy();
      return;
    }
    const ctx = this.ctx;
    ctx?.requests.incr();
    ctx?.failures.incr();
    let status = 400;
    let why = `bad request: ${err.code ?? err.message}`;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      const raw = err.rawPacket;
      const eol = raw === undefined ? -1 : raw.indexOf('\n');
      const lineTooLong = raw !== undefined && (eol < 0 || eol > this.router.limits.maxInitialLineBytes);
      status = lineTooLong ? 414 : 431;
      why = lineTooLong ? 'request line exceeds maxInitialLineKB' : 'request headers exceed maxHeadersKB';
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') {
      status = 408;
      why = 'request head not received in time';
    }
    const clear = ctx?.clearContext === true;
    const body = clear ? '' : why + '\n';
    let head = `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : reasonPhrase(status)}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n`;
    if (!clear) head += `l5d-err: ${why}\r\n`;
    s.end(head + '\r\n' + body);
  }

  /**
   * Stops accepting, lets requests in flight finish within `graceMs`, then cuts what is left.
   */
  async close(graceMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.inflight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      this.server.closeIdleConnections();
    }
    this.server.closeAllConnections();
    for (const s of this.upgraded) s.destroy();
    await closed;
  }
}
