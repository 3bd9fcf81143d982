/**
 * An HTTP/2 listener over node:http2: plaintext h2c with prior knowledge (what gRPC clients and
 * Linkerd's plaintext h2 servers speak) or TLS with ALPN `h2`. Each request stream goes to
 * `onStream`; the server keeps its sessions so it can count them and drain them on close
 * (GOAWAY first, then whatever is left is cut when the grace period ends).
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { SocketTimeouts, type TransportTimeout } from '../transport-watch.js';

/**
 * The SETTINGS a Meshwork h2 server announces or h2 client sends besides
 * SETTINGS_MAX_CONCURRENT_STREAMS; an absent one keeps node's default.
 */
export type H2Settings = Pick<http2.Settings, 'headerTableSize' | 'initialWindowSize' | 'maxFrameSize' | 'maxHeaderListSize'>;

export interface H2ServerOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced to each client (0 or absent: Node's default). */
  readonly maxConcurrentStreams?: number;
  /** Further SETTINGS announced to each client. */
  readonly settings?: H2Settings;
  /** Serve TLS with ALPN `h2` with these options; undefined: plaintext h2c (prior knowledge). */
  readonly tls?: TlsOptions | undefined;
  /** A TLS handshake with a client failed, or a client did not negotiate `h2`. */
  readonly onTlsError?: () => void;
  /** Sessions with no frames for this long are closed (GOAWAY); 0 or absent: never. */
  readonly idleTimeMs?: number;
  /** Sessions are closed (GOAWAY: streams under way finish) once this old; 0 or absent: never. */
  readonly lifeTimeMs?: number;
  /**
   * A session quiet for this long is sent a PING and destroyed if it has not answered this
   * much later (see destroyUnresponsive). Default DEFAULT_PROBE_MS; 0: never.
   */
  readonly probeMs?: number;
  /**
   * Socket options of accepted connections and the listen backlog (Linkerd's `socketOptions`).
   * `readTimeoutMs` closes a connection nothing was read from for that long (a live client's
   * PING answers count), `writeTimeoutMs` one whose pending bytes made no progress for that long.
   */
  readonly socket?: { readonly noDelay?: boolean; readonly keepAlive?: boolean; readonly backlog?: number; readonly readTimeoutMs?: number; readonly writeTimeoutMs?: number };
  /** A connection was closed by `readTimeoutMs` or `writeTimeoutMs`. */
  readonly onTransportTimeout?: (kind: TransportTimeout) => void;
}

/** A session's socket is read for as long as it is open (flow control is nghttp2's, per stream). */
export const NEVER_HELD = (): boolean => false;

/** How long a session may be quiet before it must answer a PING (and then how long it has). */
export const DEFAULT_PROBE_MS = 10_000;

export type H2StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void;

export class H2Server {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly backlog: number | undefined;
  private readonly timeouts: SocketTimeouts | null;

  constructor(onStream: H2StreamHandler, opts: H2ServerOptions = {}) {
    const settings: http2.Settings = { ...opts.settings };
    if (opts.maxConcurrentStreams !== undefined && opts.maxConcurrentStreams > 0) settings.maxConcurrentStreams = opts.maxConcurrentStreams;
    this.server = opts.tls !== undefined ? http2.createSecureServer({ ...opts.tls, ALPNProtocols: ['h2'], allowHTTP1: false, settings }) : http2.createServer({ settings });
    const timeouts = (this.timeouts = SocketTimeouts.when(opts.socket?.readTimeoutMs, opts.socket?.writeTimeoutMs));
    this.server.on('connection', (sock: import('node:net').Socket) => {
      sock.setNoDelay(opts.socket?.noDelay !== false);
      if (opts.socket?.keepAlive === true) sock.setKeepAlive(true);
      // The TCP socket (under TLS too): node:http2 reads it as long as it is open, so reading is
      // never held back; its session goes with it.
      timeouts?.watch(
        sock,
        (kind) => {
          opts.onTransportTimeout?.(kind);
          sock.destroy();
        },
        NEVER_HELD,
      );
    });
    this.backlog = opts.socket?.backlog;
    const idle = opts.idleTimeMs ?? 0;
    const life = opts.lifeTimeMs ?? 0;
    const probe = opts.probeMs ?? DEFAULT_PROBE_MS;
    this.server.on('session', (s: http2.ServerHttp2Session) => {
      this.sessions.add(s);
      // A client's protocol error ends its session, never the process.
      s.on('error', () => {});
      let lifeTimer: NodeJS.Timeout | undefined;
      if (idle > 0) idleWhileNoStreams(s, idle);
      if (probe > 0) destroyUnresponsive(s, probe);
      if (life > 0) {
        lifeTimer = setTimeout(() => s.close(), life);
        lifeTimer.unref();
      }
      s.on('close', () => {
        if (lifeTimer !== undefined) clearTimeout(lifeTimer);
        this.sessions.delete(s);
      });
    });
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => {
      // Resets from either side surface as stream errors; the handler's own listeners decide.
      stream.on('error', () => {});
      onStream(stream, headers, flags);
    });
    this.server.on('sessionError', () => {});
    if (opts.tls !== undefined) {
      this.server.on('tlsClientError', () => opts.onTlsError?.());
      this.server.on('unknownProtocol', (socket: import('node:tls').TLSSocket) => {
        opts.onTlsError?.();
        socket.destroy();
      });
    }
  }

  /** Sessions (client connections) open now. */
  get connectionCount(): number {
    return this.sessions.size;
  }

  listen(port: number, host: string): Promise<{ ip: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      this.server.listen({ port, host, ...(this.backlog !== undefined ? { backlog: this.backlog } : {}) }, () => {
        this.server.off('error', onError);
        const a = this.server.address() as AddressInfo;
        resolve({ ip: host, port: a.port });
      });
    });
  }

  /** Stops accepting, sends GOAWAY to every session, and destroys what is left after `graceMs`. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
        finish();
      }, Math.max(0, graceMs));
      this.server.close(() => finish());
      this.timeouts?.close();
      for (const s of this.sessions) {
        if (graceMs <= 0) s.destroy();
        else s.close();
      }
    });
  }
}

/**
 * `serverSession.idleTimeMs`: a session is idle while it has no open stream (a quiet gRPC watch
 * is not idle); after `ms` of that it is closed (GOAWAY), once.
 */
function idleWhileNoStreams(s: http2.ServerHttp2Session, ms: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (open === 0 && !s.closed && !s.destroyed) s.close();
    }, ms);
    timer.unref();
  };
  s.on('stream', (st: http2.ServerHttp2Stream) => {
    open++;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    st.once('close', () => {
      open--;
      if (open === 0 && !s.closed && !s.destroyed) arm();
    });
  });
  s.once('close', () => {
    if (timer !== undefined) clearTimeout(timer);
  });
  arm();
}

/**
 * nghttp2 answers a client's connection error (a malformed frame, bad HPACK, a frame over the
 * size limit) with GOAWAY and stops reading, but node:http2 neither tells JavaScript nor closes
 * the socket: the session and its socket stay open for good, even once the client has closed
 * its end (RFC 9113 §5.4.1: after a connection error's GOAWAY the connection is closed). Such a
 * session only looks quiet, so a session quiet for `ms` is sent a PING, and one that has not
 * answered it `ms` later is destroyed (a live client acknowledges at once; nghttp2 sends
 * nothing more on a session it has ended, so that PING never leaves).
 */
function destroyUnresponsive(s: http2.ServerHttp2Session, ms: number): void {
  let deadline: NodeJS.Timeout | undefined;
  const answered = (err: Error | null): void => {
    if (deadline !== undefined) clearTimeout(deadline);
    deadline = undefined;
    // Quiet again from now: the next probe waits another `ms`.
    if (err === null && !s.destroyed) s.setTimeout(ms);
  };
  s.on('timeout', () => {
    if (deadline !== undefined || s.destroyed) return;
    deadline = setTimeout(() => s.destroy(), ms);
    deadline.unref();
    try {
      s.ping(answered);
    } catch {
      s.destroy();
    }
  });
  s.once('close', () => {
    if (deadline !== undefined) clearTimeout(deadline);
  });
  s.setTimeout(ms);
}
