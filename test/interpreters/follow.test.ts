/**
 * The reconnect machinery the namerd-backed interpreters share (src/interpreters/follow.ts):
 * the backoff sequence, and a Var that follows streams, keeps its last value when one ends and
 * reopens after the backoff. Streams here are fakes driven by the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffCeiling, backoffDelay, backoffFrom, followStream, inetTarget, type StreamSink } from '../../src/interpreters/follow.js';
import { InterpreterError } from '../../src/interpreters/errors.js';
import { readPath } from '../../src/naming/index.js';

test('backoffFrom: Linkerd defaults 5 s / 600 s; fractions kept; max never below base; a floor of 10 ms', () => {
  assert.deepEqual(backoffFrom(undefined), { baseMs: 5000, maxMs: 600_000 });
  assert.deepEqual(backoffFrom({}), { baseMs: 5000, maxMs: 600_000 });
  assert.deepEqual(backoffFrom({ baseSeconds: 0.05, maxSeconds: 0.5 }), { baseMs: 50, maxMs: 500 });
  assert.deepEqual(backoffFrom({ baseSeconds: 2, maxSeconds: 1 }), { baseMs: 2000, maxMs: 2000 });
  assert.deepEqual(backoffFrom({ baseSeconds: 0, maxSeconds: 0 }), { baseMs: 10, maxMs: 10 });
});

test('backoffCeiling: starts at base, doubles, capped at max', () => {
  const b = { baseMs: 50, maxMs: 500 };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 60, 2000].map((n) => backoffCeiling(b, n)), [50, 100, 200, 400, 500, 500, 500, 500]);
  assert.deepEqual([0, 1, 2].map((n) => backoffCeiling({ baseMs: 5000, maxMs: 600_000 }, n)), [5000, 10_000, 20_000]);
});

test('backoffDelay: the first wait is base; later ones are jittered between base and the ceiling', () => {
  const at = (r: number) => [0, 1, 2, 3, 4, 5].map((n) => backoffDelay({ baseMs: 50, maxMs: 500, random: () => r }, n));
  assert.deepEqual(at(0), [50, 50, 50, 50, 50, 50]);
  assert.deepEqual(at(0.5), [50, 75, 125, 225, 275, 275]);
  assert.deepEqual(at(0.999999), [50, 100, 200, 400, 500, 500]);
  for (let n = 0; n < 50; n++) {
    const d = backoffDelay({ baseMs: 50, maxMs: 500 }, n);
    assert.ok(d >= 50 && d <= backoffCeiling({ baseMs: 50, maxMs: 500 }, n), `attempt ${n}: ${d}`);
  }
});

test('backoff: a cap past what a Node timer can wait (24.8 days) waits the longest a timer can, never 1 ms', () => {
  // setTimeout fires after 1 ms for any delay over 2^31-1 ms, which would turn the longest
  // waits of a dead namerd into a tight loop.
  const b = backoffFrom({ baseSeconds: 1, maxSeconds: 3_000_000 });
  assert.equal(b.maxMs, 2_147_483_647);
  const top = { ...b, random: () => 0.999999999 };
  assert.equal(backoffCeiling(top, 40), 2_147_483_647);
  assert.ok(backoffDelay(top, 40) <= 2_147_483_647);
  assert.equal(backoffFrom({ baseSeconds: 3_000_000, maxSeconds: 3_000_000 }).baseMs, 2_147_483_647);
});

test('inetTarget: /$/inet/<host>/<port> only, with a config error naming file, key, found and allowed', () => {
  assert.deepEqual(inetTarget(readPath('/$/inet/127.0.0.1/4180')), { host: '127.0.0.1', port: 4180 });
  assert.deepEqual(inetTarget(readPath('/$/inet/::1/4180')), { host: '::1', port: 4180 });
  for (const bad of ['/$/inet/127.0.0.1', '/#/io.l5d.fs/namerd', '/$/inet/h/70000', '/$/inet/h/4180/extra']) {
    assert.throws(
      () => inetTarget(readPath(bad), { file: 'linkerd.yaml', keyPath: 'routers[0].interpreter' }),
      (e: unknown) => {
        assert.ok(e instanceof InterpreterError);
        assert.equal(e.code, 'MESH_ERR_INTERPRETER_CONFIG');
        assert.equal(e.message, `linkerd.yaml: routers[0].interpreter.dst: found "${bad}"; allowed: /$/inet/<host>/<port> naming namerd's interface`);
        return true;
      },
    );
  }
});

/** A fake stream source: records when each stream opened and lets the test drive it. */
function fakeSource<T = string>() {
  const opens: number[] = [];
  const sinks: StreamSink<T>[] = [];
  let closes = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const open = (sink: StreamSink<T>) => {
    opens.push(Date.now());
    sinks.push(sink);
    for (const w of [...waiters]) {
      if (opens.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    return { close: () => void closes++ };
  };
  /** Resolves once `n` streams were opened; rejects after `ms`. */
  const opened = (n: number, ms = 3000): Promise<void> =>
    opens.length >= n
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`only ${opens.length} of ${n} streams opened within ${ms} ms`)), ms);
          waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
        });
  return { opens, sinks, open, opened, closes: () => closes };
}

test('followStream: a failing stream is reopened after base, 2·base, 4·base … and the last value stays', async () => {
  const src = fakeSource();
  const v = followStream('initial', src.open, (a, b) => a === b, { baseMs: 40, maxMs: 100, random: () => 0.999999 });
  const seen: string[] = [];
  const h = v.observe((x) => seen.push(x));
  try {
    assert.equal(src.opens.length, 1, 'the first observer opens one stream at once');
    src.sinks[0]!.value('a');
    src.sinks[0]!.value('a');
    src.sinks[0]!.value('b');
    src.sinks[0]!.end(new Error('namerd went away'));
    // Late calls on an ended stream are ignored.
    src.sinks[0]!.value('stale');
    assert.deepEqual(seen, ['initial', 'a', 'b']);
    assert.equal(v.sample(), 'b');
    // Every reopened stream fails at once: waits 40, 80, 100 (capped), 100 (jitter at its top).
    for (let i = 1; i <= 4; i++) {
      await src.opened(i + 1);
      src.sinks[i]!.end();
    }
    const gaps = src.opens.slice(1).map((t, i) => t - src.opens[i]!);
    const expected = [40, 80, 100, 100];
    for (let i = 0; i < expected.length; i++) {
      assert.ok(gaps[i]! >= expected[i]! - 2 && gaps[i]! < expected[i]! + 150, `gap ${i} was ${gaps[i]} ms, expected ~${expected[i]} (all: ${gaps})`);
    }
    assert.equal(v.sample(), 'b', 'the last value is kept through every failed attempt');
    // A stream that delivers resets the backoff: the next wait is base again.
    await src.opened(6);
    src.sinks[5]!.value('c');
    src.sinks[5]!.end();
    await src.opened(7);
    const gap = src.opens[6]! - src.opens[5]!;
    assert.ok(gap >= 38 && gap < 40 + 150, `after a delivered value the wait is base again, was ${gap} ms`);
    assert.deepEqual(seen, ['initial', 'a', 'b', 'c']);
  } finally {
    h.close();
  }
});

test('followStream: observers share one stream; the last one closes it; a new observer reopens', async () => {
  const src = fakeSource<number>();
  const v = followStream(0, src.open, (a, b) => a === b, { baseMs: 1000, maxMs: 1000 });
  const a: number[] = [];
  const b: number[] = [];
  const h1 = v.observe((x) => a.push(x));
  const h2 = v.observe((x) => b.push(x));
  assert.equal(src.opens.length, 1);
  src.sinks[0]!.value(7);
  assert.deepEqual(a, [0, 7]);
  assert.deepEqual(b, [0, 7]);
  h1.close();
  assert.equal(src.closes(), 0, 'one observer is left');
  h2.close();
  assert.equal(src.closes(), 1, 'the last observer closes the stream');
  src.sinks[0]!.value(8);
  const h3 = v.observe(() => undefined);
  assert.equal(src.opens.length, 2, 'observing again opens a new stream');
  h3.close();
  assert.equal(src.closes(), 2);
});

test('followStream: closing while waiting to reconnect cancels the reconnect', async () => {
  const src = fakeSource<number>();
  const v = followStream(0, src.open, (a, b) => a === b, { baseMs: 30, maxMs: 30 });
  const h = v.observe(() => undefined);
  src.sinks[0]!.end();
  h.close();
  // Nothing to await: the absence of a reopen is checked after three base periods.
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(src.opens.length, 1);
  assert.equal(src.closes(), 0, 'an ended stream is not closed again');
});

test('followStream: an open that throws counts as a failed stream and is retried', async () => {
  let calls = 0;
  const src = fakeSource();
  const v = followStream(
    'x',
    (sink) => {
      if (calls++ === 0) throw new Error('connect failed');
      return src.open(sink);
    },
    (a, b) => a === b,
    { baseMs: 20, maxMs: 20 },
  );
  const h = v.observe(() => undefined);
  try {
    await src.opened(1);
    src.sinks[0]!.value('y');
    assert.equal(v.sample(), 'y');
    assert.equal(calls, 2);
  } finally {
    h.close();
  }
});
