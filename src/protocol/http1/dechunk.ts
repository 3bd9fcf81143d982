/**
 * Takes the data out of a chunked body for a client that cannot read chunked framing (an
 * HTTP/1.0 client, RFC 9112 section 7). Used only on that path: the engine otherwise forwards
 * bodies in their wire framing. It reads bytes BodyFramer has already validated, so it does
 * not check them again: it only finds where each chunk's data starts and ends.
 */
import { HEX, LF } from './chars.js';

const D_SIZE = 0;
/** The rest of a chunk-size line: extensions (dropped) up to its LF. */
const D_LINE = 1;
const D_DATA = 2;
/** The CRLF after a chunk's data. */
const D_DATA_END = 3;
/** After the last chunk: trailer fields (dropped) and the final CRLF. */
const D_TRAILER = 4;

export class ChunkDecoder {
  private state = D_SIZE;
  /** The size of the chunk whose size line is being read, then the data bytes left of it. */
  private remaining = 0;
  /** Bytes left of the CRLF after a chunk's data. */
  private skip = 0;

  reset(): void {
    this.state = D_SIZE;
    this.remaining = 0;
    this.skip = 0;
  }

  /**
   * Moves the chunk data found in buf[from, to) to the front of that range (in place: the
   * framing bytes between chunks are overwritten) and returns its length, so that the data
   * is buf[from, from + n) and one write sends it. buf[from, to) must be bytes of a chunked
   * body that BodyFramer accepted, in order, with none left out.
   */
  decode(buf: Buffer, from: number, to: number): number {
    let i = from;
    let out = from;
    let state = this.state;
    while (i < to) {
      switch (state) {
        case D_SIZE: {
          const h = HEX[buf[i]!]!;
          // The first byte that is not a hex digit is the CR or the `;` of an extension.
          if (h >= 0) this.remaining = this.remaining * 16 + h;
          else state = D_LINE;
          i++;
          break;
        }
        case D_LINE: {
          const lf = buf.indexOf(LF, i);
          if (lf < 0 || lf >= to) { i = to; break; }
          i = lf + 1;
          state = this.remaining === 0 ? D_TRAILER : D_DATA;
          break;
        }
        case D_DATA: {
          const n = Math.min(this.remaining, to - i);
          if (out !== i) buf.copyWithin(out, i, i + n);
          out += n;
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) { state = D_DATA_END; this.skip = 2; }
          break;
        }
        case D_DATA_END: {
          const n = Math.min(this.skip, to - i);
          i += n;
          this.skip -= n;
          if (this.skip === 0) state = D_SIZE;
          break;
        }
        default:
          i = to;
      }
    }
    this.state = state;
    return out - from;
  }
}
