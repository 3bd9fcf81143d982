/** Byte classes from RFC 9110/9112, as lookup tables built once. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let i = 0x30; i <= 0x39; i++) TCHAR[i] = 1;
for (let i = 0x41; i <= 0x5a; i++) TCHAR[i] = 1;
for (let i = 0x61; i <= 0x7a; i++) TCHAR[i] = 1;

/** Field-value bytes: VCHAR, obs-text, SP and HTAB. */
export const VCHAR_OBS = new Uint8Array(256);
for (let i = 0x21; i <= 0xff; i++) VCHAR_OBS[i] = i === 0x7f ? 0 : 1;
VCHAR_OBS[0x20] = 1;
VCHAR_OBS[0x09] = 1;

/**
 * request-target bytes: visible ASCII only (no SP, no CTL, no obs-text), and no `#`: a target
 * carries no fragment (RFC 9112 section 3.2), and a `#` passed on is a target the upstream may
 * read otherwise (`http://#x/` has no host) or refuse.
 */
export const TARGET = new Uint8Array(256);
for (let i = 0x21; i <= 0x7e; i++) TARGET[i] = 1;
TARGET[0x23] = 0;

/** Hex digit values, or -1. */
export const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) { HEX[0x41 + i] = 10 + i; HEX[0x61 + i] = 10 + i; }

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;

/**
 * Offset of the first CRLFCRLF (the end of a head) at or after `start`, or -1. Hops from LF
 * to LF with the native byte search: about half the cost of `indexOf('\r\n\r\n')`, which
 * converts its string needle on every call.
 */
export function indexOfHeadEnd(b: Buffer, start: number): number {
  let i = b.indexOf(LF, start + 1);
  while (i !== -1) {
    if (b[i + 2] === LF && b[i + 1] === CR && b[i - 1] === CR) return i - 1;
    i = b.indexOf(LF, i + 1);
  }
  return -1;
}

/** Compares buf[s, s + lower.length) with an all-lowercase ASCII name, ignoring case. */
export function eqLowerAt(buf: Buffer, s: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = buf[s + i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Copies src[s, e) to dst at `at`; short runs by hand (Buffer#copy allocates a view). */
export function copyBytes(src: Buffer, s: number, e: number, dst: Buffer, at: number): number {
  const n = e - s;
  if (n > 64) return at + src.copy(dst, at, s, e);
  for (let i = 0; i < n; i++) dst[at + i] = src[s + i]!;
  return at + n;
}

/** Writes a string's chars as bytes (latin1: each char's low byte); returns the new offset. */
export function writeLatin1(dst: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > 64) return at + dst.write(s, at, n, 'latin1');
  for (let i = 0; i < n; i++) dst[at + i] = s.charCodeAt(i) & 0xff;
  return at + n;
}
