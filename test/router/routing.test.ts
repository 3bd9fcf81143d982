import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeL5dCtxTrace } from '../../src/telemetry/trace-context.js';
import type * as http from 'node:http';
import { bound, boundLeaf, echo, inetAddr, okTree, request, startRouter, upstream, TestVar } from './support.js';
import { leaf } from '../../src/naming/name-tree.js';
import { REFUSED_PORT } from '../support/process.js';
import { Path } from '../../src/naming/path.js';
import type { ActivityState, BoundName } from '../../src/naming/contracts.js';
import type { Addr } from '../../src/naming/addr.js';
import type { NameTree } from '../../src/naming/name-tree.js';

test('routes by Host to the bound endpoint and sets the l5d headers', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/$/inet/127.0.0.1/' + up.port, inetAddr(up.port))) } });
  t.after(() => r.close());

  const rsp = await request(r.port, { path: '/woof?x=1', headers: { host: 'dog' } });
  assert.equal(rsp.status, 200);
  const seen = JSON.parse(rsp.body);
  assert.equal(seen.url, '/woof?x=1');
  assert.equal(seen.headers.host, 'dog');
  assert.equal(seen.headers['l5d-dst-service'], '/svc/dog');
  assert.equal(seen.headers['l5d-dst-client'], `/$/inet/127.0.0.1/${up.port}`);
  assert.equal(seen.headers['l5d-dst-residual'], undefined);
  assert.equal(seen.headers.via, '1.1 linkerd');
  assert.match(seen.headers['l5d-reqid'], /^[0-9a-f]{16}$/);
  const trace = decodeL5dCtxTrace(seen.headers['l5d-ctx-trace']);
  assert.equal(trace?.traceId, seen.headers['l5d-reqid']);
  assert.equal(r.binds.length, 1);
  assert.equal(r.binds[0], `/svc=>/#/io.l5d.fs|/svc/dog`);

  assert.equal(r.metrics.counter(['rt', 'http', 'server', `127.0.0.1/${r.port}`, 'requests']).value, 1);
  assert.equal(r.metrics.counter(['rt', 'http', 'service', 'svc/dog', 'requests']).value, 1);
  assert.equal(r.metrics.counter(['rt', 'http', 'service', 'svc/dog', 'success']).value, 1);
  assert.equal(r.metrics.counter(['rt', 'http', 'client', `$/inet/127.0.0.1/${up.port}`, 'requests']).value, 1);
  assert.equal(r.metrics.counter(['rt', 'http', 'client', `$/inet/127.0.0.1/${up.port}`, 'status', '200']).value, 1);
});

test('the fields the router sets replace what the client sent: each is forwarded once', async (t) => {
  const up = await upstream((req, res) => {
    const body = JSON.stringify(req.rawHeaders);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/$/inet/127.0.0.1/' + up.port, inetAddr(up.port))) } });
  t.after(() => r.close());
  const span = '0102030405060708';
  const traceId = 'a1a2a3a4a5a6a7a8';
  const incoming = Buffer.from(span + '1112131415161718' + traceId + '0000000000000006', 'hex').toString('base64');
  const rsp = await request(r.port, {
    headers: {
      host: 'dog', via: '1.1 edge', 'l5d-dst-service': '/evil', 'l5d-dst-client': '/evil', 'l5d-dst-residual': '/evil',
      'l5d-reqid': 'evil', 'l5d-ctx-trace': incoming,
    },
  });
  assert.equal(rsp.status, 200);
  const raw = JSON.parse(rsp.body) as string[];
  const byName = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    byName.set(k, [...(byName.get(k) ?? []), raw[i + 1]!]);
  }
  assert.deepEqual(byName.get('via'), ['1.1 edge, 1.1 linkerd']);
  assert.deepEqual(byName.get('l5d-dst-service'), ['/svc/dog']);
  assert.deepEqual(byName.get('l5d-dst-client'), [`/$/inet/127.0.0.1/${up.port}`]);
  assert.equal(byName.get('l5d-dst-residual'), undefined);
  assert.deepEqual(byName.get('l5d-reqid'), [traceId]);
  assert.equal(byName.get('l5d-ctx-trace')?.length, 1);
  const trace = decodeL5dCtxTrace(byName.get('l5d-ctx-trace')![0]!);
  assert.equal(trace?.traceId, traceId);
  assert.equal(trace?.parentId, span, "the caller's span is the parent");
});

test('trace contexts stay per request: concurrent requests, 40-byte callers, then roots', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/$/inet/127.0.0.1/' + up.port, inetAddr(up.port))) } });
  t.after(() => r.close());
  const high = 'b1b2b3b4b5b6b7b8';
  const callerCtx = (i: number): { header: string; trace: string } => {
    const trace = (0xa0000000 + i).toString(16) + 'a5a6a7a8';
    return { header: Buffer.from('0102030405060708' + '1112131415161718' + trace + '0000000000000006' + high, 'hex').toString('base64'), trace };
  };
  const ids = new Set<string>();
  for (let round = 0; round < 3; round++) {
    // A wave of callers with 128-bit trace ids, in flight together, then a wave without any:
    // state shared between requests would show as a wrong trace id or a 40-byte root.
    const callers = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const c = callerCtx(round * 100 + i);
      const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-ctx-trace': c.header } });
      return { c, seen: JSON.parse(rsp.body) as { headers: Record<string, string> } };
    }));
    for (const { c, seen } of callers) {
      const d = decodeL5dCtxTrace(seen.headers['l5d-ctx-trace']!)!;
      assert.equal(d.traceId, high + c.trace);
      assert.equal(d.parentId, '0102030405060708');
      assert.equal(seen.headers['l5d-reqid'], c.trace);
    }
    const roots = await Promise.all(Array.from({ length: 20 }, async () => JSON.parse((await request(r.port, { headers: { host: 'dog' } })).body) as { headers: Record<string, string> }));
    for (const seen of roots) {
      const v = seen.headers['l5d-ctx-trace']!;
      assert.equal(Buffer.from(v, 'base64').length, 32, 'a root context has no high half');
      const d = decodeL5dCtxTrace(v)!;
      assert.equal(d.parentId, null, 'a root is its own parent');
      assert.equal(d.traceId, d.spanId);
      assert.equal(seen.headers['l5d-reqid'], d.traceId);
      ids.add(d.traceId);
    }
  }
  assert.equal(ids.size, 60, 'every root request drew its own id');
});

test('l5d-dst-residual carries the bound name\'s residual, once, and follows the bound name of each attempt', async (t) => {
  const raw = (req: http.IncomingMessage): string[] => {
    const out: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'l5d-dst-residual') out.push(req.rawHeaders[i + 1]!);
    return out;
  };
  const seenB: string[][] = [];
  const b = await upstream((req, res) => {
    seenB.push(raw(req));
    res.end('from b');
  });
  t.after(() => b.close());
  const tree = okTree(leaf(bound('/#/io.l5d.fs/b', inetAddr(b.port), Path.of('extra', 'x y'))));
  const seenA: string[][] = [];
  const a = await upstream((req, res) => {
    seenA.push(raw(req));
    // The name now binds elsewhere, without a residual: the retry must not carry A's.
    tree.set({ type: 'ok', value: boundLeaf('/#/io.l5d.fs/b', inetAddr(b.port)) });
    res.writeHead(503, { 'l5d-retryable': 'true', 'content-length': '4' });
    res.end('busy');
  });
  t.after(() => a.close());
  const r = await startRouter({ trees: { '/svc/dog': tree } });
  t.after(() => r.close());

  const first = await request(r.port, { headers: { host: 'dog', 'l5d-dst-residual': '/evil' } });
  assert.deepEqual([first.status, first.body], [200, 'from b']);
  assert.deepEqual(seenB, [['/extra/\\x78\\x20\\x79']]);

  tree.set({ type: 'ok', value: leaf(bound('/#/io.l5d.fs/a', inetAddr(a.port), Path.of('rest'))) });
  seenB.length = 0;
  const second = await request(r.port, { headers: { host: 'dog' } });
  assert.deepEqual([second.status, second.body], [200, 'from b']);
  assert.deepEqual(seenA, [['/rest']]);
  assert.deepEqual(seenB, [[]]);
});

test('no Host header is an unidentified request: 400 with l5d-err', async (t) => {
  const r = await startRouter({ trees: {} });
  t.after(() => r.close());
  const { rawExchange } = await import('./support.js');
  const raw = await rawExchange(r.port, 'GET / HTTP/1.0\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(raw, /\r\nl5d-err: Unknown destination: GET \/ \/ Host header is absent\r\n/);
  assert.match(raw, /\r\n\r\nUnknown destination: GET \/ \/ Host header is absent\n$/);
});

test('a negative name is 502 naming the logical name and both dtabs', async (t) => {
  const r = await startRouter({ trees: {} });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'cat', 'l5d-dtab': '/a => /b' } });
  assert.equal(rsp.status, 502);
  const msg = 'No hosts are available for /svc/cat, Dtab.base=[/svc=>/#/io.l5d.fs], Dtab.local=[/a=>/b]. Remote Info: Not Available';
  assert.equal(rsp.headers['l5d-err'], msg);
  assert.equal(rsp.body, msg + '\n');
  assert.equal(r.binds[0], '/svc=>/#/io.l5d.fs;/a=>/b|/svc/cat');
});

test('a malformed l5d-dtab is a 400', async (t) => {
  const r = await startRouter({ trees: {} });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'cat', 'l5d-dtab': 'not a dtab' } });
  assert.equal(rsp.status, 400);
  assert.equal(rsp.headers['l5d-err'], "Invalid dtab in l5d-dtab header: bad dentry 'notadtab'");
  assert.equal(r.binds.length, 0);
});

test('request dtabs: l5d-ctx-dtab then l5d-dtab after the base; forwarded as l5d-ctx-dtab', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const tree = okTree(boundLeaf('/#/io.l5d.fs/staging', inetAddr(up.port)));
  const r = await startRouter({ trees: { '/svc=>/#/io.l5d.fs;/x=>/y;/svc/dog=>/s|/svc/dog': tree } });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-dtab': '/svc/dog=>/s', 'l5d-ctx-dtab': '/x=>/y' } });
  assert.equal(rsp.status, 200);
  const seen = JSON.parse(rsp.body);
  assert.equal(seen.headers['l5d-ctx-dtab'], '/x=>/y;/svc/dog=>/s');
  assert.equal(seen.headers['l5d-dtab'], undefined);
  assert.equal(seen.headers['l5d-dst-client'], '/#/io.l5d.fs/staging');
});

test('clearContext drops incoming context and user headers; keeps ours', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) }, server: { clearContext: true } });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-dtab': '/foo=>/bar', 'l5d-ctx-thing': 'yo', 'l5d-sample': '1' } });
  assert.equal(rsp.status, 200);
  const seen = JSON.parse(rsp.body);
  const l5d = Object.keys(seen.headers).filter((k) => k.startsWith('l5d-')).sort();
  assert.deepEqual(l5d, ['l5d-ctx-trace', 'l5d-dst-client', 'l5d-dst-service', 'l5d-reqid']);
  assert.equal(r.binds[0], '/svc=>/#/io.l5d.fs|/svc/dog');
});

test('without clearContext, l5d-ctx-* headers pass and l5d-dtab becomes l5d-ctx-dtab', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) } });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog', 'l5d-dtab': '/foo=>/bar', 'l5d-ctx-thing': 'yo' } });
  const seen = JSON.parse(rsp.body);
  const l5d = Object.keys(seen.headers).filter((k) => k.startsWith('l5d-')).sort();
  assert.deepEqual(l5d, ['l5d-ctx-dtab', 'l5d-ctx-thing', 'l5d-ctx-trace', 'l5d-dst-client', 'l5d-dst-service', 'l5d-reqid']);
  assert.equal(seen.headers['l5d-ctx-dtab'], '/foo=>/bar');
});

test('a connection failure is a 502 with l5d-err; clearContext hides it', async (t) => {
  const deadPort = REFUSED_PORT;
  const trees = { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(deadPort))) };
  const r = await startRouter({ trees });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(rsp.status, 502);
  assert.equal(rsp.headers['l5d-err'], `connection to 127.0.0.1:${deadPort} failed: ECONNREFUSED`);
  assert.equal(rsp.headers['l5d-retryable'], 'true');

  const c = await startRouter({ trees, server: { clearContext: true } });
  t.after(() => c.close());
  const hidden = await request(c.port, { headers: { host: 'dog' } });
  assert.equal(hidden.status, 502);
  assert.equal(hidden.headers['l5d-err'], undefined);
  assert.equal(hidden.body, '');
});

test('a pending binding times out after bindingTimeoutMs with 504', async (t) => {
  const pending = new TestVar<ActivityState<NameTree<BoundName>>>({ type: 'pending' });
  const r = await startRouter({ trees: { '/svc/slow': pending }, config: { bindingTimeoutMs: 50 } });
  t.after(() => r.close());
  const rsp = await request(r.port, { headers: { host: 'slow' } });
  assert.equal(rsp.status, 504);
  assert.equal(rsp.headers['l5d-err'], 'exceeded 50ms binding timeout while resolving name: /svc/slow');
});

test('a binding that resolves while the request waits is used', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const pending = new TestVar<ActivityState<NameTree<BoundName>>>({ type: 'pending' });
  const r = await startRouter({ trees: { '/svc/later': pending } });
  t.after(() => r.close());
  const p = request(r.port, { headers: { host: 'later' } });
  await new Promise((res) => setTimeout(res, 30));
  pending.set({ type: 'ok', value: boundLeaf('/#/io.l5d.fs/later', inetAddr(up.port)) });
  const rsp = await p;
  assert.equal(rsp.status, 200);
});

test('Via at maxCallDepth is refused with 400 (routing loop)', async (t) => {
  const r = await startRouter({ trees: {}, server: { maxCallDepth: 3 } });
  t.after(() => r.close());
  const ok = await request(r.port, { headers: { host: 'x', via: '1.1 linkerd, 1.1 linkerd' } });
  assert.equal(ok.status, 502); // passes the depth check, then finds no hosts
  const loop = await request(r.port, { headers: { host: 'x', via: '1.1 linkerd, 1.1 linkerd, 1.1 linkerd' } });
  assert.equal(loop.status, 400);
  assert.equal(loop.headers['l5d-err'], 'Maximum call depth 3 exceeded: the request passed 3 proxies (routing loop?)');
});

test('maxConcurrentRequests: the request over the limit gets 503', async (t) => {
  let release: (() => void) | undefined;
  const held = new Promise<void>((r) => (release = r));
  const up = await upstream((req, res) => {
    void held.then(() => res.end('done'));
  });
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) }, server: { maxConcurrentRequests: 1 } });
  t.after(() => r.close());
  const first = request(r.port, { headers: { host: 'dog' } });
  for (let i = 0; i < 100 && up.requests === 0; i++) await new Promise((res) => setTimeout(res, 10));
  const second = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(second.status, 503);
  assert.equal(second.headers['l5d-err'], 'max concurrent requests (1) exceeded');
  release!();
  assert.equal((await first).status, 200);
});

after(() => {});

test("a bound Addr's authority metadata is the upstream's Host; Location and Refresh name the caller's Host again (Linkerd's RewriteHostHeader)", async (t) => {
  const hosts: string[] = [];
  const a = await upstream((req, res) => {
    hosts.push(`a ${req.headers.host}`);
    if (req.url === '/retry') {
      res.writeHead(503, { 'l5d-retryable': 'true', 'content-length': '4' });
      res.end('busy');
      return;
    }
    res.writeHead(302, { location: `http://${req.headers.host}/next`, refresh: `5; url=http://${req.headers.host}/later`, 'x-other': `http://${req.headers.host}/kept`, 'content-length': '0' });
    res.end();
  });
  t.after(() => a.close());
  const b = await upstream((req, res) => {
    hosts.push(`b ${req.headers.host}`);
    res.writeHead(302, { location: `http://${req.headers.host}/b`, 'content-length': '0' });
    res.end();
  });
  t.after(() => b.close());
  const authority = (port: number, auth: string | undefined): TestVar<Addr> =>
    new TestVar<Addr>({ type: 'bound', addrs: [{ host: '127.0.0.1', port, meta: {} }], meta: auth === undefined ? {} : { authority: auth } });
  const aAddr = authority(a.port, 'web.service.dc1.consul');
  const tree = okTree(leaf(bound('/#/io.l5d.consul/dc1/web', aAddr)));
  const r = await startRouter({ trees: { '/svc/dog': tree } });
  t.after(() => r.close());

  const first = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(first.status, 302);
  assert.equal(first.headers['location'], 'http://dog/next');
  assert.equal(first.headers['refresh'], '5; url=http://dog/later');
  assert.equal(first.headers['x-other'], 'http://web.service.dc1.consul/kept', 'only Location and Refresh are rewritten');
  assert.deepEqual(hosts, ['a web.service.dc1.consul']);

  // The Addr loses its authority: the caller's Host goes as it came.
  aAddr.set({ type: 'bound', addrs: [{ host: '127.0.0.1', port: a.port, meta: {} }], meta: {} });
  hosts.length = 0;
  const plain = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(plain.headers['location'], 'http://dog/next');
  assert.deepEqual(hosts, ['a dog']);

  // A retry from a client with an authority to one without: the retry carries the caller's Host.
  aAddr.set({ type: 'bound', addrs: [{ host: '127.0.0.1', port: a.port, meta: {} }], meta: { authority: 'a.example' } });
  const bAddr = authority(b.port, undefined);
  let n = 0;
  const flaky = await upstream((req, res) => {
    hosts.push(`flaky ${req.headers.host}`);
    n++;
    tree.set({ type: 'ok', value: leaf(bound('/#/io.l5d.fs/b', bAddr)) });
    res.writeHead(503, { 'l5d-retryable': 'true', 'content-length': '4' });
    res.end('busy');
  });
  t.after(() => flaky.close());
  tree.set({ type: 'ok', value: leaf(bound('/#/io.l5d.consul/dc1/flaky', authority(flaky.port, 'flaky.example'))) });
  hosts.length = 0;
  const retried = await request(r.port, { headers: { host: 'dog' } });
  assert.equal(n, 1);
  assert.equal(retried.status, 302);
  assert.equal(retried.headers['location'], 'http://dog/b');
  assert.deepEqual(hosts, ['flaky flaky.example', 'b dog']);
});
