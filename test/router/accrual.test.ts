import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALWAYS_AVAILABLE, Ema, createFailureAccrual } from '../../src/router/failure-accrual/index.js';
import type { AccrualTimer } from '../../src/router/failure-accrual/index.js';
import { createBalancer } from '../../src/router/balancers/index.js';
import { PluginError } from '../../src/router/plugin-errors.js';

/** A manual clock and timer: `advance(ms)` fires due timers in order. */
class FakeTime implements AccrualTimer {
  now = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  set(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  get timers(): number {
    return this.pending.size;
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (let guard = 0; guard < 1000; guard++) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].at <= until && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = until;
  }
}

test('consecutive failures: alive → dead → probe → alive, with the constant backoff', () => {
  const t = new FakeTime();
  const events: boolean[] = [];
  const f = createFailureAccrual({ kind: 'io.l5d.consecutiveFailures', failures: 3, backoff: { kind: 'constant', ms: 1000 } }, { now: () => t.now, timer: t });
  const a = f((ok) => events.push(ok));
  a.onFailure();
  a.onFailure();
  a.onSuccess(); // resets the count
  a.onFailure();
  a.onFailure();
  assert.equal(a.status, 'alive');
  a.onFailure();
  assert.equal(a.status, 'dead');
  assert.equal(a.available(), false);
  assert.deepEqual(events, [false]);
  t.advance(400);
  assert.equal(a.msUntilProbe(), 600);
  t.advance(600);
  assert.equal(a.status, 'probe-open');
  assert.equal(a.available(), true);
  a.onRequest();
  assert.equal(a.status, 'probe-closed');
  assert.equal(a.available(), false);
  // A failed probe is dead again at once.
  a.onFailure();
  assert.equal(a.status, 'dead');
  t.advance(1000);
  a.onRequest();
  a.onSuccess();
  assert.equal(a.status, 'alive');
  assert.deepEqual(events, [false, true, false, true, false, true]);
  // Revived: the count starts over.
  a.onFailure();
  a.onFailure();
  assert.equal(a.status, 'alive');
  a.close();
  assert.equal(t.timers, 0);
});

test('counters and ignorable probe results', () => {
  const t = new FakeTime();
  const mk = () => {
    let value = 0;
    return { incr: (n = 1) => void (value += n), get value() { return value; } };
  };
  const stats = { removals: mk(), revivals: mk(), probes: mk(), removedForMs: mk() };
  const f = createFailureAccrual({ kind: 'io.l5d.consecutiveFailures', failures: 1, backoff: { kind: 'constant', ms: 100 } }, { now: () => t.now, timer: t, stats });
  const a = f(() => {});
  a.onFailure();
  t.advance(100);
  a.onRequest();
  a.onIgnored();
  assert.equal(a.status, 'probe-open');
  a.onRequest();
  a.onFailure();
  t.advance(100);
  a.onRequest();
  a.onSuccess();
  assert.deepEqual(
    [stats.removals.value, stats.revivals.value, stats.probes.value, stats.removedForMs.value],
    [1, 1, 3, 200],
  );
});

test('default: 5 consecutive failures and equal-jittered 5s..300s backoff', () => {
  const t = new FakeTime();
  const f = createFailureAccrual(undefined, { now: () => t.now, timer: t, rng: () => 0.5 });
  const a = f(() => {});
  for (let i = 0; i < 4; i++) a.onFailure();
  assert.equal(a.status, 'alive');
  a.onFailure();
  assert.equal(a.msUntilProbe(), 5_000);
  t.advance(5_000);
  a.onRequest();
  a.onFailure();
  assert.equal(a.msUntilProbe(), 7_500);
  t.advance(7_500);
  a.onRequest();
  a.onFailure();
  assert.equal(a.msUntilProbe(), 15_000);
});

test('jittered backoff config uses decorrelated jitter', () => {
  const t = new FakeTime();
  const f = createFailureAccrual(
    { kind: 'io.l5d.consecutiveFailures', failures: 1, backoff: { kind: 'jittered', minMs: 100, maxMs: 1000 } },
    { now: () => t.now, timer: t, rng: () => 0.5 },
  );
  const a = f(() => {});
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    a.onFailure();
    waits.push(a.msUntilProbe()!);
    t.advance(waits[i]!);
    a.onRequest();
  }
  assert.deepEqual(waits, [100, 200, 350, 575]);
});

test('success rate over requests', () => {
  const t = new FakeTime();
  const f = createFailureAccrual({ kind: 'io.l5d.successRate', successRate: 0.9, requests: 10, backoff: { kind: 'constant', ms: 50 } }, { now: () => t.now, timer: t });
  const a = f(() => {});
  // Fewer than `requests` observations never mark dead.
  for (let i = 0; i < 9; i++) a.onFailure();
  assert.equal(a.status, 'alive');
  const b = f(() => {});
  for (let i = 0; i < 20; i++) b.onSuccess();
  b.onFailure();
  // One failure after 20 successes: rate = 1 - (1 - e^-0.1) ≈ 0.905 ≥ 0.9.
  assert.equal(b.status, 'alive');
  b.onFailure();
  assert.equal(b.status, 'dead');
  // Revived: history and the request count start over, so `requests` more are needed.
  t.advance(50);
  b.onRequest();
  b.onSuccess();
  assert.equal(b.status, 'alive');
  for (let i = 0; i < 8; i++) b.onFailure();
  assert.equal(b.status, 'alive');
  b.onFailure();
  assert.equal(b.status, 'dead');
  const e = new Ema(10);
  assert.equal(e.update(1, 1), 1);
  assert.equal(e.update(2, 0), Math.exp(-0.1));
});

test('success rate over a time window', () => {
  const t = new FakeTime();
  const f = createFailureAccrual({ kind: 'io.l5d.successRateWindowed', successRate: 0.5, window: 10, backoff: { kind: 'constant', ms: 50 } }, { now: () => t.now, timer: t });
  const a = f(() => {});
  a.onFailure();
  t.advance(5_000);
  a.onFailure();
  assert.equal(a.status, 'alive'); // not observed for a whole window yet
  t.advance(5_000);
  a.onFailure();
  assert.equal(a.status, 'dead');
});

test('none never marks dead', () => {
  const f = createFailureAccrual({ kind: 'none' });
  const a = f(() => {});
  assert.equal(a, ALWAYS_AVAILABLE);
  for (let i = 0; i < 100; i++) a.onFailure();
  assert.equal(a.available(), true);
});

test('marking dead and alive rebuilds the balancer picker', () => {
  const t = new FakeTime();
  const f = createFailureAccrual({ kind: 'io.l5d.consecutiveFailures', failures: 1, backoff: { kind: 'constant', ms: 10 } }, { now: () => t.now, timer: t });
  const lb = createBalancer<{ name: string; pending: number; ewmaMs: number; readonly available: boolean }>({ kind: 'roundRobin' });
  const mk = (name: string) => {
    const acc = f(() => lb.rebuild());
    return { name, pending: 0, ewmaMs: 0, acc, get available() { return acc.available(); } };
  };
  const a = mk('a');
  const b = mk('b');
  lb.update([a, b]);
  b.acc.onFailure();
  assert.deepEqual(lb.picker.nodes.map((n) => n.name), ['a']);
  t.advance(10);
  assert.deepEqual(lb.picker.nodes.map((n) => n.name), ['a', 'b']);
});

test('config errors', () => {
  assert.throws(
    () => createFailureAccrual({ kind: 'io.l5d.successRate', successRate: 0.9 }),
    (e: unknown) => e instanceof PluginError && e.code === 'MESH_ERR_PLUGIN_MISSING_KEY' && e.message === "io.l5d.successRate: 'requests' is required",
  );
  assert.throws(
    () => createFailureAccrual({ kind: 'io.l5d.consecutiveFailures', failures: 0 }),
    (e: unknown) => e instanceof PluginError && e.message === "io.l5d.consecutiveFailures: 'failures' must be >= 1, found 0",
  );
  assert.throws(
    () => createFailureAccrual({ kind: 'io.l5d.nope' }),
    (e: unknown) =>
      e instanceof PluginError &&
      e.message === 'failureAccrual: unknown kind "io.l5d.nope"; supported: io.l5d.consecutiveFailures, io.l5d.successRate, io.l5d.successRateWindowed, none',
  );
});
