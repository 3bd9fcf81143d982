/**
 * Stable error codes of the TCP engine. Callers decide from `code` and `connectFailed`, never
 * from the prose.
 */
export type TcpErrorCode =
  /** No connection to the endpoint: refused, unreachable, timed out, or its TLS handshake failed. */
  | 'MESH_ERR_TCP_CONNECT'
  /** The connection attempt was given up (its signal aborted) before it was made. */
  | 'MESH_ERR_TCP_ABORTED'
  /** An upstream connection passed `readTimeoutMs` or `writeTimeoutMs` and was closed. */
  | 'MESH_ERR_TCP_TRANSPORT_TIMEOUT';

export class TcpError extends Error {
  readonly code: TcpErrorCode;
  constructor(code: TcpErrorCode, message: string) {
    super(message);
    this.name = 'TcpError';
    this.code = code;
  }
}
