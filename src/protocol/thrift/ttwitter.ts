/**
 * TTwitter: Finagle's "upgraded" thrift. A client opens with a CALL to __can__finagle__trace__v3__
 * carrying an empty ConnectionOptions; a server that knows the protocol answers a REPLY of the
 * same name carrying an empty UpgradeReply (one that does not, an EXCEPTION, and the connection
 * stays plain). After an upgrade each request is a RequestHeader struct followed by the plain
 * message, and each reply (none for oneway) a ResponseHeader struct followed by the plain reply.
 *
 * Field ids and types follow Finagle's finagle-thrift/src/main/thrift/tracing.thrift:
 *   RequestHeader { 1: i64 trace_id, 2: i64 span_id, 3: optional i64 parent_span_id,
 *     5: optional bool sampled, 6: optional ClientId client_id, 7: optional i64 flags,
 *     8: list<RequestContext> contexts, 9: optional string dest,
 *     10: optional list<Delegation> delegations, 11: optional i64 trace_id_high }
 *   ClientId { 1: string name }  RequestContext { 1: binary key, 2: binary value }
 *   Delegation { 1: string src, 2: string dst }
 *   ResponseHeader { 1: list<Span> spans, 2: list<RequestContext> contexts }
 *   ConnectionOptions {}  UpgradeReply {}
 */
import { ThriftReader, ThriftWriter } from './codec.js';
import { checkOffset } from './head.js';
import { encodeMessage } from './message.js';
import { MessageType, TType, type ThriftProtocolKind } from './types.js';

export const CAN_TRACE_METHOD = '__can__finagle__trace__v3__';

/** An empty struct is its stop byte alone, in both protocols. */
const EMPTY_STRUCT: Buffer = Buffer.from([0]);

/** The upgrade CALL with an empty ConnectionOptions. Finagle sends seqid 0. */
export function encodeUpgradeCall(proto: ThriftProtocolKind, seqid = 0): Buffer {
  return encodeMessage(proto, CAN_TRACE_METHOD, MessageType.CALL, seqid, EMPTY_STRUCT);
}

/** The upgrade REPLY with an empty UpgradeReply (the struct itself, not a result wrapper). Finagle answers seqid 0. */
export function encodeUpgradeReply(proto: ThriftProtocolKind, seqid = 0): Buffer {
  return encodeMessage(proto, CAN_TRACE_METHOD, MessageType.REPLY, seqid, EMPTY_STRUCT);
}

export interface RequestContext {
  key: Buffer;
  value: Buffer;
}

export interface Delegation {
  src: string;
  dst: string;
}

export interface RequestHeader {
  traceId: bigint;
  spanId: bigint;
  parentSpanId?: bigint;
  sampled?: boolean;
  clientId?: string;
  flags?: bigint;
  contexts: RequestContext[];
  /** A partially resolved name; Finagle servers ignore it. */
  dest?: string;
  /** The request's local dtab, one dentry each (src and dst as printed paths/trees). */
  delegations: Delegation[];
  traceIdHigh?: bigint;
}

const RH_TRACE_ID = 1;
const RH_SPAN_ID = 2;
const RH_PARENT_SPAN_ID = 3;
const RH_SAMPLED = 5;
const RH_CLIENT_ID = 6;
const RH_FLAGS = 7;
const RH_CONTEXTS = 8;
const RH_DEST = 9;
const RH_DELEGATIONS = 10;
const RH_TRACE_ID_HIGH = 11;

/**
 * Reads the RequestHeader at `offset` (0: the start of an upgraded request); returns it and its
 * byte length, after which the plain message starts. Unknown fields, and known ids of an
 * unexpected type, are skipped; absent trace/span ids read as 0. Context keys and values are
 * views of `buf`, not copies. Throws ThriftWireError (TRUNCATED, MALFORMED).
 */
export function readRequestHeader(buf: Buffer, proto: ThriftProtocolKind, offset = 0): { header: RequestHeader; length: number } {
  checkOffset(buf, offset, buf.length);
  const r = new ThriftReader(buf, offset, buf.length, proto, 'a TTwitter RequestHeader');
  const header: RequestHeader = { traceId: 0n, spanId: 0n, contexts: [], delegations: [] };
  r.structBegin();
  while (r.fieldBegin()) {
    const t = r.fieldType;
    switch (r.fieldId) {
      case RH_TRACE_ID:
        if (t === TType.I64) header.traceId = r.i64();
        else r.skipField();
        break;
      case RH_SPAN_ID:
        if (t === TType.I64) header.spanId = r.i64();
        else r.skipField();
        break;
      case RH_PARENT_SPAN_ID:
        if (t === TType.I64) header.parentSpanId = r.i64();
        else r.skipField();
        break;
      case RH_SAMPLED:
        if (t === TType.BOOL) header.sampled = r.boolField();
        else r.skipField();
        break;
      case RH_CLIENT_ID:
        if (t === TType.STRUCT) {
          const name = readClientId(r);
          if (name !== undefined) header.clientId = name;
        } else r.skipField();
        break;
      case RH_FLAGS:
        if (t === TType.I64) header.flags = r.i64();
        else r.skipField();
        break;
      case RH_CONTEXTS:
        if (t === TType.LIST) readStructList(r, () => header.contexts.push(readContext(r)));
        else r.skipField();
        break;
      case RH_DEST:
        if (t === TType.STRING) header.dest = r.string();
        else r.skipField();
        break;
      case RH_DELEGATIONS:
        if (t === TType.LIST) readStructList(r, () => header.delegations.push(readDelegation(r)));
        else r.skipField();
        break;
      case RH_TRACE_ID_HIGH:
        if (t === TType.I64) header.traceIdHigh = r.i64();
        else r.skipField();
        break;
      default:
        r.skipField();
    }
  }
  r.structEnd();
  return { header, length: r.pos - offset };
}

/** A list field's elements, each read by `each` when they are structs, skipped otherwise. */
function readStructList(r: ThriftReader, each: () => void): void {
  const n = r.listBegin();
  const structs = r.elemType === TType.STRUCT;
  for (let i = 0; i < n; i++) {
    if (structs) each();
    else r.skipElement();
  }
}

function readClientId(r: ThriftReader): string | undefined {
  let name: string | undefined;
  r.structBegin();
  while (r.fieldBegin()) {
    if (r.fieldId === 1 && r.fieldType === TType.STRING) name = r.string();
    else r.skipField();
  }
  r.structEnd();
  return name;
}

function readContext(r: ThriftReader): RequestContext {
  let key: Buffer = EMPTY_BYTES;
  let value: Buffer = EMPTY_BYTES;
  r.structBegin();
  while (r.fieldBegin()) {
    if (r.fieldId === 1 && r.fieldType === TType.STRING) key = r.binary();
    else if (r.fieldId === 2 && r.fieldType === TType.STRING) value = r.binary();
    else r.skipField();
  }
  r.structEnd();
  return { key, value };
}

function readDelegation(r: ThriftReader): Delegation {
  let src = '';
  let dst = '';
  r.structBegin();
  while (r.fieldBegin()) {
    if (r.fieldId === 1 && r.fieldType === TType.STRING) src = r.string();
    else if (r.fieldId === 2 && r.fieldType === TType.STRING) dst = r.string();
    else r.skipField();
  }
  r.structEnd();
  return { src, dst };
}

const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/**
 * The RequestHeader struct bytes, fields in id order. As Finagle's client does, empty contexts
 * and delegations are left out rather than written as empty lists. i64 values may be given
 * signed or unsigned (the same 64 bits are written).
 */
export function encodeRequestHeader(h: RequestHeader, proto: ThriftProtocolKind): Buffer {
  const w = new ThriftWriter(proto, 64);
  w.structBegin();
  w.fieldBegin(TType.I64, RH_TRACE_ID);
  w.i64(h.traceId, 'traceId');
  w.fieldBegin(TType.I64, RH_SPAN_ID);
  w.i64(h.spanId, 'spanId');
  if (h.parentSpanId !== undefined) {
    w.fieldBegin(TType.I64, RH_PARENT_SPAN_ID);
    w.i64(h.parentSpanId, 'parentSpanId');
  }
  if (h.sampled !== undefined) w.boolField(RH_SAMPLED, h.sampled);
  if (h.clientId !== undefined) {
    w.fieldBegin(TType.STRUCT, RH_CLIENT_ID);
    w.structBegin();
    w.fieldBegin(TType.STRING, 1);
    w.string(h.clientId);
    w.structEnd();
  }
  if (h.flags !== undefined) {
    w.fieldBegin(TType.I64, RH_FLAGS);
    w.i64(h.flags, 'flags');
  }
  if (h.contexts.length > 0) {
    w.fieldBegin(TType.LIST, RH_CONTEXTS);
    w.listBegin(TType.STRUCT, h.contexts.length);
    for (const c of h.contexts) {
      w.structBegin();
      w.fieldBegin(TType.STRING, 1);
      w.binary(c.key);
      w.fieldBegin(TType.STRING, 2);
      w.binary(c.value);
      w.structEnd();
    }
  }
  if (h.dest !== undefined) {
    w.fieldBegin(TType.STRING, RH_DEST);
    w.string(h.dest);
  }
  if (h.delegations.length > 0) {
    w.fieldBegin(TType.LIST, RH_DELEGATIONS);
    w.listBegin(TType.STRUCT, h.delegations.length);
    for (const d of h.delegations) {
      w.structBegin();
      w.fieldBegin(TType.STRING, 1);
      w.string(d.src);
      w.fieldBegin(TType.STRING, 2);
      w.string(d.dst);
      w.structEnd();
    }
  }
  if (h.traceIdHigh !== undefined) {
    w.fieldBegin(TType.I64, RH_TRACE_ID_HIGH);
    w.i64(h.traceIdHigh, 'traceIdHigh');
  }
  w.structEnd();
  return w.finish();
}

/** Finagle's TraceId flags: debug, sampling decided, sampled. */
const FLAG_DEBUG = 1n;
const FLAG_SAMPLING_KNOWN = 2n;
const FLAG_SAMPLED = 4n;

/**
 * The trace ids a RequestHeader carries, as Finagle's TraceId serialization (the value of a mux
 * Tdispatch's `com.twitter.finagle.tracing.TraceContext`): span, parent (the span itself when
 * `parent_span_id` is absent), trace, flags (with the `sampled` field folded in), each 8 bytes
 * big-endian, then `trace_id_high` when set and not 0. Undefined when `span_id` is 0 (absent).
 */
export function traceIdOfHeader(h: RequestHeader): Buffer | undefined {
  if (h.spanId === 0n) return undefined;
  const wide = h.traceIdHigh !== undefined && h.traceIdHigh !== 0n;
  const out = Buffer.allocUnsafe(wide ? 40 : 32);
  let flags = h.flags ?? 0n;
  if (h.sampled !== undefined) flags = (flags & ~FLAG_SAMPLED) | FLAG_SAMPLING_KNOWN | (h.sampled ? FLAG_SAMPLED : 0n);
  out.writeBigInt64BE(BigInt.asIntN(64, h.spanId), 0);
  out.writeBigInt64BE(BigInt.asIntN(64, h.parentSpanId ?? h.spanId), 8);
  out.writeBigInt64BE(BigInt.asIntN(64, h.traceId), 16);
  out.writeBigInt64BE(BigInt.asIntN(64, flags), 24);
  if (wide) out.writeBigInt64BE(BigInt.asIntN(64, h.traceIdHigh!), 32);
  return out;
}

/** The trace fields of a RequestHeader carrying `traceId` (32 or 40 bytes, as `traceIdOfHeader` makes), as Finagle's TTwitter client writes them. */
export type HeaderTraceFields = Pick<RequestHeader, 'traceId' | 'spanId' | 'parentSpanId' | 'sampled' | 'flags' | 'traceIdHigh'>;

export function headerTraceFields(traceId: Buffer): HeaderTraceFields {
  const span = traceId.readBigInt64BE(0);
  const parent = traceId.readBigInt64BE(8);
  const flags = traceId.readBigInt64BE(24);
  const out: HeaderTraceFields = { traceId: traceId.readBigInt64BE(16), spanId: span, flags };
  // A root (parent = span) has no parent field, as Finagle leaves it unset.
  if (parent !== span) out.parentSpanId = parent;
  if ((flags & FLAG_SAMPLING_KNOWN) !== 0n || (flags & FLAG_DEBUG) !== 0n) out.sampled = (flags & (FLAG_SAMPLED | FLAG_DEBUG)) !== 0n;
  if (traceId.length === 40) out.traceIdHigh = traceId.readBigInt64BE(32);
  return out;
}

const EMPTY_RESPONSE_HEADER: Readonly<Record<ThriftProtocolKind, Buffer>> = { binary: EMPTY_STRUCT, compact: EMPTY_STRUCT };

/**
 * An empty ResponseHeader (no spans, no contexts: its stop byte), what a router puts before each
 * reply on an upgraded connection, as Finagle's server does. One shared buffer: do not modify it.
 */
export function emptyResponseHeader(proto: ThriftProtocolKind): Buffer {
  return EMPTY_RESPONSE_HEADER[proto];
}
