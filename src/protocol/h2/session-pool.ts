/**
 * One HTTP/2 client session per endpoint, requests multiplexed on it. The session is opened on
 * the first request and opened again after it goes away (GOAWAY, connection lost, idle
 * timeout, or no answer to a probe while streams are open on it). A stream that fails because
 * its session could not connect is told apart (`isConnectFailure`), since such a request never
 * reached the endpoint.
 */
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { H2Error } from './errors.js';
import { DEFAULT_PROBE_MS, NEVER_HELD, type H2Settings } from './server.js';
import type { SocketTimeouts, TransportTimeout } from '../transport-watch.js';
import { watchEnd } from './stream-end.js';

export interface H2SessionPoolOptions {
  readonly host: string;
  readonly port: number;
  /** TLS with ALPN `h2` to the endpoint; undefined: plaintext h2c with prior knowledge. */
  readonly tls?: ConnectionOptions | undefined;
  /** Close a session with no stream open for this long (0: never). */
  readonly idleTimeoutMs?: number;
  /**
   * A session this old is closed (GOAWAY: its streams under way finish) and the next request
   * opens another (`clientSession.lifeTimeMs`; 0 or absent: never).
   */
  readonly lifeTimeMs?: number;
  /** SETTINGS sent to the endpoint when a session opens (absent ones: node's defaults). */
  readonly settings?: H2Settings;
  /** TCP_NODELAY (node:http2's own default: on) and SO_KEEPALIVE (default: off) of each session's socket. */
  readonly socket?: { readonly noDelay: boolean; readonly keepAlive: boolean };
  /**
   * While streams are open on a session, it is sent an empty SETTINGS frame this often and
   * destroyed if one is not acknowledged by the next (see probeWhileBusy). Default
   * DEFAULT_PROBE_MS; 0: never.
   */
  readonly probeMs?: number;
  /**
   * `socketOptions.readTimeoutMs` / `writeTimeoutMs` (one sweep may serve many pools): a
   * session whose socket timed out is destroyed, its streams failing with the reason.
   */
  readonly timeouts?: SocketTimeouts | undefined;
  /** A session was destroyed by `timeouts`. */
  readonly onTransportTimeout?: ((kind: TransportTimeout) => void) | undefined;
}

/** Streams of a session that never connected fail with this flag set on their error. */
const CONNECT_FAILED = Symbol('h2ConnectFailed');

export function isConnectFailure(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[CONNECT_FAILED] === true;
}

export class H2SessionPool {
  readonly authority: string;
  private session: http2.ClientHttp2Session | undefined = undefined;
  /** Counts a stream opened on `session` for its probe (undefined: no probe). */
  private track: ((stream: http2.ClientHttp2Stream) => void) | undefined = undefined;
  private readonly everConnected = new WeakSet<http2.ClientHttp2Session>();
  private closed = false;
  /** Sessions opened over this pool's life (a reconnect adds one). */
  opened = 0;

  constructor(private readonly opts: H2SessionPoolOptions) {
    this.authority = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  }

  /** Open sessions (0 or 1). */
  get size(): number {
    return this.session !== undefined && !this.session.destroyed ? 1 : 0;
  }

  /** The `:scheme` requests to this endpoint carry. */
  get scheme(): 'http' | 'https' {
    return this.opts.tls !== undefined ? 'https' : 'http';
  }

  private open(): http2.ClientHttp2Session {
    const url = `${this.scheme}://${this.authority}`;
    // No server push (SETTINGS_ENABLE_PUSH 0): nothing here takes a pushed stream, and node:http2
    // would make one anyway, without an 'error' listener, so the session's next error (which an
    // upstream can cause at will) would be thrown from it and end the process. nghttp2 now
    // refuses a PUSH_PROMISE as the connection error it is.
    const settings: http2.Settings = { ...this.opts.settings, enablePush: false };
    const s = this.opts.tls !== undefined ? http2.connect(url, { ...this.opts.tls, ALPNProtocols: ['h2'], settings }) : http2.connect(url, { settings });
    this.opened++;
    this.session = s;
    const probe = this.opts.probeMs ?? DEFAULT_PROBE_MS;
    this.track = probe > 0 ? probeWhileBusy(s, probe, this.authority) : undefined;
    const drop = (): void => {
      if (this.session === s) this.session = undefined;
    };
    const so = this.opts.socket;
    s.on('connect', (_session: http2.ClientHttp2Session, socket: Socket) => {
      this.everConnected.add(s);
      // The raw socket: session.socket refuses setNoDelay/setKeepAlive, and node:http2 turns
      // Nagle off itself when the session is made, so only `noDelay: false` needs undoing.
      if (so !== undefined) {
        if (!so.noDelay) socket.setNoDelay(false);
        if (so.keepAlive) socket.setKeepAlive(true);
      }
      const timeouts = this.opts.timeouts;
      timeouts?.watch(
        socket,
        (kind) => {
          this.opts.onTransportTimeout?.(kind);
          drop();
          s.destroy(new H2Error('MESH_ERR_H2_TRANSPORT_TIMEOUT', `the session to ${this.authority} was closed: ${timeouts.reason(kind)}`));
        },
        NEVER_HELD,
      );
    });
    s.on('error', drop);
    s.on('goaway', drop);
    s.on('close', drop);
    const life = this.opts.lifeTimeMs ?? 0;
    if (life > 0) {
      const t = setTimeout(() => {
        drop();
        if (!s.closed && !s.destroyed) s.close();
      }, life);
      t.unref();
      s.once('close', () => clearTimeout(t));
    }
    const idle = this.opts.idleTimeoutMs ?? 0;
    if (idle > 0) {
      s.setTimeout(idle, () => {
        drop();
        s.close();
      });
    }
    return s;
  }

  /**
   * Starts a stream on the endpoint's session. Failures arrive as the stream's `error` event
   * (its error satisfies `isConnectFailure` when the session never connected).
   */
  request(headers: http2.OutgoingHttpHeaders, options: http2.ClientSessionRequestOptions): http2.ClientHttp2Stream {
    if (this.closed) throw new Error(`session pool for ${this.authority} is closed`);
    let s = this.session;
    if (s === undefined || s.destroyed || s.closed) s = this.open();
    const stream = s.request(headers, options);
    // So that a body cut by RST_STREAM NO_ERROR can be told from a whole one (stream-end.ts).
    watchEnd(stream);
    this.track?.(stream);
    if (!this.everConnected.has(s)) {
      const session = s;
      stream.once('error', (e: NodeJS.ErrnoException & { [CONNECT_FAILED]?: boolean }) => {
        // A pending stream is cancelled with the socket's error as its cause.
        const cause = (e as { cause?: { code?: unknown } }).cause;
        if (e.code === 'ERR_HTTP2_STREAM_CANCEL' && typeof cause?.code === 'string' && !this.everConnected.has(session)) e[CONNECT_FAILED] = true;
      });
    }
    return stream;
  }

  close(): void {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    s?.destroy();
  }
}

/**
 * After a connection error the upstream caused (a malformed frame, bad HPACK, a frame over the
 * size limit) nghttp2 sends GOAWAY and stops reading, but node:http2 neither tells JavaScript
 * nor closes the socket (as on the server side: ./server.ts, destroyUnresponsive). The session
 * looks open (or, once a frame could not be sent, closing), so the pool keeps it: its streams
 * under way never end and each new stream is refused at once, for as long as the process runs.
 * So while streams are open on a session, and for one round after the last one closed, it is
 * sent an empty SETTINGS frame every `ms`; a session that has not acknowledged it by the next
 * round is destroyed (its streams fail, the next request opens another). A live upstream
 * acknowledges at once (RFC 9113 §6.5.3); nghttp2 sends nothing more on a session it has ended,
 * so that frame never leaves. Not a PING: node:http2 cancels PINGs on a closing session, whose
 * streams (under a GOAWAY) may still be answered. Not on the session's timeout, which
 * idleTimeoutMs uses. Returns what counts a stream opened on the session.
 */
function probeWhileBusy(s: http2.ClientHttp2Session, ms: number, authority: string): (stream: http2.ClientHttp2Stream) => void {
  let open = 0;
  let idleRounds = 0;
  let waiting = false;
  let timer: NodeJS.Timeout | undefined;
  const answered = (err: Error | null): void => {
    if (err === null) waiting = false;
  };
  const arm = (): void => {
    timer = setTimeout(round, ms);
    timer.unref();
  };
  const round = (): void => {
    timer = undefined;
    if (s.destroyed) return;
    if (waiting) {
      s.destroy(new H2Error('MESH_ERR_H2_SESSION_UNANSWERED', `the session to ${authority} did not acknowledge SETTINGS within ${ms} ms`));
      return;
    }
    if (open === 0 && ++idleRounds > 1) return;
    waiting = true;
    try {
      s.settings({}, answered);
    } catch {
      s.destroy();
      return;
    }
    arm();
  };
  const closed = (): void => {
    open--;
  };
  s.once('close', () => {
    if (timer !== undefined) clearTimeout(timer);
  });
  return (stream) => {
    open++;
    idleRounds = 0;
    stream.on('close', closed);
    if (timer === undefined && !s.destroyed) arm();
  };
}
