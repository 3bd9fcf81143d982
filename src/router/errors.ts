/**
 * Router failures. Every failure the router itself produces is a RouterError with a stable
 * `code`; the error responder (error-responder.ts) is the one place that turns them into HTTP
 * responses. Flags tell the retry and requeue layers what they may do without parsing text.
 */
export type RouterErrorCode =
  | 'MESH_ERR_ROUTER_UNIDENTIFIED'
  | 'MESH_ERR_ROUTER_BAD_DTAB'
  | 'MESH_ERR_ROUTER_CALL_DEPTH'
  | 'MESH_ERR_ROUTER_BAD_PATH'
  | 'MESH_ERR_ROUTER_LINE_TOO_LONG'
  | 'MESH_ERR_ROUTER_HEADERS_TOO_LARGE'
  | 'MESH_ERR_ROUTER_NO_BROKERS'
  | 'MESH_ERR_ROUTER_BINDING_FAILED'
  | 'MESH_ERR_ROUTER_CONNECT_FAILED'
  | 'MESH_ERR_ROUTER_UPSTREAM_RESET'
  | 'MESH_ERR_ROUTER_TIMEOUT'
  | 'MESH_ERR_ROUTER_BODY_TIMEOUT'
  | 'MESH_ERR_ROUTER_OVERLOADED'
  | 'MESH_ERR_ROUTER_POOL_EXHAUSTED'
  | 'MESH_ERR_ROUTER_CONFIG'
  | 'MESH_ERR_ROUTER_SHUTTING_DOWN';

export interface RouterErrorFlags {
  /** Safe to send again: the request never reached the upstream application. */
  readonly retryable?: boolean;
  /** The router refused the request before trying (overload, no capacity). */
  readonly rejected?: boolean;
  /** The call was cut short by a timeout or a cancelled caller. */
  readonly interrupted?: boolean;
}

export class RouterError extends Error {
  readonly retryable: boolean;
  readonly rejected: boolean;
  readonly interrupted: boolean;

  constructor(
    readonly code: RouterErrorCode,
    message: string,
    flags: RouterErrorFlags = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RouterError';
    this.retryable = flags.retryable === true;
    this.rejected = flags.rejected === true;
    this.interrupted = flags.interrupted === true;
  }
}

export function isRouterError(e: unknown): e is RouterError {
  return e instanceof RouterError;
}

/** Linkerd's NoBrokersAvailable text: the logical name and both dtabs, so an operator can act. */
export function noBrokersMessage(name: string, baseDtab: string, localDtab: string): string {
  return `No hosts are available for ${name}, Dtab.base=[${baseDtab}], Dtab.local=[${localDtab}]. Remote Info: Not Available`;
}
