/**
 * Response heads from upstreams, read in place for framing only: status, Content-Length,
 * Transfer-Encoding and Connection. The head bytes themselves are forwarded unchanged.
 */
import { CR, HTAB, LF, SP, TCHAR, VCHAR_OBS, indexOfHeadEnd } from './chars.js';
import { BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE } from './framing.js';
import { eqLower, hasToken } from './request-head.js';

export const MAX_RESPONSE_HEAD = 64 * 1024;

/** Reused per upstream connection: the framing facts of the response being read. */
const EMPTY_BUF = Buffer.alloc(0);

export class ResponseInfo {
  status = 0;
  minor = 1;
  bodyKind = BODY_NONE;
  contentLength = 0;
  /** The upstream will close after this response (or the response is close-delimited). */
  close = false;
  /** The upstream said `l5d-retryable: true` (the request did not reach the application). */
  retryable = false;
  /** The head has hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection) a proxy drops. */
  hopByHop = false;
  /**
   * The only hop-by-hop field is one `Connection: keep-alive` on an HTTP/1.1 response (not
   * counted in `hopByHop`): it is as true of the client hop when that connection stays open,
   * so the head can be forwarded as it is.
   */
  keepAliveOnly = false;
  /** Offsets of the head within the buffer it was parsed from, and that buffer. */
  start = 0;
  end = 0;
  buf: Buffer = EMPTY_BUF;
}

/**
 * The value of the first field `name` (lower case) in the head `info` describes, or undefined
 * (for a listener that needs one field of a response; the request path never calls it).
 */
export function responseField(info: ResponseInfo, name: string): string | undefined {
  const text = info.buf.toString('latin1', info.start, info.end);
  const lines = text.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** The values of every field `name` (lower case) in the head, in order (a slow path's, as responseField). */
export function responseFields(info: ResponseInfo, name: string): string[] {
  const out: string[] = [];
  const lines = info.buf.toString('latin1', info.start, info.end).split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).toLowerCase() === name) out.push(line.slice(colon + 1).trim());
  }
  return out;
}

export const RESPONSE_NEED_MORE = -1;
export const RESPONSE_BAD = -2;

/**
 * Parses the response head at `start`; fills `out` and returns the offset past the head,
 * RESPONSE_NEED_MORE, or RESPONSE_BAD. `headRequest` marks a response to HEAD (no body).
 */
export function parseResponseHead(b: Buffer, start: number, headRequest: boolean, out: ResponseInfo): number {
  const e = indexOfHeadEnd(b, start);
  if (e < 0) return b.length - start > MAX_RESPONSE_HEAD ? RESPONSE_BAD : RESPONSE_NEED_MORE;
  const end = e + 4;
  let i = start;
  // HTTP/1.x SSS reason
  if (b[i] !== 0x48 || b[i + 1] !== 0x54 || b[i + 2] !== 0x54 || b[i + 3] !== 0x50 || b[i + 4] !== 0x2f || b[i + 5] !== 0x31 || b[i + 6] !== 0x2e) return RESPONSE_BAD;
  // HTTP/1.0 or HTTP/1.1 only: the status line is forwarded as received, and a client cannot
  // read a version that does not exist (llhttp refuses HTTP/1.2).
  const minor = b[i + 7]! - 0x30;
  if (minor < 0 || minor > 1 || b[i + 8] !== SP) return RESPONSE_BAD;
  const d0 = b[i + 9]! - 0x30, d1 = b[i + 10]! - 0x30, d2 = b[i + 11]! - 0x30;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return RESPONSE_BAD;
  const status = d0 * 100 + d1 * 10 + d2;
  i += 12;
  if (b[i] !== SP && b[i] !== CR) return RESPONSE_BAD;
  while (b[i] !== CR) { const c = b[i]!; if (c !== HTAB && VCHAR_OBS[c] !== 1) return RESPONSE_BAD; i++; }
  if (b[i + 1] !== LF) return RESPONSE_BAD;
  i += 2;
  let cl = -1;
  let te = false;
  let chunked = false;
  let close = minor === 0;
  let retryable = false;
  let hop = false;
  let keepAliveOnly = false;
  for (;;) {
    if (b[i] === CR) { if (b[i + 1] !== LF) return RESPONSE_BAD; break; }
    const ns = i;
    while (TCHAR[b[i]!] === 1) i++;
    if (i === ns || b[i] !== 0x3a) return RESPONSE_BAD;
    const ne = i++;
    while (b[i] === SP || b[i] === HTAB) i++;
    const vs = i;
    while (VCHAR_OBS[b[i]!] === 1) i++;
    if (b[i] !== CR || b[i + 1] !== LF) return RESPONSE_BAD;
    let ve = i;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    i += 2;
    const n = ne - ns;
    if (n === 14 && eqLower(b, ns, ne, 'content-length')) {
      let v = 0;
      if (ve === vs || ve - vs > 15) return RESPONSE_BAD;
      for (let k = vs; k < ve; k++) { const d = b[k]! - 0x30; if (d < 0 || d > 9) return RESPONSE_BAD; v = v * 10 + d; }
      // Even an equal second Content-Length is refused: the head is forwarded as received, and
      // strict clients (llhttp) refuse any duplicate, as the request parser here does.
      if (cl >= 0) return RESPONSE_BAD;
      cl = v;
    } else if (n === 17 && eqLower(b, ns, ne, 'transfer-encoding')) {
      te = true;
      // The final coding decides the framing; anything else is read until close. It must be the
      // whole last list element: `xchunked` is another coding, read until close by clients too.
      let last = vs;
      for (let k = ve - 1; k >= vs; k--) if (b[k] === 0x2c) { last = k + 1; break; }
      while (last < ve && (b[last] === SP || b[last] === HTAB)) last++;
      chunked = ve - last === 7 && eqLower(b, last, ve, 'chunked');
    } else if (n === 13 && eqLower(b, ns, ne, 'l5d-retryable')) {
      retryable = eqLower(b, vs, ve, 'true');
    } else if (n === 10 && eqLower(b, ns, ne, 'connection')) {
      if (minor === 1 && !keepAliveOnly && ve - vs === 10 && eqLower(b, vs, ve, 'keep-alive')) keepAliveOnly = true;
      else hop = true;
      if (hasToken(b, vs, ve, 'close')) close = true;
      else if (minor === 0 && hasToken(b, vs, ve, 'keep-alive')) close = false;
    } else if ((n === 10 && eqLower(b, ns, ne, 'keep-alive')) || (n === 16 && eqLower(b, ns, ne, 'proxy-connection'))) {
      hop = true;
    }
  }
  out.status = status;
  out.minor = minor;
  out.retryable = retryable;
  out.hopByHop = hop;
  out.keepAliveOnly = keepAliveOnly && !hop;
  out.start = start;
  out.end = end;
  out.buf = b;
  out.contentLength = 0;
  // Both framings in one head is refused whatever the status: a response without a body still
  // carries them to the client, which refuses the head (llhttp does, for HEAD, 1xx and 204 too).
  if (te && cl >= 0) return RESPONSE_BAD;
  if (headRequest || status < 200 || status === 204 || status === 304) out.bodyKind = BODY_NONE;
  else if (te) {
    out.bodyKind = chunked ? BODY_CHUNKED : BODY_CLOSE;
  } else if (cl >= 0) {
    out.bodyKind = cl === 0 ? BODY_NONE : BODY_LENGTH;
    out.contentLength = cl;
  } else out.bodyKind = BODY_CLOSE;
  if (out.bodyKind === BODY_CLOSE) close = true;
  out.close = close;
  return end;
}
