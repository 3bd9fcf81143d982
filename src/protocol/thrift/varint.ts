/**
 * ULEB128 varints as the compact protocol reads them, without allocating: a read returns the
 * position after the varint (or -1 when the bytes end first) and leaves the value in
 * `varint.value`. Parsing is synchronous, so one scratch slot for the process is enough.
 */
import { malformed } from './errors.js';

export const varint = { value: 0 };

/**
 * Reads an unsigned varint of at most 5 bytes (a 32-bit value, 0..2^32-1) at `p`.
 * Throws MALFORMED for a longer varint or one above 32 bits.
 */
export function readVarint32(buf: Buffer, p: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    if (p >= end) return -1;
    const b = buf[p++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (value > 0xffffffff) throw malformed('a 32-bit varint over 32 bits');
      varint.value = value;
      return p;
    }
    scale *= 128;
  }
  throw malformed('a 32-bit varint longer than 5 bytes');
}

/** Skips a varint of at most `maxLen` bytes at `p` (5 for i16/i32, 10 for i64). */
export function skipVarint(buf: Buffer, p: number, end: number, maxLen: number): number {
  for (let i = 0; i < maxLen; i++) {
    if (p >= end) return -1;
    if (buf[p++]! < 0x80) return p;
  }
  throw malformed(`a varint longer than ${maxLen} bytes`);
}

/** Reads a varint of at most 10 bytes as an unsigned 64-bit bigint; -1 when the bytes end first. */
export function readVarint64(buf: Buffer, p: number, end: number, out: { value: bigint }): number {
  // Two 35-bit halves as numbers, joined once: far fewer bigint operations than per byte.
  let lo = 0;
  let hi = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (p >= end) return -1;
    const b = buf[p++]!;
    if (i < 5) lo += (b & 0x7f) * scale;
    else hi += (b & 0x7f) * scale;
    if (b < 0x80) {
      out.value = BigInt.asUintN(64, (BigInt(hi) << 35n) | BigInt(lo));
      return p;
    }
    scale = i === 4 ? 1 : scale * 128;
  }
  throw malformed('a 64-bit varint longer than 10 bytes');
}

/** Bytes a 32-bit unsigned varint takes. */
export function varint32Size(u: number): number {
  let n = 1;
  u >>>= 0;
  while (u >= 0x80) {
    u >>>= 7;
    n++;
  }
  return n;
}

/** Writes an unsigned 32-bit varint at `p`; returns the position after it. */
export function writeVarint32(buf: Buffer, p: number, u: number): number {
  u >>>= 0;
  while (u >= 0x80) {
    buf[p++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[p++] = u;
  return p;
}
