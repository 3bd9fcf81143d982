import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';
import { Histogram, bucketIndex, bucketLowerBound, BUCKET_COUNT } from '../../src/telemetry/histogram.js';
import { TelemetryError } from '../../src/telemetry/errors.js';

const SERVER = ['rt', 'in', 'server', '127.0.0.1/4140'];

/** Records what a router reports for 3 successes (1, 2, 3 ms) and 2 failures (4, 5 ms). */
function knownSequence(m: MetricsRegistry): void {
  const requests = m.counter([...SERVER, 'requests']);
  const success = m.counter([...SERVER, 'success']);
  const failures = m.counter([...SERVER, 'failures']);
  const latency = m.stat([...SERVER, 'request_latency_ms']);
  for (const ms of [1, 2, 3]) {
    requests.incr();
    success.incr();
    latency.add(ms);
  }
  for (const ms of [4, 5]) {
    requests.incr();
    failures.incr();
    m.counter([...SERVER, 'failures', 'com.twitter.finagle.ChannelWriteException']).incr();
    latency.add(ms);
  }
}

test('3 successes and 2 failures give exact flat metrics after a snapshot', () => {
  const m = new MetricsRegistry();
  knownSequence(m);
  m.gauge(['rt', 'in', 'client', '$/inet/127.1/8080', 'loadbalancer', 'size'], () => 2);
  // Before the first snapshot a stat is not reported (as in Linkerd).
  assert.equal(m.flatJson()['rt/in/server/127.0.0.1/4140/request_latency_ms.count'], undefined);
  m.snapshot();
  assert.deepEqual(m.flatJson(), {
    'rt/in/server/127.0.0.1/4140/requests': 5,
    'rt/in/server/127.0.0.1/4140/success': 3,
    'rt/in/server/127.0.0.1/4140/failures': 2,
    'rt/in/server/127.0.0.1/4140/failures/com.twitter.finagle.ChannelWriteException': 2,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.count': 5,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.max': 5,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.min': 1,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.p50': 3,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.p90': 5,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.p95': 5,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.p99': 5,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.p9990': 5,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.p9999': 5,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.sum': 15,
    'rt/in/server/127.0.0.1/4140/request_latency_ms.avg': 3,
    'rt/in/client/$/inet/127.1/8080/loadbalancer/size': 2,
  });
});

test('a snapshot resets the interval; an empty interval reports only count 0', () => {
  const m = new MetricsRegistry();
  knownSequence(m);
  m.snapshot();
  m.snapshot();
  const flat = m.flatJson();
  assert.equal(flat['rt/in/server/127.0.0.1/4140/request_latency_ms.count'], 0);
  assert.equal(flat['rt/in/server/127.0.0.1/4140/request_latency_ms.p50'], undefined);
  // counters are cumulative
  assert.equal(flat['rt/in/server/127.0.0.1/4140/requests'], 5);
});

test('tree view nests scopes and resolve() finds scopes that contain slashes', () => {
  const m = new MetricsRegistry();
  knownSequence(m);
  m.snapshot();
  const node = m.resolve('rt/in/server/127.0.0.1/4140');
  assert.ok(node);
  const tree = m.treeJson(node) as Record<string, Record<string, unknown>>;
  assert.deepEqual(tree['requests'], { counter: 5 });
  assert.equal((tree['request_latency_ms'] as Record<string, number>)['stat.p50'], 3);
  assert.equal(m.resolve('rt/nope'), undefined);
  assert.deepEqual(Object.keys(m.flatJson(node, ['rt', 'in', 'server', '127.0.0.1/4140'])).slice(0, 2), [
    'rt/in/server/127.0.0.1/4140/requests',
    'rt/in/server/127.0.0.1/4140/success',
  ]);
});

test('kind conflicts and empty paths fail with stable codes', () => {
  const m = new MetricsRegistry();
  m.counter(['a', 'b']);
  assert.throws(() => m.stat(['a', 'b']), (e: unknown) => e instanceof TelemetryError && e.code === 'MESH_ERR_METRIC_KIND_CONFLICT');
  assert.throws(() => m.counter([]), (e: unknown) => e instanceof TelemetryError && e.code === 'MESH_ERR_METRIC_PATH_INVALID');
  assert.throws(() => m.counter(['a', '']), (e: unknown) => e instanceof TelemetryError && e.code === 'MESH_ERR_METRIC_PATH_INVALID');
  // the same counter object comes back for the same path
  assert.equal(m.counter(['a', 'b']), m.counter(['a', 'b']));
});

test('remove() drops a subtree and prunes empty parents', () => {
  const m = new MetricsRegistry();
  m.counter(['rt', 'out', 'client', 'x', 'requests']).incr(2);
  m.counter(['rt', 'out', 'client', 'y', 'requests']).incr(3);
  m.remove(['rt', 'out', 'client', 'x']);
  assert.deepEqual(m.flatJson(), { 'rt/out/client/y/requests': 3 });
  m.remove(['rt', 'out', 'client', 'y']);
  assert.deepEqual(m.flatJson(), {});
  assert.equal(m.root.children.size, 0);
});

test('gauges read live, re-registering replaces the function, throwing gauges read 0', () => {
  const m = new MetricsRegistry();
  let n = 1;
  m.gauge(['g'], () => n);
  n = 7;
  assert.equal(m.flatJson()['g'], 7);
  m.gauge(['g'], () => 9);
  assert.equal(m.flatJson()['g'], 9);
  m.gauge(['h'], () => {
    throw new Error('gone');
  });
  assert.equal(m.flatJson()['h'], 0);
});

test('histogram: exact below 128, bounded error above, percentiles by nearest rank', () => {
  assert.equal(bucketIndex(0), 0);
  assert.equal(bucketIndex(127), 127);
  assert.equal(bucketIndex(128), 128);
  assert.equal(bucketLowerBound(128), 128);
  for (const v of [128, 129, 200, 1000, 4095, 4096, 65_537, 1e9, 2 ** 40]) {
    const lb = bucketLowerBound(bucketIndex(v));
    assert.ok(lb <= v && (v - lb) / v < 0.016, `value ${v} lower bound ${lb}`);
  }
  assert.equal(bucketIndex(1e15), BUCKET_COUNT - 1);
  const h = new Histogram();
  for (let i = 1; i <= 100; i++) h.add(i);
  assert.equal(h.percentile(0.5), 50);
  assert.equal(h.percentile(0.9), 90);
  assert.equal(h.percentile(0.99), 99);
  assert.equal(h.percentile(1), 100);
  h.add(-3);
  h.add(Number.NaN);
  assert.equal(h.min, 0);
  assert.equal(h.count, 102);
  h.reset();
  assert.deepEqual(h.summary().count, 0);
});

test('the snapshot timer runs on its own and close() stops it', async () => {
  const m = new MetricsRegistry({ snapshotIntervalMs: 20 });
  m.stat(['s']).add(4);
  const fired = new Promise<void>((resolve) => {
    const off = m.onSnapshot(() => {
      off();
      resolve();
    });
  });
  m.start();
  // The registry's timer is unref'd so it never holds a process open; this bounded, ref'd
  // timer keeps the test's event loop alive until the snapshot fires (or fails the test).
  let guard: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    guard = setTimeout(() => reject(new Error('snapshot timer never fired')), 2000);
  });
  try {
    await Promise.race([fired, timedOut]);
  } finally {
    clearTimeout(guard);
  }
  m.close();
  assert.equal(m.flatJson()['s.count'], 1);
  assert.equal(m.flatJson()['s.p50'], 4);
});

test('summary() percentiles agree with percentile() for a skewed distribution', () => {
  const h = new Histogram();
  for (let i = 0; i < 1000; i++) h.add(i < 990 ? 2 : 300 + i);
  const s = h.summary();
  assert.deepEqual([s.p50, s.p90, s.p95, s.p99, s.p9990, s.p9999], [0.5, 0.9, 0.95, 0.99, 0.999, 0.9999].map((q) => h.percentile(q)));
  assert.deepEqual([s.p50, s.p99, s.min, s.max], [2, 2, 2, 1299]);
  assert.equal(s.p9990, bucketLowerBound(bucketIndex(1298)));
});
