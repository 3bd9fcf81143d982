import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Activity, observerCountOf } from '../../src/naming/activity.js';
import { DefaultInterpreter, bind, bindNameTree, type ConfiguredNamers, type DtabLookup } from '../../src/naming/binder.js';
import type { ActivityState, BoundName, Name } from '../../src/naming/contracts.js';
import { EMPTY, FAIL, NEG, alt, leaf, union, weighted, type NameTree } from '../../src/naming/name-tree.js';
import { Path } from '../../src/naming/path.js';
import { MemoryNamer } from '../../src/namers/memory.js';
import { globalNamer } from '../../src/namers/builtin/index.js';
import { boundName } from '../../src/naming/bound.js';
import { Var } from '../../src/naming/var.js';

const p = (s: string): Path => Path.utf8(...s.split('/').filter((e) => e.length > 0));
const l = (s: string): NameTree<Name> => leaf<Name>(p(s));

/** A literal-prefix dtab (the real one is tested with the parser); later entries win. */
function dtab(...entries: [string, NameTree<Path>][]): DtabLookup {
  return {
    lookup(path: Path): NameTree<Path> {
      const found: NameTree<Path>[] = [];
      for (let i = entries.length - 1; i >= 0; i--) {
        const [pfx, dst] = entries[i]!;
        const prefix = p(pfx);
        if (!path.startsWith(prefix)) continue;
        const rest = path.drop(prefix.size);
        found.push(mapTree(dst, (x) => x.concat(rest)));
      }
      return found.length === 0 ? NEG : found.length === 1 ? found[0]! : alt(...found);
    },
  };
}

function mapTree(t: NameTree<Path>, f: (p: Path) => Path): NameTree<Path> {
  switch (t.type) {
    case 'leaf':
      return leaf(f(t.value));
    case 'alt':
      return alt(...t.trees.map((x) => mapTree(x, f)));
    case 'union':
      return union(...t.trees.map((w) => weighted(w.weight, mapTree(w.tree, f))));
    default:
      return t;
  }
}

const lp = (s: string): NameTree<Path> => leaf(p(s));

/** Compact text of a bound tree: ids with residuals, unions with weights. */
function show(t: NameTree<BoundName>): string {
  switch (t.type) {
    case 'leaf':
      return t.value.residual.isEmpty ? t.value.id.show() : `${t.value.id.show()}+${t.value.residual.show()}`;
    case 'union':
      return '(' + t.trees.map((w) => `${w.weight}*${show(w.tree)}`).join(' & ') + ')';
    case 'alt':
      return 'ALT?';
    default:
      return t.type;
  }
}

function showState(s: ActivityState<NameTree<BoundName>>): string {
  if (s.type === 'ok') return show(s.value);
  if (s.type === 'failed') return `failed: ${s.error.message}`;
  return 'pending';
}

const EMPTY_DTAB = dtab();

function testNamers(): { namer: MemoryNamer; namers: ConfiguredNamers } {
  const namer = new MemoryNamer();
  return { namer, namers: { configured: [{ prefix: p('/test'), namer }], global: globalNamer } };
}

test('union (Finagle NamerTest "union"): pending branches and failures are left out while one succeeds', () => {
  const { namer, namers } = testNamers();
  for (const k of ['/0', '/1', '/2']) namer.pending(p(k));
  const res = bindNameTree(EMPTY_DTAB, union(weighted(1, l('/test/0')), weighted(1, l('/test/1'))), namers);
  const seen: string[] = [];
  const sub = res.states.observe((s) => seen.push(showState(s)));
  const now = (): string => showState(res.states.sample());
  assert.equal(now(), 'pending');
  namer.set(p('/0'), l('/test/2'));
  assert.equal(now(), 'pending');
  namer.set(p('/1'), l('/$/inet/127.0.0.1/1'));
  assert.equal(now(), '/$/inet/127.0.0.1/1');
  namer.fail(p('/1'), new Error('boom'));
  assert.equal(now(), 'failed: boom');
  namer.set(p('/1'), l('/$/inet/127.0.0.1/1'));
  namer.set(p('/2'), l('/$/inet/127.0.0.1/2'));
  assert.equal(now(), '(1*/$/inet/127.0.0.1/2 & 1*/$/inet/127.0.0.1/1)');
  namer.set(p('/2'), NEG);
  assert.equal(now(), '/$/inet/127.0.0.1/1');
  namer.fail(p('/2'), new Error('boom2'));
  assert.equal(now(), '/$/inet/127.0.0.1/1');
  namer.fail(p('/1'), new Error('boom'));
  assert.equal(now(), 'failed: boom2');
  namer.set(p('/1'), NEG);
  namer.set(p('/2'), NEG);
  assert.equal(now(), 'neg');
  namer.set(p('/1'), EMPTY);
  assert.equal(now(), 'empty');
  namer.set(p('/2'), FAIL);
  assert.equal(now(), 'empty', 'a Fail branch of a union is dropped');
  sub.close();
  assert.deepEqual(seen, [
    'pending',
    '/$/inet/127.0.0.1/1',
    'failed: boom',
    '/$/inet/127.0.0.1/1',
    '(1*/$/inet/127.0.0.1/2 & 1*/$/inet/127.0.0.1/1)',
    '/$/inet/127.0.0.1/1',
    'failed: boom2',
    'neg',
    'empty',
  ]);
  for (const k of ['/0', '/1', '/2']) assert.equal(namer.observers(p(k)), 0, `observers of ${k}`);
});

test('failover (Finagle NamerTest "failover"): Alt falls back only on Neg; Empty is an answer', () => {
  const { namer, namers } = testNamers();
  const res = bindNameTree(EMPTY_DTAB, alt(l('/test/0'), union(weighted(1, l('/test/1')), weighted(1, l('/test/2')))), namers);
  const sub = res.states.observe(() => {});
  const now = (): string => showState(res.states.sample());
  namer.set(p('/0'), EMPTY);
  namer.set(p('/1'), NEG);
  namer.set(p('/2'), NEG);
  assert.equal(now(), 'empty');
  namer.set(p('/0'), l('/$/inet/127.0.0.1/1'));
  assert.equal(now(), '/$/inet/127.0.0.1/1');
  namer.set(p('/0'), NEG);
  assert.equal(now(), 'neg');
  namer.set(p('/2'), l('/$/inet/127.0.0.1/2'));
  assert.equal(now(), '/$/inet/127.0.0.1/2');
  namer.set(p('/0'), l('/$/inet/127.0.0.1/3'));
  assert.equal(now(), '/$/inet/127.0.0.1/3');
  sub.close();
  for (const k of ['/0', '/1', '/2']) assert.equal(namer.observers(p(k)), 0);
});

test('Alt with Fail/Empty (Finagle NamerTest): Fail stops the Alt', async () => {
  const { namer, namers } = testNamers();
  namer.set(p('/1'), l('/$/inet/127.0.0.1/1'));
  const b = (t: NameTree<Name>): Promise<string> => bindNameTree(EMPTY_DTAB, t, namers).toPromise(1000).then(show);
  assert.equal(await b(alt<Name>(FAIL, l('/test/1'), l('/test/2'))), 'fail');
  assert.equal(await b(alt<Name>(NEG, l('/$/fail'), l('/test/1'))), 'fail');
  assert.equal(await b(alt<Name>(l('/$/nil'), l('/$/fail'), l('/test/1'))), 'empty');
  assert.equal(await b(alt<Name>(NEG, l('/test/1'))), '/$/inet/127.0.0.1/1');
  assert.equal(await b(alt<Name>()), 'neg');
  assert.equal(await b(union<Name>()), 'neg');
  assert.equal(await b(union<Name>(weighted(3, l('/test/1')))), '/$/inet/127.0.0.1/1');
});

test('the dtab is consulted first; Neg from the dtab asks the namers; results are bound again', async () => {
  const { namer, namers } = testNamers();
  namer.set(p('/users'), l('/srv/users'));
  const d = dtab(['/svc', lp('/test')], ['/srv', lp('/$/inet/127.0.0.1/8080')]);
  const t = await bind(d, p('/svc/users/extra'), namers).toPromise(1000);
  // The namer sees /users/extra, for which it has no answer.
  assert.equal(show(t), 'neg');
  const t2 = await bind(d, p('/svc/users'), namers).toPromise(1000);
  assert.equal(show(t2), '/$/inet/127.0.0.1/8080+/users');
});

test('configured namers: the last listed is tried first, and its Neg falls back to earlier ones', async () => {
  const first = new MemoryNamer();
  const second = new MemoryNamer();
  const namers: ConfiguredNamers = {
    configured: [
      { prefix: p('/#/ns'), namer: first },
      { prefix: p('/#/ns'), namer: second },
    ],
    global: globalNamer,
  };
  first.set(p('/a'), l('/$/inet/127.0.0.1/1'));
  second.set(p('/a'), l('/$/inet/127.0.0.1/2'));
  first.set(p('/b'), l('/$/inet/127.0.0.1/3'));
  assert.equal(show(await bind(EMPTY_DTAB, p('/#/ns/a'), namers).toPromise(1000)), '/$/inet/127.0.0.1/2');
  assert.equal(show(await bind(EMPTY_DTAB, p('/#/ns/b'), namers).toPromise(1000)), '/$/inet/127.0.0.1/3');
  assert.equal(show(await bind(EMPTY_DTAB, p('/#/ns/c'), namers).toPromise(1000)), 'neg');
  assert.equal(show(await bind(EMPTY_DTAB, p('/#/other/c'), namers).toPromise(1000)), 'neg');
});

test('depth limit: a cycle fails with Finagle\'s message', async () => {
  const d = dtab(['/a', lp('/b')], ['/b', lp('/a')]);
  await assert.rejects(bind(d, p('/a'), { configured: [] }).toPromise(1000), (e: Error & { code?: string }) => {
    assert.equal(e.message, 'Max recursion level: 100 reached in Namer lookup');
    assert.equal(e.code, 'MESH_ERR_NAMING_MAX_DEPTH');
    return true;
  });
  // 100 lookups are allowed (the last one here is the /$/inet namer's), 101 are not.
  const chain: [string, NameTree<Path>][] = [];
  for (let i = 0; i < 98; i++) chain.push([`/n${i}`, lp(`/n${i + 1}`)]);
  chain.push(['/n98', lp('/$/inet/127.0.0.1/1')]);
  assert.equal(show(await bind(dtab(...chain), p('/n0'), { configured: [], global: globalNamer }).toPromise(1000)), '/$/inet/127.0.0.1/1');
  chain[98] = ['/n98', lp('/n99')];
  chain.push(['/n99', lp('/$/inet/127.0.0.1/1')]);
  await assert.rejects(bind(dtab(...chain), p('/n0'), { configured: [], global: globalNamer }).toPromise(1000), /Max recursion level: 100/);
});

test('unknown /$/ namer fails the bind; a namer that throws fails it too', async () => {
  await assert.rejects(bind(EMPTY_DTAB, p('/$/nope/x'), { configured: [], global: globalNamer }).toPromise(1000), (e: Error) => e.message === 'Unknown namer: nope for path: /$/nope/x');
  const throwing = { lookup(): never { throw new Error('namer exploded'); } };
  await assert.rejects(bind(EMPTY_DTAB, p('/#/t/x'), { configured: [{ prefix: p('/#/t'), namer: throwing }] }).toPromise(1000), /namer exploded/);
});

test('reactive: a namer change updates the bound tree; identical answers are not re-emitted; watches close', () => {
  const { namer, namers } = testNamers();
  const d = dtab(['/svc', lp('/test')]);
  const res = new DefaultInterpreter(namers).bind(d, p('/svc/web'));
  const seen: string[] = [];
  const sub = res.states.observe((s) => seen.push(showState(s)));
  namer.set(p('/web'), l('/$/inet/127.0.0.1/1'));
  namer.set(p('/web'), l('/$/inet/127.0.0.1/1'));
  namer.set(p('/web'), union(weighted(1, l('/$/inet/127.0.0.1/1')), weighted(1, l('/$/inet/127.0.0.1/2'))));
  namer.set(p('/web'), union(weighted(1, l('/$/inet/127.0.0.1/1')), weighted(1, l('/$/inet/127.0.0.1/2'))));
  namer.set(p('/web'), NEG);
  assert.equal(namer.observers(p('/web')), 1);
  sub.close();
  assert.equal(namer.observers(p('/web')), 0);
  assert.equal(observerCountOf(res.states), 0);
  assert.deepEqual(seen, ['neg', '/$/inet/127.0.0.1/1', '(1*/$/inet/127.0.0.1/1 & 1*/$/inet/127.0.0.1/2)', 'neg']);
});

test('a bound name with no endpoints does not fall back (fallback is decided by the tree)', async () => {
  const namer = new MemoryNamer();
  const emptyBound = boundName(p('/#/t/a'), Var.value({ type: 'bound', addrs: [], meta: {} }));
  namer.set(p('/a'), leaf<Name>(emptyBound));
  const d = dtab(['/svc', lp('/$/inet/127.0.0.1/9')], ['/svc', lp('/#/t/a')]);
  const t = await bind(d, p('/svc'), { configured: [{ prefix: p('/#/t'), namer }], global: globalNamer }).toPromise(1000);
  assert.equal(show(t), '/#/t/a');
});

test('the Activity of a constant bind samples without observers', () => {
  const t = Activity.from(bind(dtab(['/a', lp('/$/nil')]), p('/a'), { configured: [], global: globalNamer })).sample();
  assert.equal(showState(t), 'empty');
});
