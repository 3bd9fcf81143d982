import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncVar, ConstVar, MutableVar, Var, collect, flatMap, map } from '../../src/naming/var.js';

test('Var.value is constant and observers get the value at once', () => {
  const v = Var.value(7);
  const seen: number[] = [];
  const c = v.observe((x) => seen.push(x));
  c.close();
  assert.deepEqual(seen, [7]);
  assert.equal(v.sample(), 7);
  assert.ok(v instanceof ConstVar);
});

test('MutableVar: update notifies, identical values are not re-emitted, closed observers get nothing', () => {
  const v = new MutableVar(1);
  const seen: number[] = [];
  const c = v.observe((x) => seen.push(x));
  v.update(2);
  v.update(2);
  v.update(3);
  c.close();
  v.update(4);
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(v.sample(), 4);
  assert.equal(v.observerCount, 0);
});

test('custom equality de-duplicates structurally', () => {
  const v = new MutableVar({ a: 1 }, (x, y) => x.a === y.a);
  const seen: number[] = [];
  const c = v.observe((x) => seen.push(x.a));
  v.update({ a: 1 });
  v.update({ a: 2 });
  c.close();
  assert.deepEqual(seen, [1, 2]);
});

test('map is lazy and closes upstream when the last observer leaves', () => {
  const src = new MutableVar(2);
  let calls = 0;
  const m = map(src, (x) => {
    calls++;
    return x * 10;
  });
  assert.equal(src.observerCount, 0);
  const a: number[] = [];
  const b: number[] = [];
  const ca = m.observe((x) => a.push(x));
  const cb = m.observe((x) => b.push(x));
  assert.equal(src.observerCount, 1);
  src.update(3);
  ca.close();
  assert.equal(src.observerCount, 1);
  src.update(4);
  cb.close();
  assert.equal(src.observerCount, 0);
  assert.deepEqual(a, [20, 30]);
  assert.deepEqual(b, [20, 30, 40]);
  assert.equal(calls, 3);
});

test('map output is de-duplicated', () => {
  const src = new MutableVar(1);
  const m = map(src, (x) => x % 2);
  const seen: number[] = [];
  const c = m.observe((x) => seen.push(x));
  src.update(3);
  src.update(4);
  src.update(6);
  c.close();
  assert.deepEqual(seen, [1, 0]);
});

test('flatMap switches inner vars and closes the old inner subscription', () => {
  const sel = new MutableVar<'a' | 'b'>('a');
  const a = new MutableVar(1);
  const b = new MutableVar(100);
  const f = flatMap(sel, (k) => (k === 'a' ? a : b));
  const seen: number[] = [];
  const c = f.observe((x) => seen.push(x));
  assert.equal(a.observerCount, 1);
  a.update(2);
  sel.update('b');
  assert.equal(a.observerCount, 0);
  assert.equal(b.observerCount, 1);
  a.update(3); // no longer observed through f
  b.update(101);
  c.close();
  assert.equal(b.observerCount, 0);
  assert.equal(sel.observerCount, 0);
  assert.deepEqual(seen, [1, 2, 100, 101]);
});

test('collect combines vars in order and emits on each change', () => {
  const x = new MutableVar(1);
  const y = new MutableVar(2);
  const c = collect([x, y]);
  const seen: (readonly number[])[] = [];
  const h = c.observe((v) => seen.push(v));
  x.update(5);
  y.update(6);
  h.close();
  assert.deepEqual(seen, [
    [1, 2],
    [5, 2],
    [5, 6],
  ]);
  assert.equal(x.observerCount + y.observerCount, 0);
});

test('AsyncVar starts its producer on the first observer and stops it after the last', () => {
  let starts = 0;
  let stops = 0;
  let push: ((v: number) => void) | undefined;
  const v = new AsyncVar(0, (update) => {
    starts++;
    push = update;
    update(1);
    return { close: () => stops++ };
  });
  const seen: number[] = [];
  const c1 = v.observe((x) => seen.push(x));
  const c2 = v.observe(() => {});
  push!(2);
  c1.close();
  assert.equal(stops, 0);
  c2.close();
  assert.equal(stops, 1);
  assert.equal(starts, 1);
  assert.deepEqual(seen, [1, 2]);
  // Sampling an unobserved async var runs the producer briefly.
  assert.equal(v.sample(), 1);
  assert.equal(starts, 2);
  assert.equal(stops, 2);
});

test('an observer that updates re-entrantly does not receive a stale value afterwards', () => {
  const v = new MutableVar(0);
  const seen: number[] = [];
  const c1 = v.observe((x) => {
    if (x === 1) v.update(2);
  });
  const c2 = v.observe((x) => seen.push(x));
  v.update(1);
  c1.close();
  c2.close();
  assert.deepEqual(seen, [0, 2]);
});

test('firstMatching resolves with the first matching value and detaches', async () => {
  const v = new MutableVar(0);
  const p = Var.firstMatching(v, (x) => x >= 2, 1000);
  v.update(1);
  v.update(2);
  assert.equal(await p, 2);
  await new Promise<void>((r) => queueMicrotask(r));
  assert.equal(v.observerCount, 0);
  await assert.rejects(Var.firstMatching(v, (x) => x > 100, 20), /no matching value within 20 ms/);
  assert.equal(v.observerCount, 0);
});
