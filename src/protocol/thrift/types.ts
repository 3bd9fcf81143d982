/**
 * The constants of thrift on the wire that every file of the module shares: the two protocols a
 * router speaks, message types, TApplicationException types, and the type ids of the binary
 * protocol (TType, the ids the encoders take) and of the compact protocol (its own 4-bit codes).
 */

export type ThriftProtocolKind = 'binary' | 'compact';

export const MessageType = { CALL: 1, REPLY: 2, EXCEPTION: 3, ONEWAY: 4 } as const;

/** TApplicationException.type values (Apache Thrift's TApplicationExceptionType). */
export const APP_EXCEPTION = {
  UNKNOWN: 0,
  UNKNOWN_METHOD: 1,
  INVALID_MESSAGE_TYPE: 2,
  WRONG_METHOD_NAME: 3,
  BAD_SEQUENCE_ID: 4,
  MISSING_RESULT: 5,
  INTERNAL_ERROR: 6,
  PROTOCOL_ERROR: 7,
} as const;

/** Type ids as the binary protocol writes them (Thrift's TType). */
export const TType = {
  STOP: 0,
  BOOL: 2,
  BYTE: 3,
  DOUBLE: 4,
  I16: 6,
  I32: 8,
  I64: 10,
  STRING: 11,
  STRUCT: 12,
  MAP: 13,
  SET: 14,
  LIST: 15,
  UUID: 16,
} as const;

/** Type codes of the compact protocol (field headers, list/set and map headers). */
export const CType = {
  STOP: 0,
  BOOL_TRUE: 1,
  BOOL_FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
  UUID: 13,
} as const;

/** TType -> compact code (0 where the TType has no compact code). */
export const TTYPE_TO_CTYPE: readonly number[] = [0, 0, 1, 3, 7, 0, 4, 0, 5, 0, 6, 8, 12, 11, 10, 9, 13];

/** Compact code -> TType (0 where the code is not a type). */
export const CTYPE_TO_TTYPE: readonly number[] = [0, 2, 2, 3, 6, 8, 10, 4, 11, 15, 14, 13, 12, 16, 0, 0];

export function isMessageType(t: number): boolean {
  return t >= MessageType.CALL && t <= MessageType.ONEWAY;
}
