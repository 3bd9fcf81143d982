/**
 * One `servers[]` entry of a tcp router: accepts connections (TLS terminated when the server
 * has `tls`), has the router pick and connect an upstream for each, then carries the bytes both
 * ways (src/protocol/tcp's Splice) until either side closes.
 *
 * While the upstream is being picked the client's bytes wait in its socket. A connection the
 * router cannot route (nothing bound, every endpoint refused, the total timeout) is reset, so
 * the client sees a failed connection rather than an empty reply; so is one over
 * `maxConcurrentRequests` (here: open connections). `serverSession.idleTimeMs` ends a
 * connection with no bytes either way for that long, `lifeTimeMs` one open that long.
 * `socketOptions.readTimeoutMs` closes a connection (both sides) whose client sent nothing for
 * that long while the router was not holding its bytes back, `writeTimeoutMs` one whose bytes
 * toward the client made no progress for that long.
 * `close(graceMs)` stops accepting and lets open connections finish for up to `graceMs`.
 * With the router's `sniInDst`, the server name a TLS client asks for names the connection:
 * read from its ClientHello when TLS passes through (the bytes then go on unchanged), from the
 * handshake when the server terminates TLS.
 *
 * Metrics under `rt/<label>/server/<ip>/<port>/`: a connection is a request (`requests`,
 * `success` once connected upstream, `failures` and `failures/<code>` when it could not be,
 * `request_latency_ms` the time to connect), `connects`, the `connections` gauge (open client
 * connections, `load` the same), `connection_duration` (ms), `received_bytes` (from clients)
 * and `sent_bytes` (to clients); `read_timeout` / `write_timeout` when those timeouts are set.
 */
import type { Socket } from 'node:net';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { Counter, Metrics, Stat } from '../../telemetry/metrics.js';
import { StreamListener } from '../../protocol/stream-listener.js';
import { SNI_DONE, SNI_NEED_MORE, SPLICE_HIGH_WATER, Splice, readClientHelloName, readHeldBack, reset } from '../../protocol/tcp/index.js';
import { SocketTimeouts, type TransportTimeout } from '../../protocol/transport-watch.js';
import { transportTimeoutCounter } from '../transport-timeout-counters.js';
import { isRouterError } from '../errors.js';
import { serverConnectionSettings, type ServerConnectionSettings } from '../router-config.js';
import { countServerRequest, serverStats, type ServerStats } from '../server-stats.js';
import type { TcpRouter } from './router.js';

type Obj = Readonly<Record<string, unknown>>;

export interface TcpServerSettings extends ServerConnectionSettings {
  readonly ip: string;
  readonly port: number;
  /** Name connections by their TLS server name (the router's `sniInDst`). */
  readonly sniInDst: boolean;
  /** Open connections at most (0: no limit). */
  readonly maxConnections: number;
  readonly tls: TlsOptions | undefined;
}

/** `cfg`: the server's entry; `sniInDst`: its router's key. */
export function tcpServerSettings(cfg: Obj, tls: TlsOptions | undefined, sniInDst = false): TcpServerSettings {
  return {
    ip: typeof cfg['ip'] === 'string' ? (cfg['ip'] as string) : '127.0.0.1',
    port: cfg['port'] as number,
    sniInDst,
    maxConnections: typeof cfg['maxConcurrentRequests'] === 'number' ? (cfg['maxConcurrentRequests'] as number) : 0,
    tls,
    ...serverConnectionSettings(cfg),
  };
}

interface TcpServerMetrics {
  readonly stats: ServerStats;
  readonly connects: Counter;
  readonly received: Counter;
  readonly sent: Counter;
  readonly duration: Stat;
  readonly failuresByCode: Map<string, Counter>;
  readonly onTransportTimeout: ((kind: TransportTimeout) => void) | undefined;
}

/** One client connection: its splice once routed. */
interface TcpConn {
  splice: Splice | undefined;
}

export class TcpRouterServer {
  private listener: StreamListener | null = null;
  private m: TcpServerMetrics | undefined;
  /** Client connections open (being routed or spliced). */
  private readonly open = new Set<Socket>();
  private readonly splices = new Set<Splice>();
  private readonly emptied: (() => void)[] = [];
  /** `socketOptions.readTimeoutMs` / `writeTimeoutMs` over the client connections (null: neither set). */
  private readonly timeouts: SocketTimeouts | null;

  constructor(
    readonly router: TcpRouter,
    readonly options: TcpServerSettings,
    private readonly metrics: Metrics,
  ) {
    this.timeouts = SocketTimeouts.when(options.socket.readTimeoutMs, options.socket.writeTimeoutMs);
  }

  get inFlight(): number {
    return this.open.size;
  }

  async listen(): Promise<{ ip: string; port: number }> {
    const o = this.options;
    const listener = new StreamListener({
      ip: o.ip,
      port: o.port,
      backlog: o.socket.backlog,
      tls: o.tls,
      allowHalfOpen: true,
      highWaterMark: SPLICE_HIGH_WATER,
      onConnection: (sock) => this.accept(sock),
    });
    this.listener = listener;
    const a = await listener.listen();
    const stats = serverStats(this.metrics, this.router.label, o.ip, a.port, () => this.open.size);
    const scope = stats.scope;
    this.m = {
      stats,
      connects: this.metrics.counter([...scope, 'connects']),
      received: this.metrics.counter([...scope, 'received_bytes']),
      sent: this.metrics.counter([...scope, 'sent_bytes']),
      duration: this.metrics.stat([...scope, 'connection_duration']),
      failuresByCode: new Map(),
      onTransportTimeout: transportTimeoutCounter(this.metrics, scope, o.socket),
    };
    return { ip: o.ip, port: a.port };
  }

  private accept(client: Socket): void {
    const m = this.m!;
    const o = this.options;
    const opened = Date.now();
    m.connects.incr();
    // A client's reset before or during the splice is the splice's (or this) to handle.
    client.on('error', () => {});
    if (o.maxConnections > 0 && this.open.size >= o.maxConnections) {
      this.failed(m, 'MESH_ERR_ROUTER_OVERLOADED', undefined);
      reset(client);
      return;
    }
    this.open.add(client);
    m.stats.inflight = this.open.size;
    client.once('close', () => {
      this.open.delete(client);
      m.stats.inflight = this.open.size;
      m.duration.add(Date.now() - opened);
      if (this.open.size === 0) for (const f of this.emptied.splice(0)) f();
    });
    if (o.socket.noDelay) client.setNoDelay(true);
    if (o.socket.keepAlive) client.setKeepAlive(true);
    const conn: TcpConn = { splice: undefined };
    // Reading is held back while the upstream is picked (the client is paused) and while the
    // upstream's writes are full: neither is the client's silence.
    this.timeouts?.watch(
      client,
      (kind) => {
        m.onTransportTimeout?.(kind);
        if (conn.splice !== undefined) conn.splice.stop('timeout');
        else reset(client);
      },
      readHeldBack,
    );
    if (!o.sniInDst) {
      this.route(client, conn, m, opened, undefined);
      return;
    }
    if (o.tls !== undefined) {
      // Terminated here: the handshake is done and the socket knows the name asked for.
      const name = (client as TLSSocket).servername;
      this.route(client, conn, m, opened, typeof name === 'string' && name !== '' ? name.toLowerCase() : undefined);
      return;
    }
    readServerName(client, (name, read) => this.route(client, conn, m, opened, name, read));
  }

  /** `read`: bytes already read from the client (its ClientHello), to go upstream first. */
  private route(client: Socket, conn: TcpConn, m: TcpServerMetrics, opened: number, serverName: string | undefined, read?: Buffer): void {
    if (client.destroyed) return;
    const o = this.options;
    // Bytes sent before the upstream is known stay in the socket until the splice reads them.
    client.pause();
    const gone = new AbortController();
    const onGone = (): void => gone.abort();
    client.once('close', onGone);
    this.router.route(gone.signal, o.timeoutMs, serverName).then(
      (upstream) => {
        client.off('close', onGone);
        countServerRequest(this.metrics, m.stats, undefined, Date.now() - opened, true);
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        upstream.on('error', () => {});
        const splice = new Splice(client, upstream, {
          idleTimeMs: o.idleTimeMs,
          lifeTimeMs: o.lifeTimeMs,
          onUpstreamBytes: (n) => m.received.incr(n),
          onClientBytes: (n) => m.sent.incr(n),
          clientPrefix: read,
        });
        conn.splice = splice;
        this.splices.add(splice);
        void splice.done.then(() => this.splices.delete(splice));
      },
      (e: unknown) => {
        client.off('close', onGone);
        this.failed(m, isRouterError(e) ? e.code : 'MESH_ERR_ROUTER_UPSTREAM_RESET', Date.now() - opened);
        if (!client.destroyed) reset(client);
      },
    );
  }

  private failed(m: TcpServerMetrics, code: string, ms: number | undefined): void {
    countServerRequest(this.metrics, m.stats, undefined, ms, false);
    let c = m.failuresByCode.get(code);
    if (c === undefined) {
      c = this.metrics.counter([...m.stats.scope, 'failures', code]);
      m.failuresByCode.set(code, c);
    }
    c.incr();
  }

  /** Stops accepting; open connections may finish for `graceMs`, then are closed. */
  async close(graceMs: number): Promise<void> {
    await this.listener?.stop();
    if (this.open.size > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.emptied.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    for (const s of [...this.splices]) s.stop();
    for (const c of [...this.open]) c.destroy();
    this.listener?.destroyAll();
    this.timeouts?.close();
  }
}

/** Longest a passed-through TLS connection may take to send its whole ClientHello. */
export const SNI_READ_TIMEOUT_MS = 10_000;

/**
 * Reads a passed-through connection's first bytes until its ClientHello is whole (or they are
 * not TLS) and calls `then` with the server name (undefined: none sent, or not TLS) and the
 * bytes read, which the splice sends upstream first. A client that sends nothing decisive
 * within SNI_READ_TIMEOUT_MS, or ends its side first, is routed without a name.
 */
function readServerName(client: Socket, then: (name: string | undefined, read: Buffer) => void): void {
  let got: Buffer = Buffer.alloc(0);
  let settled = false;
  const finish = (name: string | undefined): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    client.off('data', onData);
    client.off('end', onEnd);
    client.off('close', onEnd);
    client.pause();
    then(name, got);
  };
  const onData = (chunk: Buffer): void => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    const r = readClientHelloName(got);
    if (r.state === SNI_DONE) finish(r.name);
    else if (r.state !== SNI_NEED_MORE) finish(undefined);
  };
  // The client finished sending before a whole ClientHello: route what it sent, unnamed (a
  // client gone altogether is dropped by route()).
  const onEnd = (): void => finish(undefined);
  const timer = setTimeout(() => finish(undefined), SNI_READ_TIMEOUT_MS);
  client.on('data', onData);
  client.once('end', onEnd);
  client.once('close', onEnd);
}
