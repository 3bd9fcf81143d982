import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdminServer, type AdminServerOptions } from '../../src/admin/server.js';
import { AdminError, DelegateRejection } from '../../src/admin/errors.js';
import { categoryOf } from '../../src/admin/security.js';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';
import { buildTelemetry } from '../../src/telemetry/telemeters.js';
import { rawExchange } from '../router/support.js';
import { sendBodyAfterAnswer, wholeAnswer } from '../support/early-answer.js';
import { LINGER_BYTES } from '../../src/admin/client-errors.js';

const TREE = {
  type: 'delegate',
  path: '/svc/users',
  delegate: { type: 'neg', path: '/bar', dentry: { prefix: '/svc/users', dst: '/bar' } },
};

async function start(t: { after: (fn: () => Promise<void>) => void }, opts: Partial<AdminServerOptions> = {}) {
  const metrics = opts.metrics ?? new MetricsRegistry();
  const admin = createAdminServer({ metrics, ...opts, config: { port: 0, ...opts.config } });
  const addr = await admin.listen();
  t.after(() => admin.close());
  const base = admin.url();
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(base + path, init);
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  return { admin, addr, metrics, get };
}

test('binds loopback by default and answers ping', async (t) => {
  const { addr, get } = await start(t);
  assert.equal(addr.address, '127.0.0.1');
  const r = await get('/admin/ping');
  assert.deepEqual([r.status, r.body], [200, 'pong']);
  const head = await fetch(`http://127.0.0.1:${addr.port}/admin/ping`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  assert.equal((await get('/no/such/thing')).status, 404);
});

test('/admin/metrics.json: flat, ?tree=1, ?q= and a 404 for an unknown subtree', async (t) => {
  const metrics = new MetricsRegistry();
  const srv = ['rt', 'in', 'server', '127.0.0.1/4140'];
  for (let i = 0; i < 3; i++) metrics.counter([...srv, 'success']).incr();
  for (let i = 0; i < 2; i++) metrics.counter([...srv, 'failures']).incr();
  metrics.counter([...srv, 'requests']).incr(5);
  metrics.counter(['rt', 'out', 'client', '$/inet/127.1/80', 'requests']).incr(1);
  const { get } = await start(t, { metrics });
  const flat = await get('/admin/metrics.json');
  assert.equal(flat.status, 200);
  assert.equal(flat.headers.get('content-type'), 'application/json;charset=utf-8');
  assert.deepEqual(JSON.parse(flat.body), {
    'rt/in/server/127.0.0.1/4140/success': 3,
    'rt/in/server/127.0.0.1/4140/failures': 2,
    'rt/in/server/127.0.0.1/4140/requests': 5,
    'rt/out/client/$/inet/127.1/80/requests': 1,
  });
  assert.deepEqual(JSON.parse((await get('/admin/metrics.json?q=rt/out')).body), { 'rt/out/client/$/inet/127.1/80/requests': 1 });
  assert.deepEqual(JSON.parse((await get('/admin/metrics.json?tree=1&q=rt/in/server')).body), {
    '127.0.0.1/4140': { success: { counter: 3 }, failures: { counter: 2 }, requests: { counter: 5 } },
  });
  const missing = await get('/admin/metrics.json?q=rt/nope');
  assert.deepEqual([missing.status, JSON.parse(missing.body)], [404, { error: 'No such subtree: rt/nope' }]);
});

test('/admin/shutdown: 405 on GET, POST runs the hook after answering, 403 when control is disabled', async (t) => {
  let called: number | undefined;
  let done!: () => void;
  const hookRan = new Promise<void>((r) => (done = r));
  const { get } = await start(t, { config: { shutdownGraceMs: 1234 }, onShutdown: (g) => { called = g; done(); } });
  const g = await get('/admin/shutdown');
  assert.equal(g.status, 405);
  assert.equal(g.headers.get('allow'), 'POST');
  assert.equal(called, undefined);
  const p = await get('/admin/shutdown', { method: 'POST' });
  assert.deepEqual([p.status, p.body], [200, 'shutting down']);
  await hookRan;
  assert.equal(called, 1234);

  const off = await start(t, { config: { security: { controlEnabled: false } }, onShutdown: () => assert.fail('must not run') });
  assert.equal((await off.get('/admin/shutdown', { method: 'POST' })).status, 403);
  assert.equal((await off.get('/admin/ping')).status, 200);

  const unwired = await start(t);
  assert.equal((await unwired.get('/admin/shutdown', { method: 'POST' })).status, 501);
});

test('security: blacklist wins, whitelist reopens a disabled category', async (t) => {
  assert.equal(categoryOf('/'), 'ui');
  assert.equal(categoryOf('/admin/metrics.json'), 'ui');
  assert.equal(categoryOf('/admin/shutdown'), 'control');
  assert.equal(categoryOf('/admin/server_info'), 'diagnostics');
  const a = await start(t, { config: { security: { pathBlacklist: ['^/admin/ping$'] } } });
  assert.equal((await a.get('/admin/ping')).status, 403);
  assert.equal((await a.get('/admin/server_info')).status, 200);
  const b = await start(t, { config: { security: { uiEnabled: false, diagnosticsEnabled: false, pathWhitelist: ['/admin/metrics[.]json'] } } });
  assert.equal((await b.get('/admin/metrics.json')).status, 200);
  assert.equal((await b.get('/')).status, 403);
  assert.equal((await b.get('/delegator.json?path=/a')).status, 403);
  assert.equal((await b.get('/admin/server_info')).status, 403);
  assert.throws(
    () => createAdminServer({ metrics: new MetricsRegistry(), config: { security: { pathWhitelist: ['('] } } }),
    (e: unknown) => e instanceof AdminError && e.code === 'MESH_ERR_ADMIN_SECURITY_PATTERN',
  );
});

test('/delegator.json: GET and POST, and Linkerd\'s 400/405/415/501/503 answers', async (t) => {
  const calls: unknown[] = [];
  const { get } = await start(t, {
    delegateTimeoutMs: 200,
    delegate: (ns, dtab, path) => {
      calls.push([ns, dtab, path]);
      if (dtab === 'bad') throw new DelegateRejection('invalidDtab', "'=>' expected but 'E' found at '/a[]'");
      if (path === 'nopath') throw new DelegateRejection('invalidPath', "'/' expected but 'n' found at '[n]opath'");
      if (ns === 'thrift') throw new DelegateRejection('notDelegator', 'no');
      if (path === '/slow') return new Promise(() => {});
      return TREE;
    },
  });
  const ok = await get('/delegator.json?namespace=in&path=/svc/users&dtab=' + encodeURIComponent('/svc/users=>/bar'));
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), TREE);
  assert.deepEqual(calls[0], ['in', '/svc/users=>/bar', '/svc/users']);
  const post = await get('/delegator.json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: 'in', dtab: '', path: '/svc/users' }) });
  assert.deepEqual([post.status, JSON.parse(post.body)], [200, TREE]);
  assert.deepEqual(calls[1], ['in', '', '/svc/users']);
  const noNs = await get('/delegator.json?path=/svc/users');
  assert.equal(noNs.status, 200);
  assert.deepEqual(calls[2], [undefined, '', '/svc/users']);

  const badDtab = await get('/delegator.json?namespace=in&path=/a&dtab=bad');
  assert.deepEqual([badDtab.status, badDtab.body], [400, "Invalid dtab: '=>' expected but 'E' found at '/a[]'"]);
  const badPath = await get('/delegator.json?namespace=in&path=nopath');
  assert.deepEqual([badPath.status, badPath.body], [400, "Invalid path: '/' expected but 'n' found at '[n]opath'"]);
  const noPath = await get('/delegator.json?namespace=in');
  assert.deepEqual([noPath.status, noPath.body], [400, 'Invalid path: a path is required']);
  const unsupported = await get('/delegator.json', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
  assert.deepEqual([unsupported.status, unsupported.body], [415, "Unsupported content type 'text/plain': a delegation request is application/json"]);
  const malformed = await get('/delegator.json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"path":"/a"}' });
  assert.deepEqual([malformed.status, malformed.body], [400, 'Malformed delegation request: {"path":"/a"}']);
  const notImpl = await get('/delegator.json?namespace=thrift&path=/a');
  assert.deepEqual([notImpl.status, notImpl.body], [501, 'Name Interpreter for thrift cannot show delegations']);
  assert.equal((await get('/delegator.json?path=/a', { method: 'PUT' })).status, 405);
  const slow = await get('/delegator.json?namespace=in&path=/slow');
  assert.deepEqual([slow.status, slow.body], [503, 'Request timed out.']);

  const none = await start(t);
  assert.equal((await none.get('/delegator.json?path=/a&namespace=in')).status, 501);
});

test('JSON endpoints read their callbacks; telemeter routes are mounted; conflicts are refused', async (t) => {
  const metrics = new MetricsRegistry();
  metrics.counter(['rt', 'in', 'server', '0.0.0.0/4140', 'requests']).incr(2);
  const telemetry = buildTelemetry([{ kind: 'io.l5d.prometheus' }, { kind: 'io.l5d.recentRequests', sampleRate: 1 }], { metrics });
  const { get, admin } = await start(t, {
    metrics,
    routes: telemetry.adminRoutes,
    configJson: () => ({ admin: { port: 9990 } }),
    clientState: () => ({ '/$/inet/127.1/80': { state: 'bound', addresses: ['127.0.0.1:80'] } }),
    boundNames: () => ['/#/io.l5d.fs/users'],
    namerState: (prefix) => (prefix === '/io.l5d.fs' ? { users: ['127.0.0.1:80'] } : undefined),
    appName: 'linkerd',
  });
  assert.deepEqual(JSON.parse((await get('/config.json')).body), { admin: { port: 9990 } });
  assert.deepEqual(JSON.parse((await get('/client_state.json')).body), { '/$/inet/127.1/80': { state: 'bound', addresses: ['127.0.0.1:80'] } });
  assert.deepEqual(JSON.parse((await get('/bound-names.json')).body), ['/#/io.l5d.fs/users']);
  assert.deepEqual(JSON.parse((await get('/namer_state/io.l5d.fs.json')).body), { users: ['127.0.0.1:80'] });
  assert.equal((await get('/namer_state/io.l5d.k8s.json')).status, 404);
  assert.deepEqual(JSON.parse((await get('/admin/routers.json')).body), [{ label: 'in' }]);
  assert.equal(JSON.parse((await get('/admin/server_info')).body).name, 'linkerd');
  const prom = await get('/admin/metrics/prometheus');
  assert.deepEqual([prom.status, prom.body], [200, 'rt:server:requests{rt="in", server="0.0.0.0/4140"} 2\n']);
  assert.deepEqual(JSON.parse((await get('/requests.json')).body), []);
  const index = (await get('/admin')).body.split('\n');
  assert.ok(index.includes('/admin/metrics/prometheus') && index.includes('/delegator.json'));
  assert.throws(() => admin.addRoute({ path: '/admin/ping', handle: () => ({ status: 200, body: '' }) }), (e: unknown) => e instanceof AdminError && e.code === 'MESH_ERR_ADMIN_ROUTE_CONFLICT');
  await telemetry.close();
});

test('dashboard pages and files are served, small, and nothing is loaded from elsewhere', async (t) => {
  const { get } = await start(t);
  let total = 0;
  for (const page of ['/', '/delegator', '/requests', '/clients']) {
    const r = await get(page);
    assert.equal(r.status, 200, page);
    assert.equal(r.headers.get('content-type'), 'text/html;charset=utf-8');
    assert.doesNotMatch(r.body, /(src|href)="https?:/);
    total += r.body.length;
  }
  for (const f of ['admin.css', 'common.js', 'dashboard.js', 'delegator.js']) {
    const r = await get('/files/' + f);
    assert.equal(r.status, 200, f);
    total += r.body.length;
  }
  assert.ok(total < 200_000, `dashboard weight ${total} bytes`);
  assert.equal((await get('/files/nope.js')).status, 404);
});

test('admin.tls serves HTTPS; unreadable cert files fail with MESH_ERR_ADMIN_TLS', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const https = await import('node:https');
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admin-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const admin = createAdminServer({ metrics: new MetricsRegistry(), config: { port: 0, tls: { certPath, keyPath } } });
  const addr = await admin.listen();
  t.after(() => admin.close());
  assert.equal(admin.url(), `https://127.0.0.1:${addr.port}`);
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: addr.port, path: '/admin/ping', rejectUnauthorized: false }, (res) => {
        let s = '';
        res.on('data', (c: Buffer) => (s += c.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${s}`));
      })
      .on('error', reject);
  });
  assert.equal(body, '200 pong');
  assert.throws(
    () => createAdminServer({ metrics: new MetricsRegistry(), config: { tls: { certPath: join(dir, 'nope.pem'), keyPath } } }),
    (e: unknown) => e instanceof AdminError && e.code === 'MESH_ERR_ADMIN_TLS',
  );
});

test('an unparsable request target is a 400; encoded or slashed variants of shutdown do not reach it', { timeout: 10_000 }, async (t) => {
  const net = await import('node:net');
  let ran = false;
  const { addr } = await start(t, { config: { security: { controlEnabled: false } }, onShutdown: () => { ran = true; } });
  const raw = (line: string) =>
    new Promise<string>((resolve) => {
      const s = net.connect(addr.port, '127.0.0.1');
      let out = '';
      s.on('data', (c: Buffer) => (out += c.toString()));
      s.on('end', () => resolve(out));
      s.on('error', () => resolve(out));
      s.end(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
  assert.match(await raw('GET http://[ HTTP/1.1'), /^HTTP\/1\.1 400 /);
  assert.match(await raw('POST /admin/%73hutdown HTTP/1.1'), /^HTTP\/1\.1 404 /);
  assert.match(await raw('POST /admin/shutdown/ HTTP/1.1'), /^HTTP\/1\.1 404 /);
  assert.match(await raw('POST http://evil/admin/shutdown HTTP/1.1'), /^HTTP\/1\.1 403 /);
  assert.equal(ran, false);
});

test('/admin/profile.cpuprofile: a CPU profile of the process, one at a time, bounded seconds', async (t) => {
  const { get } = await start(t);
  // Work for the profiler to see while it runs.
  const busyUntil = Date.now() + 250;
  const spin = setInterval(() => {
    const end = Date.now() + 5;
    let x = 0;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    if (Date.now() > busyUntil) clearInterval(spin);
  }, 10);
  const first = get('/admin/profile.cpuprofile?seconds=0.4&interval_us=200');
  await new Promise((r) => setTimeout(r, 100));
  const second = await get('/admin/profile.cpuprofile?seconds=0.2');
  assert.equal(second.status, 409);
  assert.match(second.body, /already being taken/);
  const r = await first;
  clearInterval(spin);
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="meshwork-\d+-.*\.cpuprofile"$/);
  const prof = JSON.parse(r.body) as { nodes: { callFrame: { functionName: string } }[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  assert.ok(prof.nodes.length > 1 && prof.samples.length > 100, `${prof.samples.length} samples`);
  assert.equal(prof.samples.length, prof.timeDeltas.length);
  const spanMs = (prof.endTime - prof.startTime) / 1000;
  assert.ok(spanMs >= 350 && spanMs < 5000, `profile spans ${spanMs} ms`);
  // The profiler is free again.
  assert.equal((await get('/admin/profile.cpuprofile?seconds=0.1')).status, 200);
  for (const [q, msg] of [['seconds=0', /seconds must be a number from 0\.1 to 60; found "0"/], ['seconds=abc', /found "abc"/], ['seconds=61', /found "61"/], ['interval_us=10', /interval_us must be a number from 50 to 100000; found "10"/]] as const) {
    const bad = await get(`/admin/profile.cpuprofile?${q}`);
    assert.equal(bad.status, 400, q);
    assert.match(bad.body, msg);
  }
});

test('/admin/profile.cpuprofile is a diagnostics endpoint', async (t) => {
  assert.equal(categoryOf('/admin/profile.cpuprofile'), 'diagnostics');
  const { get } = await start(t, { config: { security: { diagnosticsEnabled: false } } });
  assert.equal((await get('/admin/profile.cpuprofile?seconds=0.1')).status, 403);
});

test('/admin/profile.cpuprofile: one profile per process, across admin servers', async (t) => {
  const a = await start(t);
  const b = await start(t);
  const first = a.get('/admin/profile.cpuprofile?seconds=0.4');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await b.get('/admin/profile.cpuprofile?seconds=0.1')).status, 409);
  assert.equal((await first).status, 200);
  assert.equal((await b.get('/admin/profile.cpuprofile?seconds=0.1')).status, 200);
});

test('a pipelined request with Expect: 100-continue queued behind a slow one gets its answer whole', async (t) => {
  // Node writes the interim 100 of a response still queued behind another after that response's
  // head once the head is written with a Buffer body: the client then read "HTTP/1.1 100 Contin"
  // as the 404's body.
  const { addr } = await start(t, { delegate: () => new Promise((resolve) => setTimeout(() => resolve(TREE), 100)) });
  const got = await rawExchange(addr.port, 'GET /delegator.json?path=/svc/users HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 5000);
  const second = got.slice(got.indexOf('HTTP/1.1', 1));
  assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(second, /^(HTTP\/1\.1 100 Continue\r\n\r\n)?HTTP\/1\.1 404 Not Found\r\n(?:[^\r\n]+\r\n)*\r\nnot found: \/nope\n$/);
});

test('bytes the parser refuses and a bogus Expect are 4xx with a reason; a body over the limit is a 413', async (t) => {
  const { addr, get } = await start(t, { delegate: () => TREE });
  const raw = (bytes: string): Promise<string> => rawExchange(addr.port, bytes, 5000, true);
  assert.match(await raw('GET /admin/ping HTTP/1.1\r\nHost: h\r\n: novalue\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nBad Request: HPE_INVALID_HEADER_TOKEN \(.+\)\n$/);
  assert.match(await raw(`GET /admin/ping HTTP/1.1\r\nHost: h\r\nx-big: ${'b'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[^]*\r\n\r\nRequest Header Fields Too Large: HPE_HEADER_OVERFLOW/);
  // Node's own Host check answered a bare 400.
  assert.match(await raw('GET /admin/ping HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nBad Request: an HTTP\/1\.1 request must carry a Host header\n$/);
  assert.match(await raw('GET /admin/ping HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /);
  // fetch refuses an Expect header, so node:http sends these two.
  const { request } = await import('node:http');
  const send = (path: string, method: string, headers: Record<string, string>, body?: string): Promise<[number, string]> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: addr.port, method, path, headers }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve([res.statusCode ?? 0, data]));
      });
      req.on('error', reject);
      req.end(body);
    });
  assert.deepEqual(await send('/admin/ping', 'GET', { expect: 'bogus' }), [417, 'unsupported expectation "bogus": only 100-continue is\n']);
  // A body over the limit: the 413 reaches a keep-alive client, and the server answers after.
  assert.deepEqual(await send('/delegator.json', 'POST', { 'content-type': 'application/json' }, 'z'.repeat((1 << 20) + 100)), [413, 'request body too large\n']);
  assert.equal((await get('/admin/ping')).body, 'pong');
});

test('a body still arriving after an early answer is read and dropped, not reset, when the connection closes', async (t) => {
  const { addr, get } = await start(t, { delegate: () => TREE });
  const MB4 = 4 << 20;
  // Connection: close asked for by the client, by HTTP/1.0, and by an Expect: 100-continue that
  // got a final status (Node then closes): each answer is whole and the rest of the body is sent.
  const cases: Array<[string, number, string, number?]> = [
    [`POST /nope HTTP/1.1\r\nHost: h\r\nContent-Length: ${MB4}\r\nConnection: close\r\n\r\n`, 404, 'not found: /nope\n'],
    [`PUT /admin/ping HTTP/1.0\r\nContent-Length: ${MB4}\r\n\r\n`, 405, 'method PUT not allowed on /admin/ping\n'],
    [`POST /nope HTTP/1.1\r\nHost: h\r\nContent-Length: ${MB4}\r\nExpect: 100-continue\r\n\r\n`, 404, 'not found: /nope\n'],
    [`POST /delegator.json HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: ${MB4}\r\nConnection: close\r\n\r\n`, 413, 'request body too large\n', (1 << 20) + 65_536],
  ];
  const whole = (s: string): boolean => wholeAnswer(s) !== undefined;
  for (const [head, status, reason, first] of cases) {
    const got = await sendBodyAfterAnswer(addr.port, head, MB4, whole, first);
    assert.deepEqual(wholeAnswer(got.answer), { status, body: reason }, JSON.stringify(head));
    assert.deepEqual([got.sendError, got.sent], [undefined, MB4], JSON.stringify(head));
  }
  // A body beyond LINGER_BYTES is not read for ever: the connection is closed under the sender.
  const huge = await sendBodyAfterAnswer(addr.port, `POST /nope HTTP/1.1\r\nHost: h\r\nContent-Length: ${LINGER_BYTES * 8}\r\nConnection: close\r\n\r\n`, LINGER_BYTES * 8, whole);
  assert.equal(wholeAnswer(huge.answer)?.status, 404);
  assert.ok(huge.sendError !== undefined && huge.sent < LINGER_BYTES * 8, `sent ${huge.sent} without error`);
  assert.equal((await get('/admin/ping')).body, 'pong');
});
