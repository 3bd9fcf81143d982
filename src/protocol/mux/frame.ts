/**
 * Finagle's mux wire format (finagle-mux transport/Message.scala and the spec in mux/package.scala):
 * frames, the message types as typed objects, their encoders and decoders, and fragment
 * reassembly. Bodies are opaque Buffers; this file knows nothing about thrift or dtabs beyond
 * carrying a Tdispatch's dst and dtab strings as text.
 *
 *   frame   = size:4 (big-endian, the bytes after it) type:1 (signed) tag:3 body
 *   tag MSB = this frame is a fragment; a tag's fragments end with a frame whose MSB is clear
 *
 * `FrameDecoder` splits a byte stream into frames, `FragmentAssembler` joins fragments into one
 * message's frame, `decodeMessage` turns a frame into a `MuxMessage`; `MuxDecoder` chains all three.
 * Decoded Buffers are views into the received chunks (no copy), except for reassembled messages.
 */
import { MuxError } from './errors.js';

/** Message type numbers, as the signed byte on the wire. */
export const MUX_TYPE = {
  Treq: 1,
  Rreq: -1,
  Tdispatch: 2,
  Rdispatch: -2,
  Tdrain: 64,
  Rdrain: -64,
  Tping: 65,
  Rping: -65,
  Tdiscarded: 66,
  Rdiscarded: -66,
  Tlease: 67,
  Tinit: 68,
  Rinit: -68,
  Rerr: -128,
  /** An early implementation's number for Tdiscarded, which Finagle still sends. */
  BadTdiscarded: -62,
  /** An early implementation's number for Rerr, which Finagle still sends. */
  BadRerr: 127,
} as const;

/** Tag 0: a marker message, which expects no reply (Tdiscarded, Tlease). */
export const MARKER_TAG = 0;
/** Tag 1: control messages (pings, the Tinit exchange); dispatches start above it. */
export const CONTROL_TAG = 1;
export const MIN_TAG = 2;
export const MAX_TAG = (1 << 23) - 1;
export const TAG_MSB = 1 << 23;

/** The mux version both sides speak (Finagle's Mux.LatestVersion). */
export const MUX_VERSION = 1;
/** The text of the marker Rerr a client sends to ask whether the server can do Tinit. */
export const TINIT_CHECK = 'tinit check';
/**
 * The Tdispatch context key under which Finagle broadcasts the request's trace id (its TraceId
 * serialization: span, parent, trace, flags, 8 bytes each big-endian, then the trace id's high
 * 64 bits when it has them). One shared buffer: do not modify it.
 */
export const TRACE_CONTEXT_KEY: Buffer = Buffer.from('com.twitter.finagle.tracing.TraceContext', 'latin1');

export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/** Key/value pairs: Tdispatch/Rdispatch contexts (2-byte lengths), Tinit/Rinit headers (4-byte). */
export type MuxPairs = ReadonlyArray<readonly [Buffer, Buffer]>;
/** A Tdispatch's delegation table as (prefix, destination) text pairs. */
export type MuxDtab = ReadonlyArray<readonly [string, string]>;

/**
 * A Tdispatch's trace context: the value Finagle broadcasts under
 * `com.twitter.finagle.tracing.TraceContext` (its TraceId serialization, 32 or 40 bytes), or
 * undefined when there is none (a value of another length is not one).
 */
export function traceContextOf(contexts: MuxPairs | undefined): Buffer | undefined {
  if (contexts === undefined) return undefined;
  for (const [k, v] of contexts) {
    if ((v.length === 32 || v.length === 40) && k.equals(TRACE_CONTEXT_KEY)) return v;
  }
  return undefined;
}

/** `contexts` with the trace context set to `trace` (added when there was none). */
export function withTraceContext(contexts: MuxPairs, trace: Buffer): MuxPairs {
  return withContext(contexts, TRACE_CONTEXT_KEY, trace);
}

/** `contexts` with `key` set to `value` (added when it was not there). */
export function withContext(contexts: MuxPairs, key: Buffer, value: Buffer): MuxPairs {
  const out: (readonly [Buffer, Buffer])[] = [];
  for (const pair of contexts) if (!pair[0].equals(key)) out.push(pair);
  out.push([key, value]);
  return out;
}

/** Finagle's request deadline, broadcast under this key: timestamp and deadline, each 8 bytes of nanoseconds since the epoch. */
export const DEADLINE_CONTEXT_KEY: Buffer = Buffer.from('com.twitter.finagle.Deadline', 'latin1');

/** A Tdispatch's Finagle deadline, or undefined when there is none (a value not 16 bytes is not one). */
export function deadlineOf(contexts: MuxPairs | undefined): { timestampNs: bigint; deadlineNs: bigint } | undefined {
  if (contexts === undefined) return undefined;
  for (const [k, v] of contexts) {
    if (v.length === 16 && k.equals(DEADLINE_CONTEXT_KEY)) return { timestampNs: v.readBigInt64BE(0), deadlineNs: v.readBigInt64BE(8) };
  }
  return undefined;
}

/** A Finagle deadline context value. */
export function encodeDeadline(timestampNs: bigint, deadlineNs: bigint): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeBigInt64BE(timestampNs, 0);
  b.writeBigInt64BE(deadlineNs, 8);
  return b;
}

export type MuxMessage =
  /** Deprecated request: `nkeys:1 (key:1 vsize:1 v)* body`. */
  | { readonly kind: 'Treq'; readonly tag: number; readonly keys: ReadonlyArray<readonly [number, Buffer]>; readonly body: Buffer }
  | { readonly kind: 'RreqOk'; readonly tag: number; readonly body: Buffer }
  | { readonly kind: 'RreqError'; readonly tag: number; readonly message: string }
  | { readonly kind: 'RreqNack'; readonly tag: number }
  | {
      readonly kind: 'Tdispatch';
      readonly tag: number;
      readonly contexts: MuxPairs;
      readonly dst: string;
      readonly dtab: MuxDtab;
      readonly body: Buffer;
    }
  | { readonly kind: 'RdispatchOk'; readonly tag: number; readonly contexts: MuxPairs; readonly body: Buffer }
  | { readonly kind: 'RdispatchError'; readonly tag: number; readonly contexts: MuxPairs; readonly message: string }
  | { readonly kind: 'RdispatchNack'; readonly tag: number; readonly contexts: MuxPairs }
  | { readonly kind: 'Tdrain'; readonly tag: number }
  | { readonly kind: 'Rdrain'; readonly tag: number }
  | { readonly kind: 'Tping'; readonly tag: number }
  | { readonly kind: 'Rping'; readonly tag: number }
  /** A marker message (tag 0): `which:3 why`. Sent with the old type -62, as Finagle does. */
  | { readonly kind: 'Tdiscarded'; readonly which: number; readonly why: string }
  | { readonly kind: 'Rdiscarded'; readonly tag: number }
  /** A marker message (tag 0): `unit:1 howLong:8`; unit 0 is milliseconds. */
  | { readonly kind: 'Tlease'; readonly unit: number; readonly howLong: bigint }
  | { readonly kind: 'Tinit'; readonly tag: number; readonly version: number; readonly headers: MuxPairs }
  | { readonly kind: 'Rinit'; readonly tag: number; readonly version: number; readonly headers: MuxPairs }
  /** A session-level error for the tag. Sent with the old type 127, as Finagle does. */
  | { readonly kind: 'Rerr'; readonly tag: number; readonly message: string }
  /** One fragment (tag MSB set, kept in `tag`) of a Tdispatch or Rdispatch; only `decodeMessage` yields it. */
  | { readonly kind: 'Fragment'; readonly type: number; readonly tag: number; readonly body: Buffer };

export type MuxMessageKind = MuxMessage['kind'];

const EMPTY: Buffer = Buffer.alloc(0);
const NO_PAIRS: MuxPairs = [];

const STATUS_OK = 0;
const STATUS_ERROR = 1;
const STATUS_NACK = 2;

function bad(why: string): MuxError {
  return new MuxError('MESH_ERR_MUX_BAD_MESSAGE', `bad mux message: ${why}`);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Sizes a message header (the fields before an opaque payload) and then fills it. */
class HeadWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  u8(v: number): void {
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  u24(v: number): void {
    this.buf.writeUIntBE(v, this.pos, 3);
    this.pos += 3;
  }
  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }
  bytes(b: Buffer): void {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  text(s: string): void {
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

function checkTag(tag: number, what: string): void {
  if (!Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) throw bad(`${what}: tag ${tag} is outside 0..${MAX_TAG}`);
}

function check16(n: number, what: string): void {
  if (n > 0xffff) throw bad(`${what} is ${n} bytes, over 65535`);
}

function pairsSize(pairs: MuxPairs, lenBytes: number, what: string): number {
  let n = 0;
  for (const [k, v] of pairs) {
    if (lenBytes === 2) {
      check16(k.length, `${what} key`);
      check16(v.length, `${what} value`);
    }
    n += 2 * lenBytes + k.length + v.length;
  }
  return n;
}

function writePairs(w: HeadWriter, pairs: MuxPairs, lenBytes: number): void {
  for (const [k, v] of pairs) {
    if (lenBytes === 2) w.u16(k.length);
    else w.u32(k.length);
    w.bytes(k);
    if (lenBytes === 2) w.u16(v.length);
    else w.u32(v.length);
    w.bytes(v);
  }
}

/**
 * The frame of `m` as buffers to write in order: the first holds the size, type, tag and the
 * message's own fields; the opaque payload, when there is one, follows as the caller's Buffer
 * (not copied).
 */
export function encodeMessageParts(m: MuxMessage): Buffer[] {
  let type: number;
  let tag: number;
  let fields = 0; // bytes of message fields after type+tag, before the payload
  let payload: Buffer = EMPTY;
  let fill: ((w: HeadWriter) => void) | null = null;
  switch (m.kind) {
    case 'Treq': {
      type = MUX_TYPE.Treq;
      tag = m.tag;
      if (m.keys.length > 127) throw bad(`Treq: ${m.keys.length} keys, over 127`);
      fields = 1;
      for (const [k, v] of m.keys) {
        if (k < 0 || k > 255 || v.length > 255) throw bad(`Treq: key ${k} or its ${v.length}-byte value does not fit a byte`);
        fields += 2 + v.length;
      }
      payload = m.body;
      fill = (w) => {
        w.u8(m.keys.length);
        for (const [k, v] of m.keys) {
          w.u8(k);
          w.u8(v.length);
          w.bytes(v);
        }
      };
      break;
    }
    case 'RreqOk':
    case 'RreqError':
    case 'RreqNack': {
      type = MUX_TYPE.Rreq;
      tag = m.tag;
      fields = 1;
      const status = m.kind === 'RreqOk' ? STATUS_OK : m.kind === 'RreqError' ? STATUS_ERROR : STATUS_NACK;
      if (m.kind === 'RreqOk') payload = m.body;
      else if (m.kind === 'RreqError') payload = Buffer.from(m.message, 'utf8');
      fill = (w) => w.u8(status);
      break;
    }
    case 'Tdispatch': {
      type = MUX_TYPE.Tdispatch;
      tag = m.tag;
      const dst = m.dst;
      const dstLen = Buffer.byteLength(dst, 'utf8');
      check16(dstLen, 'Tdispatch dst');
      check16(m.contexts.length, 'Tdispatch context count');
      check16(m.dtab.length, 'Tdispatch dtab size');
      fields = 2 + pairsSize(m.contexts, 2, 'Tdispatch context') + 2 + dstLen + 2;
      const dtab = m.dtab.map(([src, to]) => {
        const s = Buffer.from(src, 'utf8');
        const d = Buffer.from(to, 'utf8');
        check16(s.length, 'Tdispatch dentry prefix');
        check16(d.length, 'Tdispatch dentry destination');
        fields += 4 + s.length + d.length;
        return [s, d] as const;
      });
      payload = m.body;
      fill = (w) => {
        w.u16(m.contexts.length);
        writePairs(w, m.contexts, 2);
        w.u16(dstLen);
        w.text(dst);
        w.u16(dtab.length);
        writePairs(w, dtab, 2);
      };
      break;
    }
    case 'RdispatchOk':
    case 'RdispatchError':
    case 'RdispatchNack': {
      type = MUX_TYPE.Rdispatch;
      tag = m.tag;
      check16(m.contexts.length, 'Rdispatch context count');
      fields = 1 + 2 + pairsSize(m.contexts, 2, 'Rdispatch context');
      const status = m.kind === 'RdispatchOk' ? STATUS_OK : m.kind === 'RdispatchError' ? STATUS_ERROR : STATUS_NACK;
      if (m.kind === 'RdispatchOk') payload = m.body;
      else if (m.kind === 'RdispatchError') payload = Buffer.from(m.message, 'utf8');
      fill = (w) => {
        w.u8(status);
        w.u16(m.contexts.length);
        writePairs(w, m.contexts, 2);
      };
      break;
    }
    case 'Tdrain':
    case 'Rdrain':
    case 'Tping':
    case 'Rping':
    case 'Rdiscarded':
      type = MUX_TYPE[m.kind];
      tag = m.tag;
      break;
    case 'Tdiscarded': {
      // Finagle still sends the old number so that old servers understand it.
      type = MUX_TYPE.BadTdiscarded;
      tag = MARKER_TAG;
      checkTag(m.which, 'Tdiscarded which');
      fields = 3;
      payload = Buffer.from(m.why, 'utf8');
      fill = (w) => w.u24(m.which);
      break;
    }
    case 'Tlease': {
      type = MUX_TYPE.Tlease;
      tag = MARKER_TAG;
      fields = 9;
      fill = (w) => {
        w.u8(m.unit);
        w.buf.writeBigUInt64BE(m.howLong, w.pos);
        w.pos += 8;
      };
      break;
    }
    case 'Tinit':
    case 'Rinit': {
      type = MUX_TYPE[m.kind];
      tag = m.tag;
      fields = 2 + pairsSize(m.headers, 4, `${m.kind} header`);
      fill = (w) => {
        w.u16(m.version);
        writePairs(w, m.headers, 4);
      };
      break;
    }
    case 'Rerr':
      // Finagle still sends the old number so that old peers understand it.
      type = MUX_TYPE.BadRerr;
      tag = m.tag;
      payload = Buffer.from(m.message, 'utf8');
      break;
    case 'Fragment':
      type = m.type;
      tag = m.tag & ~TAG_MSB;
      payload = m.body;
      break;
  }
  checkTag(tag, m.kind);
  if (m.kind === 'Fragment') tag |= TAG_MSB;
  const size = 4 + fields + payload.length;
  const w = new HeadWriter(8 + fields);
  w.u32(size);
  w.u8(type);
  w.u24(tag);
  if (fill !== null) fill(w);
  if (w.pos !== w.buf.length) throw new Error(`mux encoder sized ${m.kind} wrong`);
  return payload.length === 0 ? [w.buf] : [w.buf, payload];
}

/** The whole frame of `m` (size field included) in one Buffer. */
export function encodeMessage(m: MuxMessage): Buffer {
  const parts = encodeMessageParts(m);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  pos: number;
  constructor(readonly buf: Buffer, pos: number, readonly what: string) {
    this.pos = pos;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  need(n: number): void {
    if (this.remaining < n) throw bad(`${this.what} is short: needs ${n} more bytes, has ${this.remaining}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  i8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(): number {
    this.need(3);
    const v = this.buf.readUIntBE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return b;
  }
  text(n: number): string {
    return this.bytes(n).toString('utf8');
  }
}

function readPairs(r: Reader, count: number): MuxPairs {
  if (count === 0) return NO_PAIRS;
  const out: Array<readonly [Buffer, Buffer]> = [];
  for (let i = 0; i < count; i++) {
    const k = r.bytes(r.u16());
    const v = r.bytes(r.u16());
    out.push([k, v]);
  }
  return out;
}

function readInitPairs(r: Reader): MuxPairs {
  if (r.remaining === 0) return NO_PAIRS;
  const out: Array<readonly [Buffer, Buffer]> = [];
  while (r.remaining > 0) {
    const k = r.bytes(r.u32());
    const v = r.bytes(r.u32());
    out.push([k, v]);
  }
  return out;
}

function isFragmentable(type: number): boolean {
  return type === MUX_TYPE.Tdispatch || type === MUX_TYPE.Rdispatch;
}

/**
 * Decodes one frame (the bytes after the size field: type, tag, body) into a message; throws a
 * MuxError `MESH_ERR_MUX_BAD_MESSAGE` for an unknown type or a body that does not parse.
 */
export function decodeMessage(frame: Buffer): MuxMessage {
  if (frame.length < 4) throw bad(`a frame of ${frame.length} bytes has no type and tag`);
  const type = frame.readInt8(0);
  const rawTag = frame.readUIntBE(1, 3);
  if ((rawTag & TAG_MSB) !== 0) {
    if (!isFragmentable(type)) throw bad(`a fragment of type ${type}, which cannot be fragmented`);
    return { kind: 'Fragment', type, tag: rawTag, body: frame.subarray(4) };
  }
  const tag = rawTag;
  switch (type) {
    case MUX_TYPE.Treq: {
      const r = new Reader(frame, 4, 'Treq');
      const n = r.i8();
      if (n < 0) throw bad('Treq: too many keys');
      const keys: Array<readonly [number, Buffer]> = [];
      for (let i = 0; i < n; i++) {
        const k = r.u8();
        keys.push([k, r.bytes(r.u8())]);
      }
      return { kind: 'Treq', tag, keys, body: r.rest() };
    }
    case MUX_TYPE.Rreq: {
      const r = new Reader(frame, 4, 'Rreq');
      const status = r.u8();
      const rest = r.rest();
      if (status === STATUS_OK) return { kind: 'RreqOk', tag, body: rest };
      if (status === STATUS_ERROR) return { kind: 'RreqError', tag, message: rest.toString('utf8') };
      if (status === STATUS_NACK) return { kind: 'RreqNack', tag };
      throw bad(`Rreq status ${status}`);
    }
    case MUX_TYPE.Tdispatch: {
      const r = new Reader(frame, 4, 'Tdispatch');
      const contexts = readPairs(r, r.u16());
      const dst = r.text(r.u16());
      const nd = r.u16();
      const dtab: Array<readonly [string, string]> = [];
      for (let i = 0; i < nd; i++) {
        const src = r.text(r.u16());
        dtab.push([src, r.text(r.u16())]);
      }
      return { kind: 'Tdispatch', tag, contexts, dst, dtab, body: r.rest() };
    }
    case MUX_TYPE.Rdispatch: {
      const r = new Reader(frame, 4, 'Rdispatch');
      const status = r.u8();
      const contexts = readPairs(r, r.u16());
      const rest = r.rest();
      if (status === STATUS_OK) return { kind: 'RdispatchOk', tag, contexts, body: rest };
      if (status === STATUS_ERROR) return { kind: 'RdispatchError', tag, contexts, message: rest.toString('utf8') };
      if (status === STATUS_NACK) return { kind: 'RdispatchNack', tag, contexts };
      throw bad(`Rdispatch status ${status}`);
    }
    case MUX_TYPE.Tdrain:
      return { kind: 'Tdrain', tag };
    case MUX_TYPE.Rdrain:
      return { kind: 'Rdrain', tag };
    case MUX_TYPE.Tping:
      return { kind: 'Tping', tag };
    case MUX_TYPE.Rping:
      return { kind: 'Rping', tag };
    case MUX_TYPE.Tdiscarded:
    case MUX_TYPE.BadTdiscarded: {
      const r = new Reader(frame, 4, 'Tdiscarded');
      const which = r.u24();
      return { kind: 'Tdiscarded', which, why: r.rest().toString('utf8') };
    }
    case MUX_TYPE.Rdiscarded:
      return { kind: 'Rdiscarded', tag };
    case MUX_TYPE.Tlease: {
      const r = new Reader(frame, 4, 'Tlease');
      const unit = r.u8();
      r.need(8);
      const howLong = frame.readBigUInt64BE(r.pos);
      return { kind: 'Tlease', unit, howLong };
    }
    case MUX_TYPE.Tinit:
    case MUX_TYPE.Rinit: {
      const r = new Reader(frame, 4, type === MUX_TYPE.Tinit ? 'Tinit' : 'Rinit');
      const version = r.u16();
      const headers = readInitPairs(r);
      return { kind: type === MUX_TYPE.Tinit ? 'Tinit' : 'Rinit', tag, version, headers };
    }
    case MUX_TYPE.Rerr:
    case MUX_TYPE.BadRerr:
      return { kind: 'Rerr', tag, message: frame.toString('utf8', 4) };
    default:
      throw bad(`unknown message type ${type} (tag ${tag}, ${frame.length - 4} body bytes)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Streams

/**
 * Splits a byte stream into frames. `push` returns the whole frames the chunk completed, each
 * without its size field. A size over `maxFrameSize` throws `MESH_ERR_MUX_FRAME_TOO_LARGE` as
 * soon as the size field is read; after a throw the decoder is done (the caller closes).
 *
 * Partial frames are kept as a list of chunks and joined once, when the frame is complete, so a
 * large frame arriving in many reads is copied once.
 */
export class FrameDecoder {
  readonly maxFrameSize: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before parsing can go on: a size field, or a size field and its frame. */
  private wanted = 4;
  private failed: MuxError | null = null;

  constructor(maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE) {
    this.maxFrameSize = maxFrameSize;
  }

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.failed !== null) throw this.failed;
    const out: Buffer[] = [];
    let buf: Buffer;
    if (this.buffered === 0) {
      buf = chunk;
    } else {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered < this.wanted) return out;
      buf = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
    }
    let off = 0;
    for (;;) {
      const left = buf.length - off;
      if (left < 4) {
        this.wanted = 4;
        break;
      }
      const size = buf.readUInt32BE(off);
      if (size > this.maxFrameSize) {
        this.failed = new MuxError('MESH_ERR_MUX_FRAME_TOO_LARGE', `a mux frame of ${size} bytes is over the limit of ${this.maxFrameSize}`);
        throw this.failed;
      }
      if (left < 4 + size) {
        this.wanted = 4 + size;
        break;
      }
      out.push(buf.subarray(off + 4, off + 4 + size));
      off += 4 + size;
    }
    if (off < buf.length) {
      const rest = buf.subarray(off);
      this.chunks.push(rest);
      this.buffered = rest.length;
    }
    return out;
  }
}

interface Partial {
  readonly type: number;
  readonly parts: Buffer[];
  size: number;
}

function isDiscard(type: number): boolean {
  return type === MUX_TYPE.Tdiscarded || type === MUX_TYPE.BadTdiscarded || type === MUX_TYPE.Rdiscarded;
}

/**
 * Joins fragments (tag MSB set) of a tag with the frame that ends them (same tag, MSB clear)
 * into one frame. A Tdiscarded for the tag, an Rdiscarded, or an ending frame of another type
 * (an Rerr ends an Rdispatch) drops what was gathered, as Finagle's FragmentDecoder does.
 */
export class FragmentAssembler {
  readonly maxMessageSize: number;
  /** Bytes of all unfinished messages together: a peer fragmenting on many tags at once must
   * not hold more than this (each tag alone is held to maxMessageSize). */
  readonly maxPendingBytes: number;
  private readonly partials = new Map<number, Partial>();
  private pendingBytes = 0;

  constructor(maxMessageSize: number = DEFAULT_MAX_FRAME_SIZE, maxPendingBytes: number = 4 * maxMessageSize) {
    this.maxMessageSize = maxMessageSize;
    this.maxPendingBytes = maxPendingBytes;
  }

  private drop(tag: number): Partial | undefined {
    const p = this.partials.get(tag);
    if (p !== undefined) {
      this.partials.delete(tag);
      this.pendingBytes -= p.size;
    }
    return p;
  }

  /** Tags with fragments gathered and no ending frame yet. */
  get pending(): number {
    return this.partials.size;
  }

  /**
   * `frame` is type, tag and body (no size field). Returns the frame of a whole message, or
   * null when `frame` was a fragment and was kept.
   */
  push(frame: Buffer): Buffer | null {
    if (frame.length < 4) throw bad(`a frame of ${frame.length} bytes has no type and tag`);
    const type = frame.readInt8(0);
    const rawTag = frame.readUIntBE(1, 3);
    if ((rawTag & TAG_MSB) !== 0) {
      if (!isFragmentable(type)) throw bad(`a fragment of type ${type}, which cannot be fragmented`);
      const tag = rawTag & ~TAG_MSB;
      const body = frame.subarray(4);
      let p = this.partials.get(tag);
      if (p === undefined || p.type !== type) {
        this.drop(tag);
        p = { type, parts: [], size: 0 };
        this.partials.set(tag, p);
      }
      p.size += body.length;
      this.pendingBytes += body.length;
      if (p.size > this.maxMessageSize) {
        throw new MuxError('MESH_ERR_MUX_FRAME_TOO_LARGE', `a fragmented mux message of over ${this.maxMessageSize} bytes`);
      }
      if (this.pendingBytes > this.maxPendingBytes) {
        throw new MuxError('MESH_ERR_MUX_FRAME_TOO_LARGE', `unfinished fragmented mux messages of over ${this.maxPendingBytes} bytes in all`);
      }
      p.parts.push(body);
      return null;
    }
    if (this.partials.size === 0) return frame;
    if (isDiscard(type)) {
      const forTag = type === MUX_TYPE.Rdiscarded ? rawTag : frame.length >= 7 ? frame.readUIntBE(4, 3) : -1;
      this.drop(forTag);
      return frame;
    }
    const p = this.drop(rawTag);
    if (p === undefined) return frame;
    if (p.type !== type) return frame;
    if (p.size + frame.length - 4 > this.maxMessageSize) {
      throw new MuxError('MESH_ERR_MUX_FRAME_TOO_LARGE', `a fragmented mux message of over ${this.maxMessageSize} bytes`);
    }
    return Buffer.concat([frame.subarray(0, 4), ...p.parts, frame.subarray(4)]);
  }
}

/** Bytes in, whole messages out: frames, fragment reassembly and decoding in one. */
export class MuxDecoder {
  private readonly frames: FrameDecoder;
  private readonly assembler: FragmentAssembler;

  constructor(maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE) {
    this.frames = new FrameDecoder(maxFrameSize);
    this.assembler = new FragmentAssembler(maxFrameSize);
  }

  /** Throws a MuxError for an oversize frame or a message that does not decode. */
  push(chunk: Buffer): MuxMessage[] {
    const out: MuxMessage[] = [];
    for (const frame of this.frames.push(chunk)) {
      const whole = this.assembler.push(frame);
      if (whole !== null) out.push(decodeMessage(whole));
    }
    return out;
  }
}

/** Writes an encoded message's parts as one segment where the socket allows (corked). */
export function writeParts(socket: import('node:net').Socket, parts: readonly Buffer[]): void {
  if (parts.length === 1) {
    socket.write(parts[0]!);
    return;
  }
  socket.cork();
  for (const p of parts) socket.write(p);
  socket.uncork();
}
