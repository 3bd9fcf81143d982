/**
 * namerd's thrift Namer service (Linkerd's ThriftNamerInterface) over a real Namespaces: an
 * in-memory dtab store and a test namer whose answers and Addrs the tests change. Covers the
 * node numbering of bound and delegate trees, stamps and long polls, discards, addresses as
 * bytes, failures, TApplicationExceptions and the observer cache's eviction policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MutableActivity, ok } from '../../../src/naming/activity.js';
import type { Addr } from '../../../src/naming/addr.js';
import { addrEquals, boundName } from '../../../src/naming/bound.js';
import type { BoundName, Name, NameNamer } from '../../../src/naming/contracts.js';
import type { DelegateTree } from '../../../src/naming/delegator.js';
import { Activity } from '../../../src/naming/activity.js';
import { NEG, leaf, type NameTree } from '../../../src/naming/name-tree.js';
import { Path } from '../../../src/naming/path.js';
import { readDentry, readDtab } from '../../../src/naming/parser.js';
import { MutableVar, observerCountOf } from '../../../src/naming/index.js';
import { Dtab } from '../../../src/naming/dtab.js';
import { InMemoryDtabStore } from '../../../src/namerd/stores/in-memory.js';
import { Namespaces } from '../../../src/namerd/namespaces.js';
import { encodeCall, decodeReply } from '../../../src/namerd/thrift/codec.js';
import { ThriftApplicationError } from '../../../src/namerd/thrift/errors.js';
import {
  NOP_DENTRY,
  Observer,
  ThriftNamerService,
  boundTreeToThrift,
  delegateTreeToThrift,
  localStamper,
  stripTransformerPrefix,
  toAddrMeta,
  type ThriftNamerCapacity,
} from '../../../src/namerd/thrift/service.js';
import type { BoundNode, DelegateNodeT, NameRef, TPath } from '../../../src/namerd/thrift/types.js';
import { within } from '../../support/activity.js';

// ---- fixtures ------------------------------------------------------------------------------

/** Answers `/#/t/<name>/<rest>` with one bound name whose state the test sets; `nope*` is Neg. */
class TestNamer implements NameNamer {
  readonly acts = new Map<string, MutableActivity<'bound' | 'neg'>>();
  readonly addrs = new Map<string, MutableVar<Addr>>();

  act(name: string): MutableActivity<'bound' | 'neg'> {
    let a = this.acts.get(name);
    if (!a) {
      a = new MutableActivity<'bound' | 'neg'>(ok('bound'));
      this.acts.set(name, a);
    }
    return a;
  }

  addr(name: string): MutableVar<Addr> {
    let v = this.addrs.get(name);
    if (!v) {
      v = new MutableVar<Addr>({ type: 'bound', addrs: [], meta: {} }, addrEquals);
      this.addrs.set(name, v);
    }
    return v;
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    const name = path.utf8Elems[0];
    if (name === undefined || name.startsWith('nope')) return Activity.value<NameTree<Name>>(NEG);
    const id = Path.utf8('#', 't', name);
    const addr = this.addr(name);
    return this.act(name).map((v): NameTree<Name> => (v === 'neg' ? NEG : leaf<Name>(boundName(id, addr, path.drop(1)))));
  }
}

const DEFAULT_DTAB = '/svc=>/#/t;/u=>1 * (2 * /#/t/a & 3 * /#/t/b) & 4 * (/#/t/nope | /#/t/c);/x=>/#/t/b|/#/t/c';

interface Fixture {
  readonly store: InMemoryDtabStore;
  readonly namer: TestNamer;
  readonly namespaces: Namespaces;
  readonly svc: ThriftNamerService;
  /** The test clock of the observer caches, in ms. */
  clock: number;
}

/** A fresh store, namer and service; stamps count from 0x100; closed when the test ends. */
function setup(t: { after(fn: () => Promise<void> | void): void }, cache: Partial<ThriftNamerCapacity> = {}, lookupHost?: (h: string) => Promise<string>): Fixture {
  const store = new InMemoryDtabStore({ default: DEFAULT_DTAB });
  const namer = new TestNamer();
  const namespaces = new Namespaces(store, { configured: [{ prefix: Path.utf8('#', 't'), namer }] });
  const fx: Fixture = {
    store,
    namer,
    namespaces,
    clock: 1_000_000,
    svc: undefined as unknown as ThriftNamerService,
  };
  (fx as { svc: ThriftNamerService }).svc = new ThriftNamerService(namespaces, {
    cache,
    stamper: localStamper(0x100n),
    now: () => fx.clock,
    ...(lookupHost ? { lookupHost } : {}),
  });
  t.after(async () => {
    fx.svc.close();
    await store.close();
  });
  return fx;
}

const tp = (...elems: string[]): TPath => elems.map((e) => Buffer.from(e));
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** The 8-byte stamp 0x100 + n, as the test stamper issues them. */
const stamp = (n: number): Buffer => hex(`00000000000001${(n & 0xff).toString(16).padStart(2, '0')}`);
const EMPTY = Buffer.alloc(0);
const ref = (name: TPath, s: Buffer = EMPTY, ns = 'default'): NameRef => ({ stamp: s, name, ns });
const leafNode = (id: TPath, residual: TPath = []): BoundNode => ({ type: 'leaf', leaf: { id, residual } });

/** `p` within 2 s, or a failure saying what did not happen. */
async function soon<T>(p: Promise<T>, what: string): Promise<T> {
  const r = await within(p, 2000);
  if (r === 'pending') assert.fail(`${what}: still pending after 2 s`);
  if (r instanceof Error) throw r;
  return r;
}

// ---- stamps and tree numbering ----------------------------------------------------------------

test('localStamper: 8-byte big-endian counter that wraps as a signed long', () => {
  const s = localStamper(0x7ffffffffffffffen);
  assert.deepEqual(s(), hex('7ffffffffffffffe'));
  assert.deepEqual(s(), hex('7fffffffffffffff'));
  assert.deepEqual(s(), hex('8000000000000000'));
  assert.deepEqual(s(), hex('8000000000000001'));
  const r = localStamper();
  const a = r();
  const b = r();
  assert.equal(a.length, 8);
  assert.equal(b.readBigInt64BE() - a.readBigInt64BE(), 1n);
});

test('Observer: a new stamp only for a value that differs; waiters get the next value; close rejects them', async () => {
  let push: (o: { ok: true; value: string } | { ok: false; error: Error }) => void = () => undefined;
  let closed = 0;
  const obs = new Observer<string>(localStamper(5n), (a, b) => a.ok === b.ok && (a.ok ? a.value === (b as { value: string }).value : true), (update) => {
    push = update;
    return { close: () => closed++ };
  });
  // No value yet: even an empty stamp waits.
  const first = obs.next(EMPTY);
  assert.equal(await within(first, 20), 'pending');
  push({ ok: true, value: 'x' });
  assert.deepEqual(await first, { stamp: hex('0000000000000005'), outcome: { ok: true, value: 'x' } });
  const second = obs.next(hex('0000000000000005'));
  push({ ok: true, value: 'x' });
  assert.equal(await within(second, 20), 'pending');
  push({ ok: true, value: 'y' });
  assert.deepEqual(await second, { stamp: hex('0000000000000006'), outcome: { ok: true, value: 'y' } });
  const third = obs.next(hex('0000000000000006'));
  assert.equal(obs.waiting, 1);
  obs.close();
  assert.equal(closed, 1);
  await assert.rejects(third, (e: Error & { code?: string }) => e.code === 'MESH_ERR_THRIFT_NAMER_CLOSED');
});

test('boundTreeToThrift numbers as Linkerd mkTree: root inline, each child before its own children', () => {
  const b = (n: string, residual = Path.empty): NameTree<BoundName> =>
    leaf(boundName(Path.utf8('#', 't', n), new MutableVar<Addr>({ type: 'pending' }), residual));
  // Alt(Union(x, y), z, Alt(Neg, w))
  const tree: NameTree<BoundName> = {
    type: 'alt',
    trees: [
      { type: 'union', trees: [{ weight: 0.5, tree: b('x') }, { weight: 1.5, tree: b('y', Path.utf8('r')) }] },
      b('z'),
      { type: 'alt', trees: [NEG, b('w')] },
    ],
  };
  assert.deepEqual(boundTreeToThrift(tree), {
    root: { type: 'alt', alt: [0, 3, 4] },
    nodes: new Map<number, BoundNode>([
      [0, { type: 'weighted', weighted: [{ weight: 0.5, id: 1 }, { weight: 1.5, id: 2 }] }],
      [1, leafNode(tp('#', 't', 'x'))],
      [2, leafNode(tp('#', 't', 'y'), tp('r'))],
      [3, leafNode(tp('#', 't', 'z'))],
      [4, { type: 'alt', alt: [5, 6] }],
      [5, { type: 'neg' }],
      [6, leafNode(tp('#', 't', 'w'))],
    ]),
  });
  assert.deepEqual(boundTreeToThrift(NEG), { root: { type: 'neg' }, nodes: new Map() });
});

test('delegateTreeToThrift numbers as Linkerd mkDelegateTree: a Delegate/Transformation child comes after its subtree', () => {
  const d = (s: string) => readDentry(s);
  const bn = (n: string, residual = Path.empty): BoundName => boundName(Path.utf8('#', 't', n), new MutableVar<Addr>({ type: 'pending' }), residual);
  const P = (s: string) => Path.utf8(...s.split('/').filter((e) => e !== ''));
  const tree: DelegateTree<BoundName> = {
    type: 'delegate',
    path: P('/svc/a'),
    dentry: null,
    tree: {
      type: 'alt',
      path: P('/svc/a'),
      dentry: d('/svc=>/a|/b'),
      trees: [
        { type: 'leaf', path: P('/a'), dentry: d('/svc=>/a|/b'), value: bn('x', P('/r')) },
        { type: 'delegate', path: P('/b'), dentry: d('/b=>/c'), tree: { type: 'neg', path: P('/c'), dentry: d('/c=>~') } },
        {
          type: 'transformation',
          path: P('/d'),
          name: 'io.l5d.port',
          value: bn('y'),
          tree: { type: 'exception', path: P('/e'), dentry: d('/d=>/e'), error: new Error('boom') },
        },
      ],
    },
  };
  const node = (path: string, dentry: string, contents: DelegateNodeT['contents']): DelegateNodeT => ({
    path: tp(...path.split('/').filter((e) => e !== '')),
    dentry,
    contents,
  });
  assert.equal(NOP_DENTRY, '/\\x2f=>~');
  assert.deepEqual(delegateTreeToThrift(tree), {
    root: node('/svc/a', '/\\x2f=>~', { type: 'delegate', delegate: 5 }),
    nodes: new Map<number, DelegateNodeT>([
      [0, node('/a', '/svc=>/a | /b', { type: 'boundLeaf', boundLeaf: { id: tp('#', 't', 'x'), residual: tp('r') } })],
      [1, node('/b', '/b=>/c', { type: 'delegate', delegate: 2 })],
      [2, node('/c', '/c=>~', { type: 'neg' })],
      [3, node('/d', 'io.l5d.port', { type: 'transformation', transformation: { value: { id: tp('#', 't', 'y'), residual: [] }, tree: 4 } })],
      [4, node('/e', '/d=>/e', { type: 'error', error: 'boom' })],
      [5, node('/svc/a', '/svc=>/a | /b', { type: 'alt', alt: [0, 1, 3] })],
    ]),
  });
});

test('stripTransformerPrefix and toAddrMeta follow Linkerd (Paths, convertMeta)', () => {
  const P = (...e: string[]) => Path.utf8(...e);
  assert.equal(stripTransformerPrefix(P('%', 'io.l5d.port', '4141', '#', 't', 'a')).show(), '/#/t/a');
  assert.equal(stripTransformerPrefix(P('%', 'io.l5d.localhost', '$', 'inet', '1.2.3.4', '80')).show(), '/$/inet/1.2.3.4/80');
  assert.equal(stripTransformerPrefix(P('#', 't', '%')).show(), '/#/t/%');
  assert.equal(toAddrMeta({ endpoint_addr_weight: 2 }), undefined);
  assert.deepEqual(toAddrMeta({ nodeName: 'n1', endpoint_addr_weight: '2.5' }), { nodeName: 'n1', endpointAddrWeight: 2.5 });
  assert.deepEqual(toAddrMeta({ authority: 'web:80', endpoint_addr_weight: 'x' }), { authority: 'web:80' });
});

// ---- bind ------------------------------------------------------------------------------------

test('bind: a union of a union, with the alt resolved, numbered and stamped exactly', async (t) => {
  const { svc } = setup(t);
  const r = await svc.bind({ dtab: '', name: ref(tp('u', 'x')), clientId: tp('me') });
  assert.deepEqual(r, {
    ok: true,
    value: {
      stamp: hex('0000000000000100'),
      ns: 'default',
      tree: {
        root: { type: 'weighted', weighted: [{ weight: 1, id: 0 }, { weight: 4, id: 3 }] },
        nodes: new Map<number, BoundNode>([
          [0, { type: 'weighted', weighted: [{ weight: 2, id: 1 }, { weight: 3, id: 2 }] }],
          [1, leafNode(tp('#', 't', 'a'), tp('x'))],
          [2, leafNode(tp('#', 't', 'b'), tp('x'))],
          [3, leafNode(tp('#', 't', 'c'), tp('x'))],
        ]),
      },
    },
  });
});

test('bind: the request dtab is appended; malformed → BindFailure naming the parse error; empty name → "empty path"', async (t) => {
  const { svc } = setup(t);
  const r = await svc.bind({ dtab: '/svc/web=>/#/t/c', name: ref(tp('svc', 'web', 'y')), clientId: [] });
  assert.deepEqual(r.ok && r.value.tree, { root: leafNode(tp('#', 't', 'c'), tp('y')), nodes: new Map() });

  let parseError = '';
  try {
    readDtab('/svc=>');
  } catch (e) {
    parseError = (e as Error).message;
  }
  assert.ok(parseError.length > 0);
  const name = ref(tp('svc', 'a'), hex('01'));
  assert.deepEqual(await svc.bind({ dtab: '/svc=>', name, clientId: [] }), {
    ok: false,
    failure: { reason: parseError, retryInSeconds: 0, name, ns: 'default' },
  });
  const empty = ref([], EMPTY, 'other');
  assert.deepEqual(await svc.bind({ dtab: '', name: empty, clientId: [] }), {
    ok: false,
    failure: { reason: 'empty path', retryInSeconds: 0, name: empty, ns: 'other' },
  });
  assert.deepEqual(svc.observers().bind.opened, 1, 'failures before observing open no observer');
});

test('bind long poll: the current stamp waits for a real change; a stale stamp answers at once', async (t) => {
  const { svc, store } = setup(t);
  const first = await svc.bind({ dtab: '', name: ref(tp('svc', 'a')), clientId: [] });
  assert.ok(first.ok);
  assert.deepEqual(first.value.stamp, stamp(0));
  assert.deepEqual(first.value.tree.root, leafNode(tp('#', 't', 'a')));

  const poll = svc.bind({ dtab: '', name: ref(tp('svc', 'a'), stamp(0)), clientId: [] });
  assert.equal(await within(poll, 50), 'pending');
  assert.deepEqual(svc.observers().bind, { active: 1, inactive: 0, waiting: 1, opened: 1, closed: 0 });

  // A write that leaves /svc/a bound the same is not a change.
  await store.put('default', readDtab(`${DEFAULT_DTAB};/other=>/#/t/z`));
  assert.equal(await within(poll, 50), 'pending');

  await store.put('default', readDtab('/svc=>/#/t/c'));
  const next = await soon(poll, 'the long poll after the dtab changed');
  assert.deepEqual(next, {
    ok: true,
    value: { stamp: stamp(1), tree: { root: leafNode(tp('#', 't', 'c'), tp('a')), nodes: new Map() }, ns: 'default' },
  });
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 1, waiting: 0, opened: 1, closed: 0 });

  // The old stamp, an empty one, or one from another namerd: the current value at once.
  for (const s of [stamp(0), EMPTY, hex('deadbeefdeadbeef')]) {
    const r = await within(svc.bind({ dtab: '', name: ref(tp('svc', 'a'), s), clientId: [] }), 50);
    assert.deepEqual(r !== 'pending' && !(r instanceof Error) && r.ok && r.value.stamp, stamp(1));
  }
});

test('bind: pending until the namer answers; a failed binding is a BindFailure with its reason', async (t) => {
  const { svc, namer } = setup(t);
  namer.act('slow').setPending();
  const p = svc.bind({ dtab: '', name: ref(tp('svc', 'slow')), clientId: [] });
  assert.equal(await within(p, 50), 'pending');
  namer.act('slow').setValue('bound');
  const r = await soon(p, 'bind once the namer answered');
  assert.deepEqual(r.ok && r.value.tree.root, leafNode(tp('#', 't', 'slow')));

  const name = ref(tp('svc', 'bad'));
  namer.act('bad').setFailed(new Error('zk is down'));
  assert.deepEqual(await svc.bind({ dtab: '', name, clientId: [] }), {
    ok: false,
    failure: { reason: 'zk is down', retryInSeconds: 0, name, ns: 'default' },
  });

  // A failure then a recovery: a client polling with the last good stamp gets the new value.
  const good = await svc.bind({ dtab: '', name: ref(tp('svc', 'flaky')), clientId: [] });
  assert.ok(good.ok);
  const poll = svc.bind({ dtab: '', name: ref(tp('svc', 'flaky'), good.value.stamp), clientId: [] });
  namer.act('flaky').setFailed(new Error('flap'));
  const failed = await soon(poll, 'the poll after the failure');
  assert.equal(!failed.ok && failed.failure.reason, 'flap');
  namer.act('flaky').setValue('neg');
  const neg = await svc.bind({ dtab: '', name: ref(tp('svc', 'flaky'), good.value.stamp), clientId: [] });
  assert.deepEqual(neg.ok && neg.value.tree.root, { type: 'neg' });
});

test('bind: a discarded long poll stops waiting and releases its observer slot', async (t) => {
  const { svc, namespaces } = setup(t, { bindingCacheInactive: 0 });
  const first = await svc.bind({ dtab: '', name: ref(tp('svc', 'a')), clientId: [] });
  assert.ok(first.ok);
  const states = namespaces.bind('default', Path.utf8('svc', 'a')).states;
  // Inactive capacity 0: an observer with no request is closed at once (Guava maximumSize(0)).
  assert.equal(observerCountOf(states), 0);
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 0, waiting: 0, opened: 1, closed: 1 });

  const ac = new AbortController();
  const poll = svc.bind({ dtab: '', name: ref(tp('svc', 'a'), stamp(1)), clientId: [] }, ac.signal);
  // A new observer starts, with a new stamp for the value: the poll's stamp is that one.
  const again = await soon(svc.bind({ dtab: '', name: ref(tp('svc', 'a')), clientId: [] }), 'a second client');
  assert.deepEqual(again.ok && again.value.stamp, stamp(1));
  assert.equal(await within(poll, 50), 'pending');
  assert.deepEqual(svc.observers().bind, { active: 1, inactive: 0, waiting: 1, opened: 2, closed: 1 });
  assert.equal(observerCountOf(states), 1);

  ac.abort();
  await assert.rejects(poll, (e: Error & { code?: string }) => e.code === 'MESH_ERR_THRIFT_NAMER_DISCARDED');
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 0, waiting: 0, opened: 2, closed: 2 });
  assert.equal(observerCountOf(states), 0);
});

// ---- observer cache --------------------------------------------------------------------------

test('observer cache: inactive observers kept up to the count, least recent evicted, expired after the TTL; active ones capped', async (t) => {
  const fx = setup(t, { bindingCacheActive: 2, bindingCacheInactive: 2, bindingCacheInactiveTTLSecs: 10 });
  const { svc, namespaces } = fx;
  const bind = (n: string, s: Buffer = EMPTY, signal?: AbortSignal) => svc.bind({ dtab: '', name: ref(tp('svc', n), s), clientId: [] }, signal);
  const watchers = (n: string) => observerCountOf(namespaces.bind('default', Path.utf8('svc', n)).states);

  await bind('a');
  fx.clock += 4000;
  await bind('b');
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 2, waiting: 0, opened: 2, closed: 0 });
  assert.equal(watchers('a'), 1, 'an inactive observer stays subscribed');
  // A third idle observer evicts the least recently used one (a), which is closed.
  await bind('c');
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 2, waiting: 0, opened: 3, closed: 1 });
  assert.equal(watchers('a'), 0);
  // Using b again makes it the most recent; it is reused, not rebuilt.
  fx.clock += 1000;
  await bind('b');
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 2, waiting: 0, opened: 3, closed: 1 });
  // The TTL counts from when an observer went idle: c (idle at 4000) expires at 14000, b at 15000.
  fx.clock += 8999;
  svc.sweep();
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 2, waiting: 0, opened: 3, closed: 1 });
  fx.clock += 1;
  svc.sweep();
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 1, waiting: 0, opened: 3, closed: 2 });
  assert.equal(watchers('c'), 0);
  assert.equal(watchers('b'), 1);
  fx.clock += 1000;
  svc.sweep();
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 0, waiting: 0, opened: 3, closed: 3 });
  assert.equal(watchers('b'), 0);

  // Two names long-polled: a third is refused with Linkerd's MaximumObservationsReached.
  const ac = new AbortController();
  const sa = await bind('a');
  const sb = await bind('b');
  assert.ok(sa.ok && sb.ok);
  const pa = bind('a', sa.value.stamp, ac.signal);
  const pa2 = bind('a', sa.value.stamp, ac.signal);
  const pb = bind('b', sb.value.stamp, ac.signal);
  assert.deepEqual(svc.observers().bind, { active: 2, inactive: 0, waiting: 3, opened: 5, closed: 3 });
  const name = ref(tp('svc', 'c'));
  assert.deepEqual(await bind('c'), {
    ok: false,
    failure: { reason: 'The maximum number of concurrent observations has been reached (2)', retryInSeconds: 0, name, ns: 'default' },
  });
  ac.abort();
  for (const p of [pa, pa2, pb]) await assert.rejects(p, (e: Error & { code?: string }) => e.code === 'MESH_ERR_THRIFT_NAMER_DISCARDED');
  assert.deepEqual(svc.observers().bind, { active: 0, inactive: 2, waiting: 0, opened: 5, closed: 3 });
  assert.equal((await bind('c')).ok, true);
});

// ---- addr ------------------------------------------------------------------------------------

test('addr: IPv4/IPv6 bytes, ports and metadata exactly; host names resolved; long polled; neg and failures', async (t) => {
  const lookups: string[] = [];
  const { svc, namer } = setup(t, {}, async (h) => {
    lookups.push(h);
    if (h === 'svc.test') return '192.0.2.7';
    throw new Error('ENOTFOUND');
  });
  namer.addr('a').update({
    type: 'bound',
    addrs: [
      { host: '10.0.0.1', port: 8080, meta: {} },
      { host: '2001:db8::1', port: 9090, meta: { nodeName: 'n1', endpoint_addr_weight: 2.5 } },
      { host: '::ffff:10.1.2.3', port: 1, meta: { authority: 'web.example' } },
      { host: 'svc.test', port: 443, meta: {} },
      { host: 'nohost.test', port: 80, meta: {} },
    ],
    meta: { authority: 'pool' },
  });
  const r = await svc.addr({ name: ref(tp('#', 't', 'a')), clientId: [] });
  assert.deepEqual(r, {
    ok: true,
    value: {
      stamp: stamp(0),
      value: {
        type: 'bound',
        bound: {
          addresses: [
            { ip: hex('0a000001'), port: 8080 },
            { ip: hex('20010db8 00000000 00000000 00000001'), port: 9090, meta: { nodeName: 'n1', endpointAddrWeight: 2.5 } },
            // Java reads an IPv4-mapped IPv6 address as IPv4: 4 bytes.
            { ip: hex('0a010203'), port: 1, meta: { authority: 'web.example' } },
            { ip: hex('c0000207'), port: 443 },
          ],
          meta: { authority: 'pool' },
        },
      },
    },
  });
  assert.deepEqual(lookups.sort(), ['nohost.test', 'svc.test']);

  // A transformer prefix is stripped (Linkerd's Paths.stripTransformerPrefix): same observer.
  const viaTransformer = await svc.addr({ name: ref(tp('%', 'io.l5d.port', '4141', '#', 't', 'a')), clientId: [] });
  assert.deepEqual(viaTransformer.ok && viaTransformer.value.stamp, stamp(0));
  assert.equal(svc.observers().addr.opened, 1);

  const poll = svc.addr({ name: ref(tp('#', 't', 'a'), stamp(0)), clientId: [] });
  // The same addresses again (in another order) are not a change.
  namer.addr('a').update({ type: 'bound', addrs: [...(namer.addr('a').sample() as Extract<Addr, { type: 'bound' }>).addrs].reverse(), meta: { authority: 'pool' } });
  assert.equal(await within(poll, 50), 'pending');
  namer.addr('a').update({ type: 'bound', addrs: [{ host: '127.0.0.1', port: 4141, meta: {} }], meta: {} });
  assert.deepEqual(await soon(poll, 'the addr long poll'), {
    ok: true,
    value: { stamp: stamp(1), value: { type: 'bound', bound: { addresses: [{ ip: hex('7f000001'), port: 4141 }] } } },
  });

  // Neg, a failed Addr, an id the namers do not know, an empty name.
  namer.addr('a').update({ type: 'neg' });
  assert.deepEqual(await svc.addr({ name: ref(tp('#', 't', 'a'), stamp(1)), clientId: [] }), { ok: true, value: { stamp: stamp(2), value: { type: 'neg' } } });
  const failing = ref(tp('#', 't', 'a'));
  namer.addr('a').update({ type: 'failed', cause: new Error('endpoints unavailable') });
  assert.deepEqual(await svc.addr({ name: failing, clientId: [] }), {
    ok: false,
    failure: { reason: 'endpoints unavailable', retryInSeconds: 0, name: failing },
  });
  const unknown = await svc.addr({ name: ref(tp('#', 't', 'nope')), clientId: [] });
  assert.deepEqual(unknown.ok && unknown.value.value, { type: 'neg' });
  const empty = ref([]);
  assert.deepEqual(await svc.addr({ name: empty, clientId: [] }), { ok: false, failure: { reason: 'empty path', retryInSeconds: 0, name: empty } });
});

// ---- delegate --------------------------------------------------------------------------------

test('delegate: the exact tree (alt flattened, neg branch, bound leaves); stamp 1; request dtab appended', async (t) => {
  const { svc } = setup(t);
  const pathLeaf = (...e: string[]) => ({
    stamp: EMPTY,
    ns: 'default',
    tree: { root: { path: tp(...e), dentry: NOP_DENTRY, contents: { type: 'pathLeaf' as const, pathLeaf: tp(...e) } }, nodes: new Map() },
  });
  const r = await svc.delegate({ dtab: '/x/y=>/#/t/nope2', delegation: pathLeaf('x', 'y'), clientId: [] });
  const node = (path: TPath, dentry: string, contents: DelegateNodeT['contents']): DelegateNodeT => ({ path, dentry, contents });
  // /x/y: the request's dentry (last) first, then /x=>/#/t/b|/#/t/c, whose alt is flattened in.
  assert.deepEqual(r, {
    ok: true,
    value: {
      stamp: hex('0000000000000001'),
      ns: 'default',
      tree: {
        root: node(tp('x', 'y'), '/\\x2f=>~', { type: 'alt', alt: [0, 1, 2] }),
        nodes: new Map<number, DelegateNodeT>([
          [0, node(tp('#', 't', 'nope2'), '/x/y=>/#/t/nope2', { type: 'neg' })],
          [1, node(tp('#', 't', 'b', 'y'), '/x=>/#/t/b | /#/t/c', { type: 'boundLeaf', boundLeaf: { id: tp('#', 't', 'b'), residual: tp('y') } })],
          [2, node(tp('#', 't', 'c', 'y'), '/x=>/#/t/b | /#/t/c', { type: 'boundLeaf', boundLeaf: { id: tp('#', 't', 'c'), residual: tp('y') } })],
        ]),
      },
    },
  });

  const one = await svc.delegate({ dtab: '', delegation: pathLeaf('svc', 'a'), clientId: [] });
  assert.deepEqual(one.ok && one.value.tree, {
    root: node(tp('svc', 'a'), '/\\x2f=>~', { type: 'delegate', delegate: 0 }),
    nodes: new Map([[0, node(tp('#', 't', 'a'), '/svc=>/#/t', { type: 'boundLeaf', boundLeaf: { id: tp('#', 't', 'a'), residual: [] } })]]),
  });
});

test('delegate: a stamped request is never answered until discarded; other trees and bad dtabs fail', async (t) => {
  const { svc } = setup(t);
  const leafReq = (s: Buffer) => ({
    stamp: s,
    ns: 'default',
    tree: { root: { path: tp('svc', 'a'), dentry: NOP_DENTRY, contents: { type: 'pathLeaf' as const, pathLeaf: tp('svc', 'a') } }, nodes: new Map() },
  });
  const ac = new AbortController();
  const parked = svc.delegate({ dtab: '', delegation: leafReq(hex('0000000000000001')), clientId: [] }, ac.signal);
  assert.equal(await within(parked, 100), 'pending');
  ac.abort();
  await assert.rejects(parked, (e: Error & { code?: string }) => e.code === 'MESH_ERR_THRIFT_NAMER_DISCARDED');

  const alt = {
    stamp: EMPTY,
    ns: 'default',
    tree: { root: { path: tp('svc'), dentry: '', contents: { type: 'alt' as const, alt: [0] } }, nodes: new Map() },
  };
  assert.deepEqual(await svc.delegate({ dtab: '', delegation: alt, clientId: [] }), { ok: false, failure: { reason: 'Delegation too complex' } });
  const bad = await svc.delegate({ dtab: '/a=>', delegation: leafReq(EMPTY), clientId: [] });
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.failure.reason : '', /./);
});

// ---- dtab ------------------------------------------------------------------------------------

test('dtab: the namespace dtab as text, long polled by stamp; an absent namespace is empty', async (t) => {
  const { svc, store } = setup(t);
  const first = await svc.dtab({ stamp: EMPTY, ns: 'default', clientId: [] });
  assert.deepEqual(first, { ok: true, value: { stamp: stamp(0), dtab: readDtab(DEFAULT_DTAB).show() } });
  const poll = svc.dtab({ stamp: stamp(0), ns: 'default', clientId: [] });
  assert.equal(await within(poll, 50), 'pending');
  await store.put('default', readDtab('/svc=>/#/t/z'));
  assert.deepEqual(await soon(poll, 'the dtab long poll'), { ok: true, value: { stamp: stamp(1), dtab: '/svc=>/#/t/z' } });
  assert.deepEqual(await svc.dtab({ stamp: EMPTY, ns: 'absent', clientId: [] }), { ok: true, value: { stamp: stamp(2), dtab: '' } });
  assert.equal(Dtab.empty.show(), '');
});

// ---- the mux handler ---------------------------------------------------------------------------

/** A strict TBinaryProtocol message header: version|type, name, seqid (the thrift spec). */
function header(type: number, name: string, seqid: number): Buffer {
  const b = Buffer.alloc(12 + name.length);
  b.writeUInt32BE((0x80010000 | type) >>> 0, 0);
  b.writeUInt32BE(name.length, 4);
  b.write(name, 8, 'latin1');
  b.writeUInt32BE(seqid, 8 + name.length);
  return b;
}

/** TApplicationException { 1: string message, 2: i32 type } as an EXCEPTION message. */
function appException(name: string, seqid: number, type: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length);
  const ty = Buffer.alloc(4);
  ty.writeUInt32BE(type);
  return Buffer.concat([header(3, name, seqid), hex('0b0001'), len, msg, hex('080002'), ty, hex('00')]);
}

test('handle: unknown method, a non-CALL and undecodable args get TApplicationExceptions; an unreadable header rejects', async (t) => {
  const { svc } = setup(t);
  const signal = new AbortController().signal;
  const unknown = Buffer.concat([header(1, 'nope', 42), hex('00')]);
  assert.deepEqual(await svc.handle(unknown, signal), appException('nope', 42, 1, "Invalid method name: 'nope'"));

  const reply = Buffer.concat([header(2, 'bind', 7), hex('00')]);
  assert.deepEqual(await svc.handle(reply, signal), appException('bind', 7, 2, 'expected a CALL message, got message type 2'));

  // bind's argument struct cut short: field 1 (struct) then nothing.
  const truncated = Buffer.concat([header(1, 'bind', 9), hex('0c0001 0b0001 000000ff 00')]);
  const out = await svc.handle(truncated, signal);
  assert.deepEqual(out.subarray(0, 16), header(3, 'bind', 9));
  assert.throws(
    () => decodeReply('bind', out),
    (e: unknown) => e instanceof ThriftApplicationError && e.type === 7,
  );

  await assert.rejects(svc.handle(hex('0102'), signal), (e: Error & { code?: string }) => e.code === 'MESH_ERR_THRIFT_NAMER_UNREADABLE');
});

test('handle: a bind CALL gets its REPLY with the same seqid; a closed service rejects waiting and new calls', async (t) => {
  const { svc } = setup(t);
  const signal = new AbortController().signal;
  const out = await svc.handle(encodeCall('bind', 77, { dtab: '', name: ref(tp('svc', 'a')), clientId: [] }), signal);
  const { seqid, reply } = decodeReply('bind', out);
  assert.equal(seqid, 77);
  assert.deepEqual(reply, { ok: true, value: { stamp: stamp(0), tree: { root: leafNode(tp('#', 't', 'a')), nodes: new Map() }, ns: 'default' } });

  const waiting = svc.handle(encodeCall('dtab', 78, { stamp: EMPTY, ns: 'default', clientId: [] }), signal).then((b) => {
    const d = decodeReply('dtab', b).reply;
    return svc.handle(encodeCall('dtab', 79, { stamp: d.ok ? d.value.stamp : EMPTY, ns: 'default', clientId: [] }), signal);
  });
  assert.equal(await within(waiting, 50), 'pending');
  svc.close();
  await assert.rejects(waiting, (e: Error & { code?: string }) => e.code === 'MESH_ERR_THRIFT_NAMER_CLOSED');
  await assert.rejects(svc.handle(encodeCall('dtab', 80, { stamp: EMPTY, ns: 'default', clientId: [] }), signal), (e: Error & { code?: string }) => e.code === 'MESH_ERR_THRIFT_NAMER_CLOSED');
  assert.deepEqual(svc.observers().dtab, { active: 0, inactive: 0, waiting: 0, opened: 1, closed: 1 });
});
