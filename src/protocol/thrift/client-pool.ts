/**
 * Client connections to one thrift endpoint, as Finagle's thrift client keeps them: a thrift
 * connection carries one request at a time (the protocol has no request ids a proxy could match
 * replies by), so the pool lends an idle connection per call and opens another when none is
 * idle. Messages are sent framed or buffered (wire.ts); a ONEWAY call has no reply.
 *
 * With `ttwitter`, each new connection first offers Finagle's TTwitter upgrade
 * (`__can__finagle__trace__v3__`): a server that accepts it gets a RequestHeader (trace ids,
 * `dest`, the request's dtab as delegations) before every request and answers with a
 * ResponseHeader before every reply, which is taken off; one that refuses stays plain thrift.
 *
 * `readTimeoutMs` / `writeTimeoutMs` close a connection, idle or lent, as Netty's handlers do in
 * Linkerd (one sweep per pool, transport-watch.ts): an idle one is read from by no one, so a
 * read timeout shorter than the idle time also bounds how long it is kept.
 */
import * as net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { randomBytes } from 'node:crypto';
import {
  CAN_TRACE_METHOD,
  MessageReader,
  MessageType,
  encodeRequestHeader,
  encodeUpgradeCall,
  frameParts,
  headerTraceFields,
  readMessageHead,
  structLength,
  withSeqid,
  type HeaderTraceFields,
  type MessageHead,
  type ThriftProtocolKind,
} from './wire.js';
import { nodeTls } from '../node-tls.js';
import { SocketTimeouts, type TransportTimeout } from '../transport-watch.js';

export type ThriftPoolErrorCode =
  /** The connection (or the TLS handshake) could not be made: the request never left. */
  | 'MESH_ERR_THRIFT_CONNECT'
  /** The connection closed or failed before the reply came. */
  | 'MESH_ERR_THRIFT_CLOSED'
  /** The endpoint sent bytes that are not a thrift message in the router's protocol. */
  | 'MESH_ERR_THRIFT_PROTOCOL'
  /** The caller gave up (timeout, its own connection gone). */
  | 'MESH_ERR_THRIFT_ABORTED'
  /** Every connection (`maxSize`) is lent and `maxWaiters` calls already wait for one. */
  | 'MESH_ERR_THRIFT_POOL_FULL';

export class ThriftPoolError extends Error {
  constructor(
    readonly code: ThriftPoolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ThriftPoolError';
  }
  /** True when the request was certainly not written: it may be sent elsewhere. */
  get connectFailed(): boolean {
    return this.code === 'MESH_ERR_THRIFT_CONNECT';
  }
}

export interface ThriftPoolOptions {
  readonly host: string;
  readonly port: number;
  readonly framed: boolean;
  readonly proto: ThriftProtocolKind;
  readonly maxMessageBytes: number;
  /** Offer the TTwitter upgrade on each new connection (`attemptTTwitterUpgrade`). */
  readonly ttwitter: boolean;
  readonly tls?: ConnectionOptions | undefined;
  /** Idle connections are closed after this long (0: kept). */
  readonly idleTimeoutMs: number;
  /** Connections are closed once this old, after the call under way (`clientSession.lifeTimeMs`; 0 or absent: never). */
  readonly lifeTimeMs?: number;
  /** Bound on connecting (and the TTwitter handshake). */
  readonly connectTimeoutMs?: number;
  /** `hostConnectionPool`: most connections (0: unbounded), calls that may wait for one, and how many idle ones are kept whatever `idleTimeoutMs` says. */
  readonly maxSize?: number;
  readonly maxWaiters?: number;
  readonly minSize?: number;
  /** `socketOptions`: TCP_NODELAY (default true) and SO_KEEPALIVE (default false). */
  readonly noDelay?: boolean;
  readonly keepAlive?: boolean;
  /**
   * `socketOptions.readTimeoutMs` / `writeTimeoutMs` (0 or absent: off): a connection, idle or
   * lent, from which nothing was read for that long, or whose pending request bytes made no
   * progress, is closed (Netty's ReadTimeoutHandler / WriteTimeoutHandler); a call on it fails
   * with MESH_ERR_THRIFT_CLOSED naming the timeout.
   */
  readonly readTimeoutMs?: number;
  readonly writeTimeoutMs?: number;
  /** Told of each connection those timeouts closed (the client's `read_timeout` / `write_timeout`). */
  readonly onTransportTimeout?: ((kind: TransportTimeout) => void) | undefined;
}

/** What a TTwitter RequestHeader carries from the router's request. */
export interface ThriftCallContext {
  /** The logical name (Linkerd writes the name it routed on into `dest`). */
  readonly dest?: string;
  readonly delegations: readonly { src: string; dst: string }[];
  /**
   * The ids to send, as Finagle's TraceId serialization (32 or 40 bytes: span, parent, trace,
   * flags, trace high); absent: a new trace id, used as the span id too.
   */
  readonly trace?: Buffer | undefined;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

interface Waiter {
  /** The seqid the request was sent with: the reply must carry it. */
  readonly seqid: number;
  resolve(reply: Buffer): void;
  reject(err: ThriftPoolError): void;
}

/** Seqids of ONEWAY messages a connection remembers, so a reply an endpoint sends anyway is dropped. */
const MAX_ONEWAY_SEQIDS = 64;

class Conn {
  readonly reader: MessageReader;
  upgraded = false;
  private waiter: Waiter | undefined;
  /** Seqids of ONEWAY messages sent on this connection (a stray answer to one is dropped). */
  private readonly onewaySeqids = new Set<number>();
  closed = false;
  idleTimer: NodeJS.Timeout | undefined;
  /** Past the pool's `lifeTimeMs`: closed instead of lent again. */
  expired = false;
  lifeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly opts: ThriftPoolOptions,
    private readonly onClose: (c: Conn) => void,
  ) {
    this.reader = new MessageReader({ framed: opts.framed, proto: opts.proto, maxBytes: opts.maxMessageBytes });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.onSocketClose());
  }

  /**
   * Sends one message (stamped with `seqid`) and waits for its reply: the next message, which
   * must be a REPLY or EXCEPTION carrying that seqid (a ResponseHeader before it, taken off, on
   * an upgraded connection). Anything else fails the call and closes the connection, as
   * Finagle's SeqIdFilter does: a reply must never reach another caller.
   */
  exchange(parts: readonly Buffer[], seqid: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (this.closed) {
        reject(new ThriftPoolError('MESH_ERR_THRIFT_CLOSED', `connection to ${label(this.opts)} closed`));
        return;
      }
      this.waiter = { seqid, resolve, reject };
      this.send(parts);
    });
  }

  /**
   * Part of a message came that no request is waiting for (idle, or after its reply): the
   * upstream is out of step, and the next reply would be read from inside those bytes.
   */
  get outOfStep(): boolean {
    return this.waiter === undefined && this.reader.buffered > 0;
  }

  /** Sends a ONEWAY message: no reply is expected, and one that comes anyway is dropped. */
  sendOneway(parts: readonly Buffer[], seqid: number): void {
    if (this.onewaySeqids.size >= MAX_ONEWAY_SEQIDS) this.onewaySeqids.delete(this.onewaySeqids.values().next().value as number);
    this.onewaySeqids.add(seqid);
    this.send(parts);
  }

  send(parts: readonly Buffer[]): void {
    const s = this.socket;
    s.cork();
    for (const p of parts) s.write(p);
    s.uncork();
  }

  private onData(chunk: Buffer): void {
    let messages: Buffer[];
    try {
      messages = this.reader.push(chunk);
    } catch (e) {
      this.fail(new ThriftPoolError('MESH_ERR_THRIFT_PROTOCOL', `${label(this.opts)} sent bytes that are not thrift: ${(e as Error).message}`));
      return;
    }
    for (const raw of messages) {
      let m = raw;
      let head: MessageHead;
      try {
        if (this.upgraded) {
          // The ResponseHeader comes first on an upgraded connection.
          const n = structLength(raw, 0, raw.length, this.opts.proto, this.opts.maxMessageBytes);
          if (n === undefined) throw new Error('no whole ResponseHeader before the reply');
          m = raw.subarray(n);
        }
        head = readMessageHead(m, 0, this.opts.proto);
      } catch (e) {
        this.fail(new ThriftPoolError('MESH_ERR_THRIFT_PROTOCOL', `${label(this.opts)} sent a reply that cannot be read: ${(e as Error).message}`));
        return;
      }
      const w = this.waiter;
      if (w !== undefined && head.seqid === w.seqid && (head.type === MessageType.REPLY || head.type === MessageType.EXCEPTION)) {
        this.waiter = undefined;
        w.resolve(m);
        continue;
      }
      if (this.onewaySeqids.delete(head.seqid)) continue; // an answer to a ONEWAY message: dropped
      this.fail(new ThriftPoolError('MESH_ERR_THRIFT_PROTOCOL', w === undefined
        ? `${label(this.opts)} sent a message nobody asked for (seqid ${head.seqid})`
        : `${label(this.opts)} answered seqid ${head.seqid} (${head.name}, type ${head.type}) to a request sent with seqid ${w.seqid}`));
      return;
    }
  }

  fail(err: ThriftPoolError): void {
    const w = this.waiter;
    this.waiter = undefined;
    this.destroy();
    w?.reject(err);
  }

  private onSocketClose(): void {
    if (!this.closed) {
      this.closed = true;
      this.onClose(this);
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new ThriftPoolError('MESH_ERR_THRIFT_CLOSED', `connection to ${label(this.opts)} closed before the reply`));
  }

  destroy(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.lifeTimer !== undefined) clearTimeout(this.lifeTimer);
    if (!this.closed) {
      this.closed = true;
      this.onClose(this);
    }
    this.socket.destroy();
  }
}

function label(o: ThriftPoolOptions): string {
  return o.host.includes(':') ? `[${o.host}]:${o.port}` : `${o.host}:${o.port}`;
}

function randomId(): bigint {
  return randomBytes(8).readBigInt64BE(0);
}

/** A call waiting for a connection (maxSize lent). Settled once: resolved, rejected or aborted. */
interface ConnWaiter {
  readonly signal: AbortSignal | undefined;
  settled: boolean;
  resolve(c: Conn): void;
  reject(e: ThriftPoolError): void;
}

export class ThriftConnPool {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  /** Connections being made (they count toward maxSize). */
  private opening = 0;
  /** Calls waiting for a connection when maxSize are lent, oldest first. */
  private readonly waiters: ConnWaiter[] = [];
  private closed = false;
  /** The read and write timeouts' sweep (null when neither is set). */
  private readonly timeouts: SocketTimeouts | null;

  constructor(private readonly opts: ThriftPoolOptions) {
    this.timeouts = SocketTimeouts.when(opts.readTimeoutMs, opts.writeTimeoutMs);
  }

  /** Open connections (idle or lent). */
  get size(): number {
    return this.all.size;
  }

  /**
   * Sends `msg` (one thrift message, sent with seqid `callerSeqid`) and resolves with the reply
   * message, or null for a ONEWAY message once it is written. `signal` aborts the call: its connection is closed.
   */
  async call(msg: Buffer, callerSeqid: number, oneway: boolean, ctx: ThriftCallContext, signal?: AbortSignal): Promise<Buffer | null> {
    if (this.closed) throw new ThriftPoolError('MESH_ERR_THRIFT_CONNECT', `client for ${label(this.opts)} is closed`);
    const conn = await this.acquire(signal);
    if (conn.idleTimer !== undefined) {
      clearTimeout(conn.idleTimer);
      conn.idleTimer = undefined;
    }
    // Each request goes out with a seqid of its own, checked on the reply and put back after
    // (callers pick theirs per connection; here many callers share connections).
    const seqid = (Math.random() * 0x1_0000_0000) | 0;
    const stamped = withSeqid(msg, this.opts.proto, seqid);
    const body = conn.upgraded ? Buffer.concat([this.header(ctx), stamped]) : stamped;
    const parts = frameParts(body, this.opts.framed);
    if (oneway) {
      conn.sendOneway(parts, seqid);
      this.release(conn);
      return null;
    }
    const onAbort = (): void => conn.fail(new ThriftPoolError('MESH_ERR_THRIFT_ABORTED', `call to ${label(this.opts)} aborted`));
    if (signal?.aborted) {
      this.release(conn);
      throw new ThriftPoolError('MESH_ERR_THRIFT_ABORTED', `call to ${label(this.opts)} aborted`);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    let reply: Buffer;
    try {
      reply = await conn.exchange(parts, seqid);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    this.release(conn);
    return withSeqid(reply, this.opts.proto, callerSeqid);
  }

  private header(ctx: ThriftCallContext): Buffer {
    let ids: HeaderTraceFields;
    if (ctx.trace !== undefined) ids = headerTraceFields(ctx.trace);
    else {
      const traceId = randomId();
      ids = { traceId, spanId: traceId };
    }
    return encodeRequestHeader(
      {
        ...ids,
        contexts: [],
        delegations: [...ctx.delegations],
        ...(ctx.dest !== undefined ? { dest: ctx.dest } : {}),
      },
      this.opts.proto,
    );
  }

  /** An idle connection, a new one while under maxSize, or the next released one. */
  private acquire(signal: AbortSignal | undefined): Promise<Conn> {
    // An idle connection that got part of a message meanwhile is closed, not lent (outOfStep).
    for (let idle = this.idle.pop(); idle !== undefined; idle = this.idle.pop()) {
      if (!idle.outOfStep) return Promise.resolve(idle);
      idle.destroy();
    }
    const max = this.opts.maxSize ?? 0;
    if (max <= 0 || this.all.size + this.opening < max) return this.connect(signal);
    if (this.waiters.length >= (this.opts.maxWaiters ?? Infinity)) {
      return Promise.reject(new ThriftPoolError('MESH_ERR_THRIFT_POOL_FULL', `all ${max} connections to ${label(this.opts)} are in use and ${this.waiters.length} calls wait`));
    }
    return new Promise<Conn>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        w.reject(new ThriftPoolError('MESH_ERR_THRIFT_ABORTED', `call to ${label(this.opts)} aborted while waiting for a connection`));
      };
      const w: ConnWaiter = {
        signal,
        settled: false,
        resolve: (c) => {
          if (w.settled) return;
          w.settled = true;
          signal?.removeEventListener('abort', onAbort);
          resolve(c);
        },
        reject: (e) => {
          if (w.settled) return;
          w.settled = true;
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /** The oldest waiter still waiting, taken off the queue. */
  private nextWaiter(): ConnWaiter | undefined {
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) if (!w.settled) return w;
    return undefined;
  }

  /**
   * Room under maxSize (a connection lost, or one that could not be made): waiters get new
   * connections, each made under its own signal; one that settled meanwhile gives it back.
   */
  private serveWaiters(): void {
    const max = this.opts.maxSize ?? 0;
    while (!this.closed && (max <= 0 || this.all.size + this.opening < max)) {
      const w = this.nextWaiter();
      if (w === undefined) return;
      this.connect(w.signal).then(
        (c) => {
          if (w.settled) this.release(c);
          else w.resolve(c);
        },
        (e: ThriftPoolError) => w.reject(e),
      );
    }
  }

  private release(conn: Conn): void {
    if (conn.closed) return;
    if (this.closed || conn.outOfStep || conn.expired) {
      conn.destroy();
      return;
    }
    const w = this.nextWaiter();
    if (w !== undefined) {
      w.resolve(conn);
      return;
    }
    this.idle.push(conn);
    const ms = this.opts.idleTimeoutMs;
    if (ms > 0 && this.all.size > (this.opts.minSize ?? 0)) {
      conn.idleTimer = setTimeout(() => {
        const i = this.idle.indexOf(conn);
        if (i >= 0) this.idle.splice(i, 1);
        conn.destroy();
      }, ms);
      conn.idleTimer.unref();
    }
  }

  private connect(signal: AbortSignal | undefined): Promise<Conn> {
    const o = this.opts;
    this.opening++;
    return new Promise<Conn>((resolve, reject) => {
      let settled = false;
      // Counted in `opening` until the socket connects (then it is in `all`).
      let opening = true;
      const opened = (): void => {
        if (!opening) return;
        opening = false;
        this.opening--;
      };
      const failConnect = (why: string, code: ThriftPoolErrorCode = 'MESH_ERR_THRIFT_CONNECT'): void => {
        if (settled) return;
        settled = true;
        opened();
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        // The place this connection would have taken is free again.
        queueMicrotask(() => this.serveWaiters());
        reject(new ThriftPoolError(code, code === 'MESH_ERR_THRIFT_CONNECT' ? `could not connect to ${label(o)}: ${why}` : `call to ${label(o)} aborted: ${why}`));
      };
      // The caller gave up: not the endpoint's failure.
      const onAbort = (): void => failConnect('while connecting', 'MESH_ERR_THRIFT_ABORTED');
      let socket: net.Socket;
      if (o.tls !== undefined) {
        socket = nodeTls().connect({ ...o.tls, host: o.host, port: o.port, servername: o.tls.servername ?? (net.isIP(o.host) ? undefined : o.host) });
      } else {
        socket = net.connect({ host: o.host, port: o.port });
      }
      socket.setNoDelay(o.noDelay !== false);
      if (o.keepAlive === true) socket.setKeepAlive(true);
      const timer = setTimeout(() => failConnect(`no connection after ${o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms`), o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (e: Error) => failConnect(e.message));
      socket.once(o.tls !== undefined ? 'secureConnect' : 'connect', () => {
        if (settled) return;
        const conn = new Conn(socket, o, (c) => this.forget(c));
        this.all.add(conn);
        if ((o.lifeTimeMs ?? 0) > 0) {
          conn.lifeTimer = setTimeout(() => this.expire(conn), o.lifeTimeMs);
          conn.lifeTimer.unref();
        }
        opened();
        if (this.closed) {
          failConnect('the client closed');
          return;
        }
        // Watched from the start: a TTwitter upgrade that is never answered times out too.
        if (this.timeouts !== null) this.watch(conn, this.timeouts);
        const done = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(conn);
        };
        if (!o.ttwitter) {
          done();
          return;
        }
        conn.exchange(frameParts(encodeUpgradeCall(o.proto, 0), o.framed), 0).then(
          (reply) => {
            try {
              const h = readMessageHead(reply, 0, o.proto);
              conn.upgraded = h.type === MessageType.REPLY && h.name === CAN_TRACE_METHOD;
              // Replies now start with a ResponseHeader (the reader must know on a buffered connection).
              if (conn.upgraded) conn.reader.prefixed = true;
            } catch {
              conn.upgraded = false;
            }
            done();
          },
          (e: Error) => failConnect(`the TTwitter upgrade failed: ${e.message}`),
        );
      });
    });
  }

  /** Closes `conn` once the read or write timeout passes on it; the call under way fails naming it. */
  private watch(conn: Conn, timeouts: SocketTimeouts): void {
    timeouts.watch(conn.socket, (kind) => {
      this.opts.onTransportTimeout?.(kind);
      conn.fail(new ThriftPoolError('MESH_ERR_THRIFT_CLOSED', `connection to ${label(this.opts)} closed: ${timeouts.reason(kind)}`));
    });
  }

  /** `lifeTimeMs` is up: an idle connection is closed now, one lent out once released. */
  private expire(c: Conn): void {
    c.lifeTimer = undefined;
    c.expired = true;
    const i = this.idle.indexOf(c);
    if (i >= 0) {
      this.idle.splice(i, 1);
      c.destroy();
    }
  }

  private forget(c: Conn): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // A lost connection frees a place: the oldest waiting call gets a new one.
    this.serveWaiters();
  }

  close(): void {
    this.closed = true;
    this.timeouts?.close();
    const waiting = this.waiters.splice(0);
    for (const c of [...this.all]) c.destroy();
    this.idle.length = 0;
    for (const w of waiting) w.reject(new ThriftPoolError('MESH_ERR_THRIFT_CLOSED', `client for ${label(this.opts)} is closed`));
  }
}
