/**
 * Splitting a thrift byte stream into messages, and framing messages for sending, for the two
 * transports Linkerd's thrift router offers: framed (a 4-byte big-endian length before each
 * message, Finagle's default) and buffered (messages back to back; boundaries are found only by
 * scanning each message, scan.ts).
 */
import { malformed, tooLarge } from './errors.js';
import { Scanner } from './scan.js';
import type { ThriftProtocolKind } from './types.js';

const EMPTY: Buffer = Buffer.alloc(0);
/** Smallest accumulation buffer: most partial messages fit, and tiny chunks do not realloc. */
const MIN_CAPACITY = 4096;

export interface MessageReaderOptions {
  framed: boolean;
  proto: ThriftProtocolKind;
  /** Largest message (a frame's payload when framed) accepted. */
  maxBytes: number;
  /**
   * Buffered transport on a TTwitter-upgraded connection: each message comes after a
   * RequestHeader/ResponseHeader struct, and the header and message are returned as one unit.
   * Irrelevant when framed (the frame holds both).
   */
  prefixed?: boolean;
}

/**
 * Turns chunks of a connection's bytes into whole messages. A message that lies in one chunk is
 * returned as a view of it (no copy); only a message split across chunks is assembled in a
 * buffer, which then belongs to that message alone. After a push throws, the stream is lost:
 * close the connection.
 */
export class MessageReader {
  readonly framed: boolean;
  readonly proto: ThriftProtocolKind;
  readonly maxBytes: number;
  private _prefixed: boolean;
  private readonly scanner = new Scanner();
  /** Unconsumed bytes are buf[0, len): a view of the last chunk, or (owned) our own buffer with spare room. */
  private buf: Buffer = EMPTY;
  private len = 0;
  private owned = false;

  constructor(opts: MessageReaderOptions) {
    if (!Number.isInteger(opts.maxBytes) || opts.maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer, got ${opts.maxBytes}`);
    this.framed = opts.framed;
    this.proto = opts.proto;
    this.maxBytes = opts.maxBytes;
    this._prefixed = opts.prefixed ?? false;
    this.scanner.startMessage(this._prefixed);
  }

  /** Bytes received but not yet returned as a message. */
  get buffered(): number {
    return this.len;
  }

  get prefixed(): boolean {
    return this._prefixed;
  }

  /**
   * Switches to (or from) TTwitter-prefixed messages, from the first message not yet returned:
   * set after the upgrade exchange (Finagle sends nothing more until the upgrade reply came).
   */
  set prefixed(on: boolean) {
    this._prefixed = on;
    this.scanner.startMessage(on);
  }

  /** The messages completed by `chunk`, in order; the rest is kept for the next push. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length === 0) return out;
    let data = chunk;
    if (this.len > 0) {
      // A message is pending: assemble in our buffer. Messages returned from it are views of
      // bytes before `len`, and appends only write after it, so they are never overwritten.
      this.append(chunk);
      data = this.buf;
    }
    const end = data === chunk ? chunk.length : this.len;
    let off = 0;
    while (off < end) {
      const n = this.next(data, off, end);
      if (n < 0) break;
      out.push(this.unit(data, off, n));
      off += n;
    }
    if (off === end) {
      this.buf = EMPTY;
      this.len = 0;
      this.owned = false;
    } else if (off > 0 || data === chunk) {
      this.owned = data !== chunk;
      this.buf = this.owned ? data.subarray(off) : data.subarray(off, end);
      this.len = end - off;
    }
    return out;
  }

  /** Length of the unit (frame, or message) at `off` including any length prefix, -1 if incomplete. */
  private next(data: Buffer, off: number, end: number): number {
    if (this.framed) {
      if (end - off < 4) return -1;
      const size = data.readInt32BE(off);
      if (size < 0) throw malformed(`negative thrift frame size ${size}`);
      if (size > this.maxBytes) throw tooLarge('a thrift frame', size, this.maxBytes);
      return end - off < 4 + size ? -1 : 4 + size;
    }
    const n = this.scanner.run(data, off, end, this.proto, this.maxBytes);
    if (n >= 0) this.scanner.startMessage(this._prefixed);
    return n;
  }

  private unit(data: Buffer, off: number, n: number): Buffer {
    return this.framed ? data.subarray(off + 4, off + n) : data.subarray(off, off + n);
  }

  private append(chunk: Buffer): void {
    const need = this.len + chunk.length;
    if (!this.owned || need > this.buf.length) {
      let capacity = Math.max(need, this.len * 2, MIN_CAPACITY);
      // A frame's size is known (and was checked) once its prefix is here: allocate it once.
      if (this.framed && this.len >= 4) {
        const frame = 4 + this.buf.readInt32BE(0);
        if (frame >= need) capacity = frame;
      }
      const next = Buffer.allocUnsafe(capacity);
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
      this.owned = true;
    }
    chunk.copy(this.buf, this.len);
    this.len = need;
  }
}

/** A message ready for writev/cork: framed, [4-byte length, msg]; buffered, [msg]. No copy of msg. */
export function frameParts(msg: Buffer, framed: boolean): Buffer[] {
  if (!framed) return [msg];
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(msg.length, 0);
  return [prefix, msg];
}
