/**
 * Whole thrift messages a router writes or rewrites itself: any message from a head and struct
 * bytes, a copy with another seqid, and the EXCEPTION message carrying a TApplicationException
 * (what a router answers with when it cannot forward a call).
 */
import { malformed, truncated } from './errors.js';
import { checkOffset, headScratch, parseHead } from './head.js';
import { ThriftReader, ThriftWriter } from './codec.js';
import { MessageType, TType, isMessageType, type ThriftProtocolKind } from './types.js';
import { varint32Size, writeVarint32 } from './varint.js';

function checkSeqid(seqid: number): void {
  if (!Number.isInteger(seqid) || seqid < -0x80000000 || seqid > 0x7fffffff) {
    throw new RangeError(`a thrift seqid must be a 32-bit integer, got ${seqid}`);
  }
}

/**
 * A message: the head (strict binary, or compact) followed by `structBody`, the encoded
 * args/result struct including its stop byte.
 */
export function encodeMessage(proto: ThriftProtocolKind, name: string, type: number, seqid: number, structBody: Uint8Array): Buffer {
  if (!isMessageType(type)) throw new RangeError(`a thrift message type must be 1..4, got ${type}`);
  checkSeqid(seqid);
  const w = new ThriftWriter(proto, 16 + name.length * 3 + structBody.length);
  w.messageBegin(name, type, seqid);
  w.raw(structBody);
  return w.finish();
}

/** Head length of the message in `msg`, with headScratch filled in; TRUNCATED when it ends early. */
function head(msg: Buffer, proto: ThriftProtocolKind): number {
  const n = parseHead(msg, 0, msg.length, proto, Number.MAX_SAFE_INTEGER);
  if (n < 0) throw truncated('a thrift message head');
  return n;
}

/** A copy of the message with another seqid (a compact seqid may change length). */
export function withSeqid(msg: Buffer, proto: ThriftProtocolKind, seqid: number): Buffer {
  checkSeqid(seqid);
  head(msg, proto);
  const { seqidStart, seqidEnd } = headScratch;
  if (proto !== 'compact') {
    const out = Buffer.from(msg);
    out.writeInt32BE(seqid, seqidStart);
    return out;
  }
  const size = varint32Size(seqid);
  const out = Buffer.allocUnsafe(msg.length - (seqidEnd - seqidStart) + size);
  msg.copy(out, 0, 0, seqidStart);
  const p = writeVarint32(out, seqidStart, seqid);
  msg.copy(out, p, seqidEnd);
  return out;
}

/** An EXCEPTION message carrying TApplicationException { 1: string message, 2: i32 type }. */
export function encodeApplicationException(proto: ThriftProtocolKind, name: string, seqid: number, type: number, message: string): Buffer {
  checkSeqid(seqid);
  const w = new ThriftWriter(proto, 32 + (name.length + message.length) * 3);
  w.messageBegin(name, MessageType.EXCEPTION, seqid);
  w.structBegin();
  w.fieldBegin(TType.STRING, 1);
  w.string(message);
  w.fieldBegin(TType.I32, 2);
  w.i32(type);
  w.structEnd();
  return w.finish();
}

export interface ApplicationException {
  name: string;
  seqid: number;
  type: number;
  message: string;
}

/**
 * Decodes the TApplicationException of an EXCEPTION message (for tests and logs). Absent fields
 * read as '' and UNKNOWN (0); unknown fields are skipped.
 */
export function decodeApplicationException(msg: Buffer, proto: ThriftProtocolKind, offset = 0): ApplicationException {
  checkOffset(msg, offset, msg.length);
  const what = 'a TApplicationException';
  const h = parseHead(msg, offset, msg.length, proto, Number.MAX_SAFE_INTEGER);
  if (h < 0) throw truncated('a thrift message head');
  const { type: mtype, seqid, nameStart, nameEnd } = headScratch;
  if (mtype !== MessageType.EXCEPTION) throw malformed(`a message of type ${mtype} is not an EXCEPTION`);
  const out: ApplicationException = { name: msg.toString('utf8', nameStart, nameEnd), seqid, type: 0, message: '' };
  const r = new ThriftReader(msg, offset + h, msg.length, proto, what);
  r.structBegin();
  while (r.fieldBegin()) {
    if (r.fieldId === 1 && r.fieldType === TType.STRING) out.message = r.string();
    else if (r.fieldId === 2 && r.fieldType === TType.I32) out.type = r.i32();
    else r.skipField();
  }
  r.structEnd();
  return out;
}
