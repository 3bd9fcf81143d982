/**
 * Request heads parsed in place: one strict pass over the bytes records offsets; fields are
 * decoded to strings only when asked for. Edits (set/remove) are recorded and applied when the
 * head is serialised for forwarding, so an unedited head is forwarded as the same bytes.
 */
import { CR, HTAB, LF, SP, TARGET, TCHAR, VCHAR_OBS, copyBytes, eqLowerAt, indexOfHeadEnd, writeLatin1 } from './chars.js';
import { Http1Error, type Http1ErrorCode } from './errors.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE } from './framing.js';
import type { Http1Limits } from './limits.js';


/** Compares buf[s,e) with an all-lowercase ASCII name, ignoring the case of buf. */
export function eqLower(buf: Buffer, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = buf[s + i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** True when the comma-separated token list buf[s,e) contains `lower` (case-insensitive). */
export function hasToken(buf: Buffer, s: number, e: number, lower: string): boolean {
  let i = s;
  while (i < e) {
    while (i < e && (buf[i] === SP || buf[i] === HTAB || buf[i] === 0x2c)) i++;
    const ts = i;
    while (i < e && buf[i] !== 0x2c) i++;
    let te = i;
    while (te > ts && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
    if (eqLower(buf, ts, te, lower)) return true;
  }
  return false;
}

/**
 * Fields a handler adds to every forwarded head (a router's `Via`, `l5d-dst-*` and trace
 * context), written straight into the forwarded bytes after all others: no per-request strings
 * or edit entries for them. The fields it writes must not also be in the head (the handler
 * removes any the client sent).
 */
export interface HeadExtra {
  /** Bytes `writeExtra` writes. */
  extraLength(): number;
  /** Writes the fields, each `name: value\r\n`, at `at`; returns the offset past them. */
  writeExtra(out: Buffer, at: number): number;
}

const NO_EDITS: readonly (string | null)[] = [];

/** Which fields toBuffer keeps (one byte per field), reused: the head is serialised at once. */
let keepBytes = new Uint8Array(128);
function keepScratch(n: number): Uint8Array {
  if (n > keepBytes.length) keepBytes = new Uint8Array(n);
  return keepBytes;
}

export class Http1RequestHead {
  /** The bytes the head was parsed from; valid until the exchange ends. */
  readonly buf: Buffer;
  readonly start: number;
  /** Offset just past the blank line that ends the head. */
  readonly end: number;
  methodEnd = 0;
  targetStart = 0;
  targetEnd = 0;
  /** Offset just past the request line's CRLF (where the first field starts). */
  lineEnd = 0;
  /** HTTP/1.<minor>; 0 or 1. */
  minor = 1;
  /** Header offsets, four per field: name start, name end, value start, value end. */
  readonly fields: number[] = [];
  bodyKind = BODY_NONE;
  contentLength = 0;
  keepAlive = true;
  isHead = false;
  expectContinue = false;
  private methodStr: string | undefined;
  private targetStr: string | undefined;
  /**
   * Pending edits as pairs: lowercase name, then its value (null removes). A handful per
   * request, so a flat array beats a Map (no hashing, one allocation).
   */
  private edits: (string | null)[] | null = null;
  private targetEdited = false;
  private versionEdited = false;
  /** Fields added by `append`, as "name: value\r\n" lines. */
  private appended: string | null = null;
  /** Fields written after all others when forwarded (see HeadExtra), or null. */
  extra: HeadExtra | null = null;

  constructor(buf: Buffer, start: number, end: number) {
    this.buf = buf;
    this.start = start;
    this.end = end;
  }

  get method(): string {
    return (this.methodStr ??= knownMethod(this.buf, this.start, this.methodEnd) ?? this.buf.toString('latin1', this.start, this.methodEnd));
  }

  get target(): string {
    return (this.targetStr ??= this.buf.toString('latin1', this.targetStart, this.targetEnd));
  }

  /** Replaces the request-target (e.g. proxy-form to origin-form) when forwarded. */
  set target(t: string) {
    this.targetStr = t;
    this.targetEdited = true;
    this.edits ??= [];
  }

  /**
   * The request said HTTP/1.<n> with n > 1: it is forwarded as HTTP/1.1, the version this
   * intermediary speaks (RFC 9110 6.2).
   */
  downgradeVersion(): void {
    this.versionEdited = true;
    this.edits ??= [];
  }

  get version(): string {
    return this.minor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
  }

  get headerCount(): number {
    return this.fields.length >> 2;
  }

  /** First value of a header, by lowercase name, as sent (edits are not reflected). */
  header(lower: string): string | undefined {
    const f = this.fields;
    for (let i = 0; i < f.length; i += 4) {
      if (eqLower(this.buf, f[i]!, f[i + 1]!, lower)) return this.buf.toString('latin1', f[i + 2]!, f[i + 3]!);
    }
    return undefined;
  }

  /**
   * True when the first field named `lower` has exactly the value `value` (as `header` would
   * decode it: latin1, surrounding whitespace excluded), compared in place.
   */
  headerIs(lower: string, value: string): boolean {
    const f = this.fields;
    const b = this.buf;
    for (let i = 0; i < f.length; i += 4) {
      if (!eqLower(b, f[i]!, f[i + 1]!, lower)) continue;
      const vs = f[i + 2]!;
      if (f[i + 3]! - vs !== value.length) return false;
      for (let k = 0; k < value.length; k++) if (b[vs + k] !== value.charCodeAt(k)) return false;
      return true;
    }
    return false;
  }

  /** True when the forwarded head carries a field of that name: received and not removed, or set. */
  forwards(lower: string): boolean {
    const e = this.edits;
    if (e !== null) for (let i = 0; i < e.length; i += 2) if (e[i] === lower) return e[i + 1] !== null;
    return this.header(lower) !== undefined;
  }

  /** Every value of a header, by lowercase name. */
  headerAll(lower: string): string[] {
    const out: string[] = [];
    const f = this.fields;
    for (let i = 0; i < f.length; i += 4) {
      if (eqLower(this.buf, f[i]!, f[i + 1]!, lower)) out.push(this.buf.toString('latin1', f[i + 2]!, f[i + 3]!));
    }
    return out;
  }

  /** Sets (replacing every existing field of that name) a header on the forwarded request. */
  set(lower: string, value: string): void {
    this.edit(lower, value);
  }

  /** Adds a field after the existing ones of that name (which are kept). */
  append(lower: string, value: string): void {
    this.appended = (this.appended ?? '') + `${lower}: ${value}\r\n`;
    this.edits ??= [];
  }

  /** Removes every field of that name from the forwarded request. */
  remove(lower: string): void {
    this.edit(lower, null);
  }

  private edit(lower: string, value: string | null): void {
    const e = (this.edits ??= []);
    for (let i = 0; i < e.length; i += 2) {
      if (e[i] === lower) {
        e[i + 1] = value;
        return;
      }
    }
    e.push(lower, value);
  }

  /**
   * The head to forward: the original bytes when unedited, else one buffer sized up front and
   * filled in place (kept fields are copied as contiguous runs, added fields written as text).
   */
  toBuffer(): Buffer {
    const extra = this.extra;
    if (this.edits === null && extra === null) return this.buf.subarray(this.start, this.end);
    const edits = this.edits ?? NO_EDITS;
    const b = this.buf;
    const f = this.fields;
    const n = f.length >> 2;
    const keep = keepScratch(n);
    // Sizes first: the request line, the kept fields (without trailing whitespace), the rest.
    let line: string | null = null;
    let size = 0;
    if (this.versionEdited) {
      line = `${this.method} ${this.target} HTTP/1.1\r\n`;
      size = line.length;
    } else if (this.targetEdited) {
      size = this.targetStart - this.start + this.targetStr!.length + this.lineEnd - this.targetEnd;
    } else size = this.lineEnd - this.start;
    for (let k = 0, i = 0; k < n; k++, i += 4) {
      const ns = f[i]!;
      const len = f[i + 1]! - ns;
      let kept = 1;
      for (let j = 0; j < edits.length; j += 2) {
        const name = edits[j]!;
        if (name.length === len && eqLowerAt(b, ns, name)) {
          kept = 0;
          break;
        }
      }
      keep[k] = kept;
      if (kept === 1) size += f[i + 3]! - ns + 2;
    }
    const appended = this.appended;
    if (appended !== null) size += appended.length;
    for (let j = 0; j < edits.length; j += 2) {
      const v = edits[j + 1];
      if (v != null) size += edits[j]!.length + v.length + 4;
    }
    if (extra !== null) size += extra.extraLength();
    size += 2;

    const out = Buffer.allocUnsafe(size);
    let at = 0;
    // A run of bytes copied as is: [runStart, runEnd) of `b`, extended while fields follow.
    let runStart: number;
    let runEnd: number;
    if (line !== null) {
      at = writeLatin1(out, at, line);
      runStart = runEnd = 0;
    } else if (this.targetEdited) {
      at = copyBytes(b, this.start, this.targetStart, out, at);
      at = writeLatin1(out, at, this.targetStr!);
      runStart = this.targetEnd;
      runEnd = this.lineEnd;
    } else {
      runStart = this.start;
      runEnd = this.lineEnd;
    }
    for (let k = 0, i = 0; k < n; k++, i += 4) {
      if (keep[k] === 0) continue;
      const ns = f[i]!;
      const ve = f[i + 3]!;
      if (ns !== runEnd) {
        at = copyBytes(b, runStart, runEnd, out, at);
        runStart = ns;
      }
      if (b[ve] === CR) runEnd = ve + 2;
      else {
        // Forwarded without trailing whitespace (legal, but strict parsers refuse it in some
        // fields, e.g. `Content-Length: 0\t`).
        at = copyBytes(b, runStart, ve, out, at);
        out[at++] = CR;
        out[at++] = LF;
        runStart = runEnd = ve;
      }
    }
    at = copyBytes(b, runStart, runEnd, out, at);
    if (appended !== null) at = writeLatin1(out, at, appended);
    for (let j = 0; j < edits.length; j += 2) {
      const v = edits[j + 1];
      if (v == null) continue;
      at = writeLatin1(out, at, edits[j]!);
      out[at++] = 0x3a;
      out[at++] = SP;
      at = writeLatin1(out, at, v);
      out[at++] = CR;
      out[at++] = LF;
    }
    if (extra !== null) at = extra.writeExtra(out, at);
    out[at++] = CR;
    out[at++] = LF;
    return out;
  }
}

/** Head parse outcome: a head, an error, or null when more bytes are needed. */
export type ParseResult = Http1RequestHead | Http1Error | null;

const SCHEME = new Uint8Array(256);
for (let c = 0x61; c <= 0x7a; c++) { SCHEME[c] = 1; SCHEME[c - 0x20] = 1; }
for (let c = 0x30; c <= 0x39; c++) SCHEME[c] = 2;
SCHEME[0x2b] = 2; SCHEME[0x2d] = 2; SCHEME[0x2e] = 2;

/** RFC 9112 section 3.2: the four request-target forms (authority-form only for CONNECT). */
function targetForm(b: Buffer, s: number, e: number, connect: boolean): boolean {
  const c = b[s];
  if (c === 0x2f) return !connect; // origin-form
  if (c === 0x2a) return e - s === 1; // asterisk-form
  if (connect) return b.lastIndexOf(0x3a, e) > s; // authority-form: host:port
  // absolute-form: scheme "://" authority ...; an empty authority names no host (RFC 9110 4.2.1).
  if (SCHEME[c!] !== 1) return false;
  let i = s + 1;
  while (i < e && SCHEME[b[i]!] !== 0) i++;
  return i + 3 < e && b[i] === 0x3a && b[i + 1] === 0x2f && b[i + 2] === 0x2f && b[i + 3] !== 0x2f && b[i + 3] !== 0x3f;
}

/** The common methods as constant strings: most requests' method then costs no allocation. */
function knownMethod(b: Buffer, s: number, e: number): string | undefined {
  switch (e - s) {
    case 3:
      if (b[s] === 0x47 && b[s + 1] === 0x45 && b[s + 2] === 0x54) return 'GET';
      if (b[s] === 0x50 && b[s + 1] === 0x55 && b[s + 2] === 0x54) return 'PUT';
      return undefined;
    case 4:
      if (b[s] === 0x50 && b[s + 1] === 0x4f && b[s + 2] === 0x53 && b[s + 3] === 0x54) return 'POST';
      if (b[s] === 0x48 && b[s + 1] === 0x45 && b[s + 2] === 0x41 && b[s + 3] === 0x44) return 'HEAD';
      return undefined;
    default:
      return undefined;
  }
}

function fail(code: Http1ErrorCode, msg: string): Http1Error {
  return new Http1Error(code, msg);
}

/**
 * Parses a request head starting at `start`. Returns null while the head is incomplete and
 * within limits. Only complete heads are parsed, so a head trickling in is scanned once.
 */
export function parseRequestHead(buf: Buffer, start: number, limits: Http1Limits): ParseResult {
  const maxLine = limits.maxInitialLineKB * 1024;
  const maxHeaders = limits.maxHeadersKB * 1024;
  let end = indexOfHeadEnd(buf, start);
  if (end < 0) {
    // A blank line made with bare LFs would never match: parse up to it so it is rejected.
    const lflf = buf.indexOf('\n\n', start, 'latin1');
    if (lflf >= 0) end = lflf - 2;
  }
  if (end < 0) {
    const nl = buf.indexOf(LF, start);
    if (nl < 0 ? buf.length - start > maxLine : nl - start > maxLine + 1) {
      return fail('MESH_ERR_HTTP1_INITIAL_LINE_TOO_LONG', `request line longer than ${limits.maxInitialLineKB} KB`);
    }
    if (nl >= 0 && buf.length - nl > maxHeaders + 2) {
      return fail('MESH_ERR_HTTP1_HEADERS_TOO_LARGE', `headers larger than ${limits.maxHeadersKB} KB`);
    }
    return null;
  }
  return parseComplete(buf, start, end + 4, limits, maxLine, maxHeaders);
}

function parseComplete(b: Buffer, start: number, end: number, limits: Http1Limits, maxLine: number, maxHeaders: number): ParseResult {
  let i = start;
  while (TCHAR[b[i]!] === 1) i++;
  if (i === start || b[i] !== SP) return fail('MESH_ERR_HTTP1_BAD_REQUEST_LINE', 'bad method');
  const head = new Http1RequestHead(b, start, end);
  head.methodEnd = i;
  head.isHead = i - start === 4 && b[start] === 0x48 && b[start + 1] === 0x45 && b[start + 2] === 0x41 && b[start + 3] === 0x44;
  const ts = ++i;
  while (TARGET[b[i]!] === 1) i++;
  if (i === ts || b[i] !== SP) {
    if (b[i] === LF) return fail('MESH_ERR_HTTP1_BARE_LF', 'bare LF in request line');
    return fail('MESH_ERR_HTTP1_BAD_REQUEST_LINE', b[i] === 0x23 ? "a '#' in the request-target (a fragment is never sent; a literal '#' is written %23)" : 'bad request-target');
  }
  head.targetStart = ts;
  head.targetEnd = i;
  if (!targetForm(b, ts, i, head.methodEnd - start === 7 && eqLower(b, start, head.methodEnd, 'connect'))) {
    return fail('MESH_ERR_HTTP1_BAD_REQUEST_LINE', 'request-target is not origin-, absolute-, authority- or asterisk-form');
  }
  i++;
  if (b[i] !== 0x48 || b[i + 1] !== 0x54 || b[i + 2] !== 0x54 || b[i + 3] !== 0x50 || b[i + 4] !== 0x2f || b[i + 6] !== 0x2e) {
    return fail('MESH_ERR_HTTP1_BAD_REQUEST_LINE', 'bad HTTP version');
  }
  const major = b[i + 5]! - 0x30;
  const minor = b[i + 7]! - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return fail('MESH_ERR_HTTP1_BAD_REQUEST_LINE', 'bad HTTP version');
  if (major !== 1) return fail('MESH_ERR_HTTP1_VERSION', `HTTP/${major}.${minor} is not supported`);
  head.minor = minor === 0 ? 0 : 1;
  if (minor > 1) head.downgradeVersion();
  i += 8;
  if (b[i] === LF) return fail('MESH_ERR_HTTP1_BARE_LF', 'bare LF after request line');
  if (b[i] !== CR || b[i + 1] !== LF) return fail('MESH_ERR_HTTP1_BAD_REQUEST_LINE', 'junk after HTTP version');
  if (i - start > maxLine) return fail('MESH_ERR_HTTP1_INITIAL_LINE_TOO_LONG', `request line longer than ${limits.maxInitialLineKB} KB`);
  i += 2;
  const headersStart = i;
  head.lineEnd = i;
  if (end - 2 - headersStart > maxHeaders) return fail('MESH_ERR_HTTP1_HEADERS_TOO_LARGE', `headers larger than ${limits.maxHeadersKB} KB`);
  const fields = head.fields;
  let hosts = 0;
  let cl = -1;
  let te = false;
  let teChunked = false;
  let connClose = false;
  let connKeepAlive = false;
  for (;;) {
    const c = b[i];
    if (c === CR) {
      if (b[i + 1] !== LF) return fail('MESH_ERR_HTTP1_BAD_HEADER', 'CR without LF');
      i += 2;
      break;
    }
    if (c === LF) return fail('MESH_ERR_HTTP1_BARE_LF', 'bare LF in headers');
    if (c === SP || c === HTAB) return fail('MESH_ERR_HTTP1_OBS_FOLD', 'obsolete line folding');
    const ns = i;
    while (TCHAR[b[i]!] === 1) i++;
    if (i === ns || b[i] !== 0x3a) return fail('MESH_ERR_HTTP1_BAD_HEADER', 'bad header name');
    const ne = i++;
    while (b[i] === SP || b[i] === HTAB) i++;
    const vs = i;
    while (VCHAR_OBS[b[i]!] === 1) i++;
    if (b[i] !== CR) return b[i] === LF ? fail('MESH_ERR_HTTP1_BARE_LF', 'bare LF in header') : fail('MESH_ERR_HTTP1_BAD_HEADER', 'bad byte in header value');
    if (b[i + 1] !== LF) return fail('MESH_ERR_HTTP1_BAD_HEADER', 'CR without LF');
    let ve = i;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    i += 2;
    if (fields.push(ns, ne, vs, ve) > limits.maxHeaderCount * 4) {
      return fail('MESH_ERR_HTTP1_HEADERS_TOO_LARGE', `more than ${limits.maxHeaderCount} header fields`);
    }
    // Only the fields that decide framing and routing are looked at during the parse.
    switch (ne - ns) {
      case 4:
        if (eqLower(b, ns, ne, 'host')) hosts++;
        break;
      case 6:
        if (eqLower(b, ns, ne, 'expect') && eqLower(b, vs, ve, '100-continue')) head.expectContinue = true;
        break;
      case 10:
        if (eqLower(b, ns, ne, 'connection')) {
          if (hasToken(b, vs, ve, 'close')) connClose = true;
          if (hasToken(b, vs, ve, 'keep-alive')) connKeepAlive = true;
        }
        break;
      case 14:
        if (eqLower(b, ns, ne, 'content-length')) {
          if (cl >= 0) return fail('MESH_ERR_HTTP1_DUPLICATE_CL', 'more than one Content-Length');
          if (ve === vs || ve - vs > 15) return fail('MESH_ERR_HTTP1_BAD_CL', 'bad Content-Length');
          let n = 0;
          for (let k = vs; k < ve; k++) {
            const d = b[k]! - 0x30;
            if (d < 0 || d > 9) return fail('MESH_ERR_HTTP1_BAD_CL', 'bad Content-Length');
            n = n * 10 + d;
          }
          cl = n;
        }
        break;
      case 17:
        if (eqLower(b, ns, ne, 'transfer-encoding')) {
          if (te) return fail('MESH_ERR_HTTP1_BAD_TE', 'more than one Transfer-Encoding');
          te = true;
          teChunked = eqLower(b, vs, ve, 'chunked');
        }
        break;
    }
  }
  if (te && cl >= 0) return fail('MESH_ERR_HTTP1_CL_AND_TE', 'both Content-Length and Transfer-Encoding');
  if (te && head.minor === 0) return fail('MESH_ERR_HTTP1_BAD_TE', 'Transfer-Encoding in an HTTP/1.0 request');
  if (te && !teChunked) {
    // RFC 9112 6.3: chunked anywhere but last cannot be framed (400); other codings are 501.
    const v = head.header('transfer-encoding') ?? '';
    if (/(^|,)\s*chunked\s*,/i.test(v)) return fail('MESH_ERR_HTTP1_BAD_TE', 'chunked must be the final transfer coding');
    return fail('MESH_ERR_HTTP1_UNSUPPORTED_TE', 'only Transfer-Encoding: chunked is supported');
  }
  if (head.minor === 1 && hosts !== 1) return fail('MESH_ERR_HTTP1_HOST', hosts === 0 ? 'missing Host' : 'more than one Host');
  if (hosts > 1) return fail('MESH_ERR_HTTP1_HOST', 'more than one Host');
  if (teChunked) head.bodyKind = BODY_CHUNKED;
  else if (cl > 0) { head.bodyKind = BODY_LENGTH; head.contentLength = cl; }
  head.keepAlive = head.minor === 1 ? !connClose : connKeepAlive && !connClose;
  return head;
}
