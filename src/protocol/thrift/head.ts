/**
 * Thrift message heads: the method name, message type and seqid before a message's struct.
 * Binary strict (i32 0x8001_00tt, string name, i32 seqid), binary old non-strict (string name,
 * i8 type, i32 seqid) and compact (0x82, type<<5 | version 1, varint seqid, string name).
 */
import { malformed, tooLarge, truncated } from './errors.js';
import { isMessageType, type ThriftProtocolKind } from './types.js';
import { readVarint32, varint } from './varint.js';

export interface MessageHead {
  readonly name: string;
  readonly type: number;
  readonly seqid: number;
  /** Bytes the head takes; the message's struct starts this far from the head's offset. */
  readonly length: number;
}

/** What parseHead found, read right after it returns: parsing is synchronous, one slot is enough. */
export const headScratch = { type: 0, seqid: 0, nameStart: 0, nameEnd: 0, seqidStart: 0, seqidEnd: 0 };

const STRICT_VERSION_MASK = 0xffff0000 | 0;
const STRICT_VERSION_1 = 0x80010000 | 0;
const COMPACT_PROTOCOL_ID = 0x82;
const COMPACT_VERSION = 1;

/**
 * The length of the head at `offset`, -1 when the bytes end before it does; the decoded fields
 * are left in headScratch. Throws MALFORMED for a bad version, protocol id, type or name length,
 * TOO_LARGE for a head longer than `maxBytes`. Never allocates.
 */
export function parseHead(buf: Buffer, offset: number, end: number, proto: ThriftProtocolKind, maxBytes: number): number {
  return proto === 'compact' ? parseCompactHead(buf, offset, end, maxBytes) : parseBinaryHead(buf, offset, end, maxBytes);
}

function parseBinaryHead(buf: Buffer, offset: number, end: number, maxBytes: number): number {
  if (end - offset < 4) return -1;
  const first = buf.readInt32BE(offset);
  const h = headScratch;
  let length: number;
  if (first < 0) {
    if ((first & STRICT_VERSION_MASK) !== STRICT_VERSION_1) {
      throw malformed(`bad binary protocol version 0x${(first >>> 0).toString(16).padStart(8, '0')}`);
    }
    if (end - offset < 8) return -1;
    const n = buf.readInt32BE(offset + 4);
    if (n < 0) throw malformed(`negative method name length ${n}`);
    length = 12 + n;
    if (length > maxBytes) throw tooLarge('a thrift message head', length, maxBytes);
    if (end - offset < length) return -1;
    h.type = first & 0xff;
    h.nameStart = offset + 8;
  } else {
    // Old non-strict head: the first i32 is the name's length, the type byte follows the name.
    length = 9 + first;
    if (length > maxBytes) throw tooLarge('a thrift message head', length, maxBytes);
    if (end - offset < length) return -1;
    h.nameStart = offset + 4;
    h.type = buf[offset + 4 + first]!;
  }
  if (!isMessageType(h.type)) throw malformed(`bad thrift message type ${h.type}`);
  h.nameEnd = h.nameStart + (length - (first < 0 ? 12 : 9));
  h.seqidStart = offset + length - 4;
  h.seqidEnd = offset + length;
  h.seqid = buf.readInt32BE(h.seqidStart);
  return length;
}

function parseCompactHead(buf: Buffer, offset: number, end: number, maxBytes: number): number {
  if (end - offset < 1) return -1;
  if (buf[offset] !== COMPACT_PROTOCOL_ID) throw malformed(`bad compact protocol id 0x${buf[offset]!.toString(16)}`);
  if (end - offset < 2) return -1;
  const vt = buf[offset + 1]!;
  if ((vt & 0x1f) !== COMPACT_VERSION) throw malformed(`bad compact protocol version ${vt & 0x1f}`);
  const h = headScratch;
  h.type = vt >> 5;
  if (!isMessageType(h.type)) throw malformed(`bad thrift message type ${h.type}`);
  h.seqidStart = offset + 2;
  let p = readVarint32(buf, h.seqidStart, end);
  if (p < 0) return -1;
  h.seqidEnd = p;
  h.seqid = varint.value | 0;
  p = readVarint32(buf, p, end);
  if (p < 0) return -1;
  const n = varint.value;
  if (n > 0x7fffffff) throw malformed(`negative method name length ${n | 0}`);
  const length = p + n - offset;
  if (length > maxBytes) throw tooLarge('a thrift message head', length, maxBytes);
  if (end - offset < length) return -1;
  h.nameStart = p;
  h.nameEnd = p + n;
  return length;
}

/**
 * Reads a message head at `offset`: binary strict or old non-strict, or compact. Throws
 * ThriftWireError (MALFORMED, or TRUNCATED when the bytes end inside the head).
 */
export function readMessageHead(buf: Buffer, offset: number, proto: ThriftProtocolKind): MessageHead {
  checkOffset(buf, offset, buf.length);
  const length = parseHead(buf, offset, buf.length, proto, Number.MAX_SAFE_INTEGER);
  if (length < 0) throw truncated('a thrift message head');
  const h = headScratch;
  return { name: buf.toString('utf8', h.nameStart, h.nameEnd), type: h.type, seqid: h.seqid, length };
}

/** Argument check shared by the readers: a caller's bug, not bad bytes, so a RangeError. */
export function checkOffset(buf: Buffer, offset: number, end: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || offset > end || end > buf.length) {
    throw new RangeError(`offset ${offset} and end ${end} must satisfy 0 <= offset <= end <= ${buf.length}`);
  }
}
