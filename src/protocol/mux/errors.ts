/**
 * Stable error codes of the mux engine (Finagle's session protocol under ThriftMux). Callers and
 * tests decide from `code` and the flags, never from the prose.
 */
export type MuxErrorCode =
  /** A frame's size field is over the limit (or a reassembled message grew past it). */
  | 'MESH_ERR_MUX_FRAME_TOO_LARGE'
  /** Bytes that do not decode as a mux message (short body, bad lengths, unknown type). */
  | 'MESH_ERR_MUX_BAD_MESSAGE'
  /** The server answered with an error: Rdispatch/Rreq status 1, an Rerr for the tag, or an Rdiscarded for a call not discarded. */
  | 'MESH_ERR_MUX_REMOTE'
  /** The server refused the request without processing it (Rdispatch/Rreq status 2). */
  | 'MESH_ERR_MUX_NACK'
  /** The session ended (reset, connect or ping timeout, closed) before the reply came. */
  | 'MESH_ERR_MUX_CLOSED'
  /** The server echoed the Tinit check but then failed the Tinit/Rinit exchange. */
  | 'MESH_ERR_MUX_HANDSHAKE'
  /** All 2^23-2 tags of a session are in use. */
  | 'MESH_ERR_MUX_TAGS_EXHAUSTED';

export class MuxError extends Error {
  readonly code: MuxErrorCode;
  /** True when resending may succeed: the server did not act on it, or the session died. */
  readonly retryable: boolean;
  /** True when the server is known not to have processed the request (a nack, tags exhausted). */
  readonly rejected: boolean;
  constructor(code: MuxErrorCode, message: string, flags: { retryable?: boolean; rejected?: boolean } = {}) {
    super(message);
    this.name = 'MuxError';
    this.code = code;
    this.retryable = flags.retryable ?? false;
    this.rejected = flags.rejected ?? false;
  }
}

export function muxClosed(why: string): MuxError {
  return new MuxError('MESH_ERR_MUX_CLOSED', `mux session closed: ${why}`, { retryable: true });
}

/** The error an aborted dispatch rejects with, shaped like the one fetch() and timers/promises use. */
export function abortError(reason: unknown): Error {
  const e = new Error('the mux dispatch was aborted', reason === undefined ? undefined : { cause: reason });
  e.name = 'AbortError';
  return e;
}
