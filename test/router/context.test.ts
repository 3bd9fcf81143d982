/**
 * Request context the router reads and passes on: the caller's deadline (`l5d-ctx-deadline`)
 * tightens the timeout, a downstream's `l5d-retryable` makes a failure retryable, and the
 * connection pool / binding cache settings that shape clients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { boundLeaf, echo, inetAddr, okTree, request, startRouter, upstream } from './support.js';
import { leaf } from '../../src/naming/name-tree.js';
import { bound } from './support.js';

function deadlineHeader(msFromNow: number): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  return `${now} ${now + BigInt(msFromNow) * 1_000_000n}`;
}

test('l5d-ctx-deadline tightens the timeout: 504 after the caller’s deadline, not the service’s', async (t) => {
  const up = await upstream((req, res) => setTimeout(() => res.end('late'), 600));
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) }, config: { service: { totalTimeoutMs: 5000 } } });
  t.after(() => r.close());
  const t0 = Date.now();
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-ctx-deadline': deadlineHeader(150) } });
  const took = Date.now() - t0;
  assert.equal(rsp.status, 504);
  assert.match(rsp.headers['l5d-err'] as string, /^exceeded the caller's deadline \(l5d-ctx-deadline, \d+ms left\) for \/svc\/dog$/);
  assert.ok(took < 550, `took ${took} ms`); // the upstream answers after 600 ms
});

test('an expired l5d-ctx-deadline is refused at once and never reaches the upstream', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) } });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-ctx-deadline': deadlineHeader(-50) } });
  assert.equal(rsp.status, 504);
  assert.match(rsp.headers['l5d-err'] as string, /^the caller's deadline \(l5d-ctx-deadline\) passed \d+ms before \/svc\/dog was called$/);
  assert.equal(up.requests, 0);
});

test('a deadline too far away for a timer (30 days) bounds nothing and goes on as it came', async (t) => {
  // Node fires a timer of more than 2^31-1 ms after 1 ms: armed, such a deadline would time the
  // request out at once.
  const up = await upstream((req, res) => setTimeout(() => res.end(JSON.stringify({ deadline: req.headers['l5d-ctx-deadline'] })), 50));
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) } });
  t.after(() => r.close());
  const sent = deadlineHeader(30 * 24 * 3600 * 1000);
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-ctx-deadline': sent } });
  assert.equal(rsp.status, 200, rsp.headers['l5d-err'] as string);
  assert.equal(JSON.parse(rsp.body).deadline, sent);
});

test('a malformed l5d-ctx-deadline is ignored: the request is routed and no deadline is forwarded', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) } });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-ctx-deadline': 'soon, please' } });
  assert.equal(rsp.status, 200);
  assert.equal(JSON.parse(rsp.body).headers['l5d-ctx-deadline'], undefined);
});

test('the forwarded deadline is the tighter of the caller’s and totalTimeoutMs', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) }, config: { service: { totalTimeoutMs: 1000 } } });
  t.after(() => r.close());
  const sent = deadlineHeader(60_000);
  const before = Date.now();
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-ctx-deadline': sent } });
  assert.equal(rsp.status, 200);
  const seen = JSON.parse(rsp.body).headers['l5d-ctx-deadline'] as string;
  const [ts, dl] = seen.split(' ').map((x) => BigInt(x));
  assert.equal(ts, BigInt(sent.split(' ')[0]!));
  const dlMs = Number(dl! / 1_000_000n);
  assert.ok(dlMs >= before + 1000 && dlMs <= Date.now() + 1000, `deadline ${dlMs - before} ms after the request`);
  // A caller's deadline tighter than totalTimeoutMs travels unchanged.
  const tight = deadlineHeader(500);
  const rsp2 = await request(r.port, { headers: { host: 'dog', 'l5d-ctx-deadline': tight } });
  assert.equal(JSON.parse(rsp2.body).headers['l5d-ctx-deadline'], tight);
});

test('l5d-retryable: true on a 5XX makes it retryable under the default classifier', async (t) => {
  let n = 0;
  const up = await upstream((req, res) => {
    n++;
    if (req.url === '/marked' && n % 2 === 1) {
      res.writeHead(503, { 'l5d-retryable': 'true', 'content-length': '4' });
      res.end('busy');
    } else if (req.url === '/plain' && n % 2 === 1) {
      res.writeHead(503, { 'content-length': '4' });
      res.end('busy');
    } else res.end('ok');
  });
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) } });
  t.after(() => r.close());
  const marked = await request(r.port, { path: '/marked', headers: { host: 'dog' } });
  assert.deepEqual([marked.status, marked.body, n], [200, 'ok', 2]);
  n = 0;
  const plain = await request(r.port, { path: '/plain', headers: { host: 'dog' } });
  assert.deepEqual([plain.status, plain.body, n], [503, 'busy', 1]);
  assert.equal(r.metrics.counter(['rt', 'http', 'service', 'svc/dog', 'retries', 'total']).value, 1);
});

test('a POST body is replayed on a retry when the classifier retries it (retryableAll5XX)', async (t) => {
  const bodies: string[] = [];
  const up = await upstream((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      bodies.push(b);
      if (bodies.length === 1) {
        res.writeHead(500, { 'content-length': '0' });
        res.end();
      } else res.end(`got ${b}`);
    });
  });
  t.after(() => up.close());
  const r = await startRouter({
    trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) },
    config: { service: { responseClassifier: { kind: 'io.l5d.http.retryableAll5XX' } } },
  });
  t.after(() => r.close());
  const rsp = await request(r.port, { method: 'POST', headers: { host: 'dog', 'content-length': '11' }, body: 'hello world' });
  assert.deepEqual([rsp.status, rsp.body], [200, 'got hello world']);
  assert.deepEqual(bodies, ['hello world', 'hello world']);
});

test('hostConnectionPool.minSize keeps that many connections open, even when idle', async (t) => {
  const up = await upstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  let conns = 0;
  up.server.on('connection', () => conns++);
  const r = await startRouter({
    trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) },
    config: { client: { hostConnectionPool: { minSize: 3, idleTimeMs: 100 } } },
  });
  t.after(() => r.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const get = (): Promise<number> =>
    new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: r.port, headers: { host: 'dog' }, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject);
    });
  assert.equal(await get(), 200);
  const open = async (): Promise<number> => new Promise((res) => up.server.getConnections((_e, n) => res(n)));
  for (let i = 0; i < 50 && (await open()) < 3; i++) await new Promise((r2) => setTimeout(r2, 10));
  assert.equal(await open(), 3);
  assert.equal(conns, 3);
  // Past idleTimeMs the pool still keeps its minimum open.
  await new Promise((r2) => setTimeout(r2, 300));
  assert.equal(await open(), 3);
  for (let i = 0; i < 5; i++) assert.equal(await get(), 200);
  assert.equal(conns, 3);
});

test('bindingCache.bounds caps the clients kept: the least recently used is closed', async (t) => {
  const ups = await Promise.all([0, 1, 2].map(() => upstream((req, res) => res.end('ok'))));
  t.after(() => Promise.all(ups.map((u) => u.close())));
  const trees = {
    '/svc/a': okTree(boundLeaf('/#/io.l5d.fs/a', inetAddr(ups[0]!.port))),
    '/svc/b': okTree(boundLeaf('/#/io.l5d.fs/b', inetAddr(ups[1]!.port))),
    '/svc/c': okTree(leaf(bound('/#/io.l5d.fs/c', inetAddr(ups[2]!.port)))),
  };
  const r = await startRouter({ trees, config: { bindingCache: { bounds: 2 } } });
  t.after(() => r.close());
  for (const h of ['a', 'b', 'c']) assert.equal((await request(r.port, { headers: { host: h } })).status, 200);
  assert.deepEqual(Object.keys(r.router.clientSnapshot()), ['/#/io.l5d.fs/b', '/#/io.l5d.fs/c']);
});
