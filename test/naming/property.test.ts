/**
 * Round-trip properties over thousands of seeded random trees and dtabs, and a fuzz test:
 * random strings into every reader may only ever raise NamingParseError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANY_ELEM,
  Dentry,
  Dtab,
  EMPTY,
  FAIL,
  NEG,
  NamingParseError,
  Path,
  Prefix,
  alt,
  leaf,
  readDentry,
  readDtab,
  readNameTree,
  readPath,
  readPrefix,
  showNameTree,
  union,
  weighted,
  type NameTree,
  type PrefixElem,
} from '../../src/naming/index.js';
import { seededRandom as rng } from '../support/prng.js';


const SHOWABLE = 'abcxyzABZ019_:.#$%-';

function randomElem(r: () => number): string {
  const n = 1 + Math.floor(r() * 5);
  let s = '';
  for (let i = 0; i < n; i++) {
    // Mostly showable characters, sometimes any byte (printed as \xhh).
    s += r() < 0.85 ? SHOWABLE[Math.floor(r() * SHOWABLE.length)] : String.fromCharCode(Math.floor(r() * 256));
  }
  return s;
}

function randomPath(r: () => number): Path {
  const n = Math.floor(r() * 4);
  return Path.fromElems(Array.from({ length: n }, () => randomElem(r)));
}

/** Parser-canonical trees: Alt and Union always have two or more branches. */
function randomTree(r: () => number, depth: number): NameTree<Path> {
  const x = r();
  if (depth <= 0 || x < 0.45) {
    const y = r();
    if (y < 0.7) return leaf(randomPath(r));
    return y < 0.8 ? NEG : y < 0.9 ? FAIL : EMPTY;
  }
  const n = 2 + Math.floor(r() * 3);
  if (x < 0.7) return alt(...Array.from({ length: n }, () => randomTree(r, depth - 1)));
  return union(
    ...Array.from({ length: n }, () => {
      // Weights that survive printing with two decimals; 1 is printed bare.
      const w = r() < 0.4 ? 1 : Math.round(r() * 1000) / 100;
      return weighted(w, randomTree(r, depth - 1));
    }),
  );
}

function randomDtab(r: () => number): Dtab {
  const n = Math.floor(r() * 5);
  return new Dtab(
    Array.from({ length: n }, () => {
      const elems: PrefixElem[] = Array.from({ length: Math.floor(r() * 4) }, () => (r() < 0.2 ? ANY_ELEM : randomElem(r)));
      return new Dentry(Prefix.of(elems), randomTree(r, 3));
    }),
  );
}

test('read(show(tree)) == tree for 5,000 random trees with weights and escaped labels', () => {
  const r = rng(42);
  for (let i = 0; i < 5000; i++) {
    const t = randomTree(r, 4);
    const shown = showNameTree(t);
    const back = readNameTree(shown);
    assert.deepEqual(back, t, `round trip of ${shown}`);
    assert.equal(showNameTree(back), shown, 'show is canonical');
  }
});

test('read(show(dtab)) == dtab for 2,000 random dtabs with wildcard prefixes', () => {
  const r = rng(7);
  for (let i = 0; i < 2000; i++) {
    const d = randomDtab(r);
    const back = readDtab(d.show());
    assert.equal(back.show(), d.show());
    assert.deepEqual(back.dentries.map((e) => [e.prefix.elems, e.dst]), d.dentries.map((e) => [e.prefix.elems, e.dst]));
  }
});

const ALPHABET = '/ab*&|!~$()#;=>.0123456789\\x \n\t{}^?é\u0000';

function randomString(r: () => number): string {
  const n = Math.floor(r() * 24);
  let s = '';
  for (let i = 0; i < n; i++) {
    s += r() < 0.95 ? ALPHABET[Math.floor(r() * ALPHABET.length)] : String.fromCharCode(Math.floor(r() * 0xffff));
  }
  return s;
}

test('fuzz: 10,000 random strings into each reader raise only NamingParseError; what parses round-trips', () => {
  const readers: Array<[string, (s: string) => { show(): string } | NameTree<Path>, (v: never) => string]> = [
    ['readPath', readPath, (v: Path) => v.show()],
    ['readNameTree', readNameTree, (v: NameTree<Path>) => showNameTree(v)],
    ['readPrefix', readPrefix, (v: Prefix) => v.show()],
    ['readDentry', readDentry, (v: Dentry) => v.show()],
    ['readDtab', readDtab, (v: Dtab) => v.show()],
  ];
  for (const [name, read, show] of readers) {
    const r = rng(name.length * 1000 + 1);
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      const s = randomString(r);
      let v: unknown;
      try {
        v = read(s);
      } catch (e) {
        assert.ok(e instanceof NamingParseError, `${name}(${JSON.stringify(s)}) threw ${String(e)}`);
        continue;
      }
      parsed++;
      const shown = show(v as never);
      assert.equal(show(read(shown) as never), shown, `${name}: ${JSON.stringify(s)} -> ${shown}`);
    }
    // Random text rarely forms a whole dentry; the other readers must accept some inputs.
    if (name !== 'readDentry') assert.ok(parsed > 0, `${name}: some fuzz inputs should parse`);
  }
});
