/**
 * Finds where a thrift message (or struct, or value) ends by skipping over it, for the buffered
 * (unframed) transport where nothing else marks message boundaries.
 *
 * The Scanner walks the bytes with an explicit stack of at most MAX_NESTING frames (struct, list
 * or set, map) in one preallocated Float64Array, so it neither recurses nor allocates per field.
 * It is resumable: when the bytes end it remembers the last item boundary and the stack, and the
 * next run continues from there, so a message that arrives in many chunks is scanned once in all
 * (MessageReader relies on this). Every item it steps over takes at least one byte, so a run is
 * linear in the bytes it is given, whatever sizes the bytes declare.
 */
import { malformed, tooLarge } from './errors.js';
import { checkOffset, parseHead } from './head.js';
import { CType, TType, type ThriftProtocolKind } from './types.js';
import { readVarint32, skipVarint, varint } from './varint.js';

/** Deepest nesting accepted: the message's own struct is level 1, each struct/container inside adds one. */
export const MAX_NESTING = 64;

const K_STRUCT = 0;
const K_LIST = 1;
const K_MAP = 2;
/** Per frame: kind, element (or key) type, value type, items left (a map counts keys and values). */
const SLOTS = 4;

const P_PREFIX = 0;
const P_HEAD = 1;
const P_BODY = 2;

export class Scanner {
  private readonly frames = new Float64Array(MAX_NESTING * SLOTS);
  private depth = 0;
  /** Bytes from the origin to the last item boundary. */
  private rel = 0;
  private phase = P_BODY;

  /**
   * Expects a message next; with `prefixed`, a struct before it (a TTwitter RequestHeader or
   * ResponseHeader on an upgraded connection), counted in the length.
   */
  startMessage(prefixed = false): void {
    this.rel = 0;
    if (prefixed) {
      this.phase = P_PREFIX;
      this.pushRoot(K_STRUCT, 0);
    } else {
      this.phase = P_HEAD;
      this.depth = 0;
    }
  }

  /** Expects one struct next. */
  startStruct(): void {
    this.rel = 0;
    this.phase = P_BODY;
    this.pushRoot(K_STRUCT, 0);
  }

  /** Expects one value of the protocol's own type code (as an element: a compact bool is a byte). */
  startValue(type: number): void {
    this.rel = 0;
    this.phase = P_BODY;
    this.pushRoot(K_LIST, type);
    this.frames[3] = 1;
  }

  private pushRoot(kind: number, type: number): void {
    this.depth = 1;
    this.frames[0] = kind;
    this.frames[1] = type;
  }

  /**
   * Continues over buf[origin + bytes already scanned, end): returns the total length from
   * `origin` once the expected unit is complete, -1 when the bytes end first (call again with the
   * same origin and more bytes after it). Throws ThriftWireError for malformed bytes or a unit
   * larger than `maxBytes`.
   */
  run(buf: Buffer, origin: number, end: number, proto: ThriftProtocolKind, maxBytes: number): number {
    for (;;) {
      if (this.phase === P_HEAD) {
        const h = parseHead(buf, origin + this.rel, end, proto, maxBytes - this.rel);
        if (h < 0) return -1;
        this.rel += h;
        this.phase = P_BODY;
        this.pushRoot(K_STRUCT, 0);
      }
      const total = proto === 'compact' ? this.runCompact(buf, origin, end, maxBytes) : this.runBinary(buf, origin, end, maxBytes);
      if (total < 0) return -1;
      if (total > maxBytes) throw tooLarge('a thrift message', total, maxBytes);
      if (this.phase === P_BODY) return total;
      this.phase = P_HEAD;
    }
  }

  /** Remembers where to resume (the start of the item that did not fit) and says "need more". */
  private suspend(d: number, p: number, needEnd: number, origin: number, maxBytes: number): number {
    if (needEnd - origin > maxBytes) throw tooLarge('a thrift message', needEnd - origin, maxBytes);
    this.depth = d;
    this.rel = p - origin;
    return -1;
  }

  private done(p: number, origin: number): number {
    this.depth = 0;
    this.rel = p - origin;
    return this.rel;
  }

  private runBinary(buf: Buffer, origin: number, end: number, maxBytes: number): number {
    const f = this.frames;
    let d = this.depth;
    let p = origin + this.rel;
    for (;;) {
      if (d === 0) return this.done(p, origin);
      const top = (d - 1) * SLOTS;
      const kind = f[top]!;
      let q = p;
      let t: number;
      if (kind === K_STRUCT) {
        if (q >= end) return this.suspend(d, p, q + 1, origin, maxBytes);
        t = buf[q]!;
        if (t === TType.STOP) {
          d--;
          p = q + 1;
          continue;
        }
        q += 3; // type byte and i16 field id
      } else {
        const left = f[top + 3]!;
        if (left === 0) {
          d--;
          continue;
        }
        t = kind === K_MAP && left % 2 === 1 ? f[top + 2]! : f[top + 1]!;
      }
      let push = -1;
      let pushT1 = 0;
      let pushT2 = 0;
      let pushLeft = 0;
      switch (t) {
        case TType.BOOL:
        case TType.BYTE:
          q += 1;
          break;
        case TType.I16:
          q += 2;
          break;
        case TType.I32:
          q += 4;
          break;
        case TType.DOUBLE:
        case TType.I64:
          q += 8;
          break;
        case TType.UUID:
          q += 16;
          break;
        case TType.STRING: {
          if (q + 4 > end) return this.suspend(d, p, q + 4, origin, maxBytes);
          const n = buf.readInt32BE(q);
          if (n < 0) throw malformed(`negative string length ${n}`);
          if (n > maxBytes) throw tooLarge('a thrift string', n, maxBytes);
          q += 4 + n;
          break;
        }
        case TType.STRUCT:
          push = K_STRUCT;
          break;
        case TType.MAP: {
          if (q + 6 > end) return this.suspend(d, p, q + 6, origin, maxBytes);
          const n = buf.readInt32BE(q + 2);
          if (n < 0) throw malformed(`negative map size ${n}`);
          if (n > maxBytes) throw tooLarge('a thrift map', n, maxBytes);
          if (n > 0) {
            push = K_MAP;
            pushT1 = buf[q]!;
            pushT2 = buf[q + 1]!;
            pushLeft = 2 * n;
          }
          q += 6;
          break;
        }
        case TType.SET:
        case TType.LIST: {
          if (q + 5 > end) return this.suspend(d, p, q + 5, origin, maxBytes);
          const n = buf.readInt32BE(q + 1);
          if (n < 0) throw malformed(`negative list size ${n}`);
          if (n > maxBytes) throw tooLarge('a thrift list', n, maxBytes);
          if (n > 0) {
            push = K_LIST;
            pushT1 = buf[q]!;
            pushLeft = n;
          }
          q += 5;
          break;
        }
        default:
          throw malformed(`unknown thrift type id ${t}`);
      }
      if (q > end) return this.suspend(d, p, q, origin, maxBytes);
      if (kind !== K_STRUCT) f[top + 3] -= 1;
      if (push >= 0) d = openFrame(f, d, push, pushT1, pushT2, pushLeft);
      p = q;
    }
  }

  private runCompact(buf: Buffer, origin: number, end: number, maxBytes: number): number {
    const f = this.frames;
    let d = this.depth;
    let p = origin + this.rel;
    for (;;) {
      if (d === 0) return this.done(p, origin);
      const top = (d - 1) * SLOTS;
      const kind = f[top]!;
      let q = p;
      let t: number;
      if (kind === K_STRUCT) {
        if (q >= end) return this.suspend(d, p, q + 1, origin, maxBytes);
        const b = buf[q++]!;
        if (b === CType.STOP) {
          d--;
          p = q;
          continue;
        }
        t = b & 0x0f;
        if (b >> 4 === 0) {
          // Long form: the field id follows as a zigzag varint.
          q = skipVarint(buf, q, end, 5);
          if (q < 0) return this.suspend(d, p, end + 1, origin, maxBytes);
        }
        if (t === CType.BOOL_TRUE || t === CType.BOOL_FALSE) {
          // A bool field's value is its type code: nothing follows the header.
          p = q;
          continue;
        }
      } else {
        const left = f[top + 3]!;
        if (left === 0) {
          d--;
          continue;
        }
        t = kind === K_MAP && left % 2 === 1 ? f[top + 2]! : f[top + 1]!;
      }
      let push = -1;
      let pushT1 = 0;
      let pushT2 = 0;
      let pushLeft = 0;
      switch (t) {
        case CType.BOOL_TRUE: // a bool element: one byte
        case CType.BOOL_FALSE:
        case CType.BYTE:
          q += 1;
          break;
        case CType.I16:
        case CType.I32:
          q = skipVarint(buf, q, end, 5);
          if (q < 0) return this.suspend(d, p, end + 1, origin, maxBytes);
          break;
        case CType.I64:
          q = skipVarint(buf, q, end, 10);
          if (q < 0) return this.suspend(d, p, end + 1, origin, maxBytes);
          break;
        case CType.DOUBLE:
          q += 8;
          break;
        case CType.UUID:
          q += 16;
          break;
        case CType.BINARY: {
          q = readVarint32(buf, q, end);
          if (q < 0) return this.suspend(d, p, end + 1, origin, maxBytes);
          const n = varint.value;
          if (n > 0x7fffffff) throw malformed(`negative binary length ${n | 0}`);
          if (n > maxBytes) throw tooLarge('a thrift string', n, maxBytes);
          q += n;
          break;
        }
        case CType.STRUCT:
          push = K_STRUCT;
          break;
        case CType.SET:
        case CType.LIST: {
          if (q >= end) return this.suspend(d, p, q + 1, origin, maxBytes);
          const h = buf[q++]!;
          let n = h >> 4;
          if (n === 15) {
            q = readVarint32(buf, q, end);
            if (q < 0) return this.suspend(d, p, end + 1, origin, maxBytes);
            n = varint.value;
            if (n > 0x7fffffff) throw malformed(`negative list size ${n | 0}`);
            if (n > maxBytes) throw tooLarge('a thrift list', n, maxBytes);
          }
          if (n > 0) {
            push = K_LIST;
            pushT1 = h & 0x0f;
            pushLeft = n;
          }
          break;
        }
        case CType.MAP: {
          q = readVarint32(buf, q, end);
          if (q < 0) return this.suspend(d, p, end + 1, origin, maxBytes);
          const n = varint.value;
          if (n > 0x7fffffff) throw malformed(`negative map size ${n | 0}`);
          if (n > maxBytes) throw tooLarge('a thrift map', n, maxBytes);
          if (n > 0) {
            // Only a non-empty map has the key/value type byte.
            if (q >= end) return this.suspend(d, p, q + 1, origin, maxBytes);
            const kv = buf[q++]!;
            push = K_MAP;
            pushT1 = kv >> 4;
            pushT2 = kv & 0x0f;
            pushLeft = 2 * n;
          }
          break;
        }
        default:
          throw malformed(`unknown thrift compact type ${t}`);
      }
      if (q > end) return this.suspend(d, p, q, origin, maxBytes);
      if (kind !== K_STRUCT) f[top + 3] -= 1;
      if (push >= 0) d = openFrame(f, d, push, pushT1, pushT2, pushLeft);
      p = q;
    }
  }
}

/**
 * Opens a nested struct or container as frame `d` (kind, element types, elements left) and
 * returns the new depth; refuses nesting deeper than MAX_NESTING.
 */
function openFrame(f: Float64Array, d: number, kind: number, t1: number, t2: number, left: number): number {
  if (d === MAX_NESTING) throw malformed(`thrift nesting deeper than ${MAX_NESTING}`);
  const at = d * SLOTS;
  f[at] = kind;
  f[at + 1] = t1;
  f[at + 2] = t2;
  f[at + 3] = left;
  return d + 1;
}

/** One scanner for the stateless functions below: they run to completion before returning. */
const shared = new Scanner();

/**
 * Total byte length of one complete message (head and struct) at `offset`, `undefined` if the
 * bytes end before the message does. Throws ThriftWireError when the bytes are malformed
 * (unknown type id, negative size, nesting deeper than MAX_NESTING) or the message, or a size it
 * declares, is larger than `maxBytes`.
 */
export function messageLength(buf: Buffer, offset: number, end: number, proto: ThriftProtocolKind, maxBytes: number): number | undefined {
  checkOffset(buf, offset, end);
  shared.startMessage();
  const n = shared.run(buf, offset, end, proto, maxBytes);
  return n < 0 ? undefined : n;
}

/** Byte length of one struct at `offset` (same rules as messageLength); skips a TTwitter ResponseHeader. */
export function structLength(buf: Buffer, offset: number, end: number, proto: ThriftProtocolKind, maxBytes: number): number | undefined {
  checkOffset(buf, offset, end);
  shared.startStruct();
  const n = shared.run(buf, offset, end, proto, maxBytes);
  return n < 0 ? undefined : n;
}

/**
 * Byte length of one value of the protocol's own type code `type` at `offset`, read as a
 * container element (a compact bool is one byte); -1 when the bytes end first.
 */
export function valueLength(buf: Buffer, offset: number, end: number, proto: ThriftProtocolKind, type: number, maxBytes: number): number {
  shared.startValue(type);
  return shared.run(buf, offset, end, proto, maxBytes);
}
