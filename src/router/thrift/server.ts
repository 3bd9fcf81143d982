/**
 * One `servers[]` entry of a thrift or thriftmux router.
 *
 * thrift: a TCP (or TLS) listener speaking framed or buffered thrift (`thriftFramed`). Each
 * connection's messages are routed one after another, in order, as Finagle's thrift server
 * dispatches them. A connection that opens with Finagle's TTwitter upgrade call is answered
 * and upgraded: each request then starts with a RequestHeader whose `dest` and delegations
 * (the caller's dtab) route the request, and each reply gets an (empty) ResponseHeader.
 *
 * thriftmux: Finagle's mux (src/protocol/mux), which also serves clients that speak plain
 * framed thrift; a Tdispatch's `dst` and dtab route the request as a TTwitter header's would,
 * and its trace context (`com.twitter.finagle.tracing.TraceContext`) is the caller's trace, as a
 * TTwitter header's trace ids are.
 * Its `serverSession` expiry and its close drain a mux session with Tdrain (the mux server does
 * it); a request may take `timeoutMs` before such a drain cuts it off.
 *
 * A request the router cannot route is answered with a TApplicationException (INTERNAL_ERROR,
 * with the reason), as Finagle's thrift server answers an uncaught failure; bytes that are not
 * thrift close the connection. Metrics as the http servers': `rt/<label>/server/<ip>/<port>/...`.
 * `socketOptions.readTimeoutMs` / `writeTimeoutMs` close a client connection that sent nothing,
 * or took no reply bytes, for that long (a thriftmux server's mux server does it), as Netty's
 * handlers do in Linkerd, counted in Finagle's `read_timeout` / `write_timeout`.
 */
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { Counter, Metrics } from '../../telemetry/metrics.js';
import { countServerRequest, serverStats, type ServerStats } from '../server-stats.js';
import { StreamListener } from '../../protocol/stream-listener.js';
import { SocketTimeouts, type TransportTimeout } from '../../protocol/transport-watch.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, MuxServer, deadlineOf, traceContextOf, type DowngradedThrift, type MuxDispatchInfo } from '../../protocol/mux/index.js';
import {
  APP_EXCEPTION,
  CAN_TRACE_METHOD,
  MessageReader,
  MessageType,
  emptyResponseHeader,
  encodeApplicationException,
  encodeUpgradeReply,
  frameParts,
  readMessageHead,
  readRequestHeader,
  traceIdOfHeader,
  type MessageHead,
  type ThriftProtocolKind,
} from '../../protocol/thrift/wire.js';
import { RouterError } from '../errors.js';
import { messageServerSettings, type MessageServerSettings } from '../router-config.js';
import { transportTimeoutCounter } from '../transport-timeout-counters.js';
import { MAX_THRIFT_MESSAGE_BYTES, type ThriftRequest, type ThriftRouter } from './router.js';

type Obj = Readonly<Record<string, unknown>>;

/** A message server's settings (router-config.ts) and `thriftFramed`. */
export interface ThriftServerOptions extends MessageServerSettings {
  readonly framed: boolean;
}

export function thriftServerOptions(cfg: Obj, tls: TlsOptions | undefined): ThriftServerOptions {
  return { ...messageServerSettings(cfg, tls, 4114), framed: cfg['thriftFramed'] !== false };
}

/** What both kinds of server share: limits, draining, metrics and the error replies. */
abstract class ThriftRouterServerBase {
  /** The server's metrics and requests in flight (set once listening). */
  protected m: ServerStats | undefined;
  protected draining = false;
  /**
   * Counts a connection closed by `socketOptions.readTimeoutMs` / `writeTimeoutMs` (Finagle's
   * `read_timeout` / `write_timeout`; set once listening, when either timeout is set).
   */
  protected countTimeout: ((kind: TransportTimeout) => void) | undefined;
  /** Graceful closes waiting for the last request under way to end. */
  private quietWaiters: (() => void)[] = [];

  constructor(
    readonly router: ThriftRouter,
    readonly options: ThriftServerOptions,
    protected readonly metrics: Metrics,
  ) {}

  get inFlight(): number {
    return this.m?.inflight ?? 0;
  }

  protected abstract get connectionCount(): number;

  /** Registers the server's metrics; returns their scope (`rt/<label>/server/<ip>/<port>`). */
  protected bindMetrics(port: number): readonly string[] {
    this.m = serverStats(this.metrics, this.router.label, this.options.ip, port, () => this.connectionCount);
    this.countTimeout = transportTimeoutCounter(this.metrics, this.m.scope, this.options.socket);
    return this.m.scope;
  }

  /**
   * Routes one request and gives the reply message to send (null: nothing to send, a ONEWAY
   * message). Failures become a TApplicationException for the caller.
   */
  protected async serve(req: ThriftRequest, signal: AbortSignal): Promise<Buffer | null> {
    const started = Date.now();
    const m = this.m!;
    m.inflight++;
    let ok = false;
    try {
      const max = this.options.maxConcurrentRequests;
      if (this.draining) throw new RouterError('MESH_ERR_ROUTER_SHUTTING_DOWN', 'router is shutting down', { rejected: true, retryable: true });
      if (max > 0 && m.inflight > max) throw new RouterError('MESH_ERR_ROUTER_OVERLOADED', `max concurrent requests (${max}) exceeded`, { rejected: true, retryable: true });
      const reply = await this.router.route(this.options.clearContext ? { msg: req.msg, head: req.head } : req, signal, this.options.timeoutMs);
      ok = true;
      return reply;
    } catch (e) {
      if (req.head.type === MessageType.ONEWAY) return null;
      return encodeApplicationException(this.router.proto, req.head.name, req.head.seqid, APP_EXCEPTION.INTERNAL_ERROR, e instanceof Error ? e.message : String(e));
    } finally {
      m.inflight--;
      // Woken after this turn, once the connection has handed the reply returned below to its socket.
      if (m.inflight === 0 && this.quietWaiters.length > 0) for (const w of this.quietWaiters.splice(0)) setImmediate(w);
      countServerRequest(this.metrics, m, undefined, Date.now() - started, ok);
    }
  }

  /** Waits (up to `graceMs`) for requests under way, then closes every connection. */
  protected async drain(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.inFlight === 0 || graceMs <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    let woken!: () => void;
    await new Promise<void>((resolve) => {
      woken = resolve;
      this.quietWaiters.push(resolve);
      timer = setTimeout(resolve, graceMs);
    });
    clearTimeout(timer);
    const i = this.quietWaiters.indexOf(woken);
    if (i >= 0) this.quietWaiters.splice(i, 1);
  }
}

/** `protocol: thrift` */
export class ThriftRouterServer extends ThriftRouterServerBase {
  private listener: StreamListener | null = null;
  private readonly conns = new Set<ThriftServerConn>();
  /** `socketOptions.readTimeoutMs` / `writeTimeoutMs` over the client connections (null: neither set). */
  private timeouts: SocketTimeouts | null = null;

  protected get connectionCount(): number {
    return this.conns.size;
  }

  async listen(): Promise<{ ip: string; port: number }> {
    const o = this.options;
    const timeouts = (this.timeouts = SocketTimeouts.when(o.socket.readTimeoutMs, o.socket.writeTimeoutMs));
    const listener = new StreamListener({
      ip: o.ip,
      port: o.port,
      backlog: o.socket.backlog,
      tls: o.tls,
      onConnection: (sock) => {
        sock.on('error', () => {});
        sock.setNoDelay(o.socket.noDelay);
        if (o.socket.keepAlive) sock.setKeepAlive(true);
        const c = new ThriftServerConn(sock, this, o.framed, this.router.proto, o.clearContext, o.idleTimeMs ?? 0, o.lifeTimeMs);
        this.conns.add(c);
        sock.on('close', () => this.conns.delete(c));
        // Nothing read for readTimeoutMs (unless reading is paused for the caller's pipelining),
        // or a reply not moving for writeTimeoutMs: the connection is closed, as Netty's handlers close it.
        timeouts?.watch(sock, (kind) => {
          this.countTimeout?.(kind);
          c.destroy();
        });
      },
    });
    this.listener = listener;
    const { port } = await listener.listen();
    this.bindMetrics(port);
    return { ip: o.ip, port };
  }

  /** @internal (ThriftServerConn) */
  handle(req: ThriftRequest, signal: AbortSignal): Promise<Buffer | null> {
    return this.serve(req, signal);
  }

  async close(graceMs: number): Promise<void> {
    const until = Date.now() + graceMs;
    const closed = this.listener?.stop() ?? Promise.resolve();
    await this.drain(graceMs);
    // Replies still in a socket's buffer go out before it is closed, within the same grace.
    await Promise.all([...this.conns].map((c) => c.flushed(until - Date.now())));
    for (const c of [...this.conns]) c.destroy();
    // Sockets still in their TLS handshake are not connections yet, and would hold close().
    this.listener?.destroyAll();
    this.timeouts?.close();
    await closed;
  }
}

/** Messages a connection may have read ahead of the one being routed before reading pauses. */
const MAX_QUEUED = 64;

/** One client connection of a thrift server: messages routed in order, one at a time. */
class ThriftServerConn {
  private readonly reader: MessageReader;
  private readonly queue: Buffer[] = [];
  private busy = false;
  /** TTwitter: offered as the first message, taken for the connection's life. */
  private readonly tt: DowngradedThrift = { first: true, ttwitter: false };
  private readonly ac = new AbortController();
  private lifeTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Past lifeTimeMs: closed once no reply is under way. */
  private expired = false;

  constructor(
    private readonly socket: Socket,
    private readonly server: ThriftRouterServer,
    private readonly framed: boolean,
    private readonly proto: ThriftProtocolKind,
    private readonly clearContext: boolean,
    /** serverSession: close after this long without a message while nothing is in flight (0: never). */
    private readonly idleTimeMs: number,
    /** serverSession: close once this old, after the reply under way (0: never). */
    lifeTimeMs: number,
  ) {
    this.reader = new MessageReader({ framed, proto, maxBytes: MAX_THRIFT_MESSAGE_BYTES });
    if (lifeTimeMs > 0) {
      this.lifeTimer = setTimeout(() => {
        this.expired = true;
        if (!this.busy) this.destroy();
        else {
          // The reply under way goes out; nothing read after it is routed (the caller would
          // get no reply to it).
          this.queue.length = 0;
          this.socket.pause();
        }
      }, lifeTimeMs);
      this.lifeTimer.unref();
    }
    this.armIdle();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      if (this.lifeTimer !== undefined) clearTimeout(this.lifeTimer);
      if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
      this.ac.abort(new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'the caller closed its connection', { interrupted: true }));
    });
  }

  /** (Re)starts the idle timer: it fires only when no message is queued or in flight. */
  private armIdle(): void {
    if (this.idleTimeMs <= 0) return;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (!this.busy && this.queue.length === 0) this.destroy();
      else this.armIdle();
    }, this.idleTimeMs);
    this.idleTimer.unref();
  }

  private onData(chunk: Buffer): void {
    if (this.expired) return;
    this.armIdle();
    let messages: Buffer[];
    try {
      messages = this.reader.push(chunk);
    } catch {
      this.destroy();
      return;
    }
    for (const m of messages) this.queue.push(m);
    // A caller that pipelines far ahead waits: its bytes stay in the kernel, not in our queue.
    if (this.queue.length >= MAX_QUEUED) this.socket.pause();
    if (!this.busy) void this.drainQueue();
  }

  private async drainQueue(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.socket.destroyed) {
        const msg = this.queue.shift()!;
        const reply = await this.one(msg);
        if (reply === undefined) {
          this.destroy();
          return;
        }
        const sock = this.socket;
        if (reply !== null && !sock.destroyed) {
          sock.cork();
          for (const p of frameParts(reply, this.framed)) sock.write(p);
          sock.uncork();
          // A caller that does not read its replies gets no more of them routed meanwhile.
          if (sock.writableNeedDrain) await new Promise<void>((r) => {
            const done = (): void => {
              sock.off('drain', done);
              sock.off('close', done);
              r();
            };
            sock.on('drain', done);
            sock.on('close', done);
          });
        }
        if (this.queue.length < MAX_QUEUED && sock.isPaused()) sock.resume();
        if (this.expired) {
          // Past lifeTimeMs: the reply went out whole; the rest of the queue is not served,
          // and the socket goes once the caller has had a moment to read it.
          this.queue.length = 0;
          this.socket.end();
          setTimeout(() => this.destroy(), 1000).unref();
          return;
        }
      }
    } finally {
      this.busy = false;
      this.armIdle();
    }
  }

  /** The reply to send for one message (null: none; undefined: the bytes were not thrift). */
  private async one(msg: Buffer): Promise<Buffer | null | undefined> {
    const r = readIncoming(msg, this.proto, this.clearContext, this.tt);
    if (r === undefined) return undefined;
    if (r.local !== undefined) {
      // After an upgrade each message is a RequestHeader then the message (the reader must
      // know where one ends on a buffered connection).
      if (this.tt.ttwitter) this.reader.prefixed = true;
      return r.local;
    }
    return withResponseHeader(await this.server.handle(r.req, this.ac.signal), this.proto, this.tt);
  }

  /**
   * Settles once what was written to the socket is handed to the kernel (the socket is ended
   * first when bytes wait, so 'finish' says so), or after `ms`.
   */
  flushed(ms: number): Promise<void> {
    const sock = this.socket;
    if (ms <= 0 || sock.destroyed || sock.writableLength === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        sock.off('finish', done);
        sock.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      sock.on('finish', done);
      sock.on('close', done);
      sock.end();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** `protocol: thriftmux` */
export class ThriftMuxRouterServer extends ThriftRouterServerBase {
  private mux: MuxServer | null = null;
  /** Finagle's `<server>/mux/draining` and `mux/drained` counters (set once listening). */
  private drains: Record<'draining' | 'drained', Counter> | undefined;

  protected get connectionCount(): number {
    return this.mux?.connectionCount ?? 0;
  }

  async listen(): Promise<{ ip: string; port: number }> {
    const o = this.options;
    const proto = this.router.proto;
    const mux = new MuxServer({
      ip: o.ip,
      port: o.port,
      ...(o.tls !== undefined ? { tls: o.tls } : {}),
      maxFrameSize: MAX_THRIFT_MESSAGE_BYTES,
      socket: o.socket,
      onTransportTimeout: (kind) => this.countTimeout?.(kind),
      idleTimeMs: o.idleTimeMs ?? 0,
      lifeTimeMs: o.lifeTimeMs,
      // A drain never cuts short a request its server lets run for timeoutMs.
      drainTimeoutMs: Math.max(DEFAULT_DRAIN_TIMEOUT_MS, o.timeoutMs),
      onDrain: (event) => this.drains?.[event].incr(),
      handler: async (body: Buffer, signal: AbortSignal, info?: MuxDispatchInfo, thrift?: DowngradedThrift): Promise<Buffer> => {
        if (thrift !== undefined) {
          // A downgraded thrift client, TTwitter-upgraded or not, as on a thrift server.
          const r = readIncoming(body, proto, o.clearContext, thrift);
          // Bytes that are not thrift: the mux server closes the connection.
          if (r === undefined) throw new Error('the message is not thrift');
          if (r.local !== undefined) return r.local;
          return withResponseHeader(await this.serve(r.req, signal), proto, thrift) ?? Buffer.alloc(0);
        }
        let head: MessageHead;
        try {
          head = readMessageHead(body, 0, proto);
        } catch (e) {
          // Not a thrift message: the mux client gets an Rdispatch error with the reason.
          throw new Error(`the request is not a thrift message: ${(e as Error).message}`);
        }
        if (head.type === MessageType.CALL && head.name === CAN_TRACE_METHOD) return notOffered(proto, head.seqid);
        const req: ThriftRequest =
          info === undefined || o.clearContext
            ? { msg: body, head }
            : { msg: body, head, dest: info.dst, delegations: info.dtab.map(([src, dst]) => ({ src, dst })), trace: traceContextOf(info.contexts), deadline: deadlineOf(info.contexts) };
        const reply = await this.serve(req, signal);
        return reply ?? Buffer.alloc(0);
      },
    });
    this.mux = mux;
    const a = await mux.listen();
    const scope = this.bindMetrics(a.port);
    this.drains = {
      draining: this.metrics.counter([...scope, 'mux', 'draining']),
      drained: this.metrics.counter([...scope, 'mux', 'drained']),
    };
    return { ip: o.ip, port: a.port };
  }

  /** Mux sessions are told to drain (Tdrain) at once; what is left after `graceMs` is closed. */
  async close(graceMs: number): Promise<void> {
    // The mux server's drain alone: a session is served until its client's Rdrain (and nacked
    // after), where the base drain's refusal would answer what the client sent before its Rdrain
    // with a "router is shutting down" exception the client may not resend.
    await this.mux?.close(graceMs);
  }
}

/**
 * One message of a thrift connection (a thrift server's, or a thriftmux server's downgraded
 * one): the TTwitter upgrade's reply when it is the connection's first message and offers the
 * upgrade (`tt` then says so), else the request, read past its RequestHeader on an upgraded
 * connection (dest, delegations and the caller's trace, all dropped under `clearContext`, as
 * Linkerd clears them). undefined: the bytes are not thrift.
 */
function readIncoming(msg: Buffer, proto: ThriftProtocolKind, clearContext: boolean, tt: DowngradedThrift): { local: Buffer; req?: undefined } | { local?: undefined; req: ThriftRequest } | undefined {
  let body = msg;
  let dest: string | undefined;
  let delegations: { src: string; dst: string }[] | undefined;
  let trace: Buffer | undefined;
  if (tt.ttwitter) {
    try {
      const h = readRequestHeader(msg, proto);
      body = msg.subarray(h.length);
      dest = h.header.dest;
      delegations = h.header.delegations;
      trace = traceIdOfHeader(h.header);
    } catch {
      return undefined;
    }
  }
  let head: MessageHead;
  try {
    head = readMessageHead(body, 0, proto);
  } catch {
    return undefined;
  }
  const offer = head.type === MessageType.CALL && head.name === CAN_TRACE_METHOD;
  if (tt.first) {
    tt.first = false;
    if (offer) {
      tt.ttwitter = true;
      return { local: encodeUpgradeReply(proto, head.seqid) };
    }
  }
  // Offered later, the upgrade is refused here: routed, it would upgrade a pooled upstream
  // connection behind the pool's back (Finagle servers take it on any plain connection).
  if (offer) return { local: withResponseHeader(notOffered(proto, head.seqid), proto, tt)! };
  return { req: clearContext ? { msg: body, head } : { msg: body, head, dest, delegations, trace } };
}

/** The answer to a TTwitter upgrade offer that is not a connection's first message, or comes over mux. */
function notOffered(proto: ThriftProtocolKind, seqid: number): Buffer {
  return encodeApplicationException(proto, CAN_TRACE_METHOD, seqid, APP_EXCEPTION.UNKNOWN_METHOD, `${CAN_TRACE_METHOD} is only offered as a thrift connection's first message`);
}

/** A reply as an upgraded connection sends it: after an (empty) ResponseHeader. null: no reply (ONEWAY). */
function withResponseHeader(reply: Buffer | null, proto: ThriftProtocolKind, tt: DowngradedThrift): Buffer | null {
  if (reply === null || !tt.ttwitter) return reply;
  return Buffer.concat([emptyResponseHeader(proto), reply]);
}
