import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathMatcher, RewriteNamer } from '../../src/namers/rewrite.js';
import { Path } from '../../src/naming/path.js';
import type { Name } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';

const p = (s: string): Path => Path.utf8(...s.split('/').filter((e) => e.length > 0));

function extract(expr: string, path: string): Record<string, string> | undefined {
  const m = new PathMatcher(expr).extract(p(path));
  return m && Object.fromEntries(m);
}

function lookup(namer: RewriteNamer, path: string): string {
  const s = namer.lookup(p(path)).sample();
  assert.equal(s.type, 'ok');
  const t = (s as { value: NameTree<Name> }).value;
  if (t.type === 'leaf' && t.value instanceof Path) return t.value.show();
  return t.type;
}

test('PathMatcher (Linkerd PathMatcherTest cases)', () => {
  assert.deepEqual(extract('/foo/bar', '/foo/bar'), {});
  assert.deepEqual(extract('/foo/bar', '/foo/bar/bas'), {});
  assert.equal(extract('/foo/bar', '/foo/goo'), undefined);
  assert.equal(extract('/foo/bar', '/foo'), undefined);
  assert.deepEqual(extract('/foo/*/*', '/foo/hi/there'), {});
  assert.deepEqual(extract('/foo/{A}', '/foo/bar/bas'), { A: 'bar' });
  assert.deepEqual(extract('/foo/{A_B_C}', '/foo/bar/bas'), { A_B_C: 'bar' });
  assert.deepEqual(extract('/foo/bar/{A}:http', '/foo/bar/bas:http'), { A: 'bas' });
  assert.deepEqual(extract('/foo/{A}/*/{B}', '/foo/boo/bar/bas'), { A: 'boo', B: 'bas' });
  assert.deepEqual(extract('/foo/bar/{A}.com/{B}', '/foo/bar/foo.com/80'), { A: 'foo', B: '80' });
  assert.deepEqual(extract('/foo/bar/{A}-{B}/{C}', '/foo/bar/foo-com/80'), { A: 'foo', B: 'com', C: '80' });
  assert.deepEqual(extract('/foo/bar/{A}.{B}/{C}', '/foo/bar/foo.com/80'), { A: 'foo', B: 'com', C: '80' });
  assert.deepEqual(extract('/foo/bar/{A}.{B}.{C}/{D}', '/foo/bar/www.foo.com/80'), { A: 'www', B: 'foo', C: 'com', D: '80' });
  assert.deepEqual(extract('/foo/{A}/*/{B}:http', '/foo/boo/bar/bas:http'), { A: 'boo', B: 'bas' });
  // Captures are greedy: the first capture takes as much as it can.
  assert.deepEqual(extract('/foo/bar/{A}-{B}', '/foo/bar/foo-bar-baz'), { A: 'foo-bar', B: 'baz' });
  assert.equal(extract('/foo/{A}/bar', '/foo/bar/bad'), undefined);
  assert.equal(extract('/foo/{A}:http', '/foo/bar/bas:http'), undefined);
  assert.equal(new PathMatcher('/foo/{A}/*/{B}').substitute(p('/foo/boo/bar/bas'), '/{A}/and/{B}'), '/boo/and/bas');
  assert.equal(new PathMatcher('/foo/{A}/*/{B}').substitute(p('/goo/boo/bar/bas'), '/{A}/and/{B}'), undefined);
});

test('io.l5d.rewrite namer (Linkerd RewritingNamerTest cases)', () => {
  assert.equal(lookup(new RewriteNamer('/one/two', '/success', p), '/one/two/three'), '/success');
  assert.equal(lookup(new RewriteNamer('/one/*/three', '/success', p), '/one/two/three'), '/success');
  assert.equal(lookup(new RewriteNamer('/one/*/four', '/success', p), '/one/two/three'), 'neg');
  assert.equal(lookup(new RewriteNamer('/{foo}/*/three', '/success/{foo}', p), '/one/two/three'), '/success/one');
  assert.equal(lookup(new RewriteNamer('/{foo}/*/four', '/success/{foo}', p), '/one/two/three'), 'neg');
  assert.equal(
    lookup(new RewriteNamer('/{port}/{ns}/{svc}', '/k8s/{ns}/{port}/{svc}', p), '/http/default/users/extra'),
    '/k8s/default/http/users',
  );
});

test('io.l5d.rewrite: a substituted name that is not a path fails the lookup', () => {
  const strict = (s: string): Path => {
    if (!s.startsWith('/')) throw new Error(`'/' expected but '${s[0]}' found`);
    return p(s);
  };
  const s = new RewriteNamer('/{x}', 'oops{x}', strict).lookup(p('/a')).sample();
  assert.equal(s.type, 'failed');
  assert.equal((s as { error: Error }).error.message, "'/' expected but 'o' found");
});
