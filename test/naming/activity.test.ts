import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Activity, MutableActivity, PENDING, failed, ok } from '../../src/naming/activity.js';
import type { ActivityState } from '../../src/naming/contracts.js';

function record<T>(a: Activity<T>): { states: ActivityState<T>[]; close: () => void } {
  const states: ActivityState<T>[] = [];
  const c = a.states.observe((s) => states.push(s));
  return { states, close: () => c.close() };
}

test('constant activities', () => {
  assert.deepEqual(Activity.value(3).sample(), { type: 'ok', value: 3 });
  assert.deepEqual(Activity.pending().sample(), { type: 'pending' });
  const e = new Error('boom');
  assert.deepEqual(Activity.exception(e).sample(), { type: 'failed', error: e });
});

test('mutable activity moves pending → ok → failed and de-duplicates', () => {
  const a = new MutableActivity<number>(PENDING);
  const r = record(a);
  a.setValue(1);
  a.setValue(1);
  a.setFailed(new Error('x'));
  a.setFailed(new Error('x'));
  a.setValue(2);
  r.close();
  assert.deepEqual(
    r.states.map((s) => (s.type === 'ok' ? `ok:${s.value}` : s.type === 'failed' ? `failed:${s.error.message}` : s.type)),
    ['pending', 'ok:1', 'failed:x', 'ok:2'],
  );
  assert.equal(a.observerCount, 0);
});

test('map applies to ok values, passes pending/failed, and turns throws into failures', () => {
  const a = Activity.mutable<number>();
  const m = a.map((x) => {
    if (x < 0) throw new Error('negative');
    return x * 2;
  });
  const r = record(m);
  a.setValue(2);
  a.setValue(-1);
  r.close();
  assert.equal(r.states.length, 3);
  assert.deepEqual(r.states[0], PENDING);
  assert.deepEqual(r.states[1], ok(4));
  assert.equal(r.states[2]!.type, 'failed');
  assert.equal((r.states[2] as { error: Error }).error.message, 'negative');
});

test('flatMap follows the inner activity and releases it when the outer changes', () => {
  const outer = Activity.mutable<string>();
  const inners = new Map([
    ['a', Activity.mutable<number>(ok(1))],
    ['b', Activity.mutable<number>()],
  ]);
  const f = outer.flatMap((k) => inners.get(k)!);
  const r = record(f);
  outer.setValue('a');
  inners.get('a')!.setValue(2);
  outer.setValue('b');
  assert.equal(inners.get('a')!.observerCount, 0);
  inners.get('b')!.setValue(9);
  r.close();
  assert.equal(inners.get('b')!.observerCount, 0);
  assert.equal(outer.observerCount, 0);
  assert.deepEqual(r.states, [PENDING, ok(1), ok(2), PENDING, ok(9)]);
});

test('join and collect: failed wins over pending, pending over ok', () => {
  const x = Activity.mutable<number>();
  const y = Activity.mutable<string>();
  const j = x.join(y);
  const r = record(j);
  x.setValue(1);
  y.setValue('s');
  y.setFailed(new Error('y failed'));
  x.setPending();
  r.close();
  assert.deepEqual(r.states.slice(0, 2), [PENDING, ok([1, 's'])]);
  assert.equal(r.states[2]!.type, 'failed');
  assert.equal(r.states.length, 3, 'failed stays failed while x goes pending');
  assert.deepEqual(Activity.collect([]).sample(), ok([]));
});

test('toPromise waits for the first non-pending state', async () => {
  const a = Activity.mutable<number>();
  const p = a.toPromise(1000);
  a.setValue(5);
  assert.equal(await p, 5);
  const b = Activity.mutable<number>();
  const q = b.toPromise(1000);
  b.setFailed(new Error('nope'));
  await assert.rejects(q, /nope/);
  await assert.rejects(Activity.pending().toPromise(10), /no matching value within 10 ms/);
  assert.deepEqual(failed(new Error('e')).type, 'failed');
});
