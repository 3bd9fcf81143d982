/**
 * Dentries and dtabs (Finagle's Dentry / Dtab): ordered `prefix => tree` rules. A lookup
 * takes every matching dentry from the last to the first, so later entries win and earlier
 * ones are fallbacks.
 */
import { alt, NEG, type NameTree } from './name-tree.js';
import { Path, showElem } from './path.js';
import { mapTree, showNameTree } from './show.js';

/** The wildcard element of a dentry prefix: matches any one element. */
export const ANY_ELEM: unique symbol = Symbol('*');
export type PrefixElem = string | typeof ANY_ELEM;

export class Prefix {
  static readonly empty = new Prefix([]);

  private constructor(readonly elems: readonly PrefixElem[]) {}

  static of(elems: readonly PrefixElem[]): Prefix {
    return elems.length === 0 ? Prefix.empty : new Prefix(elems);
  }

  static fromPath(p: Path): Prefix {
    return Prefix.of(p.elems);
  }

  get size(): number {
    return this.elems.length;
  }

  matches(path: Path): boolean {
    const elems = this.elems;
    if (elems.length > path.elems.length) return false;
    for (let i = 0; i < elems.length; i++) {
      const e = elems[i]!;
      if (e !== ANY_ELEM && e !== path.elems[i]) return false;
    }
    return true;
  }

  equals(other: Prefix): boolean {
    return this.elems.length === other.elems.length && this.elems.every((e, i) => e === other.elems[i]);
  }

  show(): string {
    if (this.elems.length === 0) return '/';
    return this.elems.map((e) => '/' + (e === ANY_ELEM ? '*' : showElem(e))).join('');
  }

  toString(): string {
    return this.show();
  }
}

export class Dentry {
  constructor(
    readonly prefix: Prefix,
    readonly dst: NameTree<Path>,
  ) {}

  show(): string {
    return `${this.prefix.show()}=>${showNameTree(this.dst)}`;
  }

  toString(): string {
    return this.show();
  }
}

export class Dtab {
  static readonly empty = new Dtab([]);

  #shown: string | undefined;

  constructor(readonly dentries: readonly Dentry[]) {}

  get size(): number {
    return this.dentries.length;
  }

  concat(other: Dtab): Dtab {
    if (other.dentries.length === 0) return this;
    if (this.dentries.length === 0) return other;
    return new Dtab([...this.dentries, ...other.dentries]);
  }

  append(d: Dentry): Dtab {
    return new Dtab([...this.dentries, d]);
  }

  /** One lookup step (naming-semantics.md): matching dentries last-first, suffix kept. */
  lookup(path: Path): NameTree<Path> {
    const matches: NameTree<Path>[] = [];
    for (let i = this.dentries.length - 1; i >= 0; i--) {
      const d = this.dentries[i]!;
      if (!d.prefix.matches(path)) continue;
      const suffix = path.drop(d.prefix.size);
      matches.push(suffix.isEmpty ? d.dst : mapTree(d.dst, (p) => p.concat(suffix)));
    }
    if (matches.length === 0) return NEG;
    if (matches.length === 1) return matches[0]!;
    return alt(...matches);
  }

  show(): string {
    if (this.#shown === undefined) this.#shown = this.dentries.map((d) => d.show()).join(';');
    return this.#shown;
  }

  equals(other: Dtab): boolean {
    return this === other || this.show() === other.show();
  }

  toString(): string {
    return this.show();
  }
}
