/**
 * The server side of the engine: one ServerConn per socket parses request heads in place,
 * hands each request to the handler as an Http1Exchange, and streams bodies both ways as
 * buffers in wire framing. Requests on a connection are answered in order; pipelined bytes
 * wait in the connection's buffer until the response before them has ended.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Http1Error, type Http1ErrorCode } from './errors.js';
import { BAD_FRAMING, BODY_NONE, BodyFramer, NEED_MORE } from './framing.js';
import { DEFAULT_LIMITS, type Http1Limits } from './limits.js';
import { parseRequestHead, type Http1RequestHead } from './request-head.js';

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
 * Sees each response's status before its bytes go to the client (metrics, classification).
 * Built once per router stack and shared, so the request path allocates nothing for it.
 */
export interface ResponseListener {
  onResponseHead(ex: Http1Exchange, status: number): void;
}

export type Http1Handler = (ex: Http1Exchange) => void;

const REASONS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

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
  /** Free slot for the handler (router state); the engine never reads it. */
  context: unknown = undefined;
  /** @internal */ readonly conn: ServerConn;
  /** @internal */ bodyDone: boolean;
  private sink: BodySink | null = null;
  private queued: Buffer[] | null = null;

  constructor(conn: ServerConn, head: Http1RequestHead) {
    this.conn = conn;
    this.head = head;
    this.bodyDone = head.bodyKind === BODY_NONE;
  }

  /** True when the request carries a body (Content-Length > 0 or chunked). */
  get hasBody(): boolean {
    return this.head.bodyKind !== BODY_NONE;
  }

  /** Streams the request body (already received bytes first) into `sink`. */
  pipeBody(sink: BodySink): void {
    this.sink = sink;
    const q = this.queued;
    if (q !== null) {
      this.queued = null;
      for (const b of q) sink.write(b);
    }
    if (this.bodyDone) sink.end();
  }

  /** The sink drained after returning false: read from the client again. */
  resumeBody(): void {
    this.conn.socket.resume();
  }

  /** @internal */ bodyData(b: Buffer): void {
    if (this.sink !== null) {
      if (!this.sink.write(b)) this.conn.socket.pause();
    } else (this.queued ??= []).push(b);
  }

  /** @internal */ bodyEnd(): void {
    this.bodyDone = true;
    if (this.sink !== null) this.sink.end();
  }

  /** Writes response bytes (head and body, in wire framing). False means wait for `drain`. */
  write(b: Buffer): boolean {
    this.responseStarted = true;
    return this.conn.socket.write(b);
  }

  /** The response is complete; `close` ends the connection after it. */
  end(close: boolean): void {
    if (this.done) return;
    this.done = true;
    this.conn.responseEnded(this, close);
  }

  /** A complete local response with a Content-Length body. */
  respond(status: number, headers: readonly (readonly [string, string])[] | null, body: string | Buffer = ''): void {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    const close = !this.head.keepAlive || !this.bodyDone;
    let h = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\ncontent-length: ${b.length}\r\n`;
    if (headers !== null) for (const [k, v] of headers) h += `${k}: ${v}\r\n`;
    if (close) h += 'connection: close\r\n';
    this.status = status;
    this.write(Buffer.concat([Buffer.from(h + '\r\n', 'latin1'), this.head.isHead ? Buffer.alloc(0) : b]));
    this.end(close);
  }

  /** Answers with the error's status and `l5d-err`, or aborts if the response had started. */
  fail(err: Http1Error): void {
    if (this.done) return;
    if (this.responseStarted) { this.abort(); return; }
    this.respond(err.status, [['l5d-err', err.message], ['content-type', 'text/plain']], `${err.message}\n`);
  }

  /** Drops the client connection (a response cannot be completed). */
  abort(): void {
    this.done = true;
    this.conn.socket.destroy();
  }
}

/** @internal One client connection. */
export class ServerConn {
  readonly socket: Socket;
  private readonly server: Http1ServerImpl;
  private pending: Buffer | null = null;
  private ex: Http1Exchange | null = null;
  private readonly framer = new BodyFramer();
  /** When the first byte of the current head arrived (0: not reading a head). */
  headStartedAt = 0;
  idleSince: number;
  private parsing = false;
  private closed = false;

  constructor(socket: Socket, server: Http1ServerImpl) {
    this.socket = socket;
    this.server = server;
    this.idleSince = Date.now();
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('drain', () => { const d = this.ex?.drain; if (d) d.onDrain(); });
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
  }

  private onData(b: Buffer): void {
    const ex = this.ex;
    if (ex !== null && !ex.bodyDone) {
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
    this.socket.destroySoon();
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
    this.socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nl5d-err: ${err.message}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${body}`);
    this.closed = true;
    this.server.rejected(err.code);
  }

  /** The header timeout or idle timeout passed (called by the server's coarse sweep). */
  sweep(now: number): void {
    const l = this.server.limits;
    if (this.ex !== null || this.closed) return;
    if (this.headStartedAt !== 0 && now - this.headStartedAt > l.headerTimeoutMs) {
      this.reject(new Http1Error('MESH_ERR_HTTP1_HEADER_TIMEOUT', `request head not received within ${l.headerTimeoutMs} ms`));
    } else if (this.headStartedAt === 0 && this.pending === null && now - this.idleSince > l.idleTimeoutMs) {
      this.closed = true;
      this.socket.end();
    }
  }

  responseEnded(ex: Http1Exchange, close: boolean): void {
    if (ex !== this.ex) return;
    this.ex = null;
    if (close || !ex.head.keepAlive || !ex.bodyDone) {
      this.closed = true;
      this.pending = null;
      this.socket.end();
      return;
    }
    this.idleSince = Date.now();
    if (this.socket.isPaused()) this.socket.resume();
    if (this.pending !== null) this.parse();
  }

  private onClose(): void {
    this.closed = true;
    this.server.conns.delete(this);
    const ex = this.ex;
    if (ex !== null && !ex.done) {
      ex.done = true;
      if (ex.canceller !== null) ex.canceller.cancel();
    }
    this.ex = null;
  }
}

export interface Http1Server {
  readonly server: Server;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, ends idle connections and destroys the rest. */
  close(): Promise<void>;
  readonly connectionCount: number;
  /** Requests rejected by the parser, by error code. */
  readonly rejections: Readonly<Record<string, number>>;
}

class Http1ServerImpl implements Http1Server {
  readonly server: Server;
  readonly limits: Http1Limits;
  readonly handler: Http1Handler;
  readonly conns = new Set<ServerConn>();
  readonly rejections: Record<string, number> = {};
  private sweeper: NodeJS.Timeout;

  constructor(handler: Http1Handler, limits: Http1Limits) {
    this.handler = handler;
    this.limits = limits;
    this.server = createServer({ noDelay: true }, (s) => { this.conns.add(new ServerConn(s, this)); });
    // One coarse timer for every connection's header and idle deadlines.
    const every = Math.max(10, Math.min(1000, Math.floor(limits.headerTimeoutMs / 4)));
    this.sweeper = setInterval(() => { const now = Date.now(); for (const c of this.conns) c.sweep(now); }, every);
    this.sweeper.unref();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  rejected(code: Http1ErrorCode): void {
    this.rejections[code] = (this.rejections[code] ?? 0) + 1;
  }

  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: 4096 }, () => { this.server.off('error', reject); resolve(this.server.address() as AddressInfo); });
    });
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const c of this.conns) c.socket.destroy();
    });
  }
}

export function createHttp1Server(handler: Http1Handler, limits: Partial<Http1Limits> = {}): Http1Server {
  return new Http1ServerImpl(handler, { ...DEFAULT_LIMITS, ...limits });
}
