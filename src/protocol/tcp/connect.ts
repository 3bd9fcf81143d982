/**
 * One upstream TCP connection, plain or TLS (node:tls loaded only then), resolved once it can
 * carry bytes: after `connect`, or after the TLS handshake. A refused or unreachable endpoint, a
 * failed handshake, `connectTimeoutMs` passing or `signal` aborting reject with a TcpError and
 * leave no socket behind.
 */
import { connect as netConnect, type NetConnectOpts, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { nodeTls } from '../node-tls.js';
import { TcpError } from './errors.js';
import { onreadOption, setReadSlot } from './onread.js';

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  /** Originate TLS with these options (servername, CA, client certificate). */
  readonly tls?: ConnectionOptions | undefined;
  readonly connectTimeoutMs?: number | undefined;
  readonly noDelay?: boolean | undefined;
  readonly keepAlive?: boolean | undefined;
  /** Aborting gives the attempt up. */
  readonly signal?: AbortSignal | undefined;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Bytes buffered for writing before a spliced socket reports back-pressure, as the http1
 * engine's sockets: with Node's 16 KiB every 64 KiB body paused and resumed the other side's
 * reads (two more system calls each time).
 */
export const SPLICE_HIGH_WATER = 128 * 1024;

export function connectTcp(o: ConnectOptions): Promise<Socket> {
  const where = o.host.includes(':') ? `[${o.host}]:${o.port}` : `${o.host}:${o.port}`;
  if (o.signal?.aborted) return Promise.reject(new TcpError('MESH_ERR_TCP_ABORTED', `connection to ${where} given up`));
  return new Promise((resolve, reject) => {
    const tls = o.tls !== undefined;
    let sock: Socket;
    if (tls) sock = nodeTls().connect({ ...o.tls, host: o.host, port: o.port, allowHalfOpen: true, highWaterMark: SPLICE_HIGH_WATER } as ConnectionOptions);
    else {
      // Plain sockets read into one shared buffer (onread.ts).
      const { slot, onread } = onreadOption();
      sock = netConnect({ host: o.host, port: o.port, allowHalfOpen: true, highWaterMark: SPLICE_HIGH_WATER, onread } as NetConnectOpts);
      setReadSlot(sock, slot);
    }
    const ms = o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const fail = (err: TcpError): void => {
      done();
      // A socket given up may still report its own failure; it has no one left to tell.
      sock.on('error', () => {});
      sock.destroy();
      reject(err);
    };
    const onError = (e: Error): void => fail(new TcpError('MESH_ERR_TCP_CONNECT', `${where}: ${e.message}`));
    const onClose = (): void => fail(new TcpError('MESH_ERR_TCP_CONNECT', `${where} closed the connection before it was ready`));
    const onAbort = (): void => fail(new TcpError('MESH_ERR_TCP_ABORTED', `connection to ${where} given up`));
    const timer = setTimeout(() => fail(new TcpError('MESH_ERR_TCP_CONNECT', `no connection to ${where} within ${ms} ms`)), ms);
    const onReady = (): void => {
      done();
      if (o.noDelay !== false) sock.setNoDelay(true);
      if (o.keepAlive === true) sock.setKeepAlive(true);
      resolve(sock);
    };
    function done(): void {
      clearTimeout(timer);
      sock.off('error', onError);
      sock.off('close', onClose);
      sock.off(tls ? 'secureConnect' : 'connect', onReady);
      o.signal?.removeEventListener('abort', onAbort);
    }
    sock.once('error', onError);
    sock.once('close', onClose);
    sock.once(tls ? 'secureConnect' : 'connect', onReady);
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
