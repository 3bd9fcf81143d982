/**
 * Reads a path written as text (a header value, a request path) the way Finagle's
 * `Path.read` does: `/` alone is the empty path; elements are label chars or `\xHH` escapes;
 * surrounding whitespace is skipped. Errors name what was expected and where, e.g.
 * `label char expected but end of input found at '/foo/[]'`.
 *
 * Kept here so identifiers do not wait on the naming parser; both follow naming-semantics.md.
 */
import { Path } from '../../naming/path.js';

function isLabelChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || // 0-9
    (c >= 65 && c <= 90) || // A-Z
    (c >= 97 && c <= 122) || // a-z
    c === 95 || c === 58 || c === 46 || c === 35 || c === 36 || c === 37 || c === 45 // _ : . # $ % -
  );
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

export class PathSyntaxError extends Error {
  readonly code = 'MESH_ERR_IDENTIFIER_BAD_PATH';
  constructor(message: string) {
    super(message);
    this.name = 'PathSyntaxError';
  }
}

function illegal(s: string, i: number, expected: string): never {
  const found = i < s.length ? `'${s[i]}'` : 'end of input';
  const shown = s.slice(0, i) + '[' + s.slice(i, i + 1) + ']' + s.slice(i + 1);
  throw new PathSyntaxError(`${expected} expected but ${found} found at '${shown}'`);
}

export function readPathText(s: string): Path {
  let i = 0;
  const n = s.length;
  while (i < n && isSpace(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) !== 47) illegal(s, i, "'/'");
  i++;
  const elems: string[] = [];
  if (i < n && (isLabelChar(s.charCodeAt(i)) || s.charCodeAt(i) === 92)) {
    for (;;) {
      let elem = '';
      const start = i;
      while (i < n) {
        const c = s.charCodeAt(i);
        if (isLabelChar(c)) {
          elem += s[i];
          i++;
        } else if (c === 92 /* \ */) {
          if (s.charCodeAt(i + 1) !== 120 /* x */) illegal(s, i + 1, "'x'");
          if (!isHex(s.charCodeAt(i + 2))) illegal(s, i + 2, 'hex char');
          if (!isHex(s.charCodeAt(i + 3))) illegal(s, i + 3, 'hex char');
          elem += String.fromCharCode(parseInt(s.slice(i + 2, i + 4), 16));
          i += 4;
        } else break;
      }
      if (i === start) illegal(s, i, 'label char');
      elems.push(elem);
      if (s.charCodeAt(i) !== 47) break;
      i++;
    }
  }
  while (i < n && isSpace(s.charCodeAt(i))) i++;
  if (i < n) illegal(s, i, 'end of input');
  return Path.fromElems(elems);
}
