/**
 * Stable error codes of the thrift wire module: bytes that are not thrift, or thrift that is
 * larger than a router allows. Callers and tests decide from `code`, never from the prose.
 */
export type ThriftWireErrorCode =
  /** Bytes that cannot be thrift: a bad version or protocol id, an unknown type id, a negative size, nesting too deep. */
  | 'MESH_ERR_THRIFT_WIRE_MALFORMED'
  /** A frame, message, string or container whose declared or scanned size is over the limit. */
  | 'MESH_ERR_THRIFT_WIRE_TOO_LARGE'
  /** A decoder (head, header, exception) was given bytes that end before the value does. */
  | 'MESH_ERR_THRIFT_WIRE_TRUNCATED';

export class ThriftWireError extends Error {
  readonly code: ThriftWireErrorCode;
  constructor(code: ThriftWireErrorCode, message: string) {
    super(message);
    this.name = 'ThriftWireError';
    this.code = code;
  }
}

export function malformed(message: string): ThriftWireError {
  return new ThriftWireError('MESH_ERR_THRIFT_WIRE_MALFORMED', message);
}

export function tooLarge(what: string, size: number, maxBytes: number): ThriftWireError {
  return new ThriftWireError('MESH_ERR_THRIFT_WIRE_TOO_LARGE', `${what} of ${size} bytes is over the limit of ${maxBytes}`);
}

export function truncated(what: string): ThriftWireError {
  return new ThriftWireError('MESH_ERR_THRIFT_WIRE_TRUNCATED', `${what}: the bytes end before it does`);
}
