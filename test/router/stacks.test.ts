import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaf, union, weighted } from '../../src/naming/name-tree.js';
import { pickLeaf } from '../../src/router/router-base.js';
import { bound, boundLeaf, inetAddr, okTree, rawExchange, request, startRouter, upstream } from './support.js';
import { Tracer, type FinishedSpan } from '../../src/telemetry/tracing.js';
import { decodeL5dCtxTrace, type TraceContext } from '../../src/telemetry/trace-context.js';

const global = (params: Record<string, unknown>) => ({ kind: 'io.l5d.global', configs: [{ prefix: '/', ...params }] });

test('retryableRead5XX: a failed GET is retried once and succeeds; metrics count both attempts', async (t) => {
  let failNext = true;
  const up = await upstream((req, res) => {
    res.statusCode = failNext ? 500 : 200;
    failNext = false;
    res.end('x');
  });
  t.after(() => up.close());
  const id = '/#/io.l5d.fs/dog';
  const r = await startRouter({
    trees: { '/svc/dog': okTree(boundLeaf(id, inetAddr(up.port))) },
    config: { service: global({ responseClassifier: { kind: 'io.l5d.http.retryableRead5XX' } }) },
  });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(rsp.status, 200);
  assert.equal(up.requests, 2);
  const m = r.metrics;
  assert.equal(m.counter(['rt', 'http', 'client', id.slice(1), 'requests']).value, 2);
  assert.equal(m.counter(['rt', 'http', 'client', id.slice(1), 'success']).value, 1);
  assert.equal(m.counter(['rt', 'http', 'client', id.slice(1), 'failures']).value, 1);
  assert.equal(m.counter(['rt', 'http', 'client', id.slice(1), 'status', '500']).value, 1);
  assert.equal(m.counter(['rt', 'http', 'service', 'svc/dog', 'requests']).value, 1);
  assert.equal(m.counter(['rt', 'http', 'service', 'svc/dog', 'success']).value, 1);
  assert.equal(m.counter(['rt', 'http', 'service', 'svc/dog', 'retries', 'total']).value, 1);

  // A POST is not a read: the 500 goes back to the caller unretried.
  failNext = true;
  const post = await request(r.port, { method: 'POST', headers: { host: 'dog' }, body: 'b' });
  assert.equal(post.status, 500);
  assert.equal(up.requests, 3);
});

test('nonRetryable5XX (default): a 500 is returned as-is after one attempt', async (t) => {
  const up = await upstream((req, res) => {
    res.statusCode = 500;
    res.end('boom');
  });
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) } });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(rsp.status, 500);
  assert.equal(rsp.body, 'boom');
  assert.equal(rsp.headers['l5d-err'], undefined);
  assert.equal(up.requests, 1);
});

test('retries stay within the budget: percentCanRetry 0.5, no minimum, over 4 requests', async (t) => {
  const up = await upstream((req, res) => {
    res.statusCode = 503;
    res.end();
  });
  t.after(() => up.close());
  const r = await startRouter({
    trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) },
    config: {
      service: global({
        responseClassifier: { kind: 'io.l5d.http.retryableAll5XX' },
        retries: { budget: { ttlSecs: 10, minRetriesPerSec: 0, percentCanRetry: 0.5 } },
      }),
    },
  });
  t.after(() => r.close());
  for (let i = 0; i < 4; i++) assert.equal((await request(r.port, { headers: { host: 'dog' } })).status, 503);
  // Deposits 1,2,3,4 allow floor(0.5 * d) retries in total: one at request 2, one at request 4.
  assert.equal(up.requests, 6);
  assert.equal(r.metrics.counter(['rt', 'http', 'service', 'svc/dog', 'retries', 'total']).value, 2);
  assert.equal(r.metrics.counter(['rt', 'http', 'service', 'svc/dog', 'retries', 'budget_exhausted']).value, 4);
});

test('totalTimeoutMs: a slow upstream gives 504 with the timeout in l5d-err', async (t) => {
  const up = await upstream((req, res) => {
    const timer = setTimeout(() => res.end('late'), 2000);
    res.on('close', () => clearTimeout(timer));
  });
  t.after(() => up.close());
  const r = await startRouter({
    trees: { '/svc/slow': okTree(boundLeaf('/#/io.l5d.fs/slow', inetAddr(up.port))) },
    config: { service: global({ totalTimeoutMs: 100 }) },
  });
  t.after(() => r.close());
  const t0 = Date.now();
  const rsp = await request(r.port, { headers: { host: 'slow' } });
  assert.equal(rsp.status, 504);
  assert.equal(rsp.headers['l5d-err'], 'exceeded 100ms total timeout for /svc/slow');
  assert.ok(Date.now() - t0 < 1500);
});

test('totalTimeoutMs still answers 504 after the upstream sent an interim 100 Continue and went silent', async (t) => {
  const up = await upstream((req, res) => res.writeContinue());
  t.after(() => up.close());
  const r = await startRouter({
    trees: { '/svc/slow': okTree(boundLeaf('/#/io.l5d.fs/slow', inetAddr(up.port))) },
    config: { service: global({ totalTimeoutMs: 100 }) },
  });
  t.after(() => r.close());
  const t0 = Date.now();
  // Half-closed: the router closes once it has answered (bounded by 3 s if it never does).
  const text = await rawExchange(r.port, 'GET / HTTP/1.1\r\nHost: slow\r\n\r\n', 3000, true);
  assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 504 Gateway Timeout\r\n/);
  assert.match(text, /\r\nl5d-err: exceeded 100ms total timeout for \/svc\/slow\r\n/);
  assert.ok(Date.now() - t0 < 1500);
});

test('requestAttemptTimeoutMs: a slow first attempt is retried (read request) and the retry answers', async (t) => {
  let n = 0;
  const up = await upstream((req, res) => {
    if (n++ === 0) {
      const timer = setTimeout(() => res.end('late'), 2000);
      res.on('close', () => clearTimeout(timer));
    } else res.end('fast');
  });
  t.after(() => up.close());
  const r = await startRouter({
    trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) },
    config: {
      client: global({ requestAttemptTimeoutMs: 80 }),
      service: global({ responseClassifier: { kind: 'io.l5d.http.retryableRead5XX' } }),
    },
  });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(rsp.status, 200);
  assert.equal(rsp.body, 'fast');
  assert.equal(n, 2);
});

test('failure accrual takes a failing endpoint out, and back after its backoff', async (t) => {
  let badHealthy = false;
  const good = await upstream((req, res) => res.end('good'));
  const bad = await upstream((req, res) => {
    res.statusCode = badHealthy ? 200 : 500;
    res.end('bad');
  });
  t.after(() => good.close());
  t.after(() => bad.close());
  const id = '/#/io.l5d.fs/pair';
  const r = await startRouter({
    trees: { '/svc/pair': okTree(boundLeaf(id, inetAddr(good.port, bad.port))) },
    config: { client: global({ failureAccrual: { kind: 'io.l5d.consecutiveFailures', failures: 2, backoff: { kind: 'constant', ms: 1500 } } }) },
  });
  t.after(() => r.close());
  // The backoff is long enough that these requests finish within it even on a loaded machine.
  const t0 = Date.now();
  for (let i = 0; i < 40; i++) await request(r.port, { headers: { host: 'pair' } });
  assert.ok(Date.now() - t0 < 1500, 'the requests must finish within the backoff for this test to mean anything');
  // Two consecutive failures mark it dead; then nothing more reaches it within the backoff.
  assert.equal(bad.requests, 2);
  assert.equal(r.metrics.counter(['rt', 'http', 'client', id.slice(1), 'failure_accrual', 'removals']).value, 1);
  const flat = r.metrics.flatJson();
  assert.equal(flat[`rt/http/client/${id.slice(1)}/loadbalancer/available`], 1);
  assert.equal(flat[`rt/http/client/${id.slice(1)}/loadbalancer/size`], 2);
  badHealthy = true;
  await new Promise((res) => setTimeout(res, Math.max(0, 1550 - (Date.now() - t0))));
  for (let i = 0; i < 200 && bad.requests === 2; i++) await request(r.port, { headers: { host: 'pair' } });
  assert.equal(bad.requests, 3);
  assert.equal(r.metrics.counter(['rt', 'http', 'client', id.slice(1), 'failure_accrual', 'revivals']).value, 1);
});

test('p2c favours the endpoint with fewer requests in flight', async (t) => {
  const fast = await upstream((req, res) => res.end('fast'));
  const slow = await upstream((req, res) => {
    const timer = setTimeout(() => res.end('slow'), 150);
    res.on('close', () => clearTimeout(timer));
  });
  t.after(() => fast.close());
  t.after(() => slow.close());
  const r = await startRouter({ trees: { '/svc/lb': okTree(boundLeaf('/#/io.l5d.fs/lb', inetAddr(fast.port, slow.port))) } });
  t.after(() => r.close());
  // 8 concurrent callers for a fixed number of requests: the slow endpoint keeps load, so
  // p2c sends most requests to the fast one.
  let remaining = 200;
  const worker = async (): Promise<void> => {
    while (remaining-- > 0) await request(r.port, { headers: { host: 'lb' } });
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.equal(fast.requests + slow.requests, 200);
  assert.ok(fast.requests > 150, `fast ${fast.requests} slow ${slow.requests}`);
});

test('pickLeaf: a weighted union is a per-request weighted choice', () => {
  const a = bound('/#/a', inetAddr(1));
  const b = bound('/#/b', inetAddr(2));
  const tree = union(weighted(9, leaf(a)), weighted(1, leaf(b)));
  assert.equal(pickLeaf(tree, () => 0), a);
  assert.equal(pickLeaf(tree, () => 0.899), a);
  assert.equal(pickLeaf(tree, () => 0.9), b);
  assert.equal(pickLeaf(tree, () => 0.999), b);
  assert.equal(pickLeaf({ type: 'neg' }), undefined);
  assert.equal(pickLeaf({ type: 'empty' }), undefined);
  assert.equal(pickLeaf({ type: 'fail' }), undefined);
  // Deterministic sequence: exactly 90/10 over evenly spaced draws.
  let i = 0;
  let na = 0;
  for (let k = 0; k < 1000; k++) if (pickLeaf(tree, () => (i++ + 0.5) / 1000) === a) na++;
  assert.equal(na, 900);
});

test('weighted union through the router: 9 * /a & 1 * /b splits about 90/10', async (t) => {
  const a = await upstream((req, res) => res.end('a'));
  const b = await upstream((req, res) => res.end('b'));
  t.after(() => a.close());
  t.after(() => b.close());
  const tree = union(weighted(9, boundLeaf('/#/io.l5d.fs/a', inetAddr(a.port))), weighted(1, boundLeaf('/#/io.l5d.fs/b', inetAddr(b.port))));
  const r = await startRouter({ trees: { '/svc/split': okTree(tree) } });
  t.after(() => r.close());
  let remaining = 1000;
  const worker = async (): Promise<void> => {
    while (remaining-- > 0) await request(r.port, { headers: { host: 'split' } });
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  assert.equal(a.requests + b.requests, 1000);
  // Binomial(1000, 0.1): sd ~9.5; 5 sd either side.
  assert.ok(b.requests >= 52 && b.requests <= 148, `b got ${b.requests}`);
});

test('with a tracer, a new trace drawn unsampled forwards the ids its spans would carry, records nothing, and gives each attempt a new span id', async (t) => {
  const seen: { ctx: TraceContext; reqid: string }[] = [];
  let failNext = true;
  const up = await upstream((req, res) => {
    const ctx = decodeL5dCtxTrace(String(req.headers['l5d-ctx-trace']));
    assert.ok(ctx, `l5d-ctx-trace: ${req.headers['l5d-ctx-trace']}`);
    seen.push({ ctx, reqid: String(req.headers['l5d-reqid']) });
    res.statusCode = failNext ? 500 : 200;
    failNext = false;
    res.end('x');
  });
  t.after(() => up.close());
  const got: FinishedSpan[] = [];
  let draw = 0.9;
  const tracer = new Tracer([{ sink: { record: (s) => got.push(s) }, sampleRate: 0.5 }], () => draw);
  const r = await startRouter({
    trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) },
    config: { service: global({ responseClassifier: { kind: 'io.l5d.http.retryableRead5XX' } }) },
    tracer,
  });
  t.after(() => r.close());

  /** One request that fails once and is retried; returns what the two attempts carried. */
  const twoAttempts = async (headers: Record<string, string> = {}): Promise<{ ctx: TraceContext; reqid: string }[]> => {
    seen.length = 0;
    failNext = true;
    const rsp = await request(r.port, { headers: { host: 'dog', ...headers } });
    assert.equal(rsp.status, 200);
    assert.equal(seen.length, 2);
    const [a, b] = seen;
    assert.equal(a!.ctx.traceId, b!.ctx.traceId);
    assert.equal(a!.ctx.parentId, b!.ctx.parentId, 'both attempts are children of one server span');
    assert.notEqual(a!.ctx.spanId, b!.ctx.spanId, 'each attempt is a new client span');
    for (const x of seen) {
      assert.equal(x.reqid, x.ctx.traceId, 'l5d-reqid is the trace id');
      assert.match(x.ctx.spanId, /^[0-9a-f]{16}$/);
      assert.match(x.ctx.parentId ?? '', /^[0-9a-f]{16}$/);
      assert.notEqual(x.ctx.parentId, x.ctx.spanId);
    }
    return [a!, b!];
  };

  const quiet = await twoAttempts();
  assert.equal(quiet[0].ctx.sampled, false, 'the decision travels: sampling known, not sampled');
  assert.equal(quiet[0].ctx.debug, false);
  assert.notEqual(quiet[0].ctx.traceId, quiet[0].ctx.parentId);
  assert.equal(got.length, 0);

  // Drawn sampled, the same request goes through span objects: the same shape, and recorded.
  draw = 0.1;
  const loud = await twoAttempts();
  assert.equal(loud[0].ctx.sampled, true);
  assert.deepEqual(got.map((s) => s.kind).sort(), ['CLIENT', 'CLIENT', 'SERVER']);
  const server = got.find((s) => s.kind === 'SERVER')!;
  assert.equal(server.traceId, loud[0].ctx.traceId);
  assert.equal(server.spanId, loud[0].ctx.parentId);
  assert.deepEqual(got.filter((s) => s.kind === 'CLIENT').map((s) => s.spanId).sort(), [loud[0].ctx.spanId, loud[1].ctx.spanId].sort());

  // A caller's context is continued; its decision, when it has one, wins over the draw.
  const callerSpan = '0102030405060708';
  const callerTrace = 'a1a2a3a4a5a6a7a8';
  const caller = (flags: string, high = ''): string => Buffer.from(callerSpan + '1112131415161718' + callerTrace + flags + high, 'hex').toString('base64');
  const continued = async (flags: string, d: number, high = ''): Promise<{ ctx: TraceContext; reqid: string }[]> => {
    got.length = 0;
    draw = d;
    const a = await twoAttempts({ 'l5d-ctx-trace': caller(flags, high) });
    assert.equal(a[0].ctx.traceId, high + callerTrace);
    assert.notEqual(a[0].ctx.parentId, callerSpan, "the parent is this router's server span, the caller's child");
    return a;
  };
  assert.equal((await continued('0000000000000006', 0.9))[0].ctx.sampled, true, 'sampled by the caller');
  assert.equal(got.length, 3);
  assert.equal(got.find((x) => x.kind === 'SERVER')!.parentId, callerSpan);
  assert.equal((await continued('0000000000000002', 0.1))[0].ctx.sampled, false, 'not sampled by the caller');
  assert.equal(got.length, 0);
  assert.equal((await continued('0000000000000000', 0.9))[0].ctx.sampled, false, 'left open, drawn no');
  assert.equal(got.length, 0);
  assert.equal((await continued('0000000000000000', 0.1))[0].ctx.sampled, true, 'left open, drawn yes');
  assert.equal(got.length, 3);
  assert.equal((await continued('0000000000000003', 0.1))[0].ctx.debug, true, 'the debug flag travels on');
  assert.equal(got.length, 0);
  // A value that is not a context starts a new trace (and is not passed on).
  got.length = 0;
  draw = 0.9;
  const fresh = await twoAttempts({ 'l5d-ctx-trace': '%% not a context %%' });
  assert.notEqual(fresh[0].ctx.traceId, callerTrace);
  assert.equal(fresh[0].ctx.sampled, false);
  assert.equal(got.length, 0);
  // A 128-bit trace id: l5d-reqid carries all of it.
  const wide = await continued('0000000000000000', 0.9, 'b1b2b3b4b5b6b7b8');
  assert.equal(wide[0].reqid, 'b1b2b3b4b5b6b7b8' + callerTrace);
  assert.equal(got.length, 0);
});
