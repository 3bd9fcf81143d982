/**
 * Raw TCP: an upstream connection (connect.ts) whose reads land in one shared buffer and are
 * copied into reused memory (onread.ts), two connections joined both ways with back-pressure
 * and half-close (splice.ts), and the server name of a TLS ClientHello read
 * without terminating TLS (sni.ts). Bytes are otherwise opaque; naming and balancing are the
 * router's (src/router/tcp).
 */
export { TcpError, type TcpErrorCode } from './errors.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, SPLICE_HIGH_WATER, connectTcp, type ConnectOptions } from './connect.js';
export { Splice, readHeldBack, reset, type SpliceEnd, type SpliceOptions, type SpliceResult } from './splice.js';
export { MAX_CLIENT_HELLO, SNI_DONE, SNI_NEED_MORE, SNI_NOT_TLS, readClientHelloName, type SniResult } from './sni.js';
