/**
 * A ThriftMux-style server for opaque bodies (Finagle's MuxDowngradingNegotiator,
 * MuxServerNegotiator and MuxServerSession, the transport only).
 *
 * The first frame of a connection picks the protocol. If it decodes as a mux message (other
 * than an Rerr with tag 65537 or 65540, which is how a framed thrift CALL or ONEWAY header
 * 0x8001000x reads as mux), the connection is a mux session: the marker Rerr is echoed, Tinit
 * (version 1) answered with Rinit, pings answered, and each Tdispatch/Treq goes to the handler
 * concurrently, replies leaving as they complete. Otherwise it is a downgraded framed-thrift
 * session: each frame is one message for the same handler, replies framed and sent in order;
 * the handler keeps the connection's TTwitter state in the DowngradedThrift it is given.
 *
 * A peer's bad bytes never escape: the connection is closed (a mux session is told why with an
 * Rerr on tag 0 first), and other connections go on.
 *
 * Session expiry (Linkerd's server `serverSession`; Finagle's ExpiringService over
 * MuxServerSession): a connection with no request in flight for `idleTimeMs`, or older than
 * `lifeTimeMs`, is expired. A mux session is drained as Finagle drains one: Tdrain on the control
 * tag (after the Rinit when expired mid-handshake); requests keep being served until the
 * client's Rdrain, after which each new Tdispatch/Treq is nacked (Rdispatch/Rreq status 2); once
 * nothing is in flight the socket is closed. The whole drain is bounded by `drainTimeoutMs` (a
 * client that never answers, or a request that never ends, is cut off then). Plain thrift has no
 * drain: a downgraded session is closed when idle, or once the replies under way are out, frames
 * read after expiry going unanswered. `close(graceMs)` drains every connection the same way,
 * bounded by `graceMs`.
 *
 * `socket.readTimeoutMs` / `writeTimeoutMs` are not an expiry: a connection they time out is
 * closed at once, as Netty's ReadTimeoutHandler closes a channel (one sweep for the server,
 * transport-watch.ts).
 */
import type { AddressInfo, Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { StreamListener } from '../stream-listener.js';
import { SocketTimeouts, type TransportTimeout } from '../transport-watch.js';
import type { MuxError } from './errors.js';
import {
  CONTROL_TAG,
  DEFAULT_MAX_FRAME_SIZE,
  decodeMessage,
  encodeMessage,
  encodeMessageParts,
  FragmentAssembler,
  FrameDecoder,
  MARKER_TAG,
  MUX_VERSION,
  TINIT_CHECK,
  writeParts,
  type MuxDtab,
  type MuxMessage,
  type MuxPairs,
} from './frame.js';

/** What a Tdispatch says about its request besides the body: its destination, dtab and contexts. */
export interface MuxDispatchInfo {
  readonly dst: string;
  readonly dtab: MuxDtab;
  /** The Tdispatch's broadcast contexts as (key, value) pairs (views of the frame). */
  readonly contexts?: MuxPairs;
}

/**
 * Handles one request body; `signal` aborts when the client discards it or the connection ends.
 * `info` is there for a Tdispatch (a Treq or a downgraded thrift frame has neither field).
 */
/**
 * A downgraded framed-thrift connection as its handler sees it: one object per connection,
 * which the handler updates with what the client negotiated (Finagle's TTwitter upgrade, which
 * a ThriftMux server offers its thrift clients too). Messages reach the handler in order.
 */
export interface DowngradedThrift {
  /** No message of this connection has reached the handler yet (an upgrade must be the first). */
  first: boolean;
  /** The client took the TTwitter upgrade: a RequestHeader precedes each message, a ResponseHeader each reply. */
  ttwitter: boolean;
}

/** A Tdispatch/Treq's body (with `info` for a Tdispatch), or a downgraded connection's thrift message (with `thrift`). */
export type MuxHandler = (body: Buffer, signal: AbortSignal, info?: MuxDispatchInfo, thrift?: DowngradedThrift) => Promise<Buffer>;

export interface MuxServerOptions {
  ip: string;
  port: number;
  /** Serve over TLS (node:tls server options); absent: plain TCP. */
  tls?: TlsOptions;
  handler: MuxHandler;
  /**
   * Serve clients whose first frame is framed thrift as downgraded thrift sessions (ThriftMux's
   * server). false: plain mux (Finagle's Mux.server), and such a connection is closed. Default true.
   */
  downgrade?: boolean;
  /** Largest frame (and reassembled message) accepted. Default 16 MiB. */
  maxFrameSize?: number;
  /**
   * Socket options of accepted connections and the listen backlog (Linkerd's `socketOptions`).
   * `readTimeoutMs` / `writeTimeoutMs` (0 or absent: off): a connection from which nothing was
   * read for that long, or whose pending reply bytes made no progress, is closed at once, its
   * handlers aborted (Netty's ReadTimeoutHandler / WriteTimeoutHandler).
   */
  socket?: { readonly noDelay?: boolean; readonly keepAlive?: boolean; readonly backlog?: number; readonly readTimeoutMs?: number; readonly writeTimeoutMs?: number };
  /** Told of each connection `socket.readTimeoutMs` / `writeTimeoutMs` closed. */
  onTransportTimeout?: (kind: TransportTimeout) => void;
  /** `serverSession.idleTimeMs`: a connection with no request in flight this long is expired. 0 or absent: never. */
  idleTimeMs?: number;
  /** `serverSession.lifeTimeMs`: a connection this old is expired. 0 or absent: never. */
  lifeTimeMs?: number;
  /** Bound on draining an expired mux session (Tdrain to closed). Default 10000. */
  drainTimeoutMs?: number;
  /**
   * Told of each mux session's drain, as Finagle's server counts them: `draining` when its Tdrain
   * is written, `drained` when it then closes with nothing in flight before `drainTimeoutMs`.
   */
  onDrain?: (event: 'draining' | 'drained') => void;
}

const NO_PAIRS: MuxPairs = [];
const MARKER_ECHO = encodeMessage({ kind: 'Rerr', tag: CONTROL_TAG, message: TINIT_CHECK });
const RINIT_CONTROL = encodeMessage({ kind: 'Rinit', tag: CONTROL_TAG, version: MUX_VERSION, headers: NO_PAIRS });
const RPING_CONTROL = encodeMessage({ kind: 'Rping', tag: CONTROL_TAG });
/** Finagle's MuxServerSession sends its Tdrain on the control tag and takes only an Rdrain there. */
const TDRAIN_CONTROL = encodeMessage({ kind: 'Tdrain', tag: CONTROL_TAG });

/** Default bound on an expired mux session's drain: Linkerd's default `shutdownGraceMs`. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/** The first bytes of a framed thrift CALL (0x80010001) and ONEWAY (0x80010004), read as an Rerr's tag. */
const THRIFT_CALL_TAG = 0x010001;
const THRIFT_ONEWAY_TAG = 0x010004;

/** How long an ended connection may wait for the peer to close before it is destroyed. */
const LINGER_MS = 2000;

const M_SNIFF = 0;
const M_MUX = 1;
const M_THRIFT = 2;
const M_CLOSED = 3;

// Handshake phases of a mux session.
const H_START = 0;
const H_AWAIT_TINIT = 1;
const H_DONE = 2;

// Drain phases of an expired mux session (Finagle's MuxServerSession and ServerTracker states).
const D_OPEN = 0;
/** Expired during the handshake: the Tdrain waits until the Rinit is written. */
const D_OWED = 1;
/** Tdrain sent: requests are still served until the client's Rdrain. */
const D_ASKED = 2;
/** Rdrain received: new requests are nacked; the socket closes once none is in flight. */
const D_DRAINING = 3;

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function discardReason(why: string): Error {
  const e = new Error(`the mux client discarded the request: ${why}`);
  e.name = 'AbortError';
  return e;
}

function closedReason(): Error {
  const e = new Error('the mux connection closed');
  e.name = 'AbortError';
  return e;
}

class MuxCall {
  readonly tag: number;
  readonly treq: boolean;
  readonly ac = new AbortController();
  constructor(tag: number, treq: boolean) {
    this.tag = tag;
    this.treq = treq;
  }
}

class ThriftSlot {
  readonly ac = new AbortController();
  reply: Buffer | null = null;
}

class ServerConn {
  private readonly server: MuxServer;
  private readonly socket: Socket;
  private readonly handler: MuxHandler;
  private readonly frames: FrameDecoder;
  private assembler: FragmentAssembler | null = null;
  private mode = M_SNIFF;
  private phase = H_START;
  private readonly calls = new Map<number, MuxCall>();
  private readonly thriftQueue: ThriftSlot[] = [];
  /** A downgraded connection's state, kept for its handler. */
  private thrift: DowngradedThrift | null = null;
  /** serverSession.idleTimeMs (0: never). */
  private readonly idleMs: number;
  /** When the connection last had nothing in flight (-1: something is in flight). */
  private idleSince: number;
  private idleTimer: NodeJS.Timeout | null = null;
  private lifeTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  /** Idle, past its lifetime, or the server is closing: no new work is started for long. */
  private expired = false;
  private drainPhase = D_OPEN;

  constructor(server: MuxServer, socket: Socket, handler: MuxHandler, maxFrameSize: number, idleMs: number, lifeMs: number) {
    this.server = server;
    this.socket = socket;
    this.handler = handler;
    this.frames = new FrameDecoder(maxFrameSize);
    this.idleMs = idleMs;
    this.idleSince = idleMs > 0 ? Date.now() : -1;
    socket.setNoDelay(server.socketOptions?.noDelay !== false);
    if (server.socketOptions?.keepAlive === true) socket.setKeepAlive(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    if (idleMs > 0) this.armIdle(idleMs);
    if (lifeMs > 0) {
      this.lifeTimer = setTimeout(() => {
        this.lifeTimer = null;
        this.expire(this.server.drainTimeoutMs);
      }, lifeMs);
      this.lifeTimer.unref();
    }
  }

  // ---- session expiry ---------------------------------------------------------------------

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => this.onIdleTimer(), ms);
    this.idleTimer.unref();
  }

  /** One timer per connection, re-armed for what is left rather than reset per request. */
  private onIdleTimer(): void {
    this.idleTimer = null;
    if (this.mode === M_CLOSED || this.expired || this.idleSince < 0) return; // busy: re-armed when idle again
    const left = this.idleSince + this.idleMs - Date.now();
    if (left > 0) this.armIdle(left);
    else this.expire(this.server.drainTimeoutMs);
  }

  /** The first request of a quiet spell started. */
  private busy(): void {
    this.idleSince = -1;
  }

  /** The last request in flight ended: the idle clock starts, or an expired connection closes. */
  private idle(): void {
    if (this.expired) {
      // A mux session waits for the client's Rdrain; the other kinds have nothing to wait for.
      if (this.mode !== M_MUX) this.end();
      else if (this.drainPhase === D_DRAINING) this.drained();
      return;
    }
    if (this.idleMs <= 0) return;
    this.idleSince = Date.now();
    if (this.idleTimer === null) this.armIdle(this.idleMs);
  }

  private inFlight(): number {
    return this.mode === M_MUX ? this.calls.size : this.thriftQueue.length;
  }

  /**
   * Expires the connection (idle, past lifeTimeMs, or the server closing): a mux session is
   * drained within `drainMs`; another closes once nothing is in flight.
   */
  expire(drainMs: number): void {
    if (this.mode === M_CLOSED || this.expired) return;
    this.expired = true;
    this.clearSessionTimers();
    if (this.mode !== M_MUX) {
      if (this.inFlight() === 0) this.end();
      return;
    }
    // Finagle's server writes nothing before its Rinit, and Finagle's client fails a handshake
    // answered with anything else: mid-handshake, the Tdrain waits for it to end.
    if (this.phase === H_DONE) this.askDrain();
    else this.drainPhase = D_OWED;
    // Finagle bounds the whole drain with one deadline and then shuts the session down.
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      this.end();
    }, Math.max(0, drainMs));
    this.drainTimer.unref();
  }

  private askDrain(): void {
    this.drainPhase = D_ASKED;
    this.socket.write(TDRAIN_CONTROL);
    this.server.drainEvent('draining');
  }

  /** The client's Rdrain came and nothing is in flight: the drain is complete. */
  private drained(): void {
    this.server.drainEvent('drained');
    this.end();
  }

  private clearSessionTimers(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    if (this.lifeTimer !== null) clearTimeout(this.lifeTimer);
    this.idleTimer = null;
    this.lifeTimer = null;
  }

  private onData(chunk: Buffer): void {
    if (this.mode === M_CLOSED) return;
    try {
      for (const frame of this.frames.push(chunk)) {
        if (this.mode === M_SNIFF) this.sniff(frame);
        if (this.mode === M_MUX) this.muxFrame(frame);
        else if (this.mode === M_THRIFT) this.thriftFrame(frame);
        else return;
      }
    } catch (err) {
      this.fail(errorText(err));
    }
  }

  private sniff(frame: Buffer): void {
    let mux = false;
    try {
      const m = decodeMessage(frame);
      mux = !(m.kind === 'Rerr' && (m.tag === THRIFT_CALL_TAG || m.tag === THRIFT_ONEWAY_TAG));
    } catch {
      mux = false;
    }
    if (!mux && !this.server.downgrades) {
      // A plain mux server has nothing to say to a peer that does not speak mux.
      this.end();
      return;
    }
    if (mux) {
      this.mode = M_MUX;
      this.assembler = new FragmentAssembler(this.frames.maxFrameSize);
      this.server.counted(true);
    } else {
      this.mode = M_THRIFT;
      this.server.counted(false);
    }
  }

  // ---- mux ------------------------------------------------------------------------------

  private muxFrame(frame: Buffer): void {
    const whole = this.assembler!.push(frame);
    if (whole === null) return;
    this.onMux(decodeMessage(whole));
  }

  private onMux(m: MuxMessage): void {
    if (this.phase === H_START) {
      if (m.kind === 'Rerr' && m.tag === CONTROL_TAG && m.message === TINIT_CHECK) {
        this.phase = H_AWAIT_TINIT;
        this.socket.write(MARKER_ECHO);
        return;
      }
      this.phase = H_DONE; // a client without the handshake
    } else if (this.phase === H_AWAIT_TINIT) {
      this.phase = H_DONE;
    }
    switch (m.kind) {
      case 'Tdispatch':
        this.dispatch(m.tag, m.body, false, m);
        break;
      case 'Treq':
        this.dispatch(m.tag, m.body, true);
        break;
      case 'Tping':
        this.socket.write(m.tag === CONTROL_TAG ? RPING_CONTROL : encodeMessage({ kind: 'Rping', tag: m.tag }));
        break;
      case 'Tdiscarded': {
        const c = this.calls.get(m.which);
        if (c === undefined) break; // already answered: the tag is free on both sides
        this.calls.delete(m.which);
        c.ac.abort(discardReason(m.why));
        this.socket.write(encodeMessage({ kind: 'Rdiscarded', tag: m.which }));
        if (this.calls.size === 0) this.idle();
        break;
      }
      case 'Tinit':
        if (m.version === MUX_VERSION) {
          this.socket.write(m.tag === CONTROL_TAG ? RINIT_CONTROL : encodeMessage({ kind: 'Rinit', tag: m.tag, version: MUX_VERSION, headers: NO_PAIRS }));
        } else {
          this.write(encodeMessageParts({ kind: 'Rerr', tag: m.tag, message: `unsupported mux version ${m.version}` }));
          this.end();
        }
        break;
      case 'Tdrain':
        this.socket.write(encodeMessage({ kind: 'Rerr', tag: m.tag, message: 'unexpected mux message Tdrain' }));
        break;
      case 'Rdrain':
        // The client sends nothing new from here on (Finagle's ServerTracker.drain).
        if (m.tag === CONTROL_TAG && this.drainPhase === D_ASKED) {
          this.drainPhase = D_DRAINING;
          if (this.calls.size === 0) this.drained();
        }
        break;
      default:
        // Other R messages answer exchanges this server never starts (it sends no Tping), and
        // a Tlease is advisory: nothing to answer, and answering an R could echo forever.
        break;
    }
    // The handshake is over (the Rinit, if any, is written): the expired session's Tdrain goes out.
    if (this.drainPhase === D_OWED && this.mode === M_MUX) this.askDrain();
  }

  private dispatch(tag: number, body: Buffer, treq: boolean, info?: MuxDispatchInfo): void {
    if (this.drainPhase === D_DRAINING) {
      // After its Rdrain the client should send nothing new; what it still sends is refused
      // unprocessed, as Finagle's ServerTracker does, so that it may go elsewhere.
      this.write(encodeMessageParts(treq ? { kind: 'RreqNack', tag } : { kind: 'RdispatchNack', tag, contexts: NO_PAIRS }));
      return;
    }
    if (this.calls.has(tag)) {
      this.fail(`duplicate tag ${tag} from the client`);
      return;
    }
    const call = new MuxCall(tag, treq);
    this.calls.set(tag, call);
    if (this.calls.size === 1) this.busy();
    let p: Promise<Buffer>;
    try {
      p = info === undefined ? this.handler(body, call.ac.signal) : this.handler(body, call.ac.signal, info);
    } catch (err) {
      this.fail(`the handler failed: ${errorText(err)}`);
      return;
    }
    Promise.resolve(p).then(
      (rep) => this.reply(call, rep),
      (err) => this.replyError(call, err),
    );
  }

  private reply(call: MuxCall, rep: Buffer): void {
    if (this.calls.get(call.tag) !== call) return; // discarded, or the connection is gone
    if (!Buffer.isBuffer(rep)) {
      this.replyError(call, new TypeError('the handler resolved with something other than a Buffer'));
      return;
    }
    this.calls.delete(call.tag);
    this.write(
      encodeMessageParts(call.treq ? { kind: 'RreqOk', tag: call.tag, body: rep } : { kind: 'RdispatchOk', tag: call.tag, contexts: NO_PAIRS, body: rep }),
    );
    if (this.calls.size === 0) this.idle();
  }

  private replyError(call: MuxCall, err: unknown): void {
    if (this.calls.get(call.tag) !== call) return;
    this.calls.delete(call.tag);
    // A handler that refuses work (a nack) says so with this code; the client may resend.
    const nack = (err as Partial<MuxError> | null)?.code === 'MESH_ERR_MUX_NACK';
    let m: MuxMessage;
    if (call.treq) m = nack ? { kind: 'RreqNack', tag: call.tag } : { kind: 'RreqError', tag: call.tag, message: errorText(err) };
    else m = nack ? { kind: 'RdispatchNack', tag: call.tag, contexts: NO_PAIRS } : { kind: 'RdispatchError', tag: call.tag, contexts: NO_PAIRS, message: errorText(err) };
    this.write(encodeMessageParts(m));
    if (this.calls.size === 0) this.idle();
  }

  // ---- downgraded framed thrift -----------------------------------------------------------

  private thriftFrame(frame: Buffer): void {
    // Expired: plain thrift cannot refuse a message, so it goes unanswered and the connection
    // closes once the replies under way are out (as a thrift server's connection does).
    if (this.expired) return;
    const slot = new ThriftSlot();
    this.thriftQueue.push(slot);
    if (this.thriftQueue.length === 1) this.busy();
    let p: Promise<Buffer>;
    try {
      p = this.handler(frame, slot.ac.signal, undefined, (this.thrift ??= { first: true, ttwitter: false }));
    } catch {
      this.end();
      return;
    }
    Promise.resolve(p).then(
      (rep) => {
        if (this.mode === M_CLOSED) return;
        if (!Buffer.isBuffer(rep)) {
          this.end();
          return;
        }
        slot.reply = rep;
        this.flushThrift();
      },
      // Plain thrift has no error reply outside the thrift message itself (the handler's
      // job), so, as Finagle does, a failed dispatch tears the connection down.
      () => this.end(),
    );
  }

  private flushThrift(): void {
    const q = this.thriftQueue;
    let n = 0;
    while (n < q.length && q[n].reply !== null) n++;
    if (n === 0) return;
    const done = q.splice(0, n);
    this.socket.cork();
    for (const s of done) {
      // An empty reply (a ONEWAY message's) sends nothing: a thrift client reads no answer to one.
      if (s.reply!.length === 0) continue;
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(s.reply!.length, 0);
      this.socket.write(len);
      this.socket.write(s.reply!);
    }
    this.socket.uncork();
    if (q.length === 0) this.idle();
  }

  // ---- closing ------------------------------------------------------------------------------

  private write(parts: Buffer[]): void {
    writeParts(this.socket, parts);
  }

  /** A protocol failure: a mux peer is told why on tag 0, then the connection ends. */
  private fail(why: string): void {
    if (this.mode === M_CLOSED) return;
    if (this.mode === M_MUX) this.write(encodeMessageParts({ kind: 'Rerr', tag: MARKER_TAG, message: why }));
    this.end();
  }

  /** Stops serving: pending handlers are aborted, written bytes flushed, the socket ended. */
  private end(): void {
    if (this.mode === M_CLOSED) return;
    this.abortAll();
    const sock = this.socket;
    sock.end();
    // Keep reading (and dropping) so the peer gets our last bytes rather than a reset.
    setTimeout(() => sock.destroy(), LINGER_MS).unref();
  }

  /** Ends at once (server close, socket error or close). */
  destroy(): void {
    this.abortAll();
    this.socket.destroy();
    this.server.forget(this);
  }

  private abortAll(): void {
    if (this.mode === M_CLOSED) return;
    this.mode = M_CLOSED;
    this.clearSessionTimers();
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    const calls = [...this.calls.values()];
    this.calls.clear();
    const slots = this.thriftQueue.splice(0);
    if (calls.length === 0 && slots.length === 0) return;
    const reason = closedReason();
    for (const c of calls) c.ac.abort(reason);
    for (const s of slots) s.ac.abort(reason);
  }
}

export class MuxServer {
  private readonly opts: MuxServerOptions;
  private readonly maxFrameSize: number;
  private readonly listener: StreamListener;
  private readonly conns = new Set<ServerConn>();
  private muxCount = 0;
  private thriftCount = 0;
  private closing = false;
  private readonly idleMs: number;
  private readonly lifeMs: number;
  /** The read and write timeouts' sweep over the connections (null when neither is set). */
  private readonly timeouts: SocketTimeouts | null;
  /** @internal (ServerConn) */
  readonly drainTimeoutMs: number;
  /** Woken when the last connection is gone (a graceful close waits on it). */
  private onEmpty: (() => void) | null = null;

  constructor(opts: MuxServerOptions) {
    this.opts = opts;
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.idleMs = opts.idleTimeMs ?? 0;
    this.lifeMs = opts.lifeTimeMs ?? 0;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.timeouts = SocketTimeouts.when(opts.socket?.readTimeoutMs, opts.socket?.writeTimeoutMs);
    this.listener = new StreamListener({ ip: opts.ip, port: opts.port, backlog: opts.socket?.backlog, tls: opts.tls, onConnection: (sock) => this.accept(sock) });
  }

  /** @internal (ServerConn) Whether non-mux connections are served as downgraded thrift. */
  get downgrades(): boolean {
    return this.opts.downgrade !== false;
  }

  /** @internal (ServerConn) */
  get socketOptions(): MuxServerOptions['socket'] {
    return this.opts.socket;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Connections accepted so far, by the protocol their first frame chose. */
  get sessions(): { mux: number; thrift: number } {
    return { mux: this.muxCount, thrift: this.thriftCount };
  }

  listen(): Promise<AddressInfo> {
    return this.listener.listen();
  }

  /**
   * Stops accepting and closes every connection. With `graceMs` > 0 each connection is first
   * expired as by `serverSession` (a mux session drained with Tdrain, a thrift one closed once its
   * replies are out) and what is left after `graceMs` is cut off; handlers still pending then
   * have their signals aborted.
   */
  async close(graceMs = 0): Promise<void> {
    this.closing = true;
    const stopped = this.listener.stop();
    if (graceMs > 0 && this.conns.size > 0) {
      for (const c of [...this.conns]) c.expire(graceMs);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.onEmpty = resolve;
        timer = setTimeout(resolve, graceMs);
        if (this.conns.size === 0) resolve();
      });
      clearTimeout(timer);
      this.onEmpty = null;
    }
    for (const c of [...this.conns]) c.destroy();
    this.listener.destroyAll();
    this.timeouts?.close();
    await stopped;
  }

  private accept(sock: Socket): void {
    if (this.closing) {
      sock.destroy();
      return;
    }
    sock.on('error', () => {}); // the connection handles errors by closing; never crash here
    const conn = new ServerConn(this, sock, this.opts.handler, this.maxFrameSize, this.idleMs, this.lifeMs);
    this.conns.add(conn);
    this.timeouts?.watch(sock, (kind) => {
      this.opts.onTransportTimeout?.(kind);
      conn.destroy();
    });
  }

  /** @internal (ServerConn) */
  drainEvent(event: 'draining' | 'drained'): void {
    this.opts.onDrain?.(event);
  }

  /** @internal */
  counted(mux: boolean): void {
    if (mux) this.muxCount++;
    else this.thriftCount++;
  }

  /** @internal */
  forget(c: ServerConn): void {
    this.conns.delete(c);
    if (this.conns.size === 0 && this.onEmpty !== null) this.onEmpty();
  }
}
