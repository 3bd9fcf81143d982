import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Activity } from '../../src/naming/activity.js';
import { ADDR_PENDING } from '../../src/naming/addr.js';
import { boundName } from '../../src/naming/bound.js';
import type { BoundName, Name, NameNamer } from '../../src/naming/contracts.js';
import {
  delegate,
  delegateTreeToJson,
  findInDelegateTree,
  simplifyDelegateTree,
  stringifyDelegateJson,
  type DelegateTree,
  type DelegationDentry,
} from '../../src/naming/delegator.js';
import { readDentry, readDtab, readPath, showNameTree } from '../../src/naming/index.js';
import { leaf, type NameTree } from '../../src/naming/name-tree.js';
import type { ConfiguredNamers } from '../../src/naming/namer-ops.js';
import { Path } from '../../src/naming/path.js';
import { Var } from '../../src/naming/var.js';
import { globalNamer } from '../../src/namers/builtin/index.js';

/** Linkerd's test namer: binds `/#/<prefix>/x` to id `/#/<prefix>` with residual `/x`, Addr pending. */
function testNamer(prefix: Path): NameNamer {
  return { lookup: (rest: Path) => Activity.value<NameTree<Name>>(leaf<Name>(boundName(prefix, Var.value(ADDR_PENDING), rest))) };
}

/** Linkerd's error namer: every lookup fails naming the full path. */
function errorNamer(prefix: Path): NameNamer {
  return { lookup: (rest: Path) => Activity.exception<NameTree<Name>>(new Error(`error naming ${prefix.concat(rest).show()}`)) };
}

const NAMER = readPath('/#/namer');
const ERROR = readPath('/#/error');
const namers: ConfiguredNamers = {
  configured: [
    { prefix: NAMER, namer: testNamer(NAMER) },
    { prefix: ERROR, namer: errorNamer(ERROR) },
  ],
  global: globalNamer,
};

/** A compact, comparable form of a delegate tree: [type, path, dentry text, children…]. */
function shape(t: DelegateTree<BoundName>): unknown {
  const d = t.type === 'transformation' || t.dentry === null ? '' : `${t.dentry.prefix.show()}=>${showNameTree(t.dentry.dst)}`;
  switch (t.type) {
    case 'delegate':
      return ['delegate', t.path.show(), d, shape(t.tree)];
    case 'alt':
      return ['alt', t.path.show(), d, ...t.trees.map(shape)];
    case 'union':
      return ['union', t.path.show(), d, ...t.trees.map((w) => [w.weight, shape(w.tree)])];
    case 'leaf':
      return ['leaf', t.path.show(), d, `${t.value.id.show()} ${t.value.residual.show()}`];
    case 'exception':
      return ['exception', t.path.show(), d, t.error.message];
    case 'transformation':
      return ['transformation', t.path.show(), t.name, shape(t.tree)];
    default:
      return [t.type, t.path.show(), d];
  }
}

const dtab = readDtab(`
  /bah/humbug => /$/inet/127.1/8080 ;
  /beh => /#/error ;
  /foo => /bah | /$/fail ;
  /foo => /bar ;
  /boo => /foo ;
  /meh => /heh ;
`);

test('uses the namers to resolve names (Linkerd DelegatorTest)', async () => {
  const t = await delegate(readDtab('/nah=>/#/namer;'), readPath('/nah/bro'), namers);
  assert.deepEqual(shape(t), ['delegate', '/nah/bro', '', ['leaf', '/#/namer/bro', '/nah=>/#/namer', '/#/namer /bro']]);
});

test('explains neg, delegate, alt, bound and error delegations (Linkerd DelegatorTest)', async () => {
  assert.deepEqual(shape(await delegate(dtab, readPath('/nope'), namers)), ['neg', '/nope', '']);
  assert.deepEqual(shape(await delegate(dtab, readPath('/meh/hey'), namers)), ['delegate', '/meh/hey', '', ['neg', '/heh/hey', '/meh=>/heh']]);
  assert.deepEqual(shape(await delegate(dtab, readPath('/boo/lol'), namers)), [
    'delegate',
    '/boo/lol',
    '',
    [
      'alt',
      '/foo/lol',
      '/boo=>/foo',
      ['neg', '/bar/lol', '/foo=>/bar'],
      ['neg', '/bah/lol', '/foo=>/bah | /$/fail'],
      ['fail', '/$/fail/lol', '/foo=>/bah | /$/fail'],
    ],
  ]);
  assert.deepEqual(shape(await delegate(dtab, readPath('/boo/humbug/ya'), namers)), [
    'delegate',
    '/boo/humbug/ya',
    '',
    [
      'alt',
      '/foo/humbug/ya',
      '/boo=>/foo',
      ['neg', '/bar/humbug/ya', '/foo=>/bar'],
      ['delegate', '/bah/humbug/ya', '/foo=>/bah | /$/fail', ['leaf', '/$/inet/127.1/8080/ya', '/bah/humbug=>/$/inet/127.1/8080', '/$/inet/127.1/8080 /ya']],
      ['fail', '/$/fail/humbug/ya', '/foo=>/bah | /$/fail'],
    ],
  ]);
  assert.deepEqual(shape(await delegate(dtab, readPath('/beh/humbug'), namers)), [
    'delegate',
    '/beh/humbug',
    '',
    ['exception', '/#/error/humbug', '/beh=>/#/error', 'error naming /#/error/humbug'],
  ]);
});

const apiDtab = readDtab(`
  /beh => /#/error ;
  /bah/humbug => /$/inet/127.1/8080 ;
  /foo => /bah | /beh | /$/fail ;
  /foo => /bar ;
  /boo => /foo ;
  /meh => /heh ;
  /neg => ~ ;
`);

async function json(d: typeof apiDtab, path: string): Promise<string> {
  const t = await delegate(d, readPath(path), namers);
  return stringifyDelegateJson(await delegateTreeToJson(t, { showTree: showNameTree, timeoutMs: 2000 }));
}

test('delegator JSON is exactly Linkerd\'s (DelegateApiHandlerTest)', async () => {
  assert.equal(
    await json(apiDtab, '/boo/humbug'),
    '{"type":"delegate","path":"/boo/humbug","delegate":{' +
      '"type":"alt","path":"/foo/humbug","dentry":{"prefix":"/boo","dst":"/foo"},"alt":[' +
      '{"type":"neg","path":"/bar/humbug","dentry":{"prefix":"/foo","dst":"/bar"}},' +
      '{"type":"delegate","path":"/bah/humbug","dentry":{"prefix":"/foo","dst":"/bah | /beh | /$/fail"},"delegate":{' +
      '"type":"leaf","path":"/$/inet/127.1/8080","dentry":{"prefix":"/bah/humbug","dst":"/$/inet/127.1/8080"},' +
      '"bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":8080,"meta":{}}],"meta":{}},"id":"/$/inet/127.1/8080","path":"/"}}},' +
      '{"type":"delegate","path":"/beh/humbug","dentry":{"prefix":"/foo","dst":"/bah | /beh | /$/fail"},"delegate":{' +
      '"type":"exception","path":"/#/error/humbug","dentry":{"prefix":"/beh","dst":"/#/error"},"message":"error naming /#/error/humbug"}},' +
      '{"type":"fail","path":"/$/fail/humbug","dentry":{"prefix":"/foo","dst":"/bah | /beh | /$/fail"}}]}}',
  );
  assert.equal(
    await json(apiDtab, '/meh'),
    '{"type":"delegate","path":"/meh","delegate":{"type":"neg","path":"/heh","dentry":{"prefix":"/meh","dst":"/heh"}}}',
  );
  assert.equal(await json(apiDtab, '/neg'), '{"type":"delegate","path":"/neg","delegate":{"type":"neg","path":"~","dentry":{"prefix":"/neg","dst":"~"}}}');
  // The semantics page example: a request dtab appended to the router's.
  assert.equal(
    await json(readDtab('/foo=>/bar').concat(readDtab('')), '/foo'),
    '{"type":"delegate","path":"/foo","delegate":{"type":"neg","path":"/bar","dentry":{"prefix":"/foo","dst":"/bar"}}}',
  );
});

test('delegator JSON: unions with weights, empty, explicit fail, and the root without dentry', async () => {
  assert.equal(
    await json(readDtab('/u=>0.7*/$/inet/127.0.0.1/1 & 0.3*/$/nil'), '/u'),
    // The root delegation collapses into the union (same path), which takes the root's (no) dentry.
    '{"type":"union","path":"/u","union":[' +
      '{"weight":0.7,"tree":{"type":"leaf","path":"/$/inet/127.0.0.1/1","dentry":{"prefix":"/u","dst":"0.70*/$/inet/127.0.0.1/1 & 0.30*/$/nil"},' +
      '"bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":1,"meta":{}}],"meta":{}},"id":"/$/inet/127.0.0.1/1","path":"/"}}},' +
      '{"weight":0.3,"tree":{"type":"empty","path":"/$/nil","dentry":{"prefix":"/u","dst":"0.70*/$/inet/127.0.0.1/1 & 0.30*/$/nil"}}}]}',
  );
  assert.equal(await json(readDtab('/x=>!'), '/x'), '{"type":"delegate","path":"/x","delegate":{"type":"fail","path":"!","dentry":{"prefix":"/x","dst":"!"}}}');
  assert.equal(await json(readDtab('/x=>$'), '/x'), '{"type":"delegate","path":"/x","delegate":{"type":"empty","path":"/x","dentry":{"prefix":"/x","dst":"$"}}}');
  assert.equal(await json(readDtab(''), '/$/inet/127.0.0.1/5/r'), '{"type":"leaf","path":"/$/inet/127.0.0.1/5/r","bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":5,"meta":{}}],"meta":{}},"id":"/$/inet/127.0.0.1/5","path":"/r"}}');
  assert.equal(
    await json(readDtab('/u=>1*/$/nil & 1*/$/nil'), '/u'),
    '{"type":"union","path":"/u","union":[{"weight":1.0,"tree":{"type":"empty","path":"/$/nil","dentry":{"prefix":"/u","dst":"/$/nil & /$/nil"}}},{"weight":1.0,"tree":{"type":"empty","path":"/$/nil","dentry":{"prefix":"/u","dst":"/$/nil & /$/nil"}}}]}',
  );
});

test('delegation depth: a cycle ends in an exception node inside alternatives, or fails the whole explanation', async () => {
  await assert.rejects(delegate(readDtab('/a=>/b;/b=>/a'), readPath('/a'), namers), /Max recursion level reached\./);
  const t = await delegate(readDtab('/a=>/b;/b=>/a;/c=>/a | /$/nil'), readPath('/c'), namers);
  assert.deepEqual(shape(t), [
    'alt',
    '/c',
    '',
    ['exception', '/c', '/c=>/a | /$/nil', 'Max recursion level reached.'],
    ['empty', '/$/nil', '/c=>/a | /$/nil'],
  ]);
});

test('a namer that stays pending makes the explanation time out', async () => {
  const pending: NameNamer = { lookup: () => Activity.pending<NameTree<Name>>() };
  const ns: ConfiguredNamers = { configured: [{ prefix: readPath('/#/slow'), namer: pending }] };
  await assert.rejects(delegate(readDtab('/s=>/#/slow'), readPath('/s/x'), ns, { timeoutMs: 30 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MESH_ERR_DELEGATION_TIMEOUT');
    assert.equal(e.message, 'namer lookup of /#/slow/x still pending after 30 ms');
    return true;
  });
});

// DelegateTreeTest: simplification rules, on hand-built trees.
const d = (s: string): DelegationDentry => readDentry(s);
const P = (s: string): Path => readPath(s);
const L = (path: string, dentry: DelegationDentry | null, id: string): DelegateTree<BoundName> => ({
  type: 'leaf',
  path: P(path),
  dentry,
  value: boundName(P(id), Var.value(ADDR_PENDING)),
});

test('simplify collapses nodes with the same path (Linkerd DelegateTreeTest)', () => {
  const orig: DelegateTree<BoundName> = {
    type: 'delegate',
    path: P('/a'),
    dentry: null,
    tree: {
      type: 'delegate',
      path: P('/b'),
      dentry: d('/a => /b'),
      tree: { type: 'alt', path: P('/b'), dentry: d('/b => /c|/d'), trees: [L('/c', d('/b => /c|/d'), '/c'), L('/d', d('/b => /c|/d'), '/d')] },
    },
  };
  assert.deepEqual(shape(simplifyDelegateTree(orig)), [
    'delegate',
    '/a',
    '',
    ['alt', '/b', '/a=>/b', ['leaf', '/c', '/b=>/c | /d', '/c /'], ['leaf', '/d', '/b=>/c | /d', '/d /']],
  ]);
});

test('simplify: single-branch alt/union become delegates, empty ones become neg', () => {
  const wrap = (inner: DelegateTree<BoundName>): DelegateTree<BoundName> => ({
    type: 'delegate',
    path: P('/a'),
    dentry: null,
    tree: { type: 'delegate', path: P('/b'), dentry: d('/a => /b'), tree: inner },
  });
  const expectLeaf = ['delegate', '/a', '', ['delegate', '/b', '/a=>/b', ['leaf', '/c', '/b=>/c', '/c /']]];
  assert.deepEqual(shape(simplifyDelegateTree(wrap({ type: 'alt', path: P('/b'), dentry: d('/b => /c'), trees: [L('/c', d('/b => /c'), '/c')] }))), expectLeaf);
  assert.deepEqual(
    shape(simplifyDelegateTree(wrap({ type: 'union', path: P('/b'), dentry: d('/b => /c'), trees: [{ weight: 1, tree: L('/c', d('/b => /c'), '/c') }] }))),
    expectLeaf,
  );
  const expectNeg = ['delegate', '/a', '', ['delegate', '/b', '/a=>/b', ['neg', '/b', '/b=>~']]];
  assert.deepEqual(shape(simplifyDelegateTree(wrap({ type: 'alt', path: P('/b'), dentry: d('/b => ~'), trees: [] }))), expectNeg);
  assert.deepEqual(shape(simplifyDelegateTree(wrap({ type: 'union', path: P('/b'), dentry: d('/b => ~'), trees: [] }))), expectNeg);
});

test('find returns the chain to a leaf (Linkerd DelegateTreeTest)', () => {
  const tree: DelegateTree<BoundName> = {
    type: 'delegate',
    path: P('/a'),
    dentry: null,
    tree: {
      type: 'alt',
      path: P('/b'),
      dentry: d('/a => /b'),
      trees: [
        L('/c', d('/b => /c | /d'), '/c'),
        {
          type: 'transformation',
          path: P('/d'),
          name: 'Optimus Prime',
          value: boundName(P('/d'), Var.value(ADDR_PENDING)),
          tree: L('/%/optimus/d', d('/b => /c | /d'), '/%/optimus/d'),
        },
      ],
    },
  };
  const showD = (x: DelegationDentry): string => `${x.prefix.show()}=>${showNameTree(x.dst)}`;
  const found = findInDelegateTree(tree, (b) => b.id.show() === '/%/optimus/d', showD);
  assert.deepEqual(
    found?.map(([p, s]) => [p.show(), s]),
    [
      ['/a', ''],
      ['/b', '/a=>/b'],
      ['/d', '/b=>/c | /d'],
      ['/%/optimus/d', 'Optimus Prime'],
    ],
  );
  assert.equal(findInDelegateTree(tree, (b) => b.id.show() === '/e', showD), undefined);
});
