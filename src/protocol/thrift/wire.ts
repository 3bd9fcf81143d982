/**
 * The thrift wire module of the thrift/thriftmux router, in one import: message heads, message
 * boundaries of framed and buffered streams, the few messages a router writes itself, and
 * TTwitter upgrade and headers. Messages are forwarded as opaque bytes; nothing here decodes
 * application structs. The parts live in errors.ts, types.ts, head.ts, scan.ts, framing.ts,
 * message.ts and ttwitter.ts.
 */
export { ThriftWireError, type ThriftWireErrorCode } from './errors.js';
export { APP_EXCEPTION, CType, MessageType, TType, type ThriftProtocolKind } from './types.js';
export { readMessageHead, type MessageHead } from './head.js';
export { MAX_NESTING, Scanner, messageLength, structLength } from './scan.js';
export { MessageReader, frameParts, type MessageReaderOptions } from './framing.js';
export {
  decodeApplicationException,
  encodeApplicationException,
  encodeMessage,
  withSeqid,
  type ApplicationException,
} from './message.js';
export {
  CAN_TRACE_METHOD,
  emptyResponseHeader,
  encodeRequestHeader,
  encodeUpgradeCall,
  encodeUpgradeReply,
  headerTraceFields,
  readRequestHeader,
  traceIdOfHeader,
  type Delegation,
  type HeaderTraceFields,
  type RequestContext,
  type RequestHeader,
} from './ttwitter.js';
