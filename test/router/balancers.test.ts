import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoint, createBalancer, decayedCost, observeLatency, seededRandom } from '../../src/router/balancers/index.js';
import type { BalancerNode, LoadBalancer } from '../../src/router/balancers/index.js';
import { ApertureBalancer } from '../../src/router/balancers/aperture.js';
import { PluginError } from '../../src/router/plugin-errors.js';

class Node implements BalancerNode {
  pending = 0;
  ewmaMs = 0;
  ewmaStampMs: number | undefined = undefined;
  available = true;
  constructor(readonly name: string) {}
}

function nodes(...names: string[]): Node[] {
  return names.map((n) => new Node(n));
}

function counts(lb: LoadBalancer<Node>, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const p = lb.pick();
    const k = p === null ? 'null' : p.name;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

test('empty balancer picks null', () => {
  for (const kind of ['p2c', 'ewma', 'aperture', 'heap', 'roundRobin']) {
    const lb = createBalancer<Node>({ kind }, { rng: seededRandom(1) });
    assert.equal(lb.pick(), null, kind);
    lb.update([]);
    assert.equal(lb.pick(), null, kind);
    assert.equal(lb.kind, kind);
  }
});

test('p2c favours the less loaded of two, and never the most loaded of three', () => {
  const lb = createBalancer<Node>(undefined, { rng: seededRandom(7) });
  assert.equal(lb.kind, 'p2c');
  const [a, b, c] = nodes('a', 'b', 'c');
  lb.update([a!, b!]);
  a!.pending = 3;
  assert.deepEqual(counts(lb, 100), { b: 100 });
  b!.pending = 5;
  assert.deepEqual(counts(lb, 100), { a: 100 });
  lb.update([a!, b!, c!]);
  a!.pending = 1;
  b!.pending = 2;
  c!.pending = 9;
  const got = counts(lb, 300);
  assert.equal(got['c'], undefined);
  assert.equal((got['a'] ?? 0) + (got['b'] ?? 0), 300);
  // With three nodes each pair is equally likely: a wins 2 of 3 pairs.
  assert.ok(got['a']! > got['b']!, JSON.stringify(got));
});

test('ewma favours the faster node; peak EWMA arithmetic', () => {
  let now = 0;
  const lb = createBalancer<Node>({ kind: 'ewma', decayTimeMs: 10_000 }, { rng: seededRandom(3), now: () => now });
  const [fast, slow] = nodes('fast', 'slow');
  lb.update([fast!, slow!]);
  lb.observe(fast!, 10);
  lb.observe(slow!, 100);
  assert.deepEqual(counts(lb, 50), { fast: 50 });
  // Load is cost * (pending + 1): 10 * 11 > 100 * 1.
  fast!.pending = 10;
  assert.deepEqual(counts(lb, 50), { slow: 50 });
  fast!.pending = 0;

  const n = new Node('n');
  observeLatency(n, 100, 0, 10_000);
  assert.equal(n.ewmaMs, 100);
  observeLatency(n, 50, 10_000, 10_000);
  assert.equal(n.ewmaMs, 100 * Math.exp(-1) + 50 * (1 - Math.exp(-1)));
  observeLatency(n, 200, 10_001, 10_000);
  assert.equal(n.ewmaMs, 200);
  assert.equal(decayedCost(n, 20_001, 10_000), 200 * Math.exp(-1));
  now = 20_001;
  // A node with requests in flight and no history is penalised below any measured node.
  const fresh = new Node('fresh');
  fresh.pending = 1;
  lb.update([fresh, slow!]);
  assert.deepEqual(counts(lb, 20), { slow: 20 });
});

test('roundRobin cycles and skips dead endpoints after a rebuild', () => {
  const lb = createBalancer<Node>({ kind: 'roundRobin' });
  const [a, b, c] = nodes('a', 'b', 'c');
  lb.update([a!, b!, c!]);
  const seq = () => Array.from({ length: 6 }, () => lb.pick()!.name).join('');
  assert.equal(seq(), 'abcabc');
  b!.available = false;
  lb.rebuild();
  assert.equal(lb.picker.nodes.length, 2);
  const s = seq();
  assert.equal(s, 'acacac');
  // Every node down: balance over all of them rather than fail (Finagle).
  a!.available = false;
  c!.available = false;
  lb.rebuild();
  assert.equal(lb.picker.nodes.length, 3);
  assert.equal(new Set(Array.from({ length: 3 }, () => lb.pick()!.name)).size, 3);
});

test('dead endpoints are skipped by every kind', () => {
  for (const kind of ['p2c', 'ewma', 'aperture', 'heap', 'roundRobin']) {
    const lb = createBalancer<Node>({ kind, minAperture: 3 }, { rng: seededRandom(11), now: () => 0 });
    const [a, b, c] = nodes('a', 'b', 'c');
    lb.update([a!, b!, c!]);
    b!.available = false;
    c!.available = false;
    lb.rebuild();
    assert.deepEqual(counts(lb, 30), { a: 30 }, kind);
  }
});

test('a pick landing on a node marked down before the rebuild is retried (maxEffort)', () => {
  const lb = createBalancer<Node>({ kind: 'p2c', maxEffort: 5 }, { rng: seededRandom(5) });
  const [a, b] = nodes('a', 'b');
  lb.update([a!, b!]);
  b!.available = false; // no rebuild yet
  b!.pending = -1; // would win on load
  assert.deepEqual(counts(lb, 20), { a: 20 });
  for (const [maxEffort, want] of [[0, 'abab'], [5, 'aaaa']] as const) {
    const rr = createBalancer<Node>({ kind: 'roundRobin', maxEffort });
    b!.available = true;
    rr.update([a!, b!]);
    b!.available = false; // no rebuild yet
    assert.equal(Array.from({ length: 4 }, () => rr.pick()!.name).join(''), want);
  }
});

test('heap picks the least loaded, rotating among ties', () => {
  const lb = createBalancer<Node>({ kind: 'heap' });
  const [a, b, c] = nodes('a', 'b', 'c');
  lb.update([a!, b!, c!]);
  assert.equal(Array.from({ length: 3 }, () => lb.pick()!.name).join(''), 'abc');
  a!.pending = 2;
  b!.pending = 1;
  c!.pending = 4;
  assert.deepEqual(counts(lb, 10), { b: 10 });
});

test('aperture widens under load and narrows when idle', () => {
  let now = 0;
  const lb = createBalancer<Node>(
    { kind: 'aperture', smoothWindowMs: 1, lowLoad: 0.5, highLoad: 2, minAperture: 1 },
    { rng: seededRandom(9), now: () => now },
  ) as unknown as ApertureBalancer<Node>;
  const all = nodes('a', 'b', 'c', 'd');
  lb.update(all);
  assert.equal(lb.width, 1);
  const first = lb.pick()!;
  // Only the first node in the shuffled order is used while the aperture is 1.
  assert.deepEqual(counts(lb as unknown as LoadBalancer<Node>, 10), { [first.name]: 10 });
  for (const n of all) n.pending = 5;
  for (let i = 0; i < 10; i++) {
    now += 1000;
    lb.pick();
  }
  assert.equal(lb.width, 4);
  for (const n of all) n.pending = 0;
  for (let i = 0; i < 10; i++) {
    now += 1000;
    lb.pick();
  }
  assert.equal(lb.width, 1);
});

test('Endpoint keeps pending and latency through the balancer', () => {
  let now = 0;
  const lb = createBalancer<Endpoint>({ kind: 'ewma' }, { now: () => now });
  const e = new Endpoint('127.0.0.1:80', '127.0.0.1', 80);
  lb.update([e]);
  const p = lb.pick()!;
  assert.equal(p, e);
  p.onStart();
  assert.equal(e.pending, 1);
  now = 5;
  p.onEnd(lb, 42);
  assert.equal(e.pending, 0);
  assert.equal(e.ewmaMs, 42);
  assert.equal(e.ewmaStampMs, 5);
  e.status = 'busy';
  assert.equal(e.available, false);
});

test('only ewma keeps a latency average; the other kinds read no clock per request', () => {
  for (const kind of ['p2c', 'roundRobin', 'heap']) {
    let reads = 0;
    const lb = createBalancer<Node>({ kind }, { now: () => { reads++; return 0; } });
    const [a, b] = nodes('a', 'b');
    lb.update([a!, b!]);
    for (let i = 0; i < 20; i++) lb.observe(lb.pick()!, 5);
    assert.equal(reads, 0, kind);
    assert.equal(a!.ewmaMs + b!.ewmaMs, 0, kind);
  }
  let reads = 0;
  const lb = createBalancer<Node>({ kind: 'ewma' }, { now: () => { reads++; return 0; } });
  const [a] = nodes('a');
  lb.update([a!]);
  lb.observe(a!, 5);
  assert.equal(a!.ewmaMs, 5);
  assert.ok(reads > 0);
});

test('weight classes share traffic by weight × size', () => {
  class W extends Node {
    constructor(name: string, readonly weight: number) {
      super(name);
    }
  }
  const lb = createBalancer<W>({ kind: 'roundRobin' }, { rng: seededRandom(21) });
  const heavy = new W('heavy', 3);
  const l1 = new W('l1', 1);
  const l2 = new W('l2', 1);
  const zero = new W('zero', 0);
  lb.update([heavy, l1, l2, zero]);
  assert.equal(lb.picker.nodes.length, 4);
  const got = counts(lb as unknown as LoadBalancer<Node>, 5000);
  // heavy: 3×1 = 3 of 5 shares; l1 + l2: 1×2 = 2 shares, alternating; weight 0 gets nothing.
  assert.equal(got['zero'], undefined);
  assert.ok(Math.abs(got['heavy']! / 5000 - 0.6) < 0.03, JSON.stringify(got));
  assert.ok(Math.abs(got['l1']! - got['l2']!) <= 1, JSON.stringify(got));
});

test('config errors name the kind, key and value', () => {
  assert.throws(
    () => createBalancer({ kind: 'random' }),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'MESH_ERR_PLUGIN_UNKNOWN_KIND' &&
      e.message === 'loadBalancer: unknown kind "random"; supported: p2c, ewma, aperture, heap, roundRobin',
  );
  assert.throws(
    () => createBalancer({ kind: 'ewma', decayTimeMs: 0 }),
    (e: unknown) => e instanceof PluginError && e.code === 'MESH_ERR_PLUGIN_BAD_VALUE' && e.message === "ewma: 'decayTimeMs' must be >= 1, found 0",
  );
  assert.throws(
    () => createBalancer({ kind: 'aperture', lowLoad: 3, highLoad: 2 }),
    (e: unknown) => e instanceof PluginError && e.message === "aperture: 'lowLoad' (3) must not exceed 'highLoad' (2)",
  );
});
