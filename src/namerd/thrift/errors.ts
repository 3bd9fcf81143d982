/**
 * Stable error codes of the namer.thrift codec (codec.ts). A ThriftCodecError says which
 * TApplicationException type a server should answer with (`appExceptionType`), so the server
 * maps decode failures to replies at one place; a ThriftApplicationError is a
 * TApplicationException the peer sent us.
 */
import { THRIFT_APP_EXCEPTION } from './types.js';

export type ThriftCodecErrorCode =
  /** Truncated or malformed bytes: bad version, bad lengths or types, a union with 0 or 2+ fields. */
  | 'MESH_ERR_THRIFT_DECODE'
  /** A value that cannot be written: an i32 out of range, a path element that is not bytes. */
  | 'MESH_ERR_THRIFT_ENCODE'
  /** A call names a method the Namer service does not have. */
  | 'MESH_ERR_THRIFT_UNKNOWN_METHOD'
  /** A message of the wrong type: a REPLY where a CALL was expected, or the reverse. */
  | 'MESH_ERR_THRIFT_MESSAGE_TYPE'
  /** A reply names a different method from the one that was called. */
  | 'MESH_ERR_THRIFT_WRONG_METHOD'
  /** A REPLY that holds neither the result (field 0) nor the declared exception (field 1). */
  | 'MESH_ERR_THRIFT_MISSING_RESULT';

const APP_EXCEPTION_TYPE: Readonly<Record<ThriftCodecErrorCode, number>> = {
  MESH_ERR_THRIFT_DECODE: THRIFT_APP_EXCEPTION.PROTOCOL_ERROR,
  MESH_ERR_THRIFT_ENCODE: THRIFT_APP_EXCEPTION.INTERNAL_ERROR,
  MESH_ERR_THRIFT_UNKNOWN_METHOD: THRIFT_APP_EXCEPTION.UNKNOWN_METHOD,
  MESH_ERR_THRIFT_MESSAGE_TYPE: THRIFT_APP_EXCEPTION.INVALID_MESSAGE_TYPE,
  MESH_ERR_THRIFT_WRONG_METHOD: THRIFT_APP_EXCEPTION.WRONG_METHOD_NAME,
  MESH_ERR_THRIFT_MISSING_RESULT: THRIFT_APP_EXCEPTION.MISSING_RESULT,
};

export class ThriftCodecError extends Error {
  readonly code: ThriftCodecErrorCode;
  /** The TApplicationException type (THRIFT_APP_EXCEPTION) that describes this failure. */
  readonly appExceptionType: number;

  constructor(code: ThriftCodecErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ThriftCodecError';
    this.code = code;
    this.appExceptionType = APP_EXCEPTION_TYPE[code];
  }
}

/** The peer answered with a TApplicationException (message type EXCEPTION). */
export class ThriftApplicationError extends Error {
  readonly code = 'MESH_ERR_THRIFT_APPLICATION' as const;
  /** The TApplicationException type (THRIFT_APP_EXCEPTION), as the peer sent it. */
  readonly type: number;

  constructor(message: string, type: number) {
    super(message);
    this.name = 'ThriftApplicationError';
    this.type = type;
  }
}
