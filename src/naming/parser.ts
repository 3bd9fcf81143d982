/**
 * Readers for paths, name trees, dentries and dtabs with Finagle's grammar and error messages:
 *   tree := tree1 ('|' tree1)*      tree1 := weighted ('&' weighted)*
 *   weighted := [number '*'] simple simple := '(' tree ')' | path | '!' | '~' | '$'
 * Errors read `<expected> expected but <found> found at '<input with [x] at the cursor>'`.
 */
import { Dentry, Dtab, Prefix, ANY_ELEM, type PrefixElem } from './dtab.js';
import { NamingParseError } from './errors.js';
import { alt, EMPTY, FAIL, leaf, NEG, union, weighted, DEFAULT_WEIGHT, type NameTree, type Weighted } from './name-tree.js';
import { Path } from './path.js';

const EOI = -1;

// Showable label characters: 0-9 A-Z a-z _ : . # $ % -
const SHOWABLE = new Uint8Array(128);
for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:.#$%-') SHOWABLE[c.charCodeAt(0)] = 1;

function isShowable(c: number): boolean {
  return c >= 0 && c < 128 && SHOWABLE[c] === 1;
}

/** Java's Character.isWhitespace, which Finagle's parser uses. */
function isWhitespace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    (c >= 0x1c && c <= 0x20) ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x2006) ||
    (c >= 0x2008 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x205f ||
    c === 0x3000
  );
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

class Parser {
  private idx = 0;
  private readonly size: number;

  constructor(private readonly str: string) {
    this.size = str.length;
  }

  private get atEnd(): boolean {
    return this.idx >= this.size;
  }

  private peek(): number {
    return this.idx >= this.size ? EOI : this.str.charCodeAt(this.idx);
  }

  private charString(c: number): string {
    return c === EOI ? 'end of input' : `'${String.fromCharCode(c)}'`;
  }

  private illegal(expected: string, found: number): never {
    const s = this.str;
    const display = this.atEnd ? `${s}[]` : `${s.slice(0, this.idx)}[${s[this.idx]}]${s.slice(this.idx + 1)}`;
    throw new NamingParseError(`${expected} expected but ${this.charString(found)} found at '${display}'`);
  }

  private maybeEat(c: string): boolean {
    if (this.peek() !== c.charCodeAt(0)) return false;
    this.idx++;
    return true;
  }

  private eat(c: string): void {
    if (!this.maybeEat(c)) this.illegal(`'${c}'`, this.peek());
  }

  private eatWhitespace(): void {
    while (!this.atEnd) {
      const c = this.str.charCodeAt(this.idx);
      if (c === 0x23 /* # */) {
        while (!this.atEnd && this.str.charCodeAt(this.idx) !== 0x0a) this.idx++;
        if (!this.atEnd) this.idx++;
      } else if (isWhitespace(c)) {
        this.idx++;
      } else {
        return;
      }
    }
  }

  private ensureEnd(): void {
    if (!this.atEnd) this.illegal('end of input', this.peek());
  }

  private isLabelChar(c: number): boolean {
    return isShowable(c) || c === 0x5c; /* \ */
  }

  private parseHex(): number {
    const c = this.peek();
    const v = hexVal(c);
    if (v < 0) this.illegal('hex char', c);
    this.idx++;
    return v;
  }

  /** A label as a binary string (one char per byte). */
  private parseLabel(): string {
    let out = '';
    do {
      const c = this.peek();
      if (isShowable(c)) {
        this.idx++;
        out += String.fromCharCode(c);
      } else if (c === 0x5c) {
        this.idx++;
        this.eat('x');
        const hi = this.parseHex();
        const lo = this.parseHex();
        out += String.fromCharCode((hi << 4) | lo);
      } else {
        this.illegal('label char', c);
      }
    } while (this.isLabelChar(this.peek()));
    return out;
  }

  parsePath(): Path {
    this.eatWhitespace();
    this.eat('/');
    if (!this.isLabelChar(this.peek())) return Path.empty;
    const labels: string[] = [];
    do labels.push(this.parseLabel());
    while (this.maybeEat('/'));
    return Path.fromElems(labels);
  }

  parsePrefix(): Prefix {
    this.eatWhitespace();
    this.eat('/');
    const c0 = this.peek();
    if (!this.isLabelChar(c0) && c0 !== 0x2a) return Prefix.empty;
    const elems: PrefixElem[] = [];
    do {
      if (this.peek() === 0x2a /* * */) {
        this.idx++;
        elems.push(ANY_ELEM);
      } else {
        elems.push(this.parseLabel());
      }
    } while (this.maybeEat('/'));
    return Prefix.of(elems);
  }

  private parseNumber(): number {
    const start = this.idx;
    let seenDot = false;
    while (isDigit(this.peek()) || this.peek() === 0x2e) {
      if (this.peek() === 0x2e) {
        if (seenDot) this.illegal('number char', this.peek());
        seenDot = true;
      }
      this.idx++;
    }
    const text = this.str.slice(start, this.idx);
    if (text === '.') this.illegal('weight', 0x2e);
    return Number(text);
  }

  parseTree(): NameTree<Path> {
    const trees: NameTree<Path>[] = [];
    do {
      trees.push(this.parseTree1());
      this.eatWhitespace();
    } while (this.maybeEat('|'));
    return trees.length > 1 ? alt(...trees) : trees[0]!;
  }

  private parseTree1(): NameTree<Path> {
    const trees: Weighted<Path>[] = [];
    do {
      trees.push(this.parseWeighted());
      this.eatWhitespace();
    } while (this.maybeEat('&'));
    return trees.length > 1 ? union(...trees) : trees[0]!.tree;
  }

  private parseWeighted(): Weighted<Path> {
    this.eatWhitespace();
    let w = DEFAULT_WEIGHT;
    const c = this.peek();
    if (isDigit(c) || c === 0x2e) {
      w = this.parseNumber();
      this.eatWhitespace();
      this.eat('*');
      this.eatWhitespace();
    }
    return weighted(w, this.parseSimple());
  }

  private parseSimple(): NameTree<Path> {
    this.eatWhitespace();
    const c = this.peek();
    switch (c) {
      case 0x28 /* ( */: {
        this.idx++;
        const t = this.parseTree();
        this.eatWhitespace();
        this.eat(')');
        return t;
      }
      case 0x2f /* / */:
        return leaf(this.parsePath());
      case 0x21 /* ! */:
        this.idx++;
        return FAIL;
      case 0x7e /* ~ */:
        this.idx++;
        return NEG;
      case 0x24 /* $ */:
        this.idx++;
        return EMPTY;
      default:
        return this.illegal('simple', c);
    }
  }

  parseDentry(): Dentry {
    const prefix = this.parsePrefix();
    this.eatWhitespace();
    this.eat('=');
    this.eat('>');
    return new Dentry(prefix, this.parseTree());
  }

  parseDtab(): Dtab {
    const dentries: Dentry[] = [];
    do {
      this.eatWhitespace();
      if (!this.atEnd) {
        dentries.push(this.parseDentry());
        this.eatWhitespace();
      }
    } while (this.maybeEat(';'));
    return dentries.length === 0 ? Dtab.empty : new Dtab(dentries);
  }

  all<T>(f: () => T): T {
    const v = f();
    this.eatWhitespace();
    this.ensureEnd();
    return v;
  }
}

export function readPath(s: string): Path {
  const p = new Parser(s);
  return p.all(() => p.parsePath());
}

export function readNameTree(s: string): NameTree<Path> {
  const p = new Parser(s);
  return p.all(() => p.parseTree());
}

export function readPrefix(s: string): Prefix {
  const p = new Parser(s);
  return p.all(() => p.parsePrefix());
}

export function readDentry(s: string): Dentry {
  const p = new Parser(s);
  return p.all(() => p.parseDentry());
}

export function readDtab(s: string): Dtab {
  const p = new Parser(s);
  return p.all(() => p.parseDtab());
}
