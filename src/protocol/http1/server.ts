/**
 * The server side of the engine: one ServerConn per socket parses request heads in place,
 * hands each request to the handler as an Http1Exchange, and streams bodies both ways as
 * buffers in wire framing. Requests on a connection are answered in order; pipelined bytes
 * wait in the connection's buffer until the response before them has ended.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { adopt, copyRead } from './adopt.js';
import { SocketWriter, WRITE_FULL, WRITE_HELD } from '../write-batch.js';
import { pendingWriteBytes } from '../direct-write.js';
import { TransportWatch, sweepEvery, type TransportTimeout } from '../transport-watch.js';
import { Http1Error } from './errors.js';
import { BAD_FRAMING, BODY_LENGTH, BODY_NONE, BodyFramer, NEED_MORE } from './framing.js';
import { DEFAULT_LIMITS, type Http1Limits } from './limits.js';
import { parseRequestHead, type Http1RequestHead } from './request-head.js';
import type { ResponseInfo } from './response-head.js';
import { nodeTls } from '../node-tls.js';

/** Receives request body bytes (wire framing). `write` returning false pauses the client. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
}

/** Told when the client socket can take more response bytes after `write` returned false. */
export interface DrainListener {
  onDrain(): void;
}

/** Told when an exchange is abandoned (client gone) so upstream work can stop. */
export interface CancelListener {
  cancel(): void;
}

/**
 * Sees each response's status before its bytes go to the client (metrics, classification),
 * upstream failures, and the end of the exchange. A router sets one per request (its route
 * state); a plain proxy may share one.
 */
export interface ResponseListener {
  /**
   * The upstream's final response head arrived (`info` is valid only during the call).
   * Returning false discards it: the upstream connection is dropped and the exchange stays
   * open for the listener to retry or answer itself.
   */
  onResponseHead(ex: Http1Exchange, status: number, info: ResponseInfo): boolean | void;
  /** The attempt failed before a response head; without this hook the client gets `err`. */
  onUpstreamError?(ex: Http1Exchange, err: Http1Error): void;
  /** The exchange is over (response ended, aborted, upgraded or the client left). Called once. */
  onDone?(ex: Http1Exchange): void;
}

export type Http1Handler = (ex: Http1Exchange) => void;

const REASONS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

/** Bytes a client socket buffers before a write reports back-pressure. */
const WRITE_HIGH_WATER = 128 * 1024;

/** Adopted client sockets get what the server gives its own: half-open allowed, the same buffer. */
const ADOPT_OPTIONS = { allowHalfOpen: true, highWaterMark: WRITE_HIGH_WATER };

/** Pending pipelined bytes beyond this pause reading until the current response ends. */
const MAX_PENDING = 64 * 1024;

/** One request and its response. Valid until the response ends. */
export class Http1Exchange {
  readonly head: Http1RequestHead;
  /** Status of the response, once known (set by whoever writes the response). */
  status = 0;
  /** True once any response byte was written: errors after that can only abort. */
  responseStarted = false;
  done = false;
  drain: DrainListener | null = null;
  canceller: CancelListener | null = null;
  responseListener: ResponseListener | null = null;
  /** Header lines ("name: value\r\n"...) added to the forwarded response head, or null. */
  responseHeaders: Buffer | null = null;
  /** Lowercase names of response header fields dropped from the forwarded head, or null. */
  stripResponseHeaders: readonly string[] | null = null;
  /** Free slot for the handler (router state); the engine never reads it. */
  context: unknown = undefined;
  /** @internal */ readonly conn: ServerConn;
  /** @internal */ bodyDone: boolean;
  private sink: BodySink | null = null;
  private queued: Buffer[] | null = null;
  /** Body bytes kept for a resend (see `keepBody`), or null. */
  private kept: Buffer[] | null = null;
  private keptBytes = 0;
  /** True once the body started flowing to a sink. */
  bodyPiped = false;

  constructor(conn: ServerConn, head: Http1RequestHead) {
    this.conn = conn;
    this.head = head;
    this.bodyDone = head.bodyKind === BODY_NONE;
  }

  /** The local end of the client connection (the listener's address as the client reached it). */
  get localAddress(): string {
    return this.conn.socket.localAddress ?? '';
  }
  get localPort(): number {
    return this.conn.socket.localPort ?? 0;
  }
  /** The client's TLS certificate (DER), on a TLS connection whose client sent one. */
  peerCertificate(): Buffer | undefined {
    const sock = this.conn.socket as Socket & { getPeerCertificate?: () => { raw?: Buffer } | null };
    if (typeof sock.getPeerCertificate !== 'function') return undefined;
    return sock.getPeerCertificate()?.raw;
  }
  /** An object that stands for the client connection (a key for per-connection state). */
  get connection(): object {
    return this.conn;
  }

  /** The client's address and port. */
  get remoteAddress(): string {
    return this.conn.socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.conn.socket.remotePort ?? 0;
  }

  /** True when the request carries a body (Content-Length > 0 or chunked). */
  get hasBody(): boolean {
    return this.head.bodyKind !== BODY_NONE;
  }

  /**
   * Keeps a copy of a body of at most `limit` bytes as it streams, so the request can be sent
   * again (retries). Larger or chunked bodies are not kept.
   */
  keepBody(limit: number): void {
    const h = this.head;
    if (h.bodyKind === BODY_LENGTH && h.contentLength <= limit && !this.bodyPiped) this.kept = [];
  }

  /** True when the request can be sent (again): no body, a body not yet sent, or a kept one. */
  get replayable(): boolean {
    return this.head.bodyKind === BODY_NONE || !this.bodyPiped || (this.kept !== null && this.bodyDone);
  }

  /** Streams the request body (already received bytes first) into `sink`. */
  pipeBody(sink: BodySink): void {
    if (this.bodyPiped) {
      // A resend: only a kept, complete body can be replayed.
      this.sink = sink;
      if (this.kept !== null) for (const b of this.kept) sink.write(b);
      if (this.bodyDone) sink.end();
      return;
    }
    this.bodyPiped = true;
    this.sink = sink;
    const q = this.queued;
    if (q !== null) {
      this.queued = null;
      for (const b of q) this.toSink(sink, b);
    }
    if (this.bodyDone) sink.end();
  }

  private toSink(sink: BodySink, b: Buffer): boolean {
    if (this.kept !== null) {
      this.kept.push(Buffer.from(b));
      this.keptBytes += b.length;
    }
    return sink.write(b);
  }

  /** The sink drained after returning false: read from the client again. */
  resumeBody(): void {
    this.conn.socket.resume();
  }

  /** @internal */ bodyData(b: Buffer): void {
    if (this.sink !== null) {
      if (!this.toSink(this.sink, b)) this.conn.socket.pause();
    } else (this.queued ??= []).push(b);
  }

  /** @internal */ bodyEnd(): void {
    this.bodyDone = true;
    if (this.sink !== null) this.sink.end();
  }

  /**
   * Set when a `write`/`write2` left the socket pointing into the buffer it was given (the
   * caller clears it before writing from a buffer it wants to reuse, and must not reuse the
   * buffer while it is set).
   */
  held = false;

  /**
   * Writes response bytes (head and body, in wire framing) borrowed from a buffer the caller
   * may reuse once `held` is false. False means wait for `drain`.
   */
  write(b: Buffer): boolean {
    this.responseStarted = true;
    this.conn.responseWrites++;
    const r = this.conn.writer.writeBorrowed(b);
    if ((r & WRITE_HELD) !== 0) this.held = true;
    return (r & WRITE_FULL) === 0;
  }

  /**
   * Writes an interim (1xx) response, borrowed as by `write`. The response has not started: a
   * final response, or an error answer, still follows.
   */
  writeInterim(b: Buffer): boolean {
    this.conn.responseWrites++;
    const r = this.conn.writer.writeBorrowed(b);
    if ((r & WRITE_HELD) !== 0) this.held = true;
    return (r & WRITE_FULL) === 0;
  }

  /** Writes response bytes the caller hands over (never reused). False means wait for `drain`. */
  writeOwned(b: Buffer): boolean {
    this.responseStarted = true;
    this.conn.responseWrites++;
    return this.conn.writer.writeOwned(b);
  }

  /** A rebuilt response head (handed over) and the body bytes after it (borrowed), in one write. */
  write2(head: Buffer, body: Buffer): boolean {
    this.responseStarted = true;
    this.conn.responseWrites++;
    const r = this.conn.writer.writeBorrowed2(head, body);
    if ((r & WRITE_HELD) !== 0) this.held = true;
    return (r & WRITE_FULL) === 0;
  }

  /** The response is complete; `close` ends the connection after it. */
  end(close: boolean): void {
    if (this.done) return;
    this.done = true;
    this.conn.responseEnded(this, close);
    this.responseListener?.onDone?.(this);
  }

  /**
   * Hands the client connection over (a 101 upgrade): the engine stops reading it. Returns the
   * socket and any bytes the client already sent past the request head.
   */
  takeover(): { socket: Socket; head: Buffer } {
    this.done = true;
    this.responseStarted = true;
    const r = this.conn.takeover(this);
    this.responseListener?.onDone?.(this);
    return r;
  }

  /** A complete local response with a Content-Length body. */
  respond(status: number, headers: readonly (readonly [string, string])[] | null, body: string | Buffer = ''): void {
    if (this.done) return;
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    // A request whose body was not read cannot be followed by another on this connection.
    const close = !this.head.keepAlive || !this.bodyDone || this.conn.expired;
    let h = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\ncontent-length: ${b.length}\r\n`;
    if (headers !== null) for (const [k, v] of headers) h += `${k}: ${v}\r\n`;
    if (close) h += 'connection: close\r\n';
    this.status = status;
    this.writeOwned(Buffer.concat([Buffer.from(h + '\r\n', 'latin1'), this.head.isHead ? Buffer.alloc(0) : b]));
    this.end(close);
  }

  /** Answers with the error's status and `l5d-err`, or aborts if the response had started. */
  fail(err: Http1Error): void {
    if (this.done) return;
    if (this.responseStarted) { this.abort(); return; }
    this.respond(err.status, [['l5d-err', err.message], ['content-type', 'text/plain']], `${err.message}\n`);
  }

  /**
   * Drops the client connection (a response cannot be completed). `reset`: with a TCP reset,
   * for a response whose end the client can tell only by the close (a close-delimited body).
   */
  abort(reset = false): void {
    if (this.done) return;
    this.done = true;
    if (reset) this.resetConnection();
    else this.conn.socket.destroy();
    this.responseListener?.onDone?.(this);
  }

  /**
   * Cuts the client connection with a TCP reset, so that a client reading a body to the close
   * does not take a cut one for whole (TLS sockets, which have no TCP handle of their own, are
   * closed). The exchange is not ended: whoever failed it still reports why.
   */
  resetConnection(): void {
    const s = this.conn.socket;
    try {
      s.resetAndDestroy();
    } catch {
      s.destroy();
    }
  }
}

/** @internal One client connection. */
export class ServerConn {
  readonly socket: Socket;
  /** Every write and end on the socket goes through here (../write-batch.ts). */
  readonly writer: SocketWriter;
  private readonly server: Http1ServerImpl;
  private pending: Buffer | null = null;
  private ex: Http1Exchange | null = null;
  private readonly framer = new BodyFramer();
  /** When the first byte of the current head arrived (0: not reading a head). */
  headStartedAt = 0;
  idleSince: number;
  /** When the connection was accepted (for `lifeTimeMs`). */
  private readonly openedAt: number;
  /**
   * Closed once the response under way ends (past `lifeTimeMs`, or the server is draining):
   * that response says `connection: close` (pool.ts reads this).
   */
  expired = false;
  private parsing = false;
  private closed = false;
  /** The client sent FIN: no more bytes will come. */
  private clientEnded = false;
  /** Upgraded: the socket's new owner reads it with 'data' events (emitted here when adopted). */
  private handedOver = false;
  /** Reads of request body bytes; the sweep compares it with `stallMark` to find a stalled body. */
  private bodyReads = 0;
  private stallMark = -1;
  private stallSince = 0;
  /** Writes of response bytes; the sweep compares it with `responseMark` to find a stalled response. */
  responseWrites = 0;
  /** The exchange `responseMark` and `responseSince` are about (null: none watched). */
  private responseOf: Http1Exchange | null = null;
  private responseMark = 0;
  private responseSince = 0;
  /** Reads of any bytes, for `readTimeoutMs`; the watch is made when either timeout is set. */
  private reads = 0;
  private watch: TransportWatch | null = null;

  /** `adopted`: the socket reads through `onBytes` (adopt.ts), else with 'data' events. */
  constructor(socket: Socket, server: Http1ServerImpl, adopted: boolean) {
    this.socket = socket;
    this.writer = new SocketWriter(socket);
    this.server = server;
    this.idleSince = Date.now();
    this.openedAt = this.idleSince;
    const l = server.limits;
    if (l.readTimeoutMs > 0 || l.writeTimeoutMs > 0) this.watch = new TransportWatch(this.openedAt);
    if (!adopted) socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('drain', () => { const d = this.ex?.drain; if (d) d.onDrain(); });
    socket.on('error', () => {});
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onClose());
  }

  /**
   * The client half-closed after sending: requests already received are still answered (the
   * server socket allows half-open connections), then the connection is ended.
   */
  private onEnd(): void {
    this.clientEnded = true;
    const ex = this.ex;
    // A body cut short can never complete: the exchange is abandoned.
    if (ex !== null && !ex.bodyDone) this.socket.destroy();
    else if (ex === null && !this.closed) this.endIfDone();
  }

  /** With the client's side ended and nothing in flight: parse what is left, or end. */
  private endIfDone(): void {
    if (this.pending !== null) this.parse();
    if (this.ex === null && !this.closed) {
      this.closed = true;
      this.pending = null;
      this.writer.end();
    }
  }

  /** Bytes `0..n` of the shared read buffer (adopted sockets): kept bytes are copied. */
  onBytes(buf: Buffer, n: number): void {
    if (this.handedOver) this.socket.emit('data', copyRead(buf, n));
    else if (this.closed && this.ex === null) this.reads++;
    else this.onData(copyRead(buf, n));
  }

  private onData(b: Buffer): void {
    this.reads++;
    const ex = this.ex;
    // Closed: what the client still sends (the rest of a body answered early) is read and dropped.
    if (this.closed && ex === null) return;
    if (ex !== null && !ex.bodyDone) {
      this.bodyReads++;
      const end = this.framer.scan(b, 0);
      if (end === NEED_MORE) { ex.bodyData(b); return; }
      if (end === BAD_FRAMING) { this.badBody(ex); return; }
      if (end > 0) ex.bodyData(end === b.length ? b : b.subarray(0, end));
      ex.bodyEnd();
      if (end === b.length) return;
      b = b.subarray(end);
    }
    if (this.pending === null) this.pending = b;
    else this.pending = Buffer.concat([this.pending, b]);
    if (this.ex !== null) {
      if (this.pending.length > MAX_PENDING) this.socket.pause();
      return;
    }
    this.parse();
  }

  private badBody(ex: Http1Exchange): void {
    ex.bodyEnd();
    ex.fail(new Http1Error('MESH_ERR_HTTP1_BAD_CHUNK', 'bad chunked framing'));
    this.writer.destroySoon();
  }

  /** Parses and dispatches every complete request in the buffer, in order. */
  private parse(): void {
    if (this.parsing) return;
    this.parsing = true;
    try {
      while (this.ex === null && this.pending !== null && !this.closed) {
        const buf = this.pending;
        if (this.headStartedAt === 0) this.headStartedAt = Date.now();
        const r = parseRequestHead(buf, 0, this.server.limits);
        if (r === null) {
          if (buf.length > MAX_PENDING) this.socket.pause();
          return;
        }
        this.headStartedAt = 0;
        if (r instanceof Http1Error) { this.reject(r); return; }
        const ex = new Http1Exchange(this, r);
        this.ex = ex;
        let rest = r.end;
        if (r.bodyKind !== BODY_NONE) {
          this.framer.reset(r.bodyKind, r.contentLength);
          const end = this.framer.scan(buf, rest);
          if (end === BAD_FRAMING) { this.pending = null; this.badBody(ex); return; }
          if (end === NEED_MORE) {
            if (rest < buf.length) ex.bodyData(buf.subarray(rest));
            rest = buf.length;
          } else {
            if (end > rest) ex.bodyData(buf.subarray(rest, end));
            ex.bodyEnd();
            rest = end;
          }
        }
        this.pending = rest < buf.length ? buf.subarray(rest) : null;
        this.server.handler(ex);
      }
    } finally {
      this.parsing = false;
    }
  }

  private reject(err: Http1Error): void {
    this.pending = null;
    const status = err.status;
    const body = `${err.message}\n`;
    this.writer.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nl5d-err: ${err.message}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${body}`);
    this.closed = true;
    this.cutAfterLinger();
    this.server.rejected(err);
  }

  /** The header timeout or idle timeout passed (called by the server's coarse sweep). */
  sweep(now: number): void {
    const l = this.server.limits;
    if (this.closed) return;
    if (this.watch !== null && this.transportTimedOut(now, this.watch, l.readTimeoutMs, l.writeTimeoutMs)) return;
    if (l.lifeTimeMs > 0 && now - this.openedAt > l.lifeTimeMs) {
      if (this.busy) this.expired = true;
      else {
        this.closeIdle();
        return;
      }
    }
    const ex = this.ex;
    if (ex !== null) {
      if (!ex.bodyDone) {
        // A request body the client stopped sending. Reading paused (the upstream or the
        // client's own pipelined requests are behind) is not the client's stall: the clock
        // starts again.
        this.responseOf = null;
        if (this.socket.isPaused()) this.stallMark = -1;
        else if (this.bodyReads !== this.stallMark) {
          this.stallMark = this.bodyReads;
          this.stallSince = now;
        } else if (now - this.stallSince > l.idleTimeoutMs) this.bodyStalled(ex, l.idleTimeoutMs);
        return;
      }
      this.stallMark = -1;
      // The request is in: a response that stops coming (no head, or a body that stops), as
      // Envoy's stream idle timeout sees it. Bytes still queued toward the client are the
      // client's to take (its slowness is writeTimeoutMs's to judge): the clock starts again.
      if (ex.done) return;
      if (this.responseOf !== ex || this.responseWrites !== this.responseMark || this.writer.holding || pendingWriteBytes(this.socket) > 0) {
        this.responseOf = ex;
        this.responseMark = this.responseWrites;
        this.responseSince = now;
      } else if (now - this.responseSince > l.responseIdleTimeoutMs) this.responseStalled(ex, l.responseIdleTimeoutMs);
      return;
    }
    this.responseOf = null;
    if (this.headStartedAt !== 0 && now - this.headStartedAt > l.headerTimeoutMs) {
      this.reject(new Http1Error('MESH_ERR_HTTP1_HEADER_TIMEOUT', `request head not received within ${l.headerTimeoutMs} ms`));
    } else if (this.headStartedAt === 0 && this.pending === null && now - this.idleSince > l.idleTimeoutMs) {
      this.closed = true;
      this.writer.end();
      this.cutAfterLinger();
    }
  }

  /**
   * The request's body stopped coming: the upstream attempt is dropped (its connection is in an
   * unknown state), and the client gets 408 with `connection: close`, or loses the connection if
   * its response had started.
   */
  private bodyStalled(ex: Http1Exchange, ms: number): void {
    this.stallMark = -1;
    ex.canceller?.cancel();
    ex.fail(new Http1Error('MESH_ERR_HTTP1_BODY_TIMEOUT', `request body stalled: nothing received for ${ms} ms`));
  }

  /**
   * The response stopped coming for `ms` after the request was in: the upstream attempt is
   * dropped, and the client gets 504 (`connection: close` if its request was not whole), or
   * loses the connection if the response had started (a cut body must not look complete).
   */
  private responseStalled(ex: Http1Exchange, ms: number): void {
    this.responseOf = null;
    ex.canceller?.cancel();
    ex.fail(new Http1Error('MESH_ERR_HTTP1_RESPONSE_TIMEOUT', `response stalled: nothing from the upstream for ${ms} ms`));
  }

  /**
   * `socketOptions.readTimeoutMs` / `writeTimeoutMs`, as Netty's handlers close a channel: nothing
   * read for `rt` ms (unless the engine paused reading: back-pressure is not the client's
   * silence), or pending response bytes not moving toward the client for `wt` ms. The
   * connection is closed and an exchange under way abandoned (its upstream attempt cancelled).
   */
  private transportTimedOut(now: number, watch: TransportWatch, rt: number, wt: number): boolean {
    const kind = watch.check(now, this.reads, this.socket, rt, wt);
    if (kind === undefined) return false;
    this.closed = true;
    this.server.hooks.onTransportTimeout?.(kind);
    this.socket.destroy();
    return true;
  }

  /** A request is in flight on this connection. */
  get busy(): boolean {
    return this.ex !== null || (this.headStartedAt !== 0 && !this.closed);
  }

  /** Ends a connection with no request in flight (shutdown). */
  closeIdle(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    this.writer.end();
    this.cutAfterLinger();
  }

  responseEnded(ex: Http1Exchange, close: boolean): void {
    if (ex !== this.ex) return;
    this.ex = null;
    if (close || !ex.head.keepAlive || !ex.bodyDone || this.server.draining || this.expired) {
      this.closed = true;
      this.pending = null;
      this.writer.end();
      // The rest of a body answered early is read and dropped, so the client can finish
      // sending and read the answer (nginx's lingering close).
      if (!ex.bodyDone && !this.clientEnded && this.socket.isPaused()) this.socket.resume();
      if (!this.clientEnded) this.cutAfterLinger();
      return;
    }
    this.idleSince = Date.now();
    if (this.clientEnded) {
      this.endIfDone();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.pending !== null) this.parse();
  }

  /**
   * After the server's FIN (the connection ended from this side, the client's still open): a
   * client that has not closed its side `lingerMs` after everything was written is cut, as
   * nginx's lingering close ends; otherwise a client that never closes would hold the socket
   * for good (a closed connection has no other timer). Bytes it sends meanwhile are dropped.
   */
  private cutAfterLinger(): void {
    const s = this.socket;
    if (s.destroyed) return;
    const ms = this.server.limits.lingerMs;
    const arm = (): void => {
      const t = setTimeout(() => s.destroy(), ms);
      t.unref();
      s.once('close', () => clearTimeout(t));
    };
    if (s.writableFinished) arm();
    else s.once('finish', arm);
  }

  private onClose(): void {
    this.closed = true;
    this.server.conns.delete(this);
    const ex = this.ex;
    this.ex = null;
    if (ex !== null && !ex.done) {
      ex.done = true;
      if (ex.canceller !== null) ex.canceller.cancel();
      ex.responseListener?.onDone?.(ex);
    }
  }

  /** @internal The exchange's 101 response went out: stop parsing, give the socket away. */
  takeover(ex: Http1Exchange): { socket: Socket; head: Buffer } {
    const head = this.pending ?? Buffer.alloc(0);
    this.pending = null;
    this.ex = null;
    this.closed = true;
    this.handedOver = true;
    // The 101 head and anything before it go out now; the tunnel writes the socket directly.
    this.writer.flush();
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('drain');
    this.server.conns.delete(this);
    this.server.tunnels.add(this.socket);
    this.socket.once('close', () => this.server.tunnels.delete(this.socket));
    if (this.socket.isPaused()) this.socket.resume();
    void ex;
    return { socket: this.socket, head };
  }
}

export interface Http1Server {
  readonly server: Server;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Stops accepting and ends idle connections; requests in flight may finish within
   * `graceMs` (their connections close after the response), then everything left is cut.
   */
  close(graceMs?: number): Promise<void>;
  readonly connectionCount: number;
  /** Connections with a request in flight. */
  readonly activeCount: number;
  /** Requests rejected by the parser, by error code. */
  readonly rejections: Readonly<Record<string, number>>;
}

export interface Http1ServerHooks {
  /** A request was rejected by the parser (answered 4xx/5xx and the connection closed). */
  onReject?(err: Http1Error): void;
  /** A connection was closed by `readTimeoutMs` or `writeTimeoutMs` (limits). */
  onTransportTimeout?(kind: TransportTimeout): void;
  /** A TLS handshake with a client failed (the connection is closed). */
  onTlsError?(err: Error & { code?: string }): void;
  /**
   * Read client sockets with 'data' events instead of adopting them into `onread` sockets
   * (adopt.ts); for tests of that path and diagnosis.
   */
  streamReads?: boolean;
  /** Socket options of accepted connections and the listen backlog (Linkerd's `socketOptions`). */
  socket?: { readonly noDelay?: boolean; readonly keepAlive?: boolean; readonly backlog?: number };
  /**
   * Serve TLS (node:tls secure context and server options: key, cert, ca, requestCert,
   * rejectUnauthorized, ciphers, minVersion...); absent: plain TCP. TLS connections are read
   * with 'data' events and written through Node (adopting and direct writes are TCP's).
   */
  tls?: TlsOptions;
}

class Http1ServerImpl implements Http1Server {
  readonly server: Server;
  readonly limits: Http1Limits;
  readonly handler: Http1Handler;
  readonly conns = new Set<ServerConn>();
  /** Client sockets handed over by upgrades (WebSocket tunnels). */
  readonly tunnels = new Set<Socket>();
  readonly rejections: Record<string, number> = {};
  draining = false;
  private sweeper: NodeJS.Timeout;
  private readonly adoptSockets: boolean;

  constructor(handler: Http1Handler, limits: Http1Limits, readonly hooks: Http1ServerHooks) {
    this.handler = handler;
    this.limits = limits;
    this.adoptSockets = hooks.streamReads !== true && hooks.tls === undefined && process.env['MESHWORK_HTTP1_STREAM_READS'] !== '1';
    // Client sockets buffer up to 128 KiB before back-pressure pauses the upstream: with Node's
    // 16 KiB default every 64 KiB read from an upstream paused and resumed it (3x fewer 64 KiB
    // responses per second).
    // Accepted paused, then adopted (adopt.ts) so that reads skip Node's per-read allocation.
    const noDelay = hooks.socket?.noDelay !== false;
    const keepAlive = hooks.socket?.keepAlive === true;
    if (hooks.tls === undefined) {
      this.server = createServer({ noDelay, keepAlive, allowHalfOpen: true, highWaterMark: WRITE_HIGH_WATER, pauseOnConnect: true }, (s) => this.accept(s));
    } else {
      // Loaded only for TLS servers: node:tls holds ~1 MB resident a plain proxy need not pay.
      const tls = nodeTls();
      this.server = tls.createServer({ ...hooks.tls, noDelay, keepAlive, allowHalfOpen: true, highWaterMark: WRITE_HIGH_WATER } as TlsOptions, (s) => this.accept(s));
      // A failed handshake (no client certificate, wrong protocol) drops that connection only.
      this.server.on('tlsClientError', (e: Error & { code?: string }) => this.hooks.onTlsError?.(e));
    }
    // One coarse timer for every connection's header and idle deadlines.
    const every = sweepEvery(limits.headerTimeoutMs, limits.idleTimeoutMs, limits.responseIdleTimeoutMs, limits.readTimeoutMs, limits.writeTimeoutMs);
    this.sweeper = setInterval(() => { const now = Date.now(); for (const c of this.conns) c.sweep(now); }, every);
    this.sweeper.unref();
  }

  private accept(s: Socket): void {
    let conn: ServerConn | null = null;
    const a = this.adoptSockets ? adopt(s, ADOPT_OPTIONS, (buf, n) => conn!.onBytes(buf, n)) : null;
    conn = new ServerConn(a ?? s, this, a !== null);
    this.conns.add(conn);
    if (a === null) s.resume();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  get activeCount(): number {
    let n = 0;
    for (const c of this.conns) if (c.busy) n++;
    return n;
  }

  rejected(err: Http1Error): void {
    this.rejections[err.code] = (this.rejections[err.code] ?? 0) + 1;
    this.hooks.onReject?.(err);
  }

  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: this.hooks.socket?.backlog ?? 4096 }, () => { this.server.off('error', reject); resolve(this.server.address() as AddressInfo); });
    });
  }

  async close(graceMs = 0): Promise<void> {
    this.draining = true;
    for (const c of this.conns) c.expired = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + graceMs;
    for (;;) {
      for (const c of this.conns) if (!c.busy) c.closeIdle();
      if (this.conns.size === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    clearInterval(this.sweeper);
    for (const c of this.conns) c.socket.destroy();
    for (const t of this.tunnels) t.destroy();
    await closed;
  }
}

export function createHttp1Server(handler: Http1Handler, limits: Partial<Http1Limits> = {}, hooks: Http1ServerHooks = {}): Http1Server {
  return new Http1ServerImpl(handler, { ...DEFAULT_LIMITS, ...limits }, hooks);
}
