/**
 * Small writers and readers of thrift values in either protocol, for the few structs a router
 * builds or reads itself (TApplicationException, the TTwitter headers). Types are given as TType
 * (the binary ids) in both protocols; the compact mapping and field-id deltas happen here.
 * Messages a router only forwards are never decoded: see scan.ts.
 */
import { malformed, truncated } from './errors.js';
import { valueLength } from './scan.js';
import { CType, CTYPE_TO_TTYPE, TType, TTYPE_TO_CTYPE, type ThriftProtocolKind } from './types.js';
import { readVarint32, readVarint64, varint, writeVarint32 } from './varint.js';

const MIN_I64 = -(1n << 63n);
const MAX_U64 = (1n << 64n) - 1n;

/** An i64 as its 64 bits: accepts the signed range and, for ids, the unsigned one. */
function i64Bits(v: bigint, what: string): bigint {
  if (typeof v !== 'bigint' || v < MIN_I64 || v > MAX_U64) throw new RangeError(`${what} must be a 64-bit bigint, got ${String(v)}`);
  return BigInt.asIntN(64, v);
}

export class ThriftWriter {
  private buf: Buffer;
  private len = 0;
  /** Compact only: the last field id of the struct being written, and of the enclosing ones. */
  private lastId = 0;
  private readonly ids: number[] = [];

  constructor(
    readonly proto: ThriftProtocolKind,
    capacity = 64,
  ) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.len + n, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** The bytes written; the writer must not be used after. */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b & 0xff;
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  private varint32(u: number): void {
    this.room(5);
    this.len = writeVarint32(this.buf, this.len, u);
  }

  private varint64(u: bigint): void {
    this.room(10);
    while (u >= 0x80n) {
      this.buf[this.len++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.len++] = Number(u);
  }

  messageBegin(name: string, type: number, seqid: number): void {
    if (this.proto === 'compact') {
      this.byte(0x82);
      this.byte((type << 5) | 1);
      this.varint32(seqid);
      this.string(name);
    } else {
      this.i32((0x80010000 | type) | 0);
      this.string(name);
      this.i32(seqid);
    }
  }

  structBegin(): void {
    if (this.proto !== 'compact') return;
    this.ids.push(this.lastId);
    this.lastId = 0;
  }

  /** Writes the stop byte. */
  structEnd(): void {
    this.byte(0);
    if (this.proto === 'compact') this.lastId = this.ids.pop() ?? 0;
  }

  /** A field header of TType `type` (not BOOL: use boolField). */
  fieldBegin(type: number, id: number): void {
    if (this.proto === 'compact') this.compactField(TTYPE_TO_CTYPE[type]!, id);
    else {
      this.byte(type);
      this.room(2);
      this.len = this.buf.writeInt16BE(id, this.len);
    }
  }

  boolField(id: number, value: boolean): void {
    if (this.proto === 'compact') this.compactField(value ? CType.BOOL_TRUE : CType.BOOL_FALSE, id);
    else {
      this.fieldBegin(TType.BOOL, id);
      this.byte(value ? 1 : 0);
    }
  }

  private compactField(ctype: number, id: number): void {
    const delta = id - this.lastId;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | ctype);
    else {
      this.byte(ctype);
      this.varint32(zigzag32(id));
    }
    this.lastId = id;
  }

  i32(v: number): void {
    if (this.proto === 'compact') this.varint32(zigzag32(v));
    else {
      this.room(4);
      this.len = this.buf.writeInt32BE(v | 0, this.len);
    }
  }

  i64(v: bigint, what = 'i64'): void {
    const s = i64Bits(v, what);
    if (this.proto === 'compact') this.varint64(BigInt.asUintN(64, (s << 1n) ^ (s >> 63n)));
    else {
      this.room(8);
      this.len = this.buf.writeBigInt64BE(s, this.len);
    }
  }

  string(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (this.proto === 'compact') this.varint32(n);
    else this.i32(n);
    this.room(n);
    this.len += this.buf.write(s, this.len, n, 'utf8');
  }

  binary(b: Uint8Array): void {
    if (this.proto === 'compact') this.varint32(b.length);
    else this.i32(b.length);
    this.raw(b);
  }

  /** A list (or set) header; `elemType` is a TType. */
  listBegin(elemType: number, size: number): void {
    if (this.proto === 'compact') {
      const ct = TTYPE_TO_CTYPE[elemType]!;
      if (size < 15) this.byte((size << 4) | ct);
      else {
        this.byte(0xf0 | ct);
        this.varint32(size);
      }
    } else {
      this.byte(elemType);
      this.i32(size);
    }
  }
}

function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

/**
 * Reads values at `pos` within [pos, end), throwing TRUNCATED (naming `what`) when they run
 * past `end` and MALFORMED for bytes that cannot be thrift.
 */
export class ThriftReader {
  /** TType of the field fieldBegin just read, its id, and (compact bools) its value. */
  fieldType = 0;
  fieldId = 0;
  /** TType of the elements of the list listBegin just read. */
  elemType = 0;
  private rawFieldType = 0;
  private rawElemType = 0;
  private boolValue = false;
  private lastId = 0;
  private readonly ids: number[] = [];
  private readonly i64Out = { value: 0n };

  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
    readonly proto: ThriftProtocolKind,
    readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.end) throw truncated(this.what);
  }

  private varint32(): number {
    const p = readVarint32(this.buf, this.pos, this.end);
    if (p < 0) throw truncated(this.what);
    this.pos = p;
    return varint.value;
  }

  structBegin(): void {
    if (this.proto !== 'compact') return;
    this.ids.push(this.lastId);
    this.lastId = 0;
  }

  structEnd(): void {
    if (this.proto === 'compact') this.lastId = this.ids.pop() ?? 0;
  }

  /** Reads a field header; false at the struct's stop byte. */
  fieldBegin(): boolean {
    this.need(1);
    const b = this.buf[this.pos++]!;
    if (b === 0) return false;
    if (this.proto === 'compact') {
      const ct = b & 0x0f;
      const tt = CTYPE_TO_TTYPE[ct]!;
      if (tt === 0) throw malformed(`unknown thrift compact type ${ct} in ${this.what}`);
      const delta = b >> 4;
      if (delta === 0) {
        const z = this.varint32();
        this.fieldId = ((z >>> 1) ^ -(z & 1)) << 16 >> 16;
      } else {
        this.fieldId = this.lastId + delta;
      }
      this.lastId = this.fieldId;
      this.rawFieldType = ct;
      this.fieldType = tt;
      this.boolValue = ct === CType.BOOL_TRUE;
    } else {
      this.need(2);
      this.rawFieldType = b;
      this.fieldType = b;
      this.fieldId = this.buf.readInt16BE(this.pos);
      this.pos += 2;
    }
    return true;
  }

  /** The value of a BOOL field (compact carries it in the field header). */
  boolField(): boolean {
    if (this.proto === 'compact') return this.boolValue;
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }

  i32(): number {
    if (this.proto === 'compact') {
      const z = this.varint32();
      return (z >>> 1) ^ -(z & 1);
    }
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i64(): bigint {
    if (this.proto === 'compact') {
      const p = readVarint64(this.buf, this.pos, this.end, this.i64Out);
      if (p < 0) throw truncated(this.what);
      this.pos = p;
      const z = this.i64Out.value;
      return BigInt.asIntN(64, (z >> 1n) ^ -(z & 1n));
    }
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Binary bytes: a view into the reader's buffer, not a copy. */
  binary(): Buffer {
    const n = this.proto === 'compact' ? this.varint32() : this.i32();
    if (n < 0 || n > 0x7fffffff) throw malformed(`negative length in ${this.what}`);
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): string {
    const b = this.binary();
    return b.toString('utf8');
  }

  /** Reads a list or set header: its size; the element TType is left in `elemType`. */
  listBegin(): number {
    let n: number;
    let raw: number;
    if (this.proto === 'compact') {
      this.need(1);
      const h = this.buf[this.pos++]!;
      raw = h & 0x0f;
      n = h >> 4;
      if (n === 15) n = this.varint32();
      if (n > 0x7fffffff) throw malformed(`negative list size in ${this.what}`);
      this.elemType = CTYPE_TO_TTYPE[raw]!;
    } else {
      this.need(5);
      raw = this.buf[this.pos]!;
      n = this.buf.readInt32BE(this.pos + 1);
      this.pos += 5;
      if (n < 0) throw malformed(`negative list size ${n} in ${this.what}`);
      this.elemType = raw;
    }
    this.rawElemType = raw;
    return n;
  }

  /** Skips the value of the field fieldBegin just read. */
  skipField(): void {
    if (this.proto === 'compact' && (this.rawFieldType === CType.BOOL_TRUE || this.rawFieldType === CType.BOOL_FALSE)) return;
    this.skip(this.rawFieldType);
  }

  /** Skips one element of the list listBegin just read. */
  skipElement(): void {
    this.skip(this.rawElemType);
  }

  private skip(rawType: number): void {
    const n = valueLength(this.buf, this.pos, this.end, this.proto, rawType, Number.MAX_SAFE_INTEGER);
    if (n < 0) throw truncated(this.what);
    this.pos += n;
  }
}
