/**
 * Telemetry from real proxied requests: `meshwork linkerd` with the Zipkin and OTLP
 * telemeters pointed at in-test collectors (Zipkin's v2 JSON API, OTLP/HTTP JSON), an
 * `httpAccessLog`, and the admin's client state. Spans must chain: the caller's span is the
 * server span's parent, the server span the client span's parent, and the upstream sees the
 * client span as its parent in the formats its router's `tracePropagator` writes (all three on
 * the `meshwork.all` router; Linkerd's default and Zipkin propagators on two more), and an h2
 * router's requests traced the same way.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { startH2Upstream } from '../support/h2.js';
import type { AddressInfo } from 'node:net';
import { request, upstream, type Upstream } from '../router/support.js';
import { decodeL5dCtxTrace, encodeL5dCtxTrace } from '../../src/telemetry/trace-context.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');

interface Collector {
  readonly port: number;
  readonly zipkin: Record<string, unknown>[];
  readonly otlp: Record<string, unknown>[];
  close(): Promise<void>;
}

async function collector(): Promise<Collector> {
  const c = { port: 0, zipkin: [] as Record<string, unknown>[], otlp: [] as Record<string, unknown>[], close: async () => undefined as void };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v2/spans') {
        c.zipkin.push(...(JSON.parse(body) as Record<string, unknown>[]));
        res.writeHead(202).end();
      } else if (req.method === 'POST' && req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
        for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) c.otlp.push(...ss.spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  c.port = (server.address() as AddressInfo).port;
  c.close = () => new Promise<void>((r) => server.close(() => r()));
  return c;
}

let dir: string;
let up: Upstream;
let col: Collector;
let proc: ChildProcess;
let routerPort = 0;
let plainPort = 0;
let b3Port = 0;
let h2Port = 0;
let h2Up: { port: number; close(): Promise<void> };
let adminPort = 0;
let exited: Promise<number | null>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-telemetry-'));
  up = await upstream((req, res) => {
    const body = JSON.stringify(req.headers);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  col = await collector();
  // An h2 upstream answering with the request headers it got, as JSON.
  h2Up = await startH2Upstream((st, h) => {
    if (h[':path'] === '/hang') return;
    st.respond({ ':status': 200, 'content-type': 'application/json' });
    st.end(JSON.stringify(h));
  });
  const cfg = join(dir, 'linkerd.yaml');
  writeFileSync(
    cfg,
    [
      'admin: {ip: 127.0.0.1, port: 0}',
      'telemetry:',
      `- {kind: io.l5d.zipkin, host: 127.0.0.1, port: ${col.port}, sampleRate: 1.0, flushIntervalMs: 20}`,
      `- {kind: meshwork.otlp, host: 127.0.0.1, port: ${col.port}, sampleRate: 1.0, flushIntervalMs: 20}`,
      'routers:',
      '- protocol: http',
      '  label: out',
      '  tracePropagator: {kind: meshwork.all}',
      `  dtab: /svc => /$/inet/127.0.0.1/${up.port}`,
      `  httpAccessLog: ${join(dir, 'access.log')}`,
      '  servers: [{ip: 127.0.0.1, port: 0}]',
      // Linkerd's default propagator (l5d-ctx-trace only) and its Zipkin one (B3 only).
      '- protocol: http',
      '  label: plain',
      `  dtab: /svc => /$/inet/127.0.0.1/${up.port}`,
      '  servers: [{ip: 127.0.0.1, port: 0}]',
      '- protocol: http',
      '  label: b3',
      '  tracePropagator: {kind: io.l5d.zipkin}',
      `  dtab: /svc => /$/inet/127.0.0.1/${up.port}`,
      '  servers: [{ip: 127.0.0.1, port: 0}]',
      '- protocol: h2',
      '  label: h2t',
      '  tracePropagator: {kind: io.l5d.zipkin}',
      `  dtab: /svc => /$/inet/127.0.0.1/${h2Up.port}`,
      '  service: {totalTimeoutMs: 300}',
      '  servers: [{ip: 127.0.0.1, port: 0}]',
      '',
    ].join('\n'),
  );
  proc = spawn(process.execPath, [BIN, 'linkerd', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`linkerd did not start: ${err}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const r = /^listening out 127\.0\.0\.1:(\d+)$/m.exec(out);
      const plain = /^listening plain 127\.0\.0\.1:(\d+)$/m.exec(out);
      const b3 = /^listening b3 127\.0\.0\.1:(\d+)$/m.exec(out);
      const h2l = /^listening h2t 127\.0\.0\.1:(\d+)$/m.exec(out);
      const a = /^admin listening on 127\.0\.0\.1:(\d+)$/m.exec(out);
      if (r && a && plain && b3 && h2l) {
        h2Port = Number(h2l[1]);
        routerPort = Number(r[1]);
        plainPort = Number(plain[1]);
        b3Port = Number(b3[1]);
        adminPort = Number(a[1]);
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', () => reject(new Error(`linkerd exited: ${err}`)));
  });
});

after(async () => {
  proc.kill('SIGTERM');
  await exited;
  await up.close();
  await h2Up.close();
  await col.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The server and client spans Zipkin received for a trace, once both are there. */
async function zipkinPair(what: string, traceId: string): Promise<{ server: Record<string, unknown>; client: Record<string, unknown> }> {
  const spans = await until(what, () => {
    const s = col.zipkin.filter((z) => z['traceId'] === traceId);
    return s.length >= 2 ? s : undefined;
  });
  return { server: spans.find((s) => s['kind'] === 'SERVER')!, client: spans.find((s) => s['kind'] === 'CLIENT')! };
}

test('a proxied request continues the caller’s B3 trace: server and client spans reach Zipkin and OTLP with the right parents', async () => {
  const traceId = '463ac35c9f6413ad';
  const callerSpan = 'a2fb4a1d1a96d312';
  const rsp = await request(routerPort, { path: '/users/7?x=1', headers: { host: 'users', 'x-b3-traceid': traceId, 'x-b3-spanid': callerSpan, 'x-b3-sampled': '1', 'user-agent': 'e2e' } });
  assert.equal(rsp.status, 200);
  const seen = JSON.parse(rsp.body) as Record<string, string>;

  const { server, client } = await zipkinPair('two zipkin spans', traceId);
  assert.equal(server['parentId'], callerSpan);
  assert.equal(server['name'], 'get /users/7');
  assert.deepEqual(server['localEndpoint'], { serviceName: 'out' });
  assert.equal((server['tags'] as Record<string, string>)['l5d.dst.service'], '/svc/users');
  assert.equal((server['tags'] as Record<string, string>)['http.status_code'], '200');
  assert.equal(client['parentId'], server['id']);
  assert.equal(client['name'], `/$/inet/127.0.0.1/${up.port}`.toLowerCase());
  assert.deepEqual(client['remoteEndpoint'], { ipv4: '127.0.0.1', port: up.port });

  // The upstream's parent is the client span, in B3, W3C and Linkerd's own header.
  assert.equal(seen['x-b3-traceid'], traceId);
  assert.equal(seen['x-b3-spanid'], client['id']);
  assert.equal(seen['x-b3-parentspanid'], server['id']);
  assert.equal(seen['x-b3-sampled'], '1');
  assert.equal(seen['traceparent'], `00-${'0'.repeat(16)}${traceId}-${client['id']}-01`);
  assert.equal(typeof seen['l5d-ctx-trace'], 'string');
  assert.equal(seen['l5d-reqid'], traceId);

  const otlp = await until('two OTLP spans', () => {
    const s = col.otlp.filter((o) => o['traceId'] === '0'.repeat(16) + traceId);
    return s.length >= 2 ? s : undefined;
  });
  const oServer = otlp.find((s) => s['kind'] === 2)!;
  const oClient = otlp.find((s) => s['kind'] === 3)!;
  assert.equal(oServer['parentSpanId'], callerSpan);
  assert.equal(oServer['spanId'], server['id']);
  assert.equal(oClient['parentSpanId'], oServer['spanId']);
});

test('a W3C traceparent caller is continued too, and a failed call is a span with its error', async () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parent = '00f067aa0ba902b7';
  const ok = await request(routerPort, { headers: { host: 'w3c', traceparent: `00-${trace}-${parent}-01` } });
  assert.equal(ok.status, 200);
  assert.match(JSON.parse(ok.body)['traceparent'], new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
  // l5d-dtab sends this one to a closed port: the router answers 502 and the spans say why.
  const bad = await request(routerPort, { headers: { host: 'w3c', traceparent: `00-${trace}-${parent}-01`, 'l5d-dtab': '/svc/w3c => /$/inet/127.0.0.1/1' } });
  assert.equal(bad.status, 502);
  // Two server spans; the failed request has one client span per attempt (connection
  // failures are requeued within the requeue budget), each with the connection error.
  const servers = await until('two server spans of the W3C trace', () => {
    const s = col.otlp.filter((o) => o['traceId'] === trace && o['kind'] === 2);
    return s.length >= 2 ? s : undefined;
  });
  assert.equal(servers.length, 2);
  const clients = col.otlp.filter((o) => o['traceId'] === trace && o['kind'] === 3);
  assert.ok(clients.length >= 2, `client spans: ${clients.length}`);
  for (const c of clients) assert.ok(servers.some((s) => s['spanId'] === c['parentSpanId']));
  for (const s of servers) assert.equal(s['parentSpanId'], parent);
  const failed = servers.find((s) => (s['status'] as { code: number }).code === 2)!;
  assert.match((failed['status'] as { message: string }).message, /^connection to 127\.0\.0\.1:1 failed: ECONNREFUSED$/);
});

test('httpAccessLog: one common-log line per request with the logical name and client', async () => {
  const rsp = await request(routerPort, { path: '/log-me?a=b', headers: { host: 'books', 'user-agent': 'curl/8', referer: 'http://r/' } });
  assert.equal(rsp.status, 200);
  const line = await until('the access log line', () => {
    let text = '';
    try {
      text = readFileSync(join(dir, 'access.log'), 'utf8');
    } catch {
      return undefined;
    }
    return text.split('\n').find((l) => l.includes('/log-me'));
  });
  const re = new RegExp(
    `^books 127\\.0\\.0\\.1 - - \\[\\d{2}/\\d{2}/\\d{4}:\\d{2}:\\d{2}:\\d{2} \\+0000\\] "GET /log-me\\?a=b HTTP/1\\.1" 200 - "http://r/" "curl/8" /svc/books /\\$/inet/127\\.0\\.0\\.1/${up.port}$`,
  );
  assert.match(line, re);
});

test('an access log whose directory is missing stops meshwork linkerd with the file, the key and the reason (exit 2)', () => {
  const cfgDir = mkdtempSync(join(tmpdir(), 'mesh-accesslog-'));
  try {
    const file = join(cfgDir, 'linkerd.yaml');
    const log = join(cfgDir, 'logs', 'access.log');
    writeFileSync(file, `admin: {ip: 127.0.0.1, port: 0}\nrouters:\n- protocol: http\n  dtab: /svc => /$/inet/127.1/9\n  servers: [{ip: 127.0.0.1, port: 0}]\n- protocol: h2\n  h2AccessLog: ${log}\n  dtab: /svc => /$/inet/127.1/9\n  servers: [{ip: 127.0.0.1, port: 0}]\n`);
    const r = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'linkerd', file], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `meshwork linkerd: ${file}: routers[1].h2AccessLog: found ${JSON.stringify(log)}; allowed: a file that can be opened for writing (ENOENT: its directory does not exist)\n`);
  } finally {
    rmSync(cfgDir, { recursive: true, force: true });
  }
});

test('admin client_state.json and bound-names.json show the clients the router made', async () => {
  await request(routerPort, { headers: { host: 'state' } });
  const get = (p: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: adminPort, path: p }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(JSON.parse(b)));
      }).on('error', reject);
    });
  const id = `/$/inet/127.0.0.1/${up.port}`;
  const state = (await get('/client_state.json')) as Record<string, Record<string, { state: string; addresses: { ip: string; port: number; available: boolean; accrual: string }[] }>>;
  const c = state['out']![id]!;
  assert.equal(c.state, 'bound');
  assert.equal(c.addresses.length, 1);
  assert.deepEqual([c.addresses[0]!.ip, c.addresses[0]!.port, c.addresses[0]!.available, c.addresses[0]!.accrual], ['127.0.0.1', up.port, true, 'alive']);
  // The earlier l5d-dtab request made a client for the closed port too.
  assert.deepEqual(await get('/bound-names.json'), ['/$/inet/127.0.0.1/1', id]);
});

test('tracePropagator io.l5d.default (no key): l5d-ctx-trace in and out; B3 and traceparent pass through untouched', async () => {
  const caller = { traceId: '1111222233334444', spanId: '5555666677778888', parentId: null, sampled: true, debug: false };
  const b3 = { 'x-b3-traceid': 'aaaabbbbccccdddd', 'x-b3-spanid': 'eeeeffff00001111', 'x-b3-sampled': '1' };
  const traceparent = `00-${'9'.repeat(32)}-${'8'.repeat(16)}-01`;
  const rsp = await request(plainPort, { headers: { host: 'plain', 'l5d-ctx-trace': encodeL5dCtxTrace(caller), ...b3, traceparent } });
  assert.equal(rsp.status, 200);
  const seen = JSON.parse(rsp.body) as Record<string, string>;
  const fwd = decodeL5dCtxTrace(seen['l5d-ctx-trace']!);
  assert.ok(fwd !== undefined);
  assert.equal(fwd.traceId, caller.traceId);
  assert.equal(seen['l5d-reqid'], caller.traceId);
  for (const [k, v] of Object.entries(b3)) assert.equal(seen[k], v, k);
  assert.equal(seen['x-b3-parentspanid'], undefined);
  assert.equal(seen['traceparent'], traceparent);
  // The spans continue the l5d-ctx-trace caller, not the B3 one.
  const { server, client } = await zipkinPair('the plain router\'s spans', caller.traceId);
  assert.equal(server['parentId'], caller.spanId);
  assert.equal(fwd.spanId, client['id']);
  assert.equal(fwd.parentId, server['id']);
});

test('tracePropagator io.l5d.zipkin: B3 in and out; l5d-ctx-trace passes through, no traceparent is added', async () => {
  const traceId = '0123456789abcdef';
  const callerSpan = 'fedcba9876543210';
  const other = encodeL5dCtxTrace({ traceId: '7777777777777777', spanId: '6666666666666666', parentId: null, sampled: false, debug: false });
  const rsp = await request(b3Port, { headers: { host: 'b3', 'x-b3-traceid': traceId, 'x-b3-spanid': callerSpan, 'x-b3-sampled': '1', 'l5d-ctx-trace': other } });
  assert.equal(rsp.status, 200);
  const seen = JSON.parse(rsp.body) as Record<string, string>;
  assert.equal(seen['x-b3-traceid'], traceId);
  assert.equal(seen['x-b3-sampled'], '1');
  assert.equal(seen['l5d-reqid'], traceId);
  assert.equal(seen['l5d-ctx-trace'], other);
  assert.equal(seen['traceparent'], undefined);
  const { server, client } = await zipkinPair('the b3 router\'s spans', traceId);
  assert.equal(server['parentId'], callerSpan);
  assert.equal(seen['x-b3-spanid'], client['id']);
  assert.equal(seen['x-b3-parentspanid'], server['id']);
});

test('an h2 request is traced: B3 in, server and client spans with the right parents, B3 out to the upstream', async () => {
  const traceId = '9999aaaabbbbcccc';
  const callerSpan = '5555666677778888';
  const session = http2.connect(`http://127.0.0.1:${h2Port}`);
  let body = '';
  let status = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const st = session.request({ ':path': '/pkg.Svc/Call', ':authority': 'grpcsvc', 'x-b3-traceid': traceId, 'x-b3-spanid': callerSpan, 'x-b3-sampled': '1' });
      st.on('response', (h) => (status = Number(h[':status'])));
      st.on('data', (c: Buffer) => (body += c.toString()));
      st.on('end', () => resolve());
      st.on('error', reject);
      st.end();
    });
  } finally {
    session.close();
  }
  assert.equal(status, 200);
  const seen = JSON.parse(body) as Record<string, string>;
  const { server, client } = await zipkinPair('the h2 router\'s spans', traceId);
  assert.equal(server['parentId'], callerSpan);
  assert.deepEqual(server['localEndpoint'], { serviceName: 'h2t' });
  assert.equal((server['tags'] as Record<string, string>)['l5d.dst.service'], '/svc/grpcsvc');
  assert.equal(client['parentId'], server['id']);
  assert.deepEqual(client['remoteEndpoint'], { ipv4: '127.0.0.1', port: h2Up.port });
  assert.equal(seen['x-b3-traceid'], traceId);
  assert.equal(seen['x-b3-spanid'], client['id']);
  assert.equal(seen['x-b3-parentspanid'], server['id']);
  assert.equal(seen['l5d-reqid'], traceId);
});

test('an h2 request that times out: its client span ends with the timeout, the server span with 504', async () => {
  const traceId = 'dddd0000eeee1111';
  const session = http2.connect(`http://127.0.0.1:${h2Port}`);
  let status = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const st = session.request({ ':path': '/hang', ':authority': 'grpcsvc', 'x-b3-traceid': traceId, 'x-b3-spanid': '2222333344445555', 'x-b3-sampled': '1' });
      st.on('response', (h) => (status = Number(h[':status'])));
      st.on('end', () => resolve());
      st.on('error', reject);
      st.resume();
      st.end();
    });
  } finally {
    session.close();
  }
  assert.equal(status, 504);
  const { server, client } = await zipkinPair('the timed-out h2 spans', traceId);
  assert.equal((server['tags'] as Record<string, string>)['http.status_code'], '504');
  assert.equal((client['tags'] as Record<string, string>)['error'], 'exceeded 300ms total timeout for /svc/grpcsvc');
});
