/**
 * The naming syntax against Finagle: cases of NameTreeParsersTest, DtabTest, NameTreeTest and
 * PathTest, written in our own types, with Finagle's exact error messages.
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
  evalTree,
  leaf,
  readDentry,
  readDtab,
  readNameTree,
  readPath,
  readPrefix,
  showNameTree,
  simplifyTree,
  union,
  weighted,
  type NameTree,
} from '../../src/naming/index.js';

const p = (...e: string[]): Path => Path.utf8(...e);
const l = (...e: string[]): NameTree<Path> => leaf(p(...e));

function parseError(f: () => unknown, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof NamingParseError, `expected NamingParseError, got ${String(e)}`);
    assert.equal(e.code, 'MESH_ERR_NAMING_PARSE');
    assert.equal(e.message, message);
    return true;
  });
}

test('paths: read, escapes, and every malformed path is an error', () => {
  assert.equal(readPath('/'), Path.empty);
  assert.deepEqual(readPath('  /foo/bar  ').elems, ['foo', 'bar']);
  assert.deepEqual(readPath('/\\x66\\x6f\\x6F').elems, ['foo']);
  assert.deepEqual(readPath('/#foo/$/%a-b_c:d.e').elems, ['#foo', '$', '%a-b_c:d.e']);
  parseError(() => readPath(''), "'/' expected but end of input found at '[]'");
  parseError(() => readPath('/foo/bar/'), "label char expected but end of input found at '/foo/bar/[]'");
  parseError(() => readPath('/{}'), "end of input expected but '{' found at '/[{]}'");
  parseError(() => readPath('/\\?'), "'x' expected but '?' found at '/\\[?]'");
  parseError(() => readPath('/\\x?'), "hex char expected but '?' found at '/\\x[?]'");
  parseError(() => readPath('/\\x0?'), "hex char expected but '?' found at '/\\x0[?]'");
  parseError(() => readPath('/foo^bar'), "end of input expected but '^' found at '/foo[^]bar'");
  parseError(() => readPath('invalid-param'), "'/' expected but 'i' found at '[i]nvalid-param'");
});

test('paths: show prints every byte of a non-showable element as \\xhh; take, drop, startsWith', () => {
  assert.equal(p('foo', 'bar').show(), '/foo/bar');
  assert.equal(Path.empty.show(), '/');
  assert.equal(Path.of('foo', '\u0000bar').show(), '/foo/\\x00\\x62\\x61\\x72');
  assert.equal(p('a b').show(), '/\\x61\\x20\\x62');
  assert.equal(p('é').show(), '/\\xc3\\xa9');
  assert.equal(readPath(p('é', 'x y').show()).show(), p('é', 'x y').show());
  const path = p('a', 'b', 'c');
  assert.equal(path.take(2).show(), '/a/b');
  assert.equal(path.drop(1).show(), '/b/c');
  assert.equal(path.drop(5), Path.empty);
  assert.ok(path.startsWith(p('a', 'b')));
  assert.ok(path.startsWith(Path.empty));
  assert.ok(!path.startsWith(p('b')));
  assert.ok(!p('a').startsWith(path));
  assert.ok(p('a').concat(p('b')).equals(p('a', 'b')));
});

test('name trees: Finagle parse cases', () => {
  assert.deepEqual(readNameTree('! | ~ | $'), alt(FAIL, NEG, EMPTY));
  assert.deepEqual(readNameTree('/foo/bar'), l('foo', 'bar'));
  assert.deepEqual(readNameTree('  /foo & /bar  '), union(weighted(1, l('foo')), weighted(1, l('bar'))));
  assert.deepEqual(readNameTree('  /foo | /bar  '), alt(l('foo'), l('bar')));
  assert.deepEqual(
    readNameTree('/foo & /bar | /bar & /baz'),
    alt(union(weighted(1, l('foo')), weighted(1, l('bar'))), union(weighted(1, l('bar')), weighted(1, l('baz')))),
  );
  assert.deepEqual(
    readNameTree('1 * /foo & 2 * /bar | .5 * /bar & .5 * /baz'),
    alt(union(weighted(1, l('foo')), weighted(2, l('bar'))), union(weighted(0.5, l('bar')), weighted(0.5, l('baz')))),
  );
  assert.deepEqual(readNameTree('(/a | /b) & /c'), union(weighted(1, alt(l('a'), l('b'))), weighted(1, l('c'))));
  assert.deepEqual(readNameTree('/a # a comment\n | /b'), alt(l('a'), l('b')));
  parseError(() => readNameTree(''), "simple expected but end of input found at '[]'");
  parseError(() => readNameTree('#'), "simple expected but end of input found at '#[]'");
  parseError(() => readNameTree('/foo &'), "simple expected but end of input found at '/foo &[]'");
  parseError(() => readNameTree('/foo & 0.1.2 * /bar'), "number char expected but '.' found at '/foo & 0.1[.]2 * /bar'");
  parseError(() => readNameTree('/foo & . * /bar'), "weight expected but '.' found at '/foo & .[ ]* /bar'");
  parseError(() => readNameTree('1 /foo'), "'*' expected but '/' found at '1 [/]foo'");
  parseError(() => readNameTree('(/a | /b'), "')' expected but end of input found at '(/a | /b[]'");
});

test('dentries and prefixes: wildcards only as whole elements', () => {
  const d = readDentry('/=>!');
  assert.equal(d.prefix, Prefix.empty);
  assert.deepEqual(d.dst, FAIL);
  assert.equal(readDentry('/ => !').show(), '/=>!');
  assert.deepEqual(readDentry('/foo/*/bar => !').prefix.elems, ['foo', ANY_ELEM, 'bar']);
  assert.deepEqual(readPrefix('/foo/bar/baz').elems, ['foo', 'bar', 'baz']);
  parseError(() => readDentry('/foo/*bar/baz => !'), "'=' expected but 'b' found at '/foo/*[b]ar/baz => !'");
  parseError(() => readDentry('/&!'), "'=' expected but '&' found at '/[&]!'");
  parseError(() => readDentry('/a => '), "simple expected but end of input found at '/a => []'");
  parseError(() => readDentry('/a =< /b'), "'>' expected but '<' found at '/a =[<] /b'");
});

test('dtabs: empty, trailing ;, comments, show', () => {
  assert.equal(readDtab('').size, 0);
  assert.equal(readDtab('  /=>!  ').show(), '/=>!');
  assert.equal(readDtab('/=>!;').show(), '/=>!');
  assert.equal(readDtab('/=>!;/foo=>/bar').show(), '/=>!;/foo=>/bar');
  assert.equal(readDtab('# head\n/a => /b; # tail\n/#c => /d # end').show(), '/a=>/b;/#c=>/d');
  assert.equal(readDtab('/a=>0.3*/b & 1.0*/c & 2*/d | ~').show(), '/a=>0.30*/b & /c & 2.00*/d | ~');
  parseError(() => readDtab('/a=>/b;;/c'), "'/' expected but ';' found at '/a=>/b;[;]/c'");
  parseError(() => readDtab('/a=>/b /c=>/d'), "end of input expected but '/' found at '/a=>/b [/]c=>/d'");
});

test('lookup: matches last-first, keeps the suffix, wildcards, no match is Neg', () => {
  const dtab = readDtab('/foo=>/bar;/foo=>/baz;/a/*/c=>/d;/=>/root');
  assert.deepEqual(dtab.lookup(readPath('/foo/x')), alt(l('root', 'foo', 'x'), l('baz', 'x'), l('bar', 'x')));
  assert.deepEqual(dtab.lookup(readPath('/a/b/c/e/f')), alt(l('root', 'a', 'b', 'c', 'e', 'f'), l('d', 'e', 'f')));
  assert.deepEqual(readDtab('/a/*/c=>/d').lookup(readPath('/a/b/c/e/f')), l('d', 'e', 'f'));
  assert.deepEqual(readDtab('/a/*/c=>/d').lookup(readPath('/a/b')), NEG);
  assert.deepEqual(readDtab('/foo=>/bar').lookup(readPath('/fo')), NEG);
  assert.deepEqual(readDtab('/s=>/a & /b').lookup(readPath('/s/x')), union(weighted(1, l('a', 'x')), weighted(1, l('b', 'x'))));
  assert.deepEqual(Dtab.empty.lookup(readPath('/x')), NEG);
});

test('concat and append keep order; a request dtab appended wins', () => {
  const base = readDtab('/svc=>/prod');
  const local = readDtab('/svc=>/staging');
  const all = base.concat(local);
  assert.equal(all.show(), '/svc=>/prod;/svc=>/staging');
  assert.deepEqual(all.lookup(readPath('/svc/web')), alt(l('staging', 'web'), l('prod', 'web')));
  assert.equal(base.concat(Dtab.empty), base);
  assert.equal(Dtab.empty.concat(local), local);
  assert.equal(base.append(new Dentry(readPrefix('/x'), l('y'))).show(), '/svc=>/prod;/x=>/y');
});

test('show puts parentheses only where needed', () => {
  assert.equal(showNameTree(alt(l('a'), union(weighted(1, l('b')), weighted(1, l('c'))))), '/a | /b & /c');
  assert.equal(showNameTree(union(weighted(1, alt(l('a'), l('b'))), weighted(0.5, l('c')))), '(/a | /b) & 0.50*/c');
  assert.equal(showNameTree(alt(alt(l('a'), l('b')), l('c'))), '(/a | /b) | /c');
  assert.equal(showNameTree(union(weighted(2, union(weighted(1, l('a')), weighted(1, l('b')))), weighted(1, l('c')))), '2.00*(/a & /b) & /c');
  assert.equal(showNameTree(alt(l('only'))), '/only');
});

test('simplify as Finagle: Neg dropped, Fail stops an Alt, Empty dropped from unions', () => {
  assert.deepEqual(simplifyTree(alt()), NEG);
  assert.deepEqual(simplifyTree(alt(l('a'))), l('a'));
  assert.deepEqual(simplifyTree(alt(NEG, l('a'), FAIL, l('b'))), alt(l('a'), FAIL));
  assert.deepEqual(simplifyTree(alt(NEG, NEG)), NEG);
  assert.deepEqual(simplifyTree(alt(NEG, alt(NEG, l('x')))), l('x'));
  assert.deepEqual(simplifyTree(union(weighted(1, NEG), weighted(1, l('a')))), l('a'));
  assert.deepEqual(simplifyTree(union(weighted(1, EMPTY), weighted(2, l('a')), weighted(3, l('b')))), union(weighted(2, l('a')), weighted(3, l('b'))));
  assert.deepEqual(simplifyTree(union(weighted(1, FAIL), weighted(1, l('a')))), FAIL);
  assert.deepEqual(simplifyTree(union()), NEG);
  const t = readNameTree('~ | (/a & ~) | /b');
  assert.deepEqual(simplifyTree(simplifyTree(t)), simplifyTree(t));
});

test('eval as Finagle: first non-negative Alt branch, union of leaves, Empty is an empty set', () => {
  assert.deepEqual(evalTree(readNameTree('~ | /a | /b')), { type: 'leaf', value: [p('a')] });
  assert.deepEqual(evalTree(readNameTree('~ | ! | /b')), FAIL);
  assert.deepEqual(evalTree(readNameTree('/a & /b & ~')), { type: 'leaf', value: [p('a'), p('b')] });
  assert.deepEqual(evalTree(readNameTree('$')), { type: 'leaf', value: [] });
  assert.deepEqual(evalTree(readNameTree('~ | ~')), NEG);
  assert.deepEqual(evalTree(readNameTree('/a & !')), FAIL);
});
