/**
 * One HTTP/2 client session per endpoint, requests multiplexed on it. The session is opened on
 * the first request and opened again after it goes away (GOAWAY, connection lost, idle
 * timeout). A stream that fails because its session could not connect is told apart
 * (`isConnectFailure`), since such a request never reached the endpoint.
 */
import * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { H2Settings } from './server.js';

export interface H2SessionPoolOptions {
  readonly host: string;
  readonly port: number;
  /** TLS with ALPN `h2` to the endpoint; undefined: plaintext h2c with prior knowledge. */
  readonly tls?: ConnectionOptions | undefined;
  /** Close a session with no stream open for this long (0: never). */
  readonly idleTimeoutMs?: number;
  /** SETTINGS sent to the endpoint when a session opens (absent ones: node's defaults). */
  readonly settings?: H2Settings;
  /** TCP_NODELAY (node:http2's own default: on) and SO_KEEPALIVE (default: off) of each session's socket. */
  readonly socket?: { readonly noDelay: boolean; readonly keepAlive: boolean };
}

/** Streams of a session that never connected fail with this flag set on their error. */
const CONNECT_FAILED = Symbol('h2ConnectFailed');

export function isConnectFailure(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[CONNECT_FAILED] === true;
}

export class H2SessionPool {
  readonly authority: string;
  private session: http2.ClientHttp2Session | undefined = undefined;
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
    const settings = this.opts.settings;
    const s =
      this.opts.tls !== undefined ? http2.connect(url, { ...this.opts.tls, ALPNProtocols: ['h2'], settings }) : settings !== undefined ? http2.connect(url, { settings }) : http2.connect(url);
    this.opened++;
    this.session = s;
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
    });
    s.on('error', drop);
    s.on('goaway', drop);
    s.on('close', drop);
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
