/**
 * Stable error codes of namerd's thrift Namer service (service.ts) and its interface
 * (server.ts). These never reach a client as thrift exceptions of their own: a full observer
 * cache becomes the method's failure struct, and the others reject the mux dispatch (which the
 * mux layer answers, or drops when the client discarded it).
 */
export type ThriftNamerErrorCode =
  /** The client discarded the request (mux Tdiscarded, or its session went away) while it waited. */
  | 'MESH_ERR_THRIFT_NAMER_DISCARDED'
  /** The interface was closed while the request waited. */
  | 'MESH_ERR_THRIFT_NAMER_CLOSED'
  /** The message does not even have a readable thrift header, so no exception can name it. */
  | 'MESH_ERR_THRIFT_NAMER_UNREADABLE'
  /** Linkerd's MaximumObservationsReached: every active observer slot of a cache is taken. */
  | 'MESH_ERR_THRIFT_NAMER_MAX_OBSERVATIONS';

export class ThriftNamerError extends Error {
  readonly code: ThriftNamerErrorCode;
  /** True when asking again later may succeed (a full cache). */
  readonly retryable: boolean;
  /** True when the request was abandoned by the client or the server, not failed by naming. */
  readonly interrupted: boolean;

  constructor(code: ThriftNamerErrorCode, message: string, flags: { retryable?: boolean; interrupted?: boolean } = {}) {
    super(message);
    this.name = 'ThriftNamerError';
    this.code = code;
    this.retryable = flags.retryable ?? false;
    this.interrupted = flags.interrupted ?? false;
  }
}

export const discarded = (): ThriftNamerError =>
  new ThriftNamerError('MESH_ERR_THRIFT_NAMER_DISCARDED', 'request discarded by the client', { interrupted: true });

export const closedError = (): ThriftNamerError =>
  new ThriftNamerError('MESH_ERR_THRIFT_NAMER_CLOSED', 'the thrift namer interface is closed', { interrupted: true, retryable: true });

/** Linkerd's exact message, since clients log it as the bind/addr failure reason. */
export const maxObservations = (capacity: number): ThriftNamerError =>
  new ThriftNamerError('MESH_ERR_THRIFT_NAMER_MAX_OBSERVATIONS', `The maximum number of concurrent observations has been reached (${capacity})`, {
    retryable: true,
  });
