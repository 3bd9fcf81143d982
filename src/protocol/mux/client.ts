/**
 * A mux client for one endpoint (Finagle's MuxClientNegotiatingSession + MuxClientSession, the
 * transport only): `dispatch(body, signal, info)` sends a Tdispatch with `info`'s destination,
 * dtab and contexts (none when absent) and resolves with the Rdispatch payload.
 *
 * A session (one connection) is opened on the first dispatch. It sends the marker
 * Rerr(1, "tinit check"); a server that echoes it gets Tinit(1, version 1) and must answer Rinit;
 * a server that answers anything else is used without the exchange. Dispatches made meanwhile
 * wait for it. Liveness follows Finagle's failure detector: a Tping every `pingIntervalMs`, and
 * a session whose Rping does not come within `pingTimeoutMs` is torn down. A server's Tdrain is
 * acknowledged and the session finishes its pending calls while new ones go to a new session;
 * one that comes before the Rinit moves the dispatches waiting for the handshake there too.
 * Dispatches still waiting when a session fails before it opened (refused connection, failed
 * handshake) reject with `rejected: true`: the server never saw them, so they may go elsewhere.
 * `readTimeoutMs` / `writeTimeoutMs` tear a session down as a missing Rping does (one sweep per
 * client, transport-watch.ts); the Tpings keep a live server's session read.
 * `idleTimeMs` / `lifeTimeMs` expire a session as a server's Tdrain does: new dispatches open
 * another, and it closes once its calls in flight are answered.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { abortError, muxClosed, MuxError } from './errors.js';
import {
  CONTROL_TAG,
  type MuxDtab,
  DEFAULT_MAX_FRAME_SIZE,
  encodeMessage,
  encodeMessageParts,
  FragmentAssembler,
  FrameDecoder,
  MAX_TAG,
  MIN_TAG,
  MUX_VERSION,
  TINIT_CHECK,
  decodeMessage,
  writeParts,
  type MuxMessage,
  type MuxPairs,
} from './frame.js';
import { nodeTls } from '../node-tls.js';
import { SocketTimeouts, type TransportTimeout } from '../transport-watch.js';

export interface MuxClientOptions {
  host: string;
  port: number;
  /** TLS to the server (node:tls connect options); absent: plain TCP. */
  tls?: ConnectionOptions;
  /** Time between Tpings on an open session; 0 turns pings off. Default 5000. */
  pingIntervalMs?: number;
  /** A session whose Rping takes longer than this is torn down. Default 4000. */
  pingTimeoutMs?: number;
  /** Bound on connecting, TLS and the Tinit exchange together. Default 5000. */
  connectTimeoutMs?: number;
  /** Largest frame (and reassembled message) accepted from the server. Default 16 MiB. */
  maxFrameSize?: number;
  /**
   * `clientSession.idleTimeMs` / `lifeTimeMs` (0 or absent: never), as Finagle expires a client
   * session: one with no call in flight for `idleTimeMs`, or open for `lifeTimeMs`, takes no new
   * dispatches (they open another session) and closes once its calls in flight have their replies.
   */
  idleTimeMs?: number;
  lifeTimeMs?: number;
  /**
   * `socketOptions.readTimeoutMs` / `writeTimeoutMs` (0 or absent: off): a session from which
   * nothing was read for that long (its Rpings count), or whose pending bytes made no progress,
   * is torn down (Netty's ReadTimeoutHandler / WriteTimeoutHandler); its calls fail with
   * MESH_ERR_MUX_CLOSED naming the timeout.
   */
  readTimeoutMs?: number;
  writeTimeoutMs?: number;
  /** Told of each session those timeouts tore down. */
  onTransportTimeout?: (kind: TransportTimeout) => void;
}

/** What a Tdispatch carries besides its body. */
export interface MuxDispatchFields {
  /** The destination path ('' for none). */
  readonly dst: string;
  readonly dtab: MuxDtab;
  /** Broadcast contexts as (key, value) pairs. */
  readonly contexts: MuxPairs;
}

const NO_PAIRS: MuxPairs = [];
const NO_DTAB: MuxDtab = [];
const NO_FIELDS: MuxDispatchFields = { dst: '', dtab: NO_DTAB, contexts: NO_PAIRS };
const MARKER_FRAME = encodeMessage({ kind: 'Rerr', tag: CONTROL_TAG, message: TINIT_CHECK });
const TINIT_FRAME = encodeMessage({ kind: 'Tinit', tag: CONTROL_TAG, version: MUX_VERSION, headers: NO_PAIRS });
const TPING_FRAME = encodeMessage({ kind: 'Tping', tag: CONTROL_TAG });
const RPING_CONTROL_FRAME = encodeMessage({ kind: 'Rping', tag: CONTROL_TAG });

// Session states, in the order a session goes through them.
const S_CONNECTING = 0;
const S_MARKER = 1; // marker Rerr sent, waiting for the server's first answer
const S_RINIT = 2; // Tinit sent, waiting for Rinit
const S_OPEN = 3;
const S_DRAINING = 4; // Tdrain received: no new dispatches, pending ones finish
const S_CLOSED = 5;

/**
 * Sessions a call may see drained before their handshake ends: a server that drains every new
 * session at once would otherwise have the client open connections without end.
 */
const MAX_HANDSHAKE_DRAINS = 3;

/** One dispatch. It is its own abort listener so that no closure is made per call. */
class PendingCall {
  tag = -1;
  /** Sessions this call waited for that were drained before they opened (MAX_HANDSHAKE_DRAINS). */
  drains = 0;
  readonly session: ClientSession;
  readonly body: Buffer;
  readonly fields: MuxDispatchFields;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
  constructor(session: ClientSession, body: Buffer, fields: MuxDispatchFields, signal: AbortSignal | undefined, resolve: (b: Buffer) => void, reject: (e: Error) => void) {
    this.session = session;
    this.body = body;
    this.fields = fields;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
  }
  handleEvent(): void {
    this.session.abortCall(this);
  }
  detach(): void {
    if (this.signal !== undefined) this.signal.removeEventListener('abort', this);
  }
}

class ClientSession {
  private readonly client: MuxClient;
  private readonly opts: ResolvedOptions;
  private readonly socket: Socket;
  private readonly frames: FrameDecoder;
  private readonly assembler: FragmentAssembler;
  private state = S_CONNECTING;
  /** Dispatches waiting for the session to open. */
  private queue: PendingCall[] = [];
  /** Tags in use: a live call, or null for a discarded call whose reply has not come yet. */
  private readonly calls = new Map<number, PendingCall | null>();
  private live = 0;
  private readonly freeTags: number[] = [];
  private nextTag = MIN_TAG;
  private connectTimer: NodeJS.Timeout | null;
  private pingTimer: NodeJS.Timeout | null = null;
  private pingDeadline: NodeJS.Timeout | null = null;
  /** `idleTimeMs`, armed while no call is in flight; `lifeTimeMs`, from the session's opening. */
  private idleTimer: NodeJS.Timeout | null = null;
  private lifeTimer: NodeJS.Timeout | null = null;

  constructor(client: MuxClient, opts: ResolvedOptions) {
    this.client = client;
    this.opts = opts;
    this.frames = new FrameDecoder(opts.maxFrameSize);
    this.assembler = new FragmentAssembler(opts.maxFrameSize);
    let sock: Socket;
    let ready: string;
    if (opts.tls !== undefined) {
      sock = nodeTls().connect({ ...opts.tls, host: opts.host, port: opts.port });
      ready = 'secureConnect';
    } else {
      sock = netConnect({ host: opts.host, port: opts.port });
      ready = 'connect';
    }
    this.socket = sock;
    sock.setNoDelay(true);
    this.connectTimer = setTimeout(() => {
      this.destroy(muxClosed(`no session with ${opts.host}:${opts.port} within ${opts.connectTimeoutMs} ms`));
    }, opts.connectTimeoutMs);
    this.connectTimer.unref();
    sock.once(ready, () => this.onConnect());
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err: Error) => this.destroy(muxClosed(`${opts.host}:${opts.port}: ${err.message}`)));
    sock.on('close', () => this.destroy(muxClosed(`${opts.host}:${opts.port} closed the connection`)));
  }

  /** True while new dispatches may be given to this session. */
  get accepting(): boolean {
    return this.state <= S_OPEN;
  }

  dispatch(call: PendingCall): void {
    if (call.signal !== undefined) call.signal.addEventListener('abort', call, { once: true });
    if (this.state === S_OPEN) this.send(call);
    else this.queue.push(call);
  }

  private send(call: PendingCall): void {
    let tag: number;
    if (this.freeTags.length > 0) tag = this.freeTags.pop()!;
    else if (this.nextTag <= MAX_TAG) tag = this.nextTag++;
    else {
      call.detach();
      call.reject(new MuxError('MESH_ERR_MUX_TAGS_EXHAUSTED', 'every mux tag of the session is in use', { retryable: true, rejected: true }));
      return;
    }
    call.tag = tag;
    this.calls.set(tag, call);
    this.live++;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const f = call.fields;
    this.write(encodeMessageParts({ kind: 'Tdispatch', tag, contexts: f.contexts, dst: f.dst, dtab: f.dtab, body: call.body }));
  }

  private write(parts: Buffer[]): void {
    writeParts(this.socket, parts);
  }

  abortCall(call: PendingCall): void {
    const err = abortError(call.signal?.reason);
    if (call.tag === -1) {
      const i = this.queue.indexOf(call);
      if (i < 0) return;
      this.queue.splice(i, 1);
      call.reject(err);
      return;
    }
    if (this.calls.get(call.tag) !== call) return;
    // The tag stays reserved until the server answers the Tdiscarded (or sends the late reply).
    this.calls.set(call.tag, null);
    this.live--;
    call.reject(err);
    const why = call.signal?.reason instanceof Error ? call.signal.reason.message : 'request aborted';
    this.write(encodeMessageParts({ kind: 'Tdiscarded', which: call.tag, why }));
    this.checkDrained();
    this.armIdle();
  }

  private onConnect(): void {
    if (this.state !== S_CONNECTING) return;
    this.state = S_MARKER;
    const t = this.client.timeouts;
    if (t !== null) t.watch(this.socket, (kind) => this.timedOut(t, kind));
    this.socket.write(MARKER_FRAME);
  }

  /** `readTimeoutMs` / `writeTimeoutMs` passed: the session goes, its calls failing with the reason. */
  private timedOut(t: SocketTimeouts, kind: TransportTimeout): void {
    if (this.state === S_CLOSED) return;
    this.client.transportTimedOut(kind);
    this.destroy(muxClosed(`${this.opts.host}:${this.opts.port}: ${t.reason(kind)}`));
  }

  private onData(chunk: Buffer): void {
    if (this.state === S_CLOSED) return;
    try {
      for (const frame of this.frames.push(chunk)) {
        const whole = this.assembler.push(frame);
        if (whole === null) continue;
        this.onMessage(decodeMessage(whole));
        if (this.state === S_CLOSED) return;
      }
    } catch (err) {
      this.destroy(muxClosed(`bad bytes from ${this.opts.host}:${this.opts.port}: ${(err as Error).message}`));
    }
  }

  private onMessage(m: MuxMessage): void {
    if (this.state === S_MARKER) {
      if (m.kind === 'Rerr' && m.tag === CONTROL_TAG && m.message === TINIT_CHECK) {
        this.state = S_RINIT;
        this.socket.write(TINIT_FRAME);
        return;
      }
      // The server cannot negotiate. Its answer to the marker (an Rerr) is dropped; anything
      // else is an ordinary message of the session.
      this.open();
      if (m.kind === 'Rerr') return;
    } else if (this.state === S_RINIT) {
      if (m.kind === 'Rinit' && m.version === MUX_VERSION) {
        this.open();
        return;
      }
      if (m.kind === 'Tdrain') {
        // A server draining while the handshake is under way (its session expired, or it is
        // closing) is answered as after the handshake; nothing was sent on this session, so the
        // dispatches waiting for it go to a new one and this one ends.
        this.socket.write(encodeMessage({ kind: 'Rdrain', tag: m.tag }));
        this.drainBeforeOpen();
        return;
      }
      const what = m.kind === 'Rerr' ? `Rerr "${m.message}"` : m.kind === 'Rinit' ? `Rinit version ${m.version}` : m.kind;
      this.destroy(new MuxError('MESH_ERR_MUX_HANDSHAKE', `${this.opts.host}:${this.opts.port} answered Tinit with ${what}`));
      return;
    } else if (this.state === S_CONNECTING) {
      return;
    }
    switch (m.kind) {
      case 'RdispatchOk':
      case 'RreqOk': {
        const c = this.release(m.tag);
        if (c !== null) c.resolve(m.body);
        break;
      }
      case 'RdispatchError':
      case 'RreqError': {
        const c = this.release(m.tag);
        if (c !== null) c.reject(new MuxError('MESH_ERR_MUX_REMOTE', m.message));
        break;
      }
      case 'RdispatchNack':
      case 'RreqNack': {
        const c = this.release(m.tag);
        if (c !== null) c.reject(new MuxError('MESH_ERR_MUX_NACK', 'the server refused the request (nack)', { retryable: true, rejected: true }));
        break;
      }
      case 'Rerr': {
        const c = this.release(m.tag);
        if (c !== null) c.reject(new MuxError('MESH_ERR_MUX_REMOTE', m.message));
        break;
      }
      case 'Rdiscarded': {
        // Also the answer to a call this side never discarded (the server gave up on it): that
        // call fails here, or it would never settle, its tag already free for another call.
        const c = this.release(m.tag);
        if (c !== null) c.reject(new MuxError('MESH_ERR_MUX_REMOTE', 'the server discarded the request'));
        break;
      }
      case 'Tping':
        this.socket.write(m.tag === CONTROL_TAG ? RPING_CONTROL_FRAME : encodeMessage({ kind: 'Rping', tag: m.tag }));
        break;
      case 'Rping':
        if (this.pingDeadline !== null) {
          clearTimeout(this.pingDeadline);
          this.pingDeadline = null;
        }
        break;
      case 'Tdrain':
        this.socket.write(encodeMessage({ kind: 'Rdrain', tag: m.tag }));
        if (this.state === S_OPEN) {
          this.state = S_DRAINING;
          this.client.sessionDraining(this);
          this.checkDrained();
        }
        break;
      case 'Tlease':
      case 'Rinit':
      case 'Rdrain':
        break; // leases are advisory; stray control replies carry nothing to act on
      default:
        this.destroy(muxClosed(`${this.opts.host}:${this.opts.port} sent an unexpected ${m.kind}`));
    }
  }

  /** Frees the tag of a reply; returns its live call, or null for a discarded or unknown tag. */
  private release(tag: number): PendingCall | null {
    const c = this.calls.get(tag);
    if (c === undefined) return null;
    this.calls.delete(tag);
    this.freeTags.push(tag);
    if (c === null) return null;
    this.live--;
    c.detach();
    this.checkDrained();
    this.armIdle();
    return c;
  }

  private drainBeforeOpen(): void {
    this.state = S_DRAINING;
    this.clearConnectTimer();
    this.client.sessionDraining(this);
    const q = this.queue;
    this.queue = [];
    for (const call of q) {
      call.detach();
      this.client.redispatch(call);
    }
    this.checkDrained();
  }

  /** Starts the idle clock once no call is in flight on an open session. */
  private armIdle(): void {
    const ms = this.opts.idleTimeMs;
    if (ms <= 0 || this.live > 0 || this.state !== S_OPEN || this.idleTimer !== null) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.live === 0) this.expire();
    }, ms);
    this.idleTimer.unref();
  }

  /** Idle or too old: new dispatches go to another session; this one closes once its calls are answered. */
  private expire(): void {
    if (this.state !== S_OPEN) return;
    this.state = S_DRAINING;
    this.client.sessionDraining(this);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.state === S_DRAINING && this.live === 0) {
      this.finish();
    }
  }

  private open(): void {
    this.clearConnectTimer();
    this.state = S_OPEN;
    if (this.opts.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.ping(), this.opts.pingIntervalMs);
      this.pingTimer.unref();
    }
    if (this.opts.lifeTimeMs > 0) {
      this.lifeTimer = setTimeout(() => this.expire(), this.opts.lifeTimeMs);
      this.lifeTimer.unref();
    }
    const q = this.queue;
    this.queue = [];
    if (q.length === 0) {
      this.armIdle();
      return;
    }
    this.socket.cork();
    for (const call of q) this.send(call);
    this.socket.uncork();
  }

  private ping(): void {
    if (this.pingDeadline !== null || this.state === S_CLOSED) return; // one ping at a time
    this.socket.write(TPING_FRAME);
    this.pingDeadline = setTimeout(() => {
      this.destroy(muxClosed(`no Rping from ${this.opts.host}:${this.opts.port} within ${this.opts.pingTimeoutMs} ms`));
    }, this.opts.pingTimeoutMs);
    this.pingDeadline.unref();
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }

  private stopTimers(): void {
    this.clearConnectTimer();
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.pingDeadline !== null) clearTimeout(this.pingDeadline);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    if (this.lifeTimer !== null) clearTimeout(this.lifeTimer);
    this.pingTimer = null;
    this.pingDeadline = null;
    this.idleTimer = null;
    this.lifeTimer = null;
  }

  /** A drained session ends quietly: nothing is pending. */
  private finish(): void {
    this.state = S_CLOSED;
    this.stopTimers();
    const sock = this.socket;
    sock.end(() => sock.destroy());
    this.client.sessionClosed(this);
  }

  /** Tears the session down; every waiting and pending call rejects with `err`. */
  destroy(err: MuxError): void {
    if (this.state === S_CLOSED) return;
    this.state = S_CLOSED;
    this.stopTimers();
    this.socket.destroy();
    const waiting = this.queue;
    this.queue = [];
    const pending: PendingCall[] = [];
    for (const c of this.calls.values()) if (c !== null) pending.push(c);
    this.calls.clear();
    this.live = 0;
    this.client.sessionClosed(this);
    // The server never saw the dispatches still waiting for the session: they may go elsewhere.
    const unsent = waiting.length > 0 ? new MuxError(err.code, err.message, { retryable: err.retryable, rejected: true }) : err;
    for (const c of waiting) {
      c.detach();
      c.reject(unsent);
    }
    for (const c of pending) {
      c.detach();
      c.reject(err);
    }
  }
}

type ResolvedOptions = Required<Omit<MuxClientOptions, 'tls' | 'readTimeoutMs' | 'writeTimeoutMs' | 'onTransportTimeout'>> & { tls: ConnectionOptions | undefined };

export class MuxClient {
  private readonly opts: ResolvedOptions;
  private current: ClientSession | null = null;
  /** Every session not yet closed: the current one and those draining. */
  private readonly sessions = new Set<ClientSession>();
  private closed = false;
  private opened = 0;
  /** @internal (ClientSession) The read and write timeouts' sweep over the sessions (null when neither is set). */
  readonly timeouts: SocketTimeouts | null;
  private readonly onTransportTimeout: ((kind: TransportTimeout) => void) | undefined;

  constructor(opts: MuxClientOptions) {
    this.opts = {
      host: opts.host,
      port: opts.port,
      tls: opts.tls,
      pingIntervalMs: opts.pingIntervalMs ?? 5000,
      pingTimeoutMs: opts.pingTimeoutMs ?? 4000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
      maxFrameSize: opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      idleTimeMs: opts.idleTimeMs ?? 0,
      lifeTimeMs: opts.lifeTimeMs ?? 0,
    };
    this.timeouts = SocketTimeouts.when(opts.readTimeoutMs, opts.writeTimeoutMs);
    this.onTransportTimeout = opts.onTransportTimeout;
  }

  /** Sessions opened so far. */
  get connections(): number {
    return this.opened;
  }

  /** Sessions open now (the current one and those draining). */
  get openSessions(): number {
    return this.sessions.size;
  }

  dispatch(body: Buffer, signal?: AbortSignal, fields: MuxDispatchFields = NO_FIELDS): Promise<Buffer> {
    if (this.closed) return Promise.reject(muxClosed('the client is closed'));
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    const session = this.accepting();
    return new Promise<Buffer>((resolve, reject) => {
      session.dispatch(new PendingCall(session, body, fields, signal, resolve, reject));
    });
  }

  /** The session new dispatches go to, opened when there is none. */
  private accepting(): ClientSession {
    let s = this.current;
    if (s === null || !s.accepting) {
      s = new ClientSession(this, this.opts);
      this.opened++;
      this.current = s;
      this.sessions.add(s);
    }
    return s;
  }

  /** @internal A call that waited for a session drained before it opened: sent on another one. */
  redispatch(call: PendingCall): void {
    if (this.closed) call.reject(muxClosed('the client is closed'));
    else if (call.signal?.aborted) call.reject(abortError(call.signal.reason));
    else if (call.drains + 1 >= MAX_HANDSHAKE_DRAINS) {
      call.reject(new MuxError('MESH_ERR_MUX_HANDSHAKE', `${this.opts.host}:${this.opts.port} drained ${call.drains + 1} sessions before their handshake ended`));
    } else {
      const session = this.accepting();
      const moved = new PendingCall(session, call.body, call.fields, call.signal, call.resolve, call.reject);
      moved.drains = call.drains + 1;
      session.dispatch(moved);
    }
  }

  /** Rejects every pending call with MESH_ERR_MUX_CLOSED and ends every session; later dispatches reject. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.current = null;
    for (const s of [...this.sessions]) s.destroy(muxClosed('the client is closed'));
    this.sessions.clear();
    this.timeouts?.close();
  }

  /** @internal (ClientSession) */
  transportTimedOut(kind: TransportTimeout): void {
    this.onTransportTimeout?.(kind);
  }

  /** @internal */
  sessionDraining(s: ClientSession): void {
    if (this.current === s) this.current = null;
  }

  /** @internal */
  sessionClosed(s: ClientSession): void {
    this.sessions.delete(s);
    if (this.current === s) this.current = null;
  }
}
