/**
 * The listening socket of a server that takes whole connections (mux, thrift): plain TCP or
 * TLS (node:tls loaded only then). Every accepted socket is tracked from its accept, TLS
 * handshake done or not, so the server can end them all when it closes; a failed TLS handshake
 * concerns its socket only; a listen error rejects `listen()`, and later errors are the
 * sockets' own. Once `stop()` is called, sockets still arriving are destroyed at once.
 */
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { nodeTls } from './node-tls.js';

export interface StreamListenerOptions {
  readonly ip: string;
  readonly port: number;
  readonly backlog?: number | undefined;
  /** Serve over TLS; absent: plain TCP. */
  readonly tls?: TlsOptions | undefined;
  /** Keep a connection's writes open after its peer's FIN (a TCP proxy carries half-closes on). */
  readonly allowHalfOpen?: boolean | undefined;
  /** Bytes a connection buffers for writing before `write` reports back-pressure (Node's default: 16 KiB). */
  readonly highWaterMark?: number | undefined;
  /** A connection ready for the protocol (after its TLS handshake, for TLS). */
  readonly onConnection: (socket: Socket) => void;
}

export class StreamListener {
  private server: Server | null = null;
  private readonly accepted = new Set<Socket>();
  private stopped = false;

  constructor(private readonly opts: StreamListenerOptions) {}

  listen(): Promise<AddressInfo> {
    if (this.server !== null) return Promise.reject(new Error('StreamListener.listen called twice'));
    const o = this.opts;
    const onConn = (sock: Socket): void => {
      if (this.stopped) sock.destroy();
      else o.onConnection(sock);
    };
    let srv: Server;
    if (o.tls !== undefined) {
      const t = nodeTls().createServer({ ...o.tls, ...(o.allowHalfOpen === true ? { allowHalfOpen: true } : {}), ...(o.highWaterMark !== undefined ? { highWaterMark: o.highWaterMark } : {}) } as TlsOptions, onConn);
      t.on('tlsClientError', () => {});
      srv = t;
    } else {
      srv = createNetServer({ allowHalfOpen: o.allowHalfOpen === true, ...(o.highWaterMark !== undefined ? { highWaterMark: o.highWaterMark } : {}) }, onConn);
    }
    srv.on('connection', (raw: Socket) => {
      this.accepted.add(raw);
      raw.on('close', () => this.accepted.delete(raw));
      if (this.stopped) raw.destroy();
    });
    this.server = srv;
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ port: o.port, host: o.ip, ...(o.backlog !== undefined ? { backlog: o.backlog } : {}) }, () => {
        srv.off('error', reject);
        srv.on('error', () => {});
        resolve(srv.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; settles once the listening socket is closed (accepted ones stay open). */
  stop(): Promise<void> {
    this.stopped = true;
    const srv = this.server;
    return srv === null || !srv.listening ? Promise.resolve() : new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  /** Destroys every accepted socket still open (those in their TLS handshake too). */
  destroyAll(): void {
    for (const s of [...this.accepted]) s.destroy();
  }
}
