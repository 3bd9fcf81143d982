/**
 * The h2 router through a real `meshwork linkerd`: node:http2 upstreams routed by
 * `:authority` (the default identifier), trailers both ways, `l5d-dst-*` headers, a
 * per-request `l5d-dtab`, an upstream that is gone (502 with l5d-err), unidentified requests
 * (400), a caller that cancels (the upstream's stream is reset), a TLS server with ALPN h2,
 * and the router's metrics in /admin/metrics.json.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLinker, linkerdYaml } from '../support/linker.js';
import { REFUSED_PORT, type ReadyProcess } from '../support/process.js';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import { connectH2 as connect, startH2Upstream } from '../support/h2.js';

interface Seen {
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
}

interface H2Upstream {
  readonly port: number;
  readonly seen: Seen[];
  /** Resolves with the RST_STREAM code of the next stream the upstream sees reset. */
  readonly resets: number[];
  close(): Promise<void>;
}

const procs: ReadyProcess[] = [];
const ups: H2Upstream[] = [];
let certs: TestCerts;
const logDir = mkdtempSync(join(tmpdir(), 'mw-h2-log-'));
const accessLog = join(logDir, 'access.log');

before(() => {
  certs = makeTestCerts();
});
after(async () => {
  for (const p of procs) await p.stop(1000);
  for (const u of ups) await u.close();
  certs?.cleanup();
  rmSync(logDir, { recursive: true, force: true });
});

/** An HTTP/2 upstream answering `<name> <path> <body>` with a trailer; `/hang` never answers. */
async function h2Upstream(name: string): Promise<H2Upstream> {
  const seen: Seen[] = [];
  const resets: number[] = [];
  const up = await startH2Upstream((s, h) => {
    const entry: Seen = { headers: h, body: '', trailers: undefined };
    seen.push(entry);
    s.on('close', () => {
      if (s.rstCode !== http2.constants.NGHTTP2_NO_ERROR) resets.push(s.rstCode);
    });
    if (h[':path'] === '/hang') return;
    s.on('data', (c: Buffer) => (entry.body += c.toString()));
    s.on('trailers', (t) => (entry.trailers = t));
    s.on('end', () => {
      s.respond({ ':status': 200, 'x-upstream': name }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'x-checksum': String(entry.body.length) }));
      s.end(`${name} ${String(h[':path'])} ${entry.body}`);
    });
  });
  return { port: up.port, seen, resets, close: up.close };
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
}

function call(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string, trailers?: http2.OutgoingHttpHeaders): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, body === undefined ? { endStream: true } : { waitForTrailers: trailers !== undefined });
    const timer = setTimeout(() => {
      st.close();
      reject(new Error('no answer in 5s'));
    }, 5000);
    const a: Answer = { status: 0, headers: {}, body: '', trailers: undefined };
    st.on('response', (h) => {
      a.status = Number(h[':status']);
      a.headers = h;
    });
    st.on('data', (c: Buffer) => (a.body += c.toString()));
    st.on('trailers', (t) => (a.trailers = t));
    st.on('end', () => {
      clearTimeout(timer);
      resolve(a);
    });
    st.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (body !== undefined) {
      if (trailers !== undefined) st.on('wantTrailers', () => st.sendTrailers(trailers));
      st.end(body);
    }
  });
}


let plainPort = 0;
let adminPort = 0;
let web: H2Upstream;
let other: H2Upstream;
let deadPort = 0;

before(async () => {
  web = await h2Upstream('web');
  other = await h2Upstream('other');
  ups.push(web, other);
  deadPort = REFUSED_PORT;
  const file = linkerdYaml(`
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: h2
  h2AccessLog: ${accessLog}
  dtab: |
    /svc/web => /$/inet/127.1/${web.port};
    /svc/other => /$/inet/127.1/${other.port};
    /svc/dead => /$/inet/127.1/${deadPort};
    /svc/metered => /$/inet/127.1/${other.port};
    /svc/slow => /$/inet/127.1/${web.port};
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc/slow
      totalTimeoutMs: 200
  servers:
  - port: 0
`);
  const l = await startLinker(file, 'h2');
  procs.push(l.proc);
  plainPort = l.port;
  adminPort = l.admin;
});

test('routes by :authority, streams the body and forwards trailers both ways', async () => {
  const s = await connect(plainPort);
  try {
    const a = await call(s, { ':path': '/echo?x=1', ':authority': 'web' }, 'ping', { 'x-client-trailer': 'ct' });
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-upstream'], 'web');
    assert.equal(a.body, 'web /echo?x=1 ping');
    assert.equal(a.trailers?.['x-checksum'], '4');
    const seen = web.seen[web.seen.length - 1]!;
    assert.equal(seen.headers[':authority'], 'web');
    assert.equal(seen.headers['l5d-dst-service'], '/svc/web');
    assert.equal(seen.headers['l5d-dst-client'], `/$/inet/127.1/${web.port}`);
    assert.equal(seen.headers['via'], '1.1 linkerd');
    assert.equal(seen.trailers?.['x-client-trailer'], 'ct');
  } finally {
    s.close();
  }
});

test('an l5d-dtab header overrides routing for that request', async () => {
  const s = await connect(plainPort);
  try {
    const a = await call(s, { ':path': '/d', ':authority': 'web', 'l5d-dtab': '/svc/web => /svc/other' });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'other /d ');
    const seen = other.seen[other.seen.length - 1]!;
    assert.equal(seen.headers['l5d-ctx-dtab'], '/svc/web=>/svc/other');
    assert.equal(seen.headers['l5d-dtab'], undefined);
    const bad = await call(s, { ':path': '/d', ':authority': 'web', 'l5d-dtab': '/svc/web =>' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.headers['l5d-err']), /^Invalid dtab in l5d-dtab header/);
  } finally {
    s.close();
  }
});

test('an upstream that is gone answers 502 with l5d-err; a name without endpoints too', async () => {
  const s = await connect(plainPort);
  try {
    const dead = await call(s, { ':path': '/', ':authority': 'dead' });
    assert.equal(dead.status, 502);
    assert.match(String(dead.headers['l5d-err']), new RegExp(`^connection to 127\\.0\\.0\\.1:${deadPort} failed: connect ECONNREFUSED`));
    const unknown = await call(s, { ':path': '/', ':authority': 'nowhere' });
    assert.equal(unknown.status, 502);
    assert.match(String(unknown.headers['l5d-err']), /^No hosts are available for \/svc\/nowhere/);
  } finally {
    s.close();
  }
});

test('an upstream that dies: the next request answers 502 with l5d-err', async () => {
  const dying = await h2Upstream('dying');
  const file = linkerdYaml(`
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: d
  dtab: /svc => /$/inet/127.1/${dying.port}
  servers: [{port: 0}]
`);
  const l = await startLinker(file, 'd');
  procs.push(l.proc);
  const s = await connect(l.port);
  try {
    assert.equal((await call(s, { ':path': '/ok', ':authority': 'x' })).body, 'dying /ok ');
    await dying.close();
    const a = await call(s, { ':path': '/after', ':authority': 'x' });
    assert.equal(a.status, 502);
    assert.match(String(a.headers['l5d-err']), /^connection to 127\.0\.0\.1:\d+ failed: connect ECONNREFUSED/);
  } finally {
    s.close();
  }
});

test('a caller that cancels resets the upstream stream', async () => {
  const s = await connect(plainPort);
  try {
    const before = web.resets.length;
    const seenBefore = web.seen.length;
    const st = s.request({ ':path': '/hang', ':authority': 'web' }, { endStream: true });
    st.on('error', () => {});
    const t0 = Date.now();
    while (web.seen.length === seenBefore && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(web.seen[web.seen.length - 1]!.headers[':path'], '/hang');
    st.close(http2.constants.NGHTTP2_CANCEL);
    while (web.resets.length === before && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(web.resets.slice(before), [http2.constants.NGHTTP2_CANCEL]);
  } finally {
    s.close();
  }
});

test('totalTimeoutMs answers 504 with l5d-err and cancels the upstream stream', async () => {
  const s = await connect(plainPort);
  try {
    const before = web.resets.length;
    const t0 = Date.now();
    const a = await call(s, { ':path': '/hang', ':authority': 'slow' });
    assert.equal(a.status, 504);
    assert.equal(a.headers['l5d-err'], 'exceeded 200ms total timeout for /svc/slow');
    assert.ok(Date.now() - t0 >= 190);
    while (web.resets.length === before && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(web.resets.slice(before), [http2.constants.NGHTTP2_CANCEL]);
  } finally {
    s.close();
  }
});

test('a TLS server negotiates h2 with ALPN', async () => {
  const file = linkerdYaml(`
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: tls
  dtab: /svc/web => /$/inet/127.1/${web.port}
  servers:
  - port: 0
    tls:
      certPath: ${certs.serverCert}
      keyPath: ${certs.serverKey}
`);
  const l = await startLinker(file, 'tls');
  procs.push(l.proc);
  const s = http2.connect(`https://127.0.0.1:${l.port}`, { ca: readFileSync(certs.caCert), servername: 'localhost' });
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    assert.equal(s.alpnProtocol, 'h2');
    const a = await call(s, { ':path': '/secure', ':authority': 'web' });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'web /secure ');
  } finally {
    s.close();
  }
});

test('forwardClientCert: an h2 client sends the caller\'s TLS certificate as x-forwarded-client-cert; others drop the field', async () => {
  const fwd = await h2Upstream('fwd');
  const nofwd = await h2Upstream('nofwd');
  ups.push(fwd, nofwd);
  const file = linkerdYaml(`
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: xfcc
  dtab: |
    /svc/fwd => /$/inet/127.1/${fwd.port};
    /svc/nofwd => /$/inet/127.1/${nofwd.port};
  client:
    kind: io.l5d.static
    configs:
    - prefix: /$/inet/127.1/${fwd.port}
      forwardClientCert: true
  servers:
  - port: 0
    tls:
      certPath: ${certs.serverCert}
      keyPath: ${certs.serverKey}
      requireClientAuth: true
      caCertPath: ${certs.caCert}
`);
  const l = await startLinker(file, 'xfcc');
  procs.push(l.proc);
  const s = http2.connect(`https://127.0.0.1:${l.port}`, { ca: readFileSync(certs.caCert), servername: 'localhost', cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) });
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    const spoof = 'Hash=00;Subject="CN=admin"';
    assert.equal((await call(s, { ':path': '/a', ':authority': 'fwd', 'x-forwarded-client-cert': spoof })).status, 200);
    assert.equal((await call(s, { ':path': '/b', ':authority': 'nofwd', 'x-forwarded-client-cert': spoof })).status, 200);
  } finally {
    s.close();
  }
  const got = String(fwd.seen[0]!.headers['x-forwarded-client-cert']);
  assert.match(got, /^Hash=[0-9A-F]{64};SAN=spiffe:\/\/meshwork\.test\/client;DNS=client\.meshwork\.test;DNS=alt\.meshwork\.test;Subject="CN=meshwork-test-client,O=Meshwork Test,C=US"$/);
  assert.equal(nofwd.seen[0]!.headers['x-forwarded-client-cert'], undefined);
});

test('h2 server timeoutMs (504), serverSession idleTimeMs / lifeTimeMs (GOAWAY) and socketOptions', async () => {
  const file = linkerdYaml(`
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: sess
  dtab: /svc/web => /$/inet/127.1/${web.port}
  servers:
  - port: 0
    timeoutMs: 200
    serverSession:
      idleTimeMs: 300
    socketOptions:
      keepAlive: true
      backlog: 64
      readTimeoutMs: 1000
  - port: 0
    serverSession:
      lifeTimeMs: 800
  - port: 0
    serverSession:
      idleTimeMs: 300
`);
  const l = await startLinker(file, 'sess');
  procs.push(l.proc);
  // Every socket option is taken (readTimeoutMs too, longer than anything below waits): no warning.
  assert.doesNotMatch(l.proc.output(), /warning:/);
  const second = Number([...l.proc.output().matchAll(/^listening sess 127\.0\.0\.1:(\d+)/gm)][1]![1]);

  const s = await connect(l.port);
  const t0 = Date.now();
  const a = await call(s, { ':path': '/hang', ':authority': 'web' });
  assert.equal(a.status, 504);
  assert.equal(a.headers['l5d-err'], 'exceeded 200ms total timeout for /svc/web');
  assert.ok(Date.now() - t0 < 1500);
  // Idle for 300 ms: the router closes the session.
  const idleClosed = await Promise.race([new Promise<boolean>((r) => s.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
  assert.equal(idleClosed, true, 'the idle session was not closed');

  // lifeTimeMs: a busy session is sent GOAWAY once 800 ms old; its requests answered until then.
  const b = await connect(second);
  const b0 = Date.now();
  let ok = 0;
  let goaway = 0;
  b.once('goaway', () => (goaway = Date.now()));
  for (let i = 0; i < 100 && goaway === 0 && Date.now() - b0 < 4000; i++) {
    const r = await call(b, { ':path': '/p', ':authority': 'web' }).catch(() => undefined);
    if (r?.status === 200) ok++;
    await new Promise((r2) => setTimeout(r2, 50));
  }
  b.close();
  assert.ok(goaway !== 0, 'no GOAWAY within 4 s');
  assert.ok(goaway - b0 >= 700, `GOAWAY after ${goaway - b0} ms`);
  assert.ok(ok >= 5, `answered before GOAWAY: ${ok}`);

  // A session with an open (quiet) stream is not idle: no GOAWAY while it is open.
  const third = Number([...l.proc.output().matchAll(/^listening sess 127\.0\.0\.1:(\d+)/gm)][2]![1]);
  const q = await connect(third);
  let quietGoaway = 0;
  q.on('goaway', () => (quietGoaway = Date.now()));
  const st = q.request({ ':path': '/hang', ':authority': 'web' });
  st.on('error', () => {});
  await new Promise((r) => setTimeout(r, 900));
  assert.equal(quietGoaway, 0, 'GOAWAY while a stream was open');
  const c0 = Date.now();
  st.close(http2.constants.NGHTTP2_CANCEL);
  for (let i = 0; i < 150 && quietGoaway === 0; i++) await new Promise((r) => setTimeout(r, 20));
  q.close();
  assert.ok(quietGoaway !== 0 && quietGoaway - c0 >= 250, `GOAWAY ${quietGoaway === 0 ? 'never came' : `${quietGoaway - c0} ms after the stream closed`}`);
});

test('the router, server, service and client metrics are in /admin/metrics.json', async () => {
  const s = await connect(plainPort);
  try {
    assert.equal((await call(s, { ':path': '/m', ':authority': 'metered' })).status, 200);
    assert.equal((await call(s, { ':path': '/n', ':authority': 'metered' })).status, 200);
  } finally {
    s.close();
  }
  const m = await new Promise<Record<string, number>>((resolve, reject) => {
    const req = (net.connect(adminPort, '127.0.0.1') as net.Socket);
    let raw = '';
    req.on('data', (c) => (raw += c.toString()));
    req.on('end', () => {
      try {
        resolve(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, number>);
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
    req.end('GET /admin/metrics.json HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n');
  });
  const srv = `rt/h2/server/127.0.0.1/${plainPort}`;
  assert.ok((m[`${srv}/requests`] ?? 0) >= 5, `server requests: ${m[`${srv}/requests`]}`);
  assert.ok((m[`${srv}/status/200`] ?? 0) >= 3);
  assert.ok((m[`${srv}/status/502`] ?? 0) >= 2);
  assert.equal(m['rt/h2/service/svc/metered/requests'], 2);
  assert.equal(m['rt/h2/service/svc/metered/success'], 2);
  assert.equal(m['rt/h2/service/svc/metered/failures'], 0);
  // The access log has a line per request, with the logical name and the client.
  const t0 = Date.now();
  const want = `"GET /n HTTP/2.0" 200 - "-" "-" /svc/metered /$/inet/127.1/${other.port}`;
  while (!(existsSync(accessLog) && readFileSync(accessLog, 'utf8').includes(want)) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  const line = readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes('"GET /n '));
  assert.match(line ?? '', new RegExp(`^metered 127\\.0\\.0\\.1 - - \\[[^\\]]+\\] ${want.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
  assert.ok((m[`rt/h2/client/$/inet/127.1/${other.port}/requests`] ?? 0) >= 2);
  assert.ok((m[`rt/h2/client/$/inet/127.1/${deadPort}/connect_failures`] ?? 0) >= 1);
});

/** An upstream answering from a script, one entry per request (the last one repeats). */
async function scriptedUpstream(script: ReadonlyArray<(s: http2.ServerHttp2Stream, body: string) => void>): Promise<H2Upstream> {
  const seen: Seen[] = [];
  const up = await startH2Upstream((s, h) => {
    const entry: Seen = { headers: h, body: '', trailers: undefined };
    const n = seen.length;
    seen.push(entry);
    s.on('data', (c: Buffer) => (entry.body += c.toString()));
    s.on('end', () => script[Math.min(n, script.length - 1)]!(s, entry.body));
  });
  return { port: up.port, seen, resets: [], close: up.close };
}

const plain = (status: number, text: string) => (s: http2.ServerHttp2Stream): void => {
  s.respond({ ':status': status });
  s.end(text);
};
const grpcLike = (code: number, text: string) => (s: http2.ServerHttp2Stream, body: string): void => {
  s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': String(code) }));
  s.end(`${text}:${body}`);
};

test('retries: a retryable 5XX and a retryable gRPC status are retried, the request body replayed', async () => {
  const http = await scriptedUpstream([plain(503, 'busy'), plain(200, 'fine')]);
  const rpc = await scriptedUpstream([grpcLike(14, 'unavailable'), grpcLike(0, 'ok')]);
  const big = await scriptedUpstream([plain(503, 'busy'), plain(200, 'fine')]);
  ups.push(http, rpc, big);
  const file = linkerdYaml(`
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: r
  dtab: |
    /svc/http => /$/inet/127.1/${http.port};
    /svc/rpc => /$/inet/127.1/${rpc.port};
    /svc/big => /$/inet/127.1/${big.port};
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc/http
      responseClassifier: {kind: io.l5d.h2.retryableRead5XX}
      retries: {budget: {minRetriesPerSec: 10, percentCanRetry: 1}}
    - prefix: /svc/rpc
      responseClassifier: {kind: io.l5d.h2.grpc.default}
      retries: {budget: {minRetriesPerSec: 10, percentCanRetry: 1}}
    - prefix: /svc/big
      responseClassifier: {kind: io.l5d.h2.retryableAll5XX}
      retries: {budget: {minRetriesPerSec: 10, percentCanRetry: 1}}
      retryBufferSize: {requestBytes: 8}
  servers: [{port: 0}]
`);
  const l = await startLinker(file, 'r');
  procs.push(l.proc);
  const s = await connect(l.port);
  try {
    const a = await call(s, { ':path': '/', ':authority': 'http' });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'fine');
    assert.equal(http.seen.length, 2);

    const g = await call(s, { ':path': '/pkg.Svc/M', ':authority': 'rpc', 'content-type': 'application/grpc' }, 'req-body');
    assert.equal(g.status, 200);
    assert.equal(g.body, 'ok:req-body');
    assert.equal(g.trailers?.['grpc-status'], '0');
    assert.deepEqual(rpc.seen.map((x) => x.body), ['req-body', 'req-body']);

    // A body past retryBufferSize.requestBytes is not kept, so its 503 is not retried.
    const b = await call(s, { ':path': '/', ':authority': 'big' }, 'more than eight bytes');
    assert.equal(b.status, 503);
    assert.equal(b.body, 'busy');
    assert.equal(big.seen.length, 1);
  } finally {
    s.close();
  }
});
