/**
 * Finagle's mux protocol, the transport under ThriftMux: frames and messages (frame.ts), a
 * client for one endpoint (client.ts) and a server that also serves downgraded framed thrift
 * (server.ts). Bodies are opaque Buffers; thrift encoding lives with the services that use it.
 */
export { MuxError, type MuxErrorCode } from './errors.js';
export {
  CONTROL_TAG,
  DEFAULT_MAX_FRAME_SIZE,
  decodeMessage,
  encodeMessage,
  encodeMessageParts,
  FragmentAssembler,
  FrameDecoder,
  MARKER_TAG,
  MAX_TAG,
  MIN_TAG,
  MUX_TYPE,
  MUX_VERSION,
  MuxDecoder,
  TAG_MSB,
  TINIT_CHECK,
  TRACE_CONTEXT_KEY,
  DEADLINE_CONTEXT_KEY,
  deadlineOf,
  encodeDeadline,
  traceContextOf,
  withContext,
  withTraceContext,
  type MuxDtab,
  type MuxMessage,
  type MuxMessageKind,
  type MuxPairs,
} from './frame.js';
export { MuxClient, type MuxClientOptions, type MuxDispatchFields } from './client.js';
export { DEFAULT_DRAIN_TIMEOUT_MS, MuxServer, type DowngradedThrift, type MuxDispatchInfo, type MuxHandler, type MuxServerOptions } from './server.js';
