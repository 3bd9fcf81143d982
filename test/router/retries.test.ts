import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EMPTY_BUDGET,
  createBackoff,
  createRequeueBudget,
  createRetryBudget,
  createRetryPolicy,
  decorrelatedJitteredBackoff,
  equalJitteredBackoff,
} from '../../src/router/retries.js';
import { PluginError } from '../../src/router/plugin-errors.js';

function withdrawAll(b: { tryWithdraw(): boolean }, limit = 10_000): number {
  let n = 0;
  while (n < limit && b.tryWithdraw()) n++;
  return n;
}

test('default budget: 10 retries/s reserve over 10 s, 20% of requests', () => {
  let now = 1_000_000;
  const b = createRetryBudget(undefined, () => now);
  assert.equal(b.balance(), 100);
  assert.equal(withdrawAll(b), 100);
  assert.equal(b.tryWithdraw(), false);
  for (let i = 0; i < 4; i++) b.deposit();
  assert.equal(b.tryWithdraw(), false);
  b.deposit();
  assert.equal(b.tryWithdraw(), true);
  assert.equal(b.tryWithdraw(), false);
  // After the ttl, withdrawals are forgotten and the reserve is whole again.
  now += 10_000;
  assert.equal(b.balance(), 100);
});

test('percentCanRetry without a reserve', () => {
  let now = 0;
  const b = createRetryBudget({ minRetriesPerSec: 0, percentCanRetry: 0.1, ttlSecs: 10 }, () => now);
  assert.equal(b.tryWithdraw(), false);
  for (let i = 0; i < 25; i++) b.deposit();
  assert.equal(b.balance(), 2);
  assert.equal(withdrawAll(b), 2);
  const two = createRetryBudget({ minRetriesPerSec: 0, percentCanRetry: 2.0 }, () => now);
  two.deposit();
  assert.equal(withdrawAll(two), 2);
  // Deposits expire with the window.
  const c = createRetryBudget({ minRetriesPerSec: 0, percentCanRetry: 1, ttlSecs: 1 }, () => now);
  for (let i = 0; i < 3; i++) c.deposit();
  now += 500;
  assert.equal(c.balance(), 3);
  now += 600;
  assert.equal(c.balance(), 0);
});

test('empty budget and requeue budget', () => {
  assert.equal(createRetryBudget({ minRetriesPerSec: 0, percentCanRetry: 0 }), EMPTY_BUDGET);
  assert.equal(EMPTY_BUDGET.tryWithdraw(), false);
  const now = 0;
  const r = createRequeueBudget({ percentCanRetry: 0.25, minRetriesPerSec: 1, ttlSecs: 2 }, () => now);
  assert.equal(r.balance(), 2);
  for (let i = 0; i < 4; i++) r.deposit();
  assert.equal(withdrawAll(r), 3);
});

test('budget config errors', () => {
  assert.throws(
    () => createRetryBudget({ ttlSecs: 61 }),
    (e: unknown) => e instanceof PluginError && e.code === 'MESH_ERR_PLUGIN_BAD_VALUE' && e.message === "budget: 'ttlSecs' must be between 1 and 60, found 61",
  );
  assert.throws(
    () => createRequeueBudget({ percentCanRetry: -1 }),
    (e: unknown) => e instanceof PluginError && e.message === "requeueBudget: 'percentCanRetry' must be between 0 and 1000, found -1",
  );
});

test('backoffs: constant, decorrelated jitter, equal jitter', () => {
  const c = createBackoff({ kind: 'constant', ms: 25 })();
  assert.deepEqual([c.next(), c.next()], [25, 25]);
  assert.equal(createBackoff(undefined)().next(), 0);
  const half = () => 0.5;
  const j = createBackoff({ kind: 'jittered', minMs: 10, maxMs: 100 }, { rng: half })();
  assert.deepEqual(Array.from({ length: 6 }, () => j.next()), [10, 20, 35, 57, 90, 100]);
  const d = decorrelatedJitteredBackoff(10, 10, half)();
  assert.deepEqual([d.next(), d.next()], [10, 10]);
  const e = equalJitteredBackoff(5_000, 300_000, half)();
  assert.deepEqual(Array.from({ length: 9 }, () => e.next()), [5_000, 7_500, 15_000, 30_000, 60_000, 120_000, 240_000, 300_000, 300_000]);
  // Each schedule starts afresh.
  const factory = createBackoff({ kind: 'jittered', minMs: 10, maxMs: 100 }, { rng: half });
  factory().next();
  assert.equal(factory().next(), 10);
  assert.throws(
    () => createBackoff({ kind: 'jittered', minMs: 10 }),
    (e2: unknown) => e2 instanceof PluginError && e2.code === 'MESH_ERR_PLUGIN_MISSING_KEY' && e2.message === "jittered: 'maxMs' is required",
  );
  assert.throws(
    () => createBackoff({ kind: 'jittered', minMs: 0, maxMs: 10 }),
    (e2: unknown) => e2 instanceof PluginError && e2.message === "jittered: 'minMs' must be >= 1, found 0",
  );
  assert.throws(
    () => createBackoff({ kind: 'jittered', minMs: 20, maxMs: 10 }),
    (e2: unknown) => e2 instanceof PluginError && e2.message === "jittered: 'minMs' (20) must not exceed 'maxMs' (10)",
  );
  assert.throws(
    () => createBackoff({ kind: 'linear' }),
    (e2: unknown) => e2 instanceof PluginError && e2.message === 'backoff: unknown kind "linear"; supported: constant, jittered',
  );
});

test('retry policy from a service.retries block', () => {
  const p = createRetryPolicy({ budget: { minRetriesPerSec: 5, percentCanRetry: 0.5, ttlSecs: 15 }, backoff: { kind: 'constant', ms: 7 } }, { now: () => 0 });
  assert.equal(p.budget.balance(), 75);
  assert.equal(p.backoff().next(), 7);
});
