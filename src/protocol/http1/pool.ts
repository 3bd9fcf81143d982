/**
 * The client side of the engine: keep-alive connections to one upstream endpoint. A request
 * is the exchange itself: its (possibly edited) head is written, its body piped, and the
 * response streamed back to the client as it arrives, its framing found in place.
 */
import { connect, type Socket } from 'node:net';
import { Http1Error } from './errors.js';
import { BAD_FRAMING, BODY_CLOSE, BODY_NONE, BodyFramer, NEED_MORE } from './framing.js';
import { parseResponseHead, ResponseInfo, RESPONSE_BAD, RESPONSE_NEED_MORE } from './response-head.js';
import type { BodySink, CancelListener, DrainListener, Http1Exchange } from './server.js';

export interface Http1PoolOptions {
  host: string;
  port: number;
  /** Most connections open at once; further requests queue. */
  maxConnections?: number;
  /** Most queued requests; beyond that requests fail with 503. */
  maxQueue?: number;
  connectTimeoutMs?: number;
}

const S_IDLE = 0;
const S_HEAD = 1;
const S_BODY = 2;

class UpstreamConn implements BodySink, DrainListener, CancelListener {
  readonly socket: Socket;
  private readonly pool: Http1Pool;
  ex: Http1Exchange | null = null;
  state = S_IDLE;
  connected = false;
  /** Requests already completed on this connection (a reused connection may be stale). */
  served = 0;
  private reqBodyDone = true;
  private gotBytes = false;
  private pending: Buffer | null = null;
  private readonly info = new ResponseInfo();
  private readonly framer = new BodyFramer();

  constructor(pool: Http1Pool, opts: Required<Http1PoolOptions>) {
    this.pool = pool;
    this.socket = connect({ host: opts.host, port: opts.port, noDelay: true });
    this.socket.setTimeout(opts.connectTimeoutMs);
    this.socket.once('connect', () => {
      this.connected = true;
      this.socket.setTimeout(0);
      const ex = this.ex;
      if (ex !== null) this.send(ex);
    });
    this.socket.on('timeout', () => this.socket.destroy());
    this.socket.on('data', (b: Buffer) => this.onData(b));
    this.socket.on('drain', () => { if (this.ex !== null && !this.reqBodyDone) this.ex.resumeBody(); });
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.onClose());
  }

  assign(ex: Http1Exchange): void {
    this.ex = ex;
    this.state = S_HEAD;
    this.gotBytes = false;
    ex.drain = this;
    ex.canceller = this;
    if (this.connected) this.send(ex);
  }

  private send(ex: Http1Exchange): void {
    this.socket.write(ex.head.toBuffer());
    if (ex.hasBody) {
      this.reqBodyDone = false;
      ex.pipeBody(this);
    } else this.reqBodyDone = true;
  }

  // BodySink: request body bytes from the client.
  write(chunk: Buffer): boolean {
    return this.socket.write(chunk);
  }

  end(): void {
    this.reqBodyDone = true;
  }

  // DrainListener: the client can take more response bytes.
  onDrain(): void {
    this.socket.resume();
  }

  // CancelListener: the client went away mid-exchange; this connection's state is unknown.
  cancel(): void {
    this.ex = null;
    this.socket.destroy();
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
    let buf = b;
    if (this.pending !== null) { buf = Buffer.concat([this.pending, b]); this.pending = null; }
    let at = 0;
    for (let guard = 0; guard < 64; guard++) {
      const info = this.info;
      const r = parseResponseHead(buf, at, ex.head.isHead, info);
      if (r === RESPONSE_NEED_MORE) { this.pending = at === 0 ? buf : buf.subarray(at); if (at > 0) ex.write(buf.subarray(0, at)); return; }
      if (r === RESPONSE_BAD || info.status === 101) { this.broken(ex); return; }
      if (info.status < 200) { at = r; continue; } // 1xx: forwarded ahead of the final response
      ex.status = info.status;
      const listener = ex.responseListener;
      if (listener !== null) listener.onResponseHead(ex, info.status);
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
      const more = this.writeResponse(ex, buf, r, upto);
      if (complete) this.finish(ex, upto !== buf.length);
      else if (!more) this.socket.pause();
      return;
    }
    this.broken(ex);
  }

  /** Writes buf[0, upto) to the client, with the exchange's extra response headers (if any) spliced in before the head's blank line at `headEnd`. */
  private writeResponse(ex: Http1Exchange, buf: Buffer, headEnd: number, upto: number): boolean {
    const extra = ex.responseHeaders;
    if (extra === null) return ex.write(upto === buf.length ? buf : buf.subarray(0, upto));
    return ex.write(Buffer.concat([buf.subarray(0, headEnd - 2), extra, buf.subarray(headEnd - 2, upto)]));
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
    if (reusable) this.pool.release(this);
    else this.socket.destroy();
    // The forwarded head says the upstream closes (or is HTTP/1.0): the client will close too.
    ex.end(this.info.close);
  }

  private broken(ex: Http1Exchange): void {
    this.ex = null;
    this.socket.destroy();
    ex.fail(new Http1Error('MESH_ERR_HTTP1_UPSTREAM_BAD_RESPONSE', 'upstream sent a malformed response'));
  }

  private onClose(): void {
    this.pool.removed(this);
    const ex = this.ex;
    if (ex === null) return;
    this.ex = null;
    ex.drain = null;
    ex.canceller = null;
    if (this.state === S_BODY && this.framer.kind === BODY_CLOSE) {
      // A close-delimited body ends here; the client connection must close too.
      this.state = S_IDLE;
      ex.end(true);
      return;
    }
    if (!this.gotBytes && !ex.hasBody && this.served > 0 && !ex.done) {
      // A reused connection the upstream had already closed: nothing was processed, resend once.
      this.pool.dispatch(ex);
      return;
    }
    const code = this.connected ? 'MESH_ERR_HTTP1_UPSTREAM_RESET' : 'MESH_ERR_HTTP1_UPSTREAM_CONNECT';
    ex.fail(new Http1Error(code, this.connected ? 'upstream closed the connection' : `cannot connect to ${this.pool.authority}`, !this.gotBytes));
  }
}

export class Http1Pool {
  readonly authority: string;
  private readonly opts: Required<Http1PoolOptions>;
  private readonly idle: UpstreamConn[] = [];
  private readonly queue: (Http1Exchange | undefined)[] = [];
  private queueHead = 0;
  private open = 0;
  private closed = false;
  private readonly all = new Set<UpstreamConn>();

  constructor(opts: Http1PoolOptions) {
    this.opts = { maxConnections: 256, maxQueue: 10_000, connectTimeoutMs: 5000, ...opts };
    this.authority = `${opts.host}:${opts.port}`;
  }

  get size(): number { return this.open; }
  get idleCount(): number { return this.idle.length; }
  get queued(): number { return this.queue.length - this.queueHead; }

  /** Sends the exchange's request upstream and streams the response into it. */
  dispatch(ex: Http1Exchange): void {
    const c = this.idle.pop();
    if (c !== undefined) { c.assign(ex); return; }
    if (this.open < this.opts.maxConnections && !this.closed) {
      this.open++;
      const n = new UpstreamConn(this, this.opts);
      this.all.add(n);
      n.assign(ex);
      return;
    }
    if (this.queued >= this.opts.maxQueue || this.closed) {
      ex.fail(new Http1Error('MESH_ERR_HTTP1_POOL_QUEUE_FULL', `too many requests queued for ${this.authority}`, true));
      return;
    }
    this.queue.push(ex);
  }

  /** @internal A connection finished a response and can be reused. */
  release(c: UpstreamConn): void {
    while (this.queueHead < this.queue.length) {
      const ex = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined;
      if (this.queueHead === this.queue.length) { this.queue.length = 0; this.queueHead = 0; }
      if (ex !== undefined && !ex.done) { c.assign(ex); return; }
    }
    this.idle.push(c);
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
  }

  close(): void {
    this.closed = true;
    for (const c of this.all) c.socket.destroy();
  }
}
