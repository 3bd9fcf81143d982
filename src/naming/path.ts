/**
 * A Finagle path: a sequence of non-empty byte-string elements. Elements are kept as
 * "binary strings" (one JS char per byte, code 0..255) so that `\xHH` escapes round-trip
 * exactly; `Path.utf8` encodes ordinary text.
 */
export class Path {
  static readonly empty: Path = new Path([]);

  #shown: string | undefined;

  private constructor(readonly elems: readonly string[]) {}

  /** Elements given as binary strings (bytes); callers guarantee they are non-empty. */
  static of(...elems: string[]): Path {
    return elems.length === 0 ? Path.empty : new Path(elems);
  }

  static fromElems(elems: readonly string[]): Path {
    return elems.length === 0 ? Path.empty : new Path(elems);
  }

  /** Elements given as text, stored as their UTF-8 bytes. */
  static utf8(...elems: string[]): Path {
    return Path.fromElems(elems.map(utf8Bytes));
  }

  get size(): number {
    return this.elems.length;
  }

  get isEmpty(): boolean {
    return this.elems.length === 0;
  }

  take(n: number): Path {
    return n >= this.elems.length ? this : Path.fromElems(this.elems.slice(0, Math.max(0, n)));
  }

  drop(n: number): Path {
    return n <= 0 ? this : Path.fromElems(this.elems.slice(n));
  }

  concat(other: Path): Path {
    if (other.isEmpty) return this;
    if (this.isEmpty) return other;
    return new Path([...this.elems, ...other.elems]);
  }

  startsWith(prefix: Path): boolean {
    if (prefix.elems.length > this.elems.length) return false;
    for (let i = 0; i < prefix.elems.length; i++) if (prefix.elems[i] !== this.elems[i]) return false;
    return true;
  }

  equals(other: Path): boolean {
    return this === other || (this.elems.length === other.elems.length && this.startsWith(other));
  }

  /** Elements decoded from UTF-8 (for identifiers and namers that want text). */
  get utf8Elems(): string[] {
    return this.elems.map(utf8Text);
  }

  /** Canonical text form, e.g. `/foo/bar`; `/` for the empty path. */
  show(): string {
    if (this.#shown === undefined) {
      this.#shown = this.elems.length === 0 ? '/' : this.elems.map((e) => '/' + showElem(e)).join('');
    }
    return this.#shown;
  }

  toString(): string {
    return this.show();
  }
}

const SHOWABLE = /^[0-9A-Za-z_:.#$%-]+$/;

export function isShowableElem(e: string): boolean {
  return SHOWABLE.test(e);
}

/** An element is printed raw if every byte is showable, else every byte as `\xhh`. */
export function showElem(e: string): string {
  if (SHOWABLE.test(e)) return e;
  let out = '';
  for (let i = 0; i < e.length; i++) out += '\\x' + e.charCodeAt(i).toString(16).padStart(2, '0');
  return out;
}

export function utf8Bytes(s: string): string {
  // Fast path: pure ASCII text is already its own byte string.
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) return s;
  return Buffer.from(s, 'utf8').toString('latin1');
}

export function utf8Text(b: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(b)) return b;
  return Buffer.from(b, 'latin1').toString('utf8');
}
