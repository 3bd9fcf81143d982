/**
 * Raw TCP: an upstream connection (connect.ts) and two connections joined both ways with
 * back-pressure and half-close (splice.ts). Bytes are opaque; naming and balancing are the
 * router's (src/router/tcp).
 */
export { TcpError, type TcpErrorCode } from './errors.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, connectTcp, type ConnectOptions } from './connect.js';
export { Splice, reset, type SpliceEnd, type SpliceOptions, type SpliceResult } from './splice.js';
