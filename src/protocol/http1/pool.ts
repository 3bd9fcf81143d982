/**
 * The client side of the engine: keep-alive connections to one upstream endpoint. A request
 * is the exchange itself: its (possibly edited) head is written, its body piped, and the
 * response streamed back to the client as it arrives, its framing found in place.
 *
 * The exchange's `responseListener` sees every final response head first and may discard it
 * (a retry); upstream failures go to its `onUpstreamError` when it has one. A 101 answer to an
 * upgrade request turns both connections into a tunnel.
 */
import { connect, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Http1Error } from './errors.js';
import { BATCH_COPY_MAX, SocketWriter, WRITE_FULL, WRITE_HELD, writeBorrowedNow } from '../write-batch.js';
import { BAD_FRAMING, BODY_CHUNKED, BODY_CLOSE, BODY_NONE, BodyFramer, NEED_MORE } from './framing.js';
import { ChunkDecoder } from './dechunk.js';
import { parseResponseHead, responseFields, ResponseInfo, RESPONSE_BAD, RESPONSE_NEED_MORE } from './response-head.js';
import { eqLower } from './request-head.js';
import type { BodySink, CancelListener, DrainListener, Http1Exchange } from './server.js';
import { nodeTls } from '../node-tls.js';
import { TransportWatch, sweepEvery, transportTimeoutReason, type TransportTimeout } from '../transport-watch.js';

export interface Http1PoolOptions {
  host: string;
  port: number;
  /** Most connections open at once; further requests queue. */
  maxConnections?: number;
  /** Most queued requests; beyond that requests fail with 503. */
  maxQueue?: number;
  connectTimeoutMs?: number;
  /** Idle connections are closed after this many ms (0: kept until the upstream closes them). */
  idleTimeoutMs?: number;
  /** Connections kept open even when idle (opened at start, reopened when lost). */
  minConnections?: number;
  /**
   * Connections are closed once this old (ms), after the response under way, as Finagle's
   * `clientSession.lifeTimeMs` expires a session (0: kept for as long as they work).
   */
  lifeTimeMs?: number;
  /**
   * TLS to the upstream (node:tls connect options: ca, cert, key, servername,
   * rejectUnauthorized, checkServerIdentity); absent: plain TCP.
   */
  tls?: ConnectionOptions;
  /** TCP_NODELAY on upstream connections (default true). */
  noDelay?: boolean;
  /** SO_KEEPALIVE on upstream connections (default false). */
  keepAlive?: boolean;
  /**
   * `socketOptions.readTimeoutMs` (Netty's ReadTimeoutHandler): a connection from which nothing
   * was read for this long, waiting for a response or idle, is closed (0: never); a request
   * waiting on it fails as a connection closed before its response.
   */
  readTimeoutMs?: number;
  /** `socketOptions.writeTimeoutMs`: a connection whose pending request bytes made no progress for this long is closed (0: never). */
  writeTimeoutMs?: number;
  /** A connection was closed by readTimeoutMs or writeTimeoutMs. */
  onTransportTimeout?: ((kind: TransportTimeout) => void) | undefined;
}

type PoolOptions = Required<Omit<Http1PoolOptions, 'tls' | 'onTransportTimeout'>> & Pick<Http1PoolOptions, 'onTransportTimeout'> & { tls: ConnectionOptions | undefined };

const S_IDLE = 0;
const S_HEAD = 1;
const S_BODY = 2;
/** A chunked body relayed as its data only, to an HTTP/1.0 client (see writeDechunked). */
const S_DECHUNK = 3;

/**
 * Upstream reads land in a buffer the connection owns (Node's `onread`) instead of a fresh
 * 64 KiB allocation per read, which for large bodies cost a page fault per 4 KiB touched. The
 * buffer is reused until a write to the client still points into it when the read is handled;
 * then the next read gets a new one.
 */
const READ_BUFFER = 64 * 1024;
/** A connection starts with a small buffer and moves to READ_BUFFER once a read fills it. */
const FIRST_READ_BUFFER = 8 * 1024;

const EMPTY = Buffer.alloc(0);
const CONNECTION_CLOSE = Buffer.from('connection: close\r\n', 'latin1');
const CONNECTION_KEEP_ALIVE = Buffer.from('connection: keep-alive\r\n', 'latin1');
/** Response fields that describe the upstream hop only. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection'];
const NONE: readonly string[] = [];
const hopAnd = new WeakMap<readonly string[], readonly string[]>();
/** HOP_BY_HOP and `strip` (a list the exchange keeps, so the union is made once). */
function withHopByHop(strip: readonly string[]): readonly string[] {
  let u = hopAnd.get(strip);
  if (u === undefined) { u = [...HOP_BY_HOP, ...strip]; hopAnd.set(strip, u); }
  return u;
}
/**
 * An HTTP/1.0 client reads no Transfer-Encoding (RFC 9112 6.1: none may be sent to it), so the
 * transfer codings of a response to one other than chunked (`gzip, chunked`, or a close-delimited
 * `gzip`) would reach it as bytes it cannot tell are encoded. They are moved to Content-Encoding,
 * after the content codings the response already has (the order they were applied in), so the
 * client can still decode what it gets. The Content-Encoding value, or null when there is none.
 */
function contentCodingsFor10(info: ResponseInfo): string | null {
  const list = (name: string): string[] =>
    responseFields(info, name)
      .join(',')
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '' && c.toLowerCase() !== 'identity');
  const te = list('transfer-encoding').filter((c) => c.toLowerCase() !== 'chunked');
  return te.length === 0 ? null : [...list('content-encoding'), ...te].join(', ');
}

/**
 * Fields dropped from a chunked response relayed de-chunked: its framing (Content-Length too,
 * though a chunked head cannot carry one), and Trailer, which announces trailers that are not
 * sent.
 */
const DECHUNKED_DROP = [...HOP_BY_HOP, 'transfer-encoding', 'content-length', 'trailer'];
const dechunkedAnd = new WeakMap<readonly string[], readonly string[]>();
function withDechunkedDrop(strip: readonly string[]): readonly string[] {
  let u = dechunkedAnd.get(strip);
  if (u === undefined) { u = [...DECHUNKED_DROP, ...strip]; dechunkedAnd.set(strip, u); }
  return u;
}

/** Requests that may be sent again without the client asking (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
function idempotent(ex: Http1Exchange): boolean {
  return IDEMPOTENT.has(ex.head.method) || ex.head.header('idempotency-key') !== undefined;
}

class UpstreamConn implements BodySink, DrainListener, CancelListener {
  readonly socket: Socket;
  /** Every write on the socket goes through here (../write-batch.ts). */
  private readonly writer: SocketWriter;
  private readonly pool: Http1Pool;
  ex: Http1Exchange | null = null;
  state = S_IDLE;
  connected = false;
  /** Requests already completed on this connection (a reused connection may be stale). */
  served = 0;
  private reqBodyDone = true;
  private gotBytes = false;
  private pending: Buffer | null = null;
  /** The request head reached the kernel: a failure after this is not requeued (Finagle's
   * RequeueFilter requeues only requests that were never written). */
  private written = false;
  /** The exchange whose head is being written (what `headWritten` reports on). */
  private writing: Http1Exchange | null = null;
  /** One write callback per connection, not a closure per request. */
  private readonly headWritten = (err?: Error | null): void => {
    if (err == null && this.writing !== null && this.writing === this.ex) this.written = true;
    this.writing = null;
  };
  /** The socket error's code (ECONNREFUSED...), for the failure message. */
  private lastError: string | undefined = undefined;
  /** The upstream ended its stream (a FIN, not a reset). */
  private eof = false;
  private readonly info = new ResponseInfo();
  private readonly framer = new BodyFramer();
  /** Made on the first chunked response to an HTTP/1.0 client. */
  private dechunker: ChunkDecoder | null = null;
  /** The buffer the next read lands in; null once a pending write holds the last one. */
  private rbuf: Buffer | null = null;
  private rsize = FIRST_READ_BUFFER;
  /** Set once upgraded: upstream bytes go straight to this client socket. */
  private tunnel: Socket | null = null;
  /** The read being handled filled its buffer: more bytes may be waiting behind it. */
  private readFull = false;
  /** Past the pool's `lifeTimeMs`: closed instead of reused. */
  expired = false;
  /** Reads of any bytes, for `readTimeoutMs`, and the pool sweep's watch (when a timeout is set). */
  private reads = 0;
  private readonly watch: TransportWatch | null;
  /** Closed by a transport timeout: not a stale connection whose request may be sent again. */
  private timedOut = false;
  private lifeTimer: NodeJS.Timeout | undefined = undefined;
  /** Releases a connection whose last response ended a full read, once that read is over. */
  private readonly releaseLater = (): void => {
    if (!this.socket.destroyed && this.ex === null) this.pool.release(this);
  };

  constructor(pool: Http1Pool, opts: PoolOptions) {
    this.pool = pool;
    // Request bodies (uploads) get the same 128 KiB write buffer as client sockets (server.ts).
    if (opts.tls === undefined) {
      this.socket = connect({
        host: opts.host,
        port: opts.port,
        noDelay: opts.noDelay,
        keepAlive: opts.keepAlive,
        highWaterMark: 128 * 1024,
        onread: { buffer: () => this.readBuffer(), callback: (n: number, b: Uint8Array) => { this.onRead(n, b as Buffer); return true; } },
      } as unknown as import('node:net').NetConnectOpts);
    } else {
      // TLS: Node decrypts into buffers of its own ('data' events); `onread` is TCP's.
      this.socket = nodeTls().connect({ ...opts.tls, host: opts.host, port: opts.port, noDelay: opts.noDelay, keepAlive: opts.keepAlive, highWaterMark: 128 * 1024 } as ConnectionOptions);
      this.socket.on('data', (b: Buffer) => this.onOwnedChunk(b));
    }
    this.writer = new SocketWriter(this.socket);
    this.socket.setTimeout(opts.connectTimeoutMs);
    this.socket.once(opts.tls === undefined ? 'connect' : 'secureConnect', () => {
      this.connected = true;
      this.socket.setTimeout(0);
      const ex = this.ex;
      if (ex !== null) this.send(ex);
      else this.pool.release(this);
    });
    this.socket.on('timeout', () => this.socket.destroy());
    this.socket.on('drain', () => { if (this.ex !== null && !this.reqBodyDone) this.ex.resumeBody(); });
    this.socket.on('error', (e: NodeJS.ErrnoException) => { this.lastError = e.code ?? e.message; });
    this.socket.on('end', () => { this.eof = true; });
    this.socket.on('close', () => this.onClose());
    this.watch = opts.readTimeoutMs > 0 || opts.writeTimeoutMs > 0 ? new TransportWatch(Date.now()) : null;
    if (opts.lifeTimeMs > 0) {
      this.lifeTimer = setTimeout(() => this.expire(), opts.lifeTimeMs);
      this.lifeTimer.unref();
    }
  }

  /**
   * `readTimeoutMs` / `writeTimeoutMs` (called by the pool's sweep): nothing read for `rt` ms
   * (unless reading is paused for a slow client), or pending request bytes not moving for `wt`
   * ms, closes the connection. Returns the kind that fired.
   */
  sweep(now: number, rt: number, wt: number): TransportTimeout | undefined {
    if (this.watch === null || !this.connected || this.tunnel !== null || this.socket.destroyed) return undefined;
    const kind = this.watch.check(now, this.reads, this.socket, rt, wt);
    if (kind === undefined) return undefined;
    this.timedOut = true;
    this.lastError = transportTimeoutReason(kind, rt, wt);
    this.closeNow();
    return kind;
  }

  /** Closes the connection; an idle one leaves the idle list at once, so no request is handed to it while it closes. */
  private closeNow(): void {
    if (this.ex === null) this.pool.removed(this);
    this.socket.destroy();
  }

  /** `lifeTimeMs` is up: closed now when idle, else once its response is over (Pool.release). */
  private expire(): void {
    this.lifeTimer = undefined;
    this.expired = true;
    if (this.ex === null && this.connected) this.closeNow();
  }

  assign(ex: Http1Exchange): void {
    this.ex = ex;
    this.state = S_HEAD;
    this.gotBytes = false;
    this.pending = null;
    ex.drain = this;
    ex.canceller = this;
    this.socket.setTimeout(0);
    if (this.connected) this.send(ex);
  }

  private send(ex: Http1Exchange): void {
    this.written = false;
    this.writing = ex;
    this.writer.writeOwned(ex.head.toBuffer(), this.headWritten);
    if (ex.hasBody) {
      this.reqBodyDone = false;
      ex.pipeBody(this);
    } else this.reqBodyDone = true;
  }

  // BodySink: request body bytes from the client.
  write(chunk: Buffer): boolean {
    return this.writer.writeOwned(chunk);
  }

  end(): void {
    this.reqBodyDone = true;
  }

  // DrainListener: the client can take more response bytes.
  onDrain(): void {
    this.socket.resume();
  }

  // CancelListener: the exchange was abandoned mid-attempt; this connection's state is unknown.
  cancel(): void {
    const ex = this.ex;
    this.ex = null;
    if (ex !== null) {
      ex.drain = null;
      ex.canceller = null;
    }
    this.socket.destroy();
  }

  private readBuffer(): Buffer {
    let b = this.rbuf;
    if (b === null) { b = Buffer.allocUnsafeSlow(this.rsize); this.rbuf = b; }
    return b;
  }

  private onRead(n: number, buf: Buffer): void {
    this.reads++;
    const b = buf.subarray(0, n);
    if (n === buf.length && this.rsize < READ_BUFFER) this.rsize = READ_BUFFER;
    const t = this.tunnel;
    if (t !== null) {
      const r = writeBorrowedNow(t, b);
      if ((r & WRITE_FULL) !== 0) this.socket.pause();
      if ((r & WRITE_HELD) !== 0 || buf.length < this.rsize) this.rbuf = null;
      return;
    }
    const ex = this.ex;
    if (ex !== null) ex.held = false;
    this.readFull = n === buf.length;
    this.onData(b);
    // A write that did not complete at once still points into `buf`; or `buf` is the small
    // first buffer and a read filled it: either way the next read gets a new one.
    if ((ex !== null && ex.held) || buf.length < this.rsize) this.rbuf = null;
  }

  /** A chunk the socket handed over (TLS: nothing here reuses it). */
  private onOwnedChunk(b: Buffer): void {
    this.reads++;
    const t = this.tunnel;
    if (t !== null) {
      if ((writeBorrowedNow(t, b) & WRITE_FULL) !== 0) this.socket.pause();
      return;
    }
    const ex = this.ex;
    if (ex !== null) ex.held = false;
    this.onData(b);
  }

  private onData(b: Buffer): void {
    const ex = this.ex;
    if (ex === null) { this.socket.destroy(); return; }
    this.gotBytes = true;
    if (this.state === S_BODY) {
      const end = this.framer.scan(b, 0);
      if (end === NEED_MORE) { if (!ex.write(b)) this.socket.pause(); return; }
      if (end === BAD_FRAMING) { this.broken(ex); return; }
      ex.write(end === b.length ? b : b.subarray(0, end));
      this.finish(ex, end !== b.length);
      return;
    }
    if (this.state === S_DECHUNK) { this.dechunkBody(ex, b); return; }
    let buf = b;
    if (this.pending !== null) { buf = Buffer.concat([this.pending, b]); this.pending = null; }
    let at = 0;
    for (let guard = 0; guard < 64; guard++) {
      const info = this.info;
      const r = parseResponseHead(buf, at, ex.head.isHead, info);
      // The partial head is copied: `buf` may be the connection's read buffer.
      if (r === RESPONSE_NEED_MORE) { this.pending = Buffer.from(buf.subarray(at)); if (at > 0) ex.write(buf.subarray(0, at)); return; }
      if (r === RESPONSE_BAD) { this.broken(ex); return; }
      if (info.status === 101) {
        // A 101 answers only a request that asked to upgrade: to any other it would make the
        // client's connection a tunnel to whatever the upstream sends next.
        if (ex.head.forwards('upgrade')) this.upgraded(ex, buf, at, r);
        else this.broken(ex);
        return;
      }
      if (info.status < 200) {
        // 1xx (100 Continue): forwarded ahead of the final response, which is still to come
        // (so a timeout or an upstream failure can still answer). Not to an HTTP/1.0 client,
        // which knows no 1xx and would read it as the final response (RFC 9110 15.2).
        if (ex.head.minor !== 0 && !ex.writeInterim(buf.subarray(at, r))) this.socket.pause();
        buf = buf.subarray(r);
        at = 0;
        if (buf.length === 0) return;
        continue;
      }
      ex.status = info.status;
      const listener = ex.responseListener;
      if (listener !== null && listener.onResponseHead(ex, info.status, info) === false) {
        this.discard(ex);
        return;
      }
      let upto: number;
      let complete = true;
      if (info.bodyKind === BODY_NONE) upto = r;
      else {
        this.framer.reset(info.bodyKind, info.contentLength);
        const end = this.framer.scan(buf, r);
        if (end === BAD_FRAMING) { this.broken(ex); return; }
        if (end === NEED_MORE) { upto = buf.length; complete = false; this.state = S_BODY; }
        else upto = end;
      }
      const more = this.writeResponse(ex, buf, at, r, upto);
      if (complete) this.finish(ex, upto !== buf.length);
      else if (!more) this.socket.pause();
      return;
    }
    this.broken(ex);
  }

  /**
   * Writes the response head buf[start, headEnd) and body bytes up to `upto` to the client,
   * dropping the header fields the exchange strips and adding its extra ones.
   */
  private writeResponse(ex: Http1Exchange, buf: Buffer, start: number, headEnd: number, upto: number): boolean {
    let extra = ex.responseHeaders;
    let strip = ex.stripResponseHeaders;
    const info = this.info;
    if (info.status === 101) {
      // A tunnel: Connection/Upgrade are the switch itself and pass unchanged.
      if (extra === null && strip === null) return ex.write(buf.subarray(start, upto));
      return this.writeRebuilt(ex, buf, start, headEnd, upto, strip ?? NONE, extra, EMPTY);
    }
    // The client hop gets its own connection management: the upstream's hop-by-hop fields are
    // dropped, and `connection: close` says when the client connection ends after this. It ends
    // too when the request body is not all read yet (an upstream that answers before reading
    // it): unannounced, a keep-alive client would send its next request into the close.
    const closing = info.close || !ex.head.keepAlive || ex.conn.expired || !ex.bodyDone;
    const keepAlive10 = !closing && ex.head.minor === 0;
    // A lone `Connection: keep-alive` stays when it is true of the client hop as well (most
    // upstreams send it on every response; forwarding the head as it is saves a rebuild).
    const hop = info.hopByHop || (info.keepAliveOnly && (closing || keepAlive10));
    if (extra === null && strip === null && !hop && !closing && !keepAlive10) {
      return ex.write(start === 0 && upto === buf.length ? buf : buf.subarray(start, upto));
    }
    // An HTTP/1.0 client always takes this slow path, so the checks cost the fast one nothing.
    if (ex.head.minor === 0 && (info.bodyKind === BODY_CHUNKED || info.bodyKind === BODY_CLOSE)) {
      const ce = contentCodingsFor10(info);
      if (ce !== null) {
        const field = Buffer.from(`content-encoding: ${ce}\r\n`, 'latin1');
        extra = extra === null ? field : Buffer.concat([extra, field]);
        strip = [...(strip ?? NONE), 'transfer-encoding', 'content-encoding'];
      }
      if (info.bodyKind === BODY_CHUNKED) return this.writeDechunked(ex, buf, start, headEnd, upto, strip, extra);
    }
    const conn = closing ? CONNECTION_CLOSE : keepAlive10 ? CONNECTION_KEEP_ALIVE : EMPTY;
    const drop = strip === null ? (hop ? HOP_BY_HOP : NONE) : hop ? withHopByHop(strip) : strip;
    return this.writeRebuilt(ex, buf, start, headEnd, upto, drop, extra, conn);
  }

  /**
   * Writes the head buf[start, headEnd) without the fields named in `drop`, plus `extra` and
   * `conn`, then the body bytes buf[headEnd, upto): in one new buffer when the body is small,
   * else the rebuilt head and the body as they are (not copied).
   */
  private writeRebuilt(ex: Http1Exchange, buf: Buffer, start: number, headEnd: number, upto: number, drop: readonly string[], extra: Buffer | null, conn: Buffer): boolean {
    const bodyLen = upto - headEnd;
    const inline = bodyLen <= BATCH_COPY_MAX;
    const out = rebuildHead(buf, start, headEnd, drop, extra, conn, inline ? bodyLen : 0);
    if (inline) {
      buf.copy(out, out.length - bodyLen, headEnd, upto);
      return ex.writeOwned(out);
    }
    return ex.write2(out, buf.subarray(headEnd, upto));
  }

  /**
   * A chunked response to an HTTP/1.0 client, which cannot read chunked framing (RFC 9112
   * 6.1, 7): the head goes without its framing fields and says `connection: close`, the body
   * as its chunks' data only (extensions and trailers dropped), and the close of the client
   * connection ends it. The upstream connection is reused as usual.
   */
  private writeDechunked(ex: Http1Exchange, buf: Buffer, start: number, headEnd: number, upto: number, strip: readonly string[] | null, extra: Buffer | null): boolean {
    // The client connection closes after this response, whatever the request asked.
    ex.head.keepAlive = false;
    const head = rebuildHead(buf, start, headEnd, strip === null ? DECHUNKED_DROP : withDechunkedDrop(strip), extra, CONNECTION_CLOSE, 0);
    const d = (this.dechunker ??= new ChunkDecoder());
    d.reset();
    if (this.state === S_BODY) this.state = S_DECHUNK;
    const n = d.decode(buf, headEnd, upto);
    return n === 0 ? ex.writeOwned(head) : ex.write2(head, buf.subarray(headEnd, headEnd + n));
  }

  /** More of a chunked body relayed de-chunked (S_DECHUNK). */
  private dechunkBody(ex: Http1Exchange, b: Buffer): void {
    const end = this.framer.scan(b, 0);
    if (end === BAD_FRAMING) {
      // The client reads this body to the close: a plain close would pass the part it got as
      // the whole body.
      ex.resetConnection();
      this.broken(ex);
      return;
    }
    const n = this.dechunker!.decode(b, 0, end === NEED_MORE ? b.length : end);
    const more = n === 0 || ex.write(n === b.length ? b : b.subarray(0, n));
    if (end !== NEED_MORE) this.finish(ex, end !== b.length);
    else if (!more) this.socket.pause();
  }

  /** The listener turned the response down (it will retry): this connection is dropped. */
  private discard(ex: Http1Exchange): void {
    this.ex = null;
    ex.drain = null;
    ex.canceller = null;
    ex.status = 0;
    this.socket.destroy();
  }

  /** 101 Switching Protocols: relay the head, then splice the two sockets. */
  private upgraded(ex: Http1Exchange, buf: Buffer, start: number, headEnd: number): void {
    ex.status = 101;
    const listener = ex.responseListener;
    if (listener !== null && listener.onResponseHead(ex, 101, this.info) === false) { this.discard(ex); return; }
    this.ex = null;
    ex.drain = null;
    ex.canceller = null;
    this.pool.detach(this);
    this.writeResponse(ex, buf, start, headEnd, headEnd);
    const client = ex.takeover();
    const up = this.socket;
    up.removeAllListeners('drain');
    up.removeAllListeners('close');
    up.setTimeout(0);
    const rest = buf.subarray(headEnd);
    if (rest.length > 0 && (writeBorrowedNow(client.socket, rest) & WRITE_HELD) !== 0) ex.held = true;
    this.writer.flush();
    if (client.head.length > 0) up.write(client.head);
    client.socket.pipe(up);
    // Upstream bytes are read by onRead (onread sockets emit no 'data'): it writes them to the
    // client and pauses on back-pressure until the client drains.
    this.tunnel = client.socket;
    client.socket.on('drain', () => up.resume());
    up.on('end', () => client.socket.end());
    if (up.isPaused()) up.resume();
    const kill = (): void => { up.destroy(); client.socket.destroy(); };
    up.on('error', kill);
    client.socket.on('error', kill);
    // A tunnel lives as long as both ends: when either goes away, the other is closed too.
    up.once('close', kill);
    client.socket.once('close', kill);
  }

  /** The response is complete. `extra`: the upstream sent bytes past it (not reusable). */
  private finish(ex: Http1Exchange, extra: boolean): void {
    const reusable = !extra && !this.info.close && this.reqBodyDone;
    this.ex = null;
    this.state = S_IDLE;
    ex.drain = null;
    ex.canceller = null;
    this.served++;
    // Released first: ending the exchange may dispatch the client's next pipelined request.
    // After a read that filled its buffer, bytes the upstream sent past this response may be
    // waiting (Node reads them right after this one): the connection is released on the next
    // turn, once they were seen (and it dropped), or the next request would get them as its
    // response.
    if (!reusable) this.socket.destroy();
    else if (this.readFull) setImmediate(this.releaseLater);
    else this.pool.release(this);
    // The forwarded head says the upstream closes (or is HTTP/1.0): the client will close too.
    ex.end(this.info.close);
  }

  private broken(ex: Http1Exchange): void {
    this.ex = null;
    ex.drain = null;
    ex.canceller = null;
    this.socket.destroy();
    this.pool.failed(ex, new Http1Error('MESH_ERR_HTTP1_UPSTREAM_BAD_RESPONSE', `upstream ${this.pool.authority} sent a malformed response`));
  }

  private onClose(): void {
    if (this.lifeTimer !== undefined) clearTimeout(this.lifeTimer);
    this.pool.removed(this);
    const ex = this.ex;
    if (ex === null) return;
    this.ex = null;
    ex.drain = null;
    ex.canceller = null;
    if (this.state === S_BODY && this.framer.kind === BODY_CLOSE) {
      // A close-delimited body ends here; the client connection must close too. Closed without
      // the upstream's end of stream (a reset), the body may be cut: the client, which can tell
      // the end only by the close, gets a reset too rather than a clean close that passes the
      // cut body as whole. (An error writing the request body after that end does not count.)
      this.state = S_IDLE;
      if (this.eof) ex.end(true);
      else ex.abort(true);
      return;
    }
    if (this.state === S_DECHUNK) {
      // A chunked body relayed de-chunked ends at its last chunk, not here: it was cut, and the
      // client, which reads it to the close, gets a reset rather than a close that passes it as
      // whole.
      ex.abort(true);
      return;
    }
    if (!this.gotBytes && this.served > 0 && !ex.done && !ex.hasBody && (!this.written || idempotent(ex)) && !this.timedOut) {
      // A reused connection the upstream had closed (an idle timeout racing this request): sent
      // again on another connection, as often as the pool hands out stale ones. Only a request
      // that never reached the kernel, or one that may be repeated (RFC 9110 9.2.2: idempotent
      // methods, or an Idempotency-Key), since the upstream may have acted on it before closing.
      this.pool.dispatch(ex);
      return;
    }
    if (this.state === S_BODY) {
      // The response was under way: it can only be cut.
      ex.abort();
      return;
    }
    const err = this.connected
      ? new Http1Error('MESH_ERR_HTTP1_UPSTREAM_RESET', `connection to ${this.pool.authority} closed before a response${this.lastError !== undefined ? `: ${this.lastError}` : ''}`, !this.written && !this.gotBytes && ex.replayable)
      : new Http1Error('MESH_ERR_HTTP1_UPSTREAM_CONNECT', `connection to ${this.pool.authority} failed: ${this.lastError ?? 'timed out'}`, true);
    this.pool.failed(ex, err);
  }
}

/** Line boundaries of the head being rebuilt (reused; grown for heads with many fields). */
let lines = new Int32Array(128);

/**
 * A new buffer: the head buf[start, headEnd - 2) without the fields named in `drop`, then
 * `extra`, `conn` and the blank line, with `room` bytes left free at the end (for a body).
 */
function rebuildHead(buf: Buffer, start: number, headEnd: number, drop: readonly string[], extra: Buffer | null, conn: Buffer, room: number): Buffer {
  let n = 0;
  let size = 0;
  let line = start;
  const stop = headEnd - 2;
  let first = true;
  while (line < stop) {
    const next = buf.indexOf(13, line) + 2;
    let keep = true;
    if (!first && drop.length > 0) {
      const colon = buf.indexOf(58, line);
      for (let i = 0; i < drop.length; i++) if (eqLower(buf, line, colon, drop[i]!)) { keep = false; break; }
    }
    if (keep) {
      if (n + 2 > lines.length) { const grown = new Int32Array(lines.length * 2); grown.set(lines); lines = grown; }
      lines[n++] = line;
      lines[n++] = next;
      size += next - line;
    }
    first = false;
    line = next;
  }
  const extraLen = extra === null ? 0 : extra.length;
  const out = Buffer.allocUnsafe(size + extraLen + conn.length + 2 + room);
  let at = 0;
  for (let i = 0; i < n; i += 2) at += buf.copy(out, at, lines[i]!, lines[i + 1]!);
  if (extra !== null) at += extra.copy(out, at);
  at += conn.copy(out, at);
  out[at++] = 13;
  out[at] = 10;
  return out;
}

export class Http1Pool {
  readonly authority: string;
  private readonly opts: PoolOptions;
  private readonly idle: UpstreamConn[] = [];
  private readonly queue: (Http1Exchange | undefined)[] = [];
  private queueHead = 0;
  private open = 0;
  private closed = false;
  private readonly all = new Set<UpstreamConn>();
  private sweeper: NodeJS.Timeout | undefined = undefined;

  constructor(opts: Http1PoolOptions) {
    this.opts = { maxConnections: 256, maxQueue: 10_000, connectTimeoutMs: 5000, idleTimeoutMs: 0, minConnections: 0, lifeTimeMs: 0, noDelay: true, keepAlive: false, readTimeoutMs: 0, writeTimeoutMs: 0, ...opts, tls: opts.tls };
    if (this.opts.maxConnections <= 0) this.opts.maxConnections = Infinity;
    const rt = this.opts.readTimeoutMs;
    const wt = this.opts.writeTimeoutMs;
    if (rt > 0 || wt > 0) {
      // One coarse timer for the pool's connections, only when a transport timeout is set.
      this.sweeper = setInterval(() => {
        const now = Date.now();
        for (const c of [...this.all]) {
          const kind = c.sweep(now, rt, wt);
          if (kind !== undefined) this.opts.onTransportTimeout?.(kind);
        }
      }, sweepEvery(rt, wt));
      this.sweeper.unref();
    }
    this.authority = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
    this.fill();
  }

  get size(): number { return this.open; }
  get idleCount(): number { return this.idle.length; }
  get queued(): number { return this.queue.length - this.queueHead; }
  /** Requests on a connection or waiting for one. */
  get load(): number { return this.open - this.idle.length + this.queued; }

  /** Sends the exchange's request upstream and streams the response into it. */
  dispatch(ex: Http1Exchange): void {
    const c = this.idle.pop();
    if (c !== undefined) { c.assign(ex); return; }
    if (this.opts.minConnections > 0) {
      // A kept-open connection still connecting takes the request (sent once connected).
      for (const k of this.all) if (!k.connected && k.ex === null) { k.assign(ex); return; }
    }
    if (this.open < this.opts.maxConnections && !this.closed) {
      this.open++;
      const n = new UpstreamConn(this, this.opts);
      this.all.add(n);
      n.assign(ex);
      return;
    }
    if (this.queued >= this.opts.maxQueue || this.closed) {
      this.failed(ex, new Http1Error('MESH_ERR_HTTP1_POOL_QUEUE_FULL', `connection pool to ${this.authority} is full (${this.opts.maxConnections} connections, ${this.opts.maxQueue} waiting)`, true));
      return;
    }
    this.queue.push(ex);
  }

  /** @internal An attempt failed before a response: the listener decides, else the client hears it. */
  failed(ex: Http1Exchange, err: Http1Error): void {
    if (ex.done) return;
    const l = ex.responseListener;
    if (l !== null && l.onUpstreamError !== undefined) l.onUpstreamError(ex, err);
    else ex.fail(err);
  }

  /** @internal A connection finished a response (or connected) and can be reused. */
  release(c: UpstreamConn): void {
    if (this.closed || c.expired) { c.socket.destroy(); return; }
    while (this.queueHead < this.queue.length) {
      const ex = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined;
      if (this.queueHead === this.queue.length) { this.queue.length = 0; this.queueHead = 0; }
      if (ex !== undefined && !ex.done) { c.assign(ex); return; }
    }
    if (this.opts.idleTimeoutMs > 0 && this.open > this.opts.minConnections) c.socket.setTimeout(this.opts.idleTimeoutMs);
    this.idle.push(c);
  }

  /** @internal A connection left the pool for good (upgraded to a tunnel). */
  detach(c: UpstreamConn): void {
    if (!this.all.delete(c)) return;
    this.open--;
    this.fill();
  }

  /** @internal */
  removed(c: UpstreamConn): void {
    if (!this.all.delete(c)) return;
    this.open--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // A queued request can use the slot this connection freed.
    if (this.queued > 0 && !this.closed) {
      const ex = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined;
      if (this.queueHead === this.queue.length) { this.queue.length = 0; this.queueHead = 0; }
      if (!ex.done) this.dispatch(ex);
    }
    if (c.connected) this.fill();
  }

  /** Opens connections up to `minConnections` (they wait idle). */
  private fill(): void {
    while (!this.closed && this.open < this.opts.minConnections) {
      this.open++;
      this.all.add(new UpstreamConn(this, this.opts));
    }
  }

  close(): void {
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const c of this.all) c.socket.destroy();
  }
}
