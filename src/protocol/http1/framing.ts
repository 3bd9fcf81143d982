/**
 * Finds where a message body ends without copying or decoding it: bodies are forwarded in
 * their wire framing (chunked stays chunked, but for a client that cannot read it: see
 * dechunk.ts), so the engine only needs the end offset. The chunked scanner is strict: hex
 * sizes only, CRLF everywhere, no bare LF, bounded trailers.
 */
import { CR, HEX, HTAB, LF, SP, TCHAR, VCHAR_OBS } from './chars.js';

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
/** Response bodies without Content-Length or chunked: they end when the upstream closes. */
export const BODY_CLOSE = 3;

/** `scan` results other than an end offset. */
export const NEED_MORE = -1;
export const BAD_FRAMING = -2;

const S_SIZE_START = 0;
const S_SIZE = 1;
const S_SIZE_LF = 3;
const S_DATA = 4;
const S_DATA_CR = 5;
const S_DATA_LF = 6;
const S_TRAILER_START = 7;
const S_TRAILER_LINE = 8;
const S_TRAILER_LF = 9;
const S_END_LF = 10;
const S_TRAILER_NAME = 11;
// chunk-ext = *( ";" ext-name [ "=" ( token / quoted-string ) ] ): RFC 9112 7.1.1 without its
// BWS. A sender must not generate BWS, and this engine forwards chunk lines as received, so a
// chunk line with whitespace outside a quoted value is refused (400), as Node's parser and
// other strict upstreams refuse it; forwarding it would hand them a message they reject or,
// worse, read differently.
const S_EXT_NAME_START = 13;
const S_EXT_NAME = 14;
const S_EXT_VAL_START = 16;
const S_EXT_TOKEN = 17;
const S_EXT_QUOTED = 18;
const S_EXT_QESC = 19;
const S_EXT_AFTER_VAL = 20;
const MAX_EXT_BYTES = 4096;

const MAX_SIZE_DIGITS = 12;
const MAX_TRAILER_BYTES = 8192;
const TE_NAME = 'transfer-encoding';
const CL_NAME = 'content-length';


const afterName = (c: number): number => (c === 0x3d ? S_EXT_VAL_START : c === 0x3b ? S_EXT_NAME_START : c === CR ? S_SIZE_LF : -1);
const afterValue = (c: number): number => (c === 0x3b ? S_EXT_NAME_START : c === CR ? S_SIZE_LF : -1);

/** One byte of a chunk extension: the next state, S_SIZE_LF at its CR, or -1 when malformed. */
function chunkExt(state: number, c: number): number {
  switch (state) {
    case S_EXT_NAME_START:
      return TCHAR[c] === 1 ? S_EXT_NAME : -1;
    case S_EXT_NAME:
      if (TCHAR[c] === 1) return S_EXT_NAME;
      return afterName(c);
    case S_EXT_VAL_START:
      return c === 0x22 ? S_EXT_QUOTED : TCHAR[c] === 1 ? S_EXT_TOKEN : -1;
    case S_EXT_TOKEN:
      if (TCHAR[c] === 1) return S_EXT_TOKEN;
      return afterValue(c);
    case S_EXT_AFTER_VAL:
      return afterValue(c);
    case S_EXT_QUOTED: // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (c === 0x22) return S_EXT_AFTER_VAL;
      if (c === 0x5c) return S_EXT_QESC;
      return c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80 ? S_EXT_QUOTED : -1;
    case S_EXT_QESC: // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      return c === HTAB || c === SP || (c >= 0x21 && c <= 0x7e) || c >= 0x80 ? S_EXT_QUOTED : -1;
    default:
      return -1;
  }
}

export class BodyFramer {
  kind = BODY_NONE;
  /** Bytes left of a Content-Length body, or of the current chunk's data. */
  remaining = 0;
  private state = S_SIZE_START;
  private digits = 0;
  private extBytes = 0;
  private trailerBytes = 0;
  /** Trailer name matching: length so far and whether it may still be a framing field. */
  private nameLen = 0;
  private maybeTE = false;
  private maybeCL = false;

  reset(kind: number, length: number): void {
    this.kind = kind;
    this.remaining = kind === BODY_LENGTH ? length : 0;
    this.state = S_SIZE_START;
    this.digits = 0;
    this.trailerBytes = 0;
  }

  /** True when the body is complete (or there was none). */
  get done(): boolean {
    return this.kind === BODY_NONE;
  }

  /**
   * Scans `buf` from `from`. Returns the offset just past the body's last byte, NEED_MORE when
   * every byte from `from` belongs to the body and more are expected, or BAD_FRAMING.
   */
  scan(buf: Buffer, from: number): number {
    const kind = this.kind;
    if (kind === BODY_NONE) return from;
    if (kind === BODY_LENGTH) {
      const avail = buf.length - from;
      if (avail < this.remaining) { this.remaining -= avail; return NEED_MORE; }
      const end = from + this.remaining;
      this.remaining = 0;
      this.kind = BODY_NONE;
      return end;
    }
    if (kind === BODY_CLOSE) return NEED_MORE;
    return this.scanChunked(buf, from);
  }

  private scanChunked(buf: Buffer, from: number): number {
    const len = buf.length;
    let i = from;
    let state = this.state;
    while (i < len) {
      const c = buf[i]!;
      switch (state) {
        case S_SIZE_START:
          if (HEX[c]! < 0) return BAD_FRAMING;
          this.remaining = HEX[c]!;
          this.digits = c === 0x30 ? 0 : 1;
          state = S_SIZE;
          i++;
          break;
        case S_SIZE: {
          const h = HEX[c]!;
          if (h >= 0) {
            if (this.digits > 0 || h > 0) this.digits++;
            if (this.digits > MAX_SIZE_DIGITS) return BAD_FRAMING;
            this.remaining = this.remaining * 16 + h;
            i++;
          } else if (c === CR) { state = S_SIZE_LF; i++; }
          else if (c === 0x3b) { state = S_EXT_NAME_START; this.extBytes = 0; i++; }
          else return BAD_FRAMING;
          break;
        }
        case S_EXT_NAME_START:
        case S_EXT_NAME:
        case S_EXT_VAL_START:
        case S_EXT_TOKEN:
        case S_EXT_QUOTED:
        case S_EXT_QESC:
        case S_EXT_AFTER_VAL:
          if (++this.extBytes > MAX_EXT_BYTES) return BAD_FRAMING;
          state = chunkExt(state, c);
          if (state < 0) return BAD_FRAMING;
          i++;
          break;
        case S_SIZE_LF:
          if (c !== LF) return BAD_FRAMING;
          i++;
          state = this.remaining === 0 ? S_TRAILER_START : S_DATA;
          break;
        case S_DATA: {
          const avail = len - i;
          if (avail < this.remaining) { this.remaining -= avail; i = len; }
          else { i += this.remaining; this.remaining = 0; state = S_DATA_CR; }
          break;
        }
        case S_DATA_CR:
          if (c !== CR) return BAD_FRAMING;
          state = S_DATA_LF; i++;
          break;
        case S_DATA_LF:
          if (c !== LF) return BAD_FRAMING;
          state = S_SIZE_START; i++;
          break;
        case S_TRAILER_START:
          if (c === CR) { state = S_END_LF; i++; }
          else if (TCHAR[c] === 1) {
            state = S_TRAILER_NAME;
            const l = c | 0x20;
            this.nameLen = 1;
            this.maybeTE = l === 0x74;
            this.maybeCL = l === 0x63;
            i++;
            this.trailerBytes++;
          } else return BAD_FRAMING;
          break;
        case S_TRAILER_NAME:
          if (c === 0x3a) {
            // Framing fields in trailers could smuggle a second framing past a later hop.
            if ((this.maybeTE && this.nameLen === 17) || (this.maybeCL && this.nameLen === 14)) return BAD_FRAMING;
            state = S_TRAILER_LINE;
          } else if (TCHAR[c] !== 1) return BAD_FRAMING;
          else {
            const l = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
            if (this.maybeTE && l !== TE_NAME.charCodeAt(this.nameLen)) this.maybeTE = false;
            if (this.maybeCL && l !== CL_NAME.charCodeAt(this.nameLen)) this.maybeCL = false;
            this.nameLen++;
          }
          i++;
          if (++this.trailerBytes > MAX_TRAILER_BYTES) return BAD_FRAMING;
          break;
        case S_TRAILER_LINE:
          if (c === CR) { state = S_TRAILER_LF; i++; }
          else if (VCHAR_OBS[c] === 1) { i++; if (++this.trailerBytes > MAX_TRAILER_BYTES) return BAD_FRAMING; }
          else return BAD_FRAMING;
          break;
        case S_TRAILER_LF:
          if (c !== LF) return BAD_FRAMING;
          state = S_TRAILER_START; i++;
          break;
        case S_END_LF:
          if (c !== LF) return BAD_FRAMING;
          this.kind = BODY_NONE;
          this.state = S_SIZE_START;
          return i + 1;
      }
    }
    this.state = state;
    return NEED_MORE;
  }
}
