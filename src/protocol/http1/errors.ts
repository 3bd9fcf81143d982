/**
 * Stable error codes of the HTTP/1.1 engine. Each parse failure maps to exactly one status so
 * the server answers the same way every time; tests assert `code` and `status`.
 */
export type Http1ErrorCode =
  | 'MESH_ERR_HTTP1_BAD_REQUEST_LINE'
  | 'MESH_ERR_HTTP1_BAD_HEADER'
  | 'MESH_ERR_HTTP1_BARE_LF'
  | 'MESH_ERR_HTTP1_OBS_FOLD'
  | 'MESH_ERR_HTTP1_CL_AND_TE'
  | 'MESH_ERR_HTTP1_DUPLICATE_CL'
  | 'MESH_ERR_HTTP1_BAD_CL'
  | 'MESH_ERR_HTTP1_BAD_TE'
  | 'MESH_ERR_HTTP1_UNSUPPORTED_TE'
  | 'MESH_ERR_HTTP1_BAD_CHUNK'
  | 'MESH_ERR_HTTP1_HOST'
  | 'MESH_ERR_HTTP1_VERSION'
  | 'MESH_ERR_HTTP1_INITIAL_LINE_TOO_LONG'
  | 'MESH_ERR_HTTP1_HEADERS_TOO_LARGE'
  | 'MESH_ERR_HTTP1_HEADER_TIMEOUT'
  | 'MESH_ERR_HTTP1_BODY_TIMEOUT'
  | 'MESH_ERR_HTTP1_RESPONSE_TIMEOUT'
  | 'MESH_ERR_HTTP1_UPSTREAM_CONNECT'
  | 'MESH_ERR_HTTP1_UPSTREAM_RESET'
  | 'MESH_ERR_HTTP1_UPSTREAM_BAD_RESPONSE'
  | 'MESH_ERR_HTTP1_POOL_QUEUE_FULL';

/** The HTTP status a client sees for each request-side code. */
export const STATUS_OF: Readonly<Record<Http1ErrorCode, number>> = {
  MESH_ERR_HTTP1_BAD_REQUEST_LINE: 400,
  MESH_ERR_HTTP1_BAD_HEADER: 400,
  MESH_ERR_HTTP1_BARE_LF: 400,
  MESH_ERR_HTTP1_OBS_FOLD: 400,
  MESH_ERR_HTTP1_CL_AND_TE: 400,
  MESH_ERR_HTTP1_DUPLICATE_CL: 400,
  MESH_ERR_HTTP1_BAD_CL: 400,
  MESH_ERR_HTTP1_BAD_TE: 400,
  MESH_ERR_HTTP1_UNSUPPORTED_TE: 501,
  MESH_ERR_HTTP1_BAD_CHUNK: 400,
  MESH_ERR_HTTP1_HOST: 400,
  MESH_ERR_HTTP1_VERSION: 505,
  MESH_ERR_HTTP1_INITIAL_LINE_TOO_LONG: 414,
  MESH_ERR_HTTP1_HEADERS_TOO_LARGE: 431,
  MESH_ERR_HTTP1_HEADER_TIMEOUT: 408,
  MESH_ERR_HTTP1_BODY_TIMEOUT: 408,
  /** The request was in and the response stopped coming for the server's idle time (Envoy: 504). */
  MESH_ERR_HTTP1_RESPONSE_TIMEOUT: 504,
  MESH_ERR_HTTP1_UPSTREAM_CONNECT: 502,
  MESH_ERR_HTTP1_UPSTREAM_RESET: 502,
  MESH_ERR_HTTP1_UPSTREAM_BAD_RESPONSE: 502,
  MESH_ERR_HTTP1_POOL_QUEUE_FULL: 503,
};

export class Http1Error extends Error {
  readonly code: Http1ErrorCode;
  readonly status: number;
  /** True when nothing reached the upstream, so a retry layer may resend. */
  readonly retryable: boolean;
  constructor(code: Http1ErrorCode, message: string, retryable = false) {
    super(message);
    this.name = 'Http1Error';
    this.code = code;
    this.status = STATUS_OF[code];
    this.retryable = retryable;
  }
}
