/**
 * HTTP/1.1 conformance of the engine, end to end: a raw client talks to the engine's proxy
 * mode, which forwards to a raw upstream that records exactly what it received.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHttp1Proxy, type Http1Proxy } from '../../../src/protocol/http1/proxy.js';
import { createHttp1Server, type ResponseListener } from '../../../src/protocol/http1/server.js';
import { Http1Pool } from '../../../src/protocol/http1/pool.js';
import { exchange, ok, rawUpstream, type RawUpstream, type Responder } from './helpers.js';
import { seededRandom } from '../../support/prng.js';
import { REFUSED_PORT } from '../../support/process.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function setup(respond: Responder, opts: { maxConnections?: number; headerTimeoutMs?: number; idleTimeoutMs?: number; responseIdleTimeoutMs?: number; maxInitialLineKB?: number; maxHeadersKB?: number; upstreamPort?: number } = {}): Promise<{ up: RawUpstream; proxy: Http1Proxy; port: number }> {
  const up = await rawUpstream(respond);
  const proxy = createHttp1Proxy({
    upstream: { host: '127.0.0.1', port: opts.upstreamPort ?? up.port },
    pool: { maxConnections: opts.maxConnections ?? 8 },
    limits: { headerTimeoutMs: opts.headerTimeoutMs ?? 5000, maxInitialLineKB: opts.maxInitialLineKB ?? 4, maxHeadersKB: opts.maxHeadersKB ?? 8, ...(opts.idleTimeoutMs !== undefined ? { idleTimeoutMs: opts.idleTimeoutMs } : {}), ...(opts.responseIdleTimeoutMs !== undefined ? { responseIdleTimeoutMs: opts.responseIdleTimeoutMs } : {}) },
  });
  const addr = await proxy.server.listen(0, '127.0.0.1');
  cleanups.push(() => proxy.close(), () => up.close());
  return { up, proxy, port: addr.port };
}

const echoPath: Responder = (req) => ok(`path=${req.line.split(' ')[1]}`);

/**
 * Waits until the upstream socket holds more than `bytes` unsent for 25 polls 20 ms apart: the
 * proxy stopped reading it. No event says so; bounded to 200 polls.
 */
async function untilUpstreamHeld(sock: () => Socket | undefined, bytes: number): Promise<void> {
  let held = 0;
  for (let i = 0; i < 200 && held < 25; i++) {
    await new Promise((r) => setTimeout(r, 20));
    held = (sock()?.writableLength ?? 0) > bytes ? held + 1 : 0;
  }
  assert.equal(held, 25, `upstream still has ${sock()?.writableLength} bytes unsent`);
}

/** A raw connection to `port`, and what it has received so far (latin1). */
async function rawClient(port: number): Promise<{ sock: Socket; text: () => string }> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await once(sock, 'connect');
  let text = '';
  sock.on('data', (b) => { text += b.toString('latin1'); });
  return { sock, text: () => text };
}

test('a request is forwarded byte for byte and the connection is kept alive', async () => {
  const { up, port } = await setup(echoPath);
  const req = 'GET /hello?x=1 HTTP/1.1\r\nHost: svc\r\nX-Custom:  spaced value\r\nAccept: */*\r\n\r\n';
  const r = await exchange(port, req + req.replace('/hello', '/again'), 2);
  assert.deepEqual(r.responses.map((m) => [m.line, m.body]), [['HTTP/1.1 200 OK', 'path=/hello?x=1'], ['HTTP/1.1 200 OK', 'path=/again?x=1']]);
  assert.equal(up.requests[0]!.head, req);
  assert.equal(up.requests.length, 2);
  assert.equal(up.connections, 1);
  assert.equal(r.closed, false);
});

test('pipelined requests are answered in order, each forwarded once', async () => {
  const { up, port } = await setup(echoPath);
  const reqs = [1, 2, 3, 4, 5].map((i) => `GET /${i} HTTP/1.1\r\nHost: svc\r\n\r\n`).join('');
  const r = await exchange(port, reqs, 5);
  assert.deepEqual(r.responses.map((m) => m.body), ['path=/1', 'path=/2', 'path=/3', 'path=/4', 'path=/5']);
  assert.deepEqual(up.requests.map((m) => m.line), [1, 2, 3, 4, 5].map((i) => `GET /${i} HTTP/1.1`));
});

test('chunked request and response bodies with trailers pass through intact', async () => {
  const { up, port } = await setup(() => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n4\r\nresp\r\n5;x=y\r\nonse!\r\n0\r\nX-Sum: 9\r\n\r\n');
  const body = '3\r\nabc\r\n2;ext\r\nde\r\n0\r\nX-Req-Trailer: t\r\n\r\n';
  const r = await exchange(port, `POST /up HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET /next HTTP/1.1\r\nHost: svc\r\n\r\n`, 2);
  assert.equal(up.requests[0]!.raw, body);
  assert.equal(up.requests[0]!.body, 'abcde');
  assert.equal(up.requests[1]!.line, 'GET /next HTTP/1.1');
  assert.equal(r.responses[0]!.raw, '4\r\nresp\r\n5;x=y\r\nonse!\r\n0\r\nX-Sum: 9\r\n\r\n');
  assert.equal(r.responses[1]!.body, 'response!');
});

test('HEAD responses have no body even with a Content-Length', async () => {
  const { port } = await setup((req) => (req.line.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' : ok('after')));
  const r = await exchange(port, 'HEAD / HTTP/1.1\r\nHost: svc\r\n\r\nGET / HTTP/1.1\r\nHost: svc\r\n\r\n', 2, { headFor: [0] });
  assert.equal(r.responses[0]!.headers['content-length'], '100');
  assert.equal(r.responses[1]!.body, 'after');
  assert.equal(r.text.endsWith('\r\n\r\nafter'), true);
});

test('1xx, 204 and 304 responses have no body; interim responses are forwarded', async () => {
  const { port } = await setup((req) => {
    const p = req.line.split(' ')[1];
    if (p === '/continue') return 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone';
    if (p === '/204') return 'HTTP/1.1 204 No Content\r\n\r\n';
    if (p === '/304') return 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n';
    return ok('last');
  });
  const r = await exchange(port, ['/continue', '/204', '/304', '/last'].map((p) => `GET ${p} HTTP/1.1\r\nHost: svc\r\n\r\n`).join(''), 5);
  assert.deepEqual(r.responses.map((m) => `${m.line}|${m.body}`), ['HTTP/1.1 100 Continue|', 'HTTP/1.1 200 OK|done', 'HTTP/1.1 204 No Content|', 'HTTP/1.1 304 Not Modified|', 'HTTP/1.1 200 OK|last']);
});

test('Connection: close is honoured after the response', async () => {
  const { port } = await setup(echoPath);
  const r = await exchange(port, 'GET /a HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: svc\r\n\r\n', 2, { waitClose: true });
  assert.deepEqual(r.responses.map((m) => m.body), ['path=/a']);
  assert.equal(r.closed, true);
});

test("the upstream's Connection fields: a lone keep-alive passes when true of the client hop, anything else is replaced", async () => {
  const { port } = await setup((req) => {
    const p = req.line.split(' ')[1]!;
    if (p === '/lone') return ok('a', 'Connection: Keep-Alive\r\nX-After: 1\r\n');
    if (p === '/timeout') return ok('b', 'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n');
    if (p === '/two') return ok('c', 'Connection: keep-alive\r\nConnection: keep-alive\r\n');
    if (p === '/token') return ok('d', 'Connection: keep-alive, x-hop\r\n');
    return ok('e', 'Connection: keep-alive\r\n');
  });
  const fields = (head: string): string[] => head.split('\r\n').filter((l) => /^(connection|keep-alive):/i.test(l));
  const r = await exchange(port, ['/lone', '/timeout', '/two', '/token'].map((p) => `GET ${p} HTTP/1.1\r\nHost: svc\r\n\r\n`).join(''), 4);
  assert.deepEqual(r.responses.map((m) => m.body), ['a', 'b', 'c', 'd']);
  // Forwarded as it is (the same bytes), other fields in place.
  assert.equal(r.responses[0]!.head, 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\nConnection: Keep-Alive\r\nX-After: 1\r\n\r\n');
  assert.deepEqual(r.responses.slice(1).map((m) => fields(m.head)), [[], [], []]);
  // The client connection ends after this response: the upstream's keep-alive is not true of it.
  const closing = await exchange(port, 'GET /close HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n', 1, { waitClose: true });
  assert.deepEqual(fields(closing.responses[0]!.head), ['connection: close']);
  assert.equal(closing.closed, true);
  // An HTTP/1.0 keep-alive client gets exactly one keep-alive field (the engine's own).
  const ten = await exchange(port, 'GET /ten HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n\r\n', 1);
  assert.deepEqual(fields(ten.responses[0]!.head), ['connection: keep-alive']);
});

test('HTTP/1.0 without keep-alive gets a read-to-close response and a closed connection', async () => {
  const { up, port } = await setup((_req, sock) => { sock.end('HTTP/1.0 200 OK\r\n\r\nold style body'); return null; });
  const r = await exchange(port, 'GET /old HTTP/1.0\r\n\r\n', 1, { waitClose: true });
  assert.equal(r.closed, true);
  assert.equal(r.responses[0]!.line, 'HTTP/1.0 200 OK');
  assert.equal(r.responses[0]!.body, 'old style body');
  assert.equal(up.requests[0]!.head, 'GET /old HTTP/1.0\r\n\r\n');
});

test('malformed requests get 400/501/505 with l5d-err, close, and never reach the upstream', async () => {
  const { up, proxy, port } = await setup(echoPath);
  const cases: [string, string][] = [
    ['GET / HTTP/1.1\r\nHost: svc\r\nX: a\r\n  folded\r\n\r\n', '400 MESH_ERR_HTTP1_OBS_FOLD'],
    ['GET / HTTP/1.1\nHost: svc\n\n', '400 MESH_ERR_HTTP1_BARE_LF'],
    ['POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', '400 MESH_ERR_HTTP1_CL_AND_TE'],
    ['POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab', '400 MESH_ERR_HTTP1_DUPLICATE_CL'],
    ['POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: compress, chunked\r\n\r\n', '501 MESH_ERR_HTTP1_UNSUPPORTED_TE'],
    ['GET / HTTP/3.0\r\nHost: svc\r\n\r\n', '505 MESH_ERR_HTTP1_VERSION'],
  ];
  const got: string[] = [];
  for (const [req] of cases) {
    const r = await exchange(port, req, 1, { waitClose: true });
    const m = r.responses[0]!;
    got.push(`${m.line.split(' ')[1]} ${r.closed ? 'closed' : 'open'} ${m.headers['l5d-err'] ? 'l5d-err' : '-'}`);
  }
  assert.deepEqual(got, cases.map(([, c]) => `${c.split(' ')[0]} closed l5d-err`));
  assert.deepEqual(proxy.server.rejections, Object.fromEntries(cases.map(([, c]) => [c.split(' ')[1], 1])));
  assert.equal(up.requests.length, 0);
});

test('a bad chunk size after the head answers 400 and closes', async () => {
  const { up, port } = await setup(() => null);
  const r = await exchange(port, 'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 1, { waitClose: true });
  assert.equal(r.responses[0]!.line, 'HTTP/1.1 400 Bad Request');
  assert.equal(r.responses[0]!.headers['l5d-err'], 'bad chunked framing');
  assert.equal(r.closed, true);
  // The head had already been forwarded; the upstream must not get a complete request.
  assert.equal(up.requests.length, 0);
});

test('maxInitialLineKB answers 414 and maxHeadersKB answers 431', async () => {
  const { up, port } = await setup(echoPath, { maxInitialLineKB: 1, maxHeadersKB: 1 });
  const r1 = await exchange(port, `GET /${'a'.repeat(2000)} HTTP/1.1\r\nHost: svc\r\n\r\n`, 1, { waitClose: true });
  assert.equal(r1.responses[0]!.line, 'HTTP/1.1 414 URI Too Long');
  assert.equal(r1.closed, true);
  const r2 = await exchange(port, `GET / HTTP/1.1\r\nHost: svc\r\nX-Big: ${'b'.repeat(1100)}\r\n\r\n`, 1, { waitClose: true });
  assert.equal(r2.responses[0]!.line, 'HTTP/1.1 431 Request Header Fields Too Large');
  assert.equal(up.requests.length, 0);
});

test('a client that sends its head too slowly gets 408 and is disconnected', async () => {
  const { up, port } = await setup(echoPath, { headerTimeoutMs: 150 });
  const { sock, text } = await rawClient(port);
  const started = Date.now();
  sock.write('GET / HTTP/1.1\r\nHo');
  const t = setTimeout(() => sock.destroy(), 3000);
  await once(sock, 'close');
  clearTimeout(t);
  const elapsed = Date.now() - started;
  assert.match(text(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.ok(elapsed >= 150 && elapsed < 2000, `closed after ${elapsed} ms`);
  assert.equal(up.requests.length, 0);
});

test('a request body that stops coming gets 408 after the idle timeout, and the upstream attempt is dropped', async () => {
  const { up, port } = await setup((req) => ok(`got ${req.body.length}`), { idleTimeoutMs: 300 });
  // The upstream answers only a whole request; this one's body stops after 10 of 100 bytes.
  let head = 0;
  const seen = new Promise<void>((resolve) => up.server.once('connection', (c) => c.once('data', () => ((head = Date.now()), resolve()))));
  const { sock, text } = await rawClient(port);
  const started = Date.now();
  sock.write('POST /slow HTTP/1.1\r\nHost: svc\r\nContent-Length: 100\r\n\r\n0123456789');
  await seen;
  const t = setTimeout(() => sock.destroy(), 5000);
  await once(sock, 'close');
  clearTimeout(t);
  const elapsed = Date.now() - started;
  assert.match(text(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.match(text(), /\r\nconnection: close\r\n/);
  assert.match(text(), /\r\nl5d-err: request body stalled: nothing received for 300 ms\r\n/);
  assert.ok(elapsed >= 300 && elapsed < 2500, `answered after ${elapsed} ms`);
  assert.ok(head > 0, 'the upstream had the head');
  assert.equal(up.requests.length, 0, 'never a whole request');
  const open = (): Promise<number> => new Promise((r) => up.server.getConnections((_e, n) => r(n)));
  for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await open(), 0, 'the upstream connection was dropped');
});

test('a body that keeps coming, each gap shorter than the idle timeout, is forwarded whole', async () => {
  const { up, port } = await setup((req) => ok(`got ${req.body.length}`), { idleTimeoutMs: 300 });
  const { sock, text } = await rawClient(port);
  sock.write('POST /trickle HTTP/1.1\r\nHost: svc\r\nContent-Length: 8\r\n\r\n');
  // 8 bytes 120 ms apart: about 1 s in all, more than three idle timeouts.
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 120));
    sock.write(String(i));
  }
  for (let i = 0; i < 200 && !text().includes('got 8'); i++) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  assert.match(text(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*got 8$/);
  assert.equal(up.requests[0]!.body, '01234567');
});

test('a body held back because the upstream reads slowly is not a stalled client', async () => {
  // An upstream that reads nothing for 1 s, then takes the whole body and answers.
  const BODY = 16 << 20;
  const srv = createServer((c) => {
    c.on('error', () => {});
    c.pause();
    let got = -1;
    setTimeout(() => {
      c.on('data', (b: Buffer) => {
        if (got < 0) {
          const i = b.indexOf('\r\n\r\n');
          got = b.length - i - 4;
        } else got += b.length;
        if (got >= BODY) c.end(`HTTP/1.1 200 OK\r\ncontent-length: ${String(got).length}\r\n\r\n${got}`);
      });
      c.resume();
    }, 1000);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  cleanups.push(async () => { srv.close(); });
  const { port } = await setup(echoPath, { idleTimeoutMs: 200, upstreamPort: (srv.address() as AddressInfo).port });
  const { sock, text } = await rawClient(port);
  sock.write(`POST /big HTTP/1.1\r\nHost: svc\r\nContent-Length: ${BODY}\r\n\r\n`);
  sock.write(Buffer.alloc(BODY, 0x61));
  for (let i = 0; i < 500 && !/\r\n\r\n\d+$/.test(text()); i++) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  assert.match(text(), new RegExp(`^HTTP/1\\.1 200 OK\\r\\n[\\s\\S]*\\r\\n\\r\\n${BODY}$`));
});

test('an unreachable upstream answers 502 with l5d-err', async () => {
  const { port } = await setup(echoPath, { upstreamPort: REFUSED_PORT });
  const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n', 1);
  assert.equal(r.responses[0]!.line, 'HTTP/1.1 502 Bad Gateway');
  assert.equal(r.responses[0]!.headers['l5d-err'], `connection to 127.0.0.1:${REFUSED_PORT} failed: ECONNREFUSED`);
});

test('a response that never comes gets 504 after the idle timeout, and the upstream attempt is dropped', async () => {
  // The upstream takes the request and never answers.
  const { up, port } = await setup(() => null, { responseIdleTimeoutMs: 300 });
  const { sock, text } = await rawClient(port);
  const started = Date.now();
  sock.write('GET /hang HTTP/1.1\r\nHost: svc\r\n\r\n');
  for (let i = 0; i < 250 && !text().includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
  const elapsed = Date.now() - started;
  assert.match(text(), /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
  assert.match(text(), /\r\nl5d-err: response stalled: nothing from the upstream for 300 ms\r\n/);
  assert.doesNotMatch(text(), /\r\nconnection: close\r\n/, 'the request was whole: the connection stays usable');
  assert.ok(elapsed >= 300 && elapsed < 2500, `answered after ${elapsed} ms`);
  assert.equal(up.requests.length, 1);
  const open = (): Promise<number> => new Promise((r) => up.server.getConnections((_e, n) => r(n)));
  for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await open(), 0, 'the upstream connection was dropped');
  sock.destroy();
});

test('a response body that stops coming cuts the client connection after the idle timeout', async () => {
  // A head promising 100 bytes, 10 of them, then nothing.
  const { up, port } = await setup(() => 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789', { responseIdleTimeoutMs: 300 });
  const { sock, text } = await rawClient(port);
  const started = Date.now();
  sock.write('GET /stall HTTP/1.1\r\nHost: svc\r\n\r\n');
  const t = setTimeout(() => sock.destroy(), 5000);
  await once(sock, 'close');
  clearTimeout(t);
  const elapsed = Date.now() - started;
  assert.equal(text(), 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
  assert.ok(elapsed >= 300 && elapsed < 2500, `cut after ${elapsed} ms`);
  const open = (): Promise<number> => new Promise((r) => up.server.getConnections((_e, n) => r(n)));
  for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await open(), 0, 'the upstream connection was dropped');
});

test('a response that keeps coming, each gap shorter than the idle timeout, is forwarded whole', async () => {
  // 8 body bytes 120 ms apart: about 1 s in all, more than three idle timeouts.
  const { port } = await setup((_req, conn) => {
    conn.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n');
    let i = 0;
    const tick = setInterval(() => {
      if (conn.destroyed) return void clearInterval(tick);
      conn.write(String(i++));
      if (i === 8) clearInterval(tick);
    }, 120);
    return null;
  }, { responseIdleTimeoutMs: 300 });
  const { sock, text } = await rawClient(port);
  sock.write('GET /trickle HTTP/1.1\r\nHost: svc\r\n\r\n');
  for (let i = 0; i < 300 && !text().endsWith('01234567'); i++) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  assert.match(text(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n01234567$/);
});

test('a response held back because the client reads slowly is not a stalled upstream', async () => {
  // 8 MB the client does not read for a second (more than three idle timeouts), then reads.
  const body = 8 << 20;
  const { port } = await setup((_req, conn) => {
    conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body}\r\n\r\n`);
    conn.write(Buffer.alloc(body, 0x61));
    return null;
  }, { responseIdleTimeoutMs: 300 });
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await once(sock, 'connect');
  sock.pause();
  sock.write('GET /big HTTP/1.1\r\nHost: svc\r\n\r\n');
  await new Promise((r) => setTimeout(r, 1000));
  let got = 0;
  sock.on('data', (b: Buffer) => (got += b.length));
  sock.resume();
  for (let i = 0; i < 500 && got < body; i++) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  assert.ok(got > body, `received ${got} bytes`);
});


test('requests queue for a bounded pool and all complete on one upstream connection', async () => {
  const { up, proxy, port } = await setup(echoPath, { maxConnections: 1 });
  const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => exchange(port, `GET /q${i} HTTP/1.1\r\nHost: svc\r\n\r\n`, 1)));
  assert.deepEqual(results.map((r) => r.responses[0]!.body), [0, 1, 2, 3, 4, 5].map((i) => `path=/q${i}`));
  assert.equal(up.connections, 1);
  assert.equal(proxy.pools[0]!.size, 1);
  assert.equal(proxy.pools[0]!.queued, 0);
});

test('large bodies stream through in both directions', async () => {
  const big = 'z'.repeat(1 << 20);
  const { up, port } = await setup(() => ok(big));
  const r = await exchange(port, `PUT /big HTTP/1.1\r\nHost: svc\r\nContent-Length: ${big.length}\r\n\r\n${big}`, 1, { timeoutMs: 10_000 });
  assert.equal(up.requests[0]!.body.length, 1 << 20);
  assert.equal(up.requests[0]!.body, big);
  assert.equal(r.responses[0]!.body.length, 1 << 20);
});

test('a close-delimited HTTP/1.1 response is forwarded and the client connection closed', async () => {
  const { port } = await setup((_req, sock) => { sock.end('HTTP/1.1 200 OK\r\n\r\nuntil close'); return null; });
  const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n', 1, { waitClose: true });
  assert.equal(r.responses[0]!.body, 'until close');
  assert.equal(r.closed, true);
});

test('a malformed upstream response answers 502', async () => {
  const { port } = await setup(() => 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n', 1);
  assert.equal(r.responses[0]!.line, 'HTTP/1.1 502 Bad Gateway');
  assert.match(r.responses[0]!.headers['l5d-err']!, /^upstream 127\.0\.0\.1:\d+ sent a malformed response$/);
});

test('a router-style handler edits the forwarded head, sees the status and adds response headers', async () => {
  const up = await rawUpstream((req) => (req.line.includes('/missing') ? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' : ok('found')));
  const pool = new Http1Pool({ host: '127.0.0.1', port: up.port });
  const seen: string[] = [];
  // Built once, shared by every request: no per-request closure.
  const listener: ResponseListener = { onResponseHead: (ex, status) => { seen.push(`${ex.head.target} ${status}`); } };
  const extra = Buffer.from('l5d-success-class: 1.0\r\n', 'latin1');
  const server = createHttp1Server((ex) => {
    ex.head.set('l5d-dst-service', `/svc/${ex.head.header('host')}`);
    ex.head.remove('connection');
    ex.responseListener = listener;
    ex.responseHeaders = extra;
    pool.dispatch(ex);
  });
  const port = (await server.listen(0)).port;
  cleanups.push(async () => { await server.close(); pool.close(); }, () => up.close());
  const r = await exchange(port, 'GET /found HTTP/1.1\r\nHost: web\r\nConnection: keep-alive\r\n\r\nGET /missing HTTP/1.1\r\nHost: web\r\n\r\n', 2);
  assert.deepEqual(up.requests.map((m) => m.head), [
    'GET /found HTTP/1.1\r\nHost: web\r\nl5d-dst-service: /svc/web\r\n\r\n',
    'GET /missing HTTP/1.1\r\nHost: web\r\nl5d-dst-service: /svc/web\r\n\r\n',
  ]);
  assert.deepEqual(seen, ['/found 200', '/missing 404']);
  assert.equal(r.responses[0]!.head, 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nl5d-success-class: 1.0\r\n\r\n');
  assert.equal(r.responses[0]!.body, 'found');
  assert.equal(r.responses[1]!.head, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nl5d-success-class: 1.0\r\n\r\n');
});

test('proxy mode routes by Host header (case-insensitive) and answers 502 for an unknown host without a default', async () => {
  const a = await rawUpstream(() => ok('from a'));
  const b = await rawUpstream(() => ok('from b'));
  const proxy = createHttp1Proxy({ routes: { 'a.svc': { host: '127.0.0.1', port: a.port }, 'b.svc:8080': { host: '127.0.0.1', port: b.port } } });
  const port = (await proxy.server.listen(0, '127.0.0.1')).port;
  cleanups.push(() => proxy.close(), () => a.close(), () => b.close());
  const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: A.svc\r\n\r\nGET / HTTP/1.1\r\nHost: b.svc:8080\r\n\r\nGET / HTTP/1.1\r\nHost: c.svc\r\n\r\n', 3);
  assert.deepEqual(r.responses.map((m) => `${m.line.split(' ')[1]} ${m.body.trim()}`), ['200 from a', '200 from b', '502 no route for host c.svc']);
  assert.equal(r.responses[2]!.headers['l5d-err'], 'no route for host c.svc');
  assert.deepEqual([a.requests.length, b.requests.length], [1, 1]);
});

test('a client that stops reading stops the upstream (backpressure), and gets every byte once it reads again', async () => {
  const size = 32 << 20;
  let upstreamSock: import('node:net').Socket | undefined;
  const { port } = await setup((_req, sock) => {
    upstreamSock = sock;
    sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
    sock.write(Buffer.alloc(size, 0x61));
    return null;
  });
  const client = connect(port, '127.0.0.1');
  cleanups.push(async () => { client.destroy(); });
  await once(client, 'connect');
  client.pause();
  client.write('GET /huge HTTP/1.1\r\nHost: svc\r\n\r\n');
  await untilUpstreamHeld(() => upstreamSock, size / 2);
  let got = 0;
  const done = new Promise<void>((resolve) => {
    client.on('data', (b: Buffer) => { got += b.length; if (got >= size) resolve(); });
  });
  client.resume();
  const t = setTimeout(() => client.destroy(), 15_000);
  await done;
  clearTimeout(t);
  const headLen = `HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`.length;
  assert.equal(got, size + headLen);
});

/** `n` bytes no two 4-byte-aligned words of which are equal, so a reused read buffer shows. */
function patterned(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32BE((i * 2654435761 + seed) >>> 0, i);
  return b;
}

test('large responses arrive intact through a client that reads in fits and starts (read buffers are not reused while a write holds them)', async () => {
  const rnd = seededRandom(20261125);
  const bodies = [patterned(16 << 20, 1), patterned(700_000, 2), patterned(65_536, 3)];
  const { port } = await setup((req, sock) => {
    const body = bodies[Number(req.line.split(' ')[1]!.slice(1))]!;
    sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
    // Irregular write sizes: reads end at every kind of offset.
    for (let at = 0; at < body.length;) {
      const n = 1 + Math.floor(rnd() * 90_000);
      sock.write(body.subarray(at, at + n));
      at += n;
    }
    return null;
  });
  const client = connect(port, '127.0.0.1');
  cleanups.push(async () => { client.destroy(); });
  await once(client, 'connect');
  client.write(bodies.map((_, i) => `GET /${i} HTTP/1.1\r\nHost: svc\r\n\r\n`).join(''));
  const chunks: Buffer[] = [];
  let got = 0;
  const want = bodies.reduce((a, b) => a + b.length + `HTTP/1.1 200 OK\r\ncontent-length: ${b.length}\r\n\r\n`.length, 0);
  const deadline = setTimeout(() => client.destroy(), 30_000);
  await new Promise<void>((resolve, reject) => {
    client.on('close', () => reject(new Error(`closed after ${got} of ${want} bytes`)));
    client.on('data', (b: Buffer) => {
      chunks.push(b);
      got += b.length;
      if (got >= want) { resolve(); return; }
      // Stop reading now and then so the proxy's writes to us back up.
      if (rnd() < 0.2) { client.pause(); setTimeout(() => client.resume(), Math.floor(rnd() * 40)); }
    });
  });
  clearTimeout(deadline);
  const all = Buffer.concat(chunks);
  let at = 0;
  for (const [i, body] of bodies.entries()) {
    const headEnd = all.indexOf('\r\n\r\n', at) + 4;
    assert.equal(all.subarray(at, headEnd).toString('latin1'), `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
    assert.ok(all.subarray(headEnd, headEnd + body.length).equals(body), `body ${i} (${body.length} bytes) differs`);
    at = headEnd + body.length;
  }
  assert.equal(at, all.length);
});

test('an upgraded connection (101) relays both directions intact, with back-pressure', async () => {
  const down = patterned(12 << 20, 7);
  const upBytes = patterned(2 << 20, 8);
  const rnd = seededRandom(7);
  let fromClient = 0;
  const received: Buffer[] = [];
  let upstreamGotAll!: () => void;
  const upstreamDone = new Promise<void>((r) => { upstreamGotAll = r; });
  const { port } = await setup((_req, sock) => {
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n');
    sock.removeAllListeners('data');
    sock.on('data', (b: Buffer) => { received.push(b); fromClient += b.length; if (fromClient >= upBytes.length) upstreamGotAll(); });
    for (let at = 0; at < down.length;) { const n = 1 + Math.floor(rnd() * 100_000); sock.write(down.subarray(at, at + n)); at += n; }
    return null;
  });
  const client = connect(port, '127.0.0.1');
  cleanups.push(async () => { client.destroy(); });
  await once(client, 'connect');
  client.write('GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: x-test\r\n\r\n');
  client.write(upBytes);
  const chunks: Buffer[] = [];
  let got = 0;
  const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\nConnection: Upgrade\r\n\r\n';
  const deadline = setTimeout(() => client.destroy(), 30_000);
  await new Promise<void>((resolve, reject) => {
    client.on('close', () => reject(new Error(`closed after ${got} bytes`)));
    client.on('data', (b: Buffer) => {
      chunks.push(b);
      got += b.length;
      if (got >= head.length + down.length) { resolve(); return; }
      if (rnd() < 0.2) { client.pause(); setTimeout(() => client.resume(), Math.floor(rnd() * 40)); }
    });
  });
  await upstreamDone;
  clearTimeout(deadline);
  const all = Buffer.concat(chunks);
  assert.equal(all.subarray(0, head.length).toString('latin1'), head);
  assert.ok(all.subarray(head.length).equals(down), 'upstream → client bytes differ');
  assert.ok(Buffer.concat(received).equals(upBytes), 'client → upstream bytes differ');
});

// Upstream responses a strict client cannot read, or would read otherwise, found by
// test/e2e/upstream-fuzz-http1.test.ts: each answers 502 (the head is forwarded as received).
test('framing a client would refuse or read otherwise is refused: a second Content-Length, CL with TE in any head, HTTP/1.2', async () => {
  const heads = [
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'],
    ['GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n'],
    ['GET', 'HTTP/1.1 100 Continue\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['GET', 'HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['GET', 'HTTP/1.9 200 OK\r\nContent-Length: 2\r\n\r\nok'],
  ] as const;
  for (const [method, response] of heads) {
    const { up, port } = await setup(() => response);
    const r = await exchange(port, `${method} / HTTP/1.1\r\nHost: svc\r\n\r\n`, 1, { headFor: [0] });
    assert.equal(r.responses[0]!.line, 'HTTP/1.1 502 Bad Gateway', JSON.stringify(response));
    assert.match(r.responses[0]!.headers['l5d-err']!, /^upstream 127\.0\.0\.1:\d+ sent a malformed response$/);
    assert.equal(up.requests.length, 1);
  }
});

test('a Transfer-Encoding whose last coding only ends in "chunked" is read to the close, and the client connection closes after it', async () => {
  const raw = '5\r\nhello\r\n0\r\n\r\n';
  for (const te of ['xchunked', 'gzip, notchunked']) {
    const { port } = await setup((_req, sock) => { sock.end(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n${raw}`); return null; });
    const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\nGET /next HTTP/1.1\r\nHost: svc\r\n\r\n', 2, { waitClose: true });
    assert.equal(r.text, `HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\nconnection: close\r\n\r\n${raw}`);
    assert.equal(r.closed, true);
  }
});

test('a 101 to a request that asked for no upgrade answers 502: the client connection is not made a tunnel', async () => {
  const { up, port } = await setup(() => 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nbytes for a tunnel');
  const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n', 1);
  assert.equal(r.responses[0]!.line, 'HTTP/1.1 502 Bad Gateway');
  assert.doesNotMatch(r.text, /101|tunnel/);
  assert.equal(up.requests.length, 1);
});

test('an interim response does not start the response: a malformed final response after it still answers 502', async () => {
  const { port } = await setup(() => 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n');
  const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n', 2);
  assert.deepEqual(r.responses.map((m) => m.line), ['HTTP/1.1 100 Continue', 'HTTP/1.1 502 Bad Gateway']);
  assert.equal(r.closed, false);
});

test('an HTTP/1.0 client gets no interim responses, only the final one', async () => {
  const { port } = await setup(() => 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone');
  const r = await exchange(port, 'GET / HTTP/1.0\r\nHost: svc\r\n\r\n', 1, { waitClose: true });
  assert.equal(r.text, 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\nconnection: close\r\n\r\ndone');
});

test('a close-delimited body the upstream cuts with a reset reaches the client as a reset, not as a whole body', async () => {
  let reset!: () => void;
  const { port } = await setup((_req, sock) => {
    sock.write('HTTP/1.1 200 OK\r\n\r\npart of a body');
    reset = () => sock.resetAndDestroy();
    return null;
  });
  const client = connect(port, '127.0.0.1');
  cleanups.push(async () => { client.destroy(); });
  let text = '';
  const ended = new Promise<string>((resolve) => {
    client.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    client.on('end', () => resolve('end'));
  });
  // The reset comes once the bytes before it reached the client: the router has read them all.
  client.on('data', (b: Buffer) => {
    text += b.toString('latin1');
    if (text.endsWith('part of a body')) reset();
  });
  client.write('GET / HTTP/1.1\r\nHost: svc\r\n\r\n');
  assert.equal(await ended, 'ECONNRESET');
  assert.equal(text, 'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npart of a body');
});

test('an answer before the request body was read says connection: close, since the connection closes after it', async () => {
  // The upstream answers each request as soon as its head arrives, before reading its body.
  const upstream = createServer((sock) => {
    sock.on('error', () => {});
    let seen = '';
    sock.on('data', (b: Buffer) => {
      seen += b.toString('latin1');
      for (let i = seen.indexOf('\r\n\r\n'); i >= 0; i = seen.indexOf('\r\n\r\n')) {
        seen = seen.slice(i + 4);
        sock.write(ok('early'));
      }
    });
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = createHttp1Proxy({ upstream: { host: '127.0.0.1', port: (upstream.address() as AddressInfo).port } });
  const port = (await proxy.server.listen(0, '127.0.0.1')).port;
  const client = connect(port, '127.0.0.1');
  cleanups.push(() => proxy.close(), async () => { client.destroy(); upstream.close(); });
  client.on('error', () => {});
  let text = '';
  const waiters: (() => void)[] = [];
  client.on('data', (b: Buffer) => { text += b.toString('latin1'); for (const w of waiters.splice(0)) w(); });
  const answers = async (n: number): Promise<void> => {
    for (let i = 0; i < 100 && text.split('early').length - 1 < n; i++) await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
  };
  const closed = once(client, 'close');
  // A first request connects the upstream, so that the second is answered while its body is on its way.
  client.write('GET / HTTP/1.1\r\nHost: svc\r\n\r\n');
  await answers(1);
  client.write('POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 10\r\n\r\nhello');
  await answers(2);
  client.write('worldGET /next HTTP/1.1\r\nHost: svc\r\n\r\n');
  await closed;
  assert.equal(text, `${ok('early')}HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nearly`);
});

test('a client that keeps its side open after the server ended the connection is cut once lingerMs has passed', async () => {
  const server = createHttp1Server((ex) => ex.respond(200, [], 'ok'), { lingerMs: 300 });
  const port = (await server.listen(0)).port;
  cleanups.push(() => server.close());
  // Half-open allowed: the client takes the server's FIN and keeps its own side open.
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => {});
  await once(client, 'connect');
  let text = '';
  client.on('data', (b: Buffer) => { text += b.toString('latin1'); });
  const ended = once(client, 'end');
  const opened = Date.now();
  // HTTP/1.0 without keep-alive: the server ends the connection after its answer.
  client.write('GET / HTTP/1.0\r\n\r\n');
  await ended;
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(server.connectionCount, 1, 'held while the client keeps its side open');
  for (let i = 0; i < 150 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.connectionCount, 0);
  assert.ok(Date.now() - opened >= 290, `cut after ${Date.now() - opened} ms`);
  client.destroy();
});

test('the rest of a body answered early is read and dropped, not kept: the client can send it all and read the answer', async () => {
  // The upstream answers as soon as the head arrives and reads nothing of the body.
  const upstream = createServer((sock) => {
    sock.on('error', () => {});
    let seen = '';
    const onData = (b: Buffer): void => {
      seen += b.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      sock.write(ok('early'));
    };
    sock.on('data', onData);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = createHttp1Proxy({ upstream: { host: '127.0.0.1', port: (upstream.address() as AddressInfo).port } });
  const port = (await proxy.server.listen(0, '127.0.0.1')).port;
  // Half-open allowed: the client goes on sending after the proxy's FIN, as a client busy uploading does.
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  cleanups.push(() => proxy.close(), async () => { client.destroy(); upstream.close(); });
  client.on('error', () => {});
  await once(client, 'connect');
  let text = '';
  client.on('data', (b: Buffer) => { text += b.toString('latin1'); });
  const closed = once(client, 'close');
  const size = 32 * 1024 * 1024;
  client.write(`POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: ${size}\r\n\r\n`);
  for (let i = 0; i < 100 && !text.includes('early'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(text.includes('early'), 'answered before the body was sent');
  // The body goes out after the answer; what the proxy's connection keeps of it is sampled.
  const conns = (proxy.server as unknown as { conns: Set<{ pending: Buffer | null }> }).conns;
  const kept = (): number => { let n = 0; for (const c of conns) n += c.pending?.length ?? 0; return n; };
  let most = 0;
  const piece = Buffer.alloc(1024 * 1024, 0x62);
  const until = Date.now() + 10_000;
  for (let sent = 0; sent < size && Date.now() < until && !client.destroyed; sent += piece.length) {
    if (!client.write(piece)) await Promise.race([once(client, 'drain'), new Promise((r) => setTimeout(r, 1000))]);
    most = Math.max(most, kept());
  }
  const sentAll = !client.destroyed;
  client.end();
  await closed;
  assert.equal(text, 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nearly');
  assert.ok(sentAll, 'the client could send its whole body');
  assert.ok(conns.size <= 1);
  assert.equal(most, 0, `the proxy kept ${most} bytes of the body`);
});

// A read of the router's that ends where a response ends may have more bytes behind it that
// Node reads at once: the connection must not take another request before they are seen.
test('bytes an upstream sent past a response that ends a full read are not taken as the response to a queued request', async () => {
  // The first read of an upstream connection is 8 KiB: the response fills it to the byte.
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 8151\r\n\r\n';
  const first = head + 'a'.repeat(8151);
  assert.equal(first.length, 8192);
  const { up, port } = await setup((req) => (req.line.includes('/first') ? `${first}HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED` : ok('second')), { maxConnections: 1 });
  const [a, b] = await Promise.all([exchange(port, 'GET /first HTTP/1.1\r\nHost: svc\r\n\r\n'), exchange(port, 'GET /second HTTP/1.1\r\nHost: svc\r\n\r\n')]);
  assert.equal(a.responses[0]!.body, 'a'.repeat(8151));
  assert.equal(b.responses[0]!.body, 'second');
  assert.doesNotMatch(a.text + b.text, /SMUGGLED/);
  // The first connection was dropped for its extra bytes; the second request had a new one.
  assert.equal(up.connections, 2);
});

// An HTTP/1.0 client cannot read chunked framing (RFC 9112 6.1, 7): a chunked response reaches
// it as the chunks' data, delimited by the close of its connection.

/** Sends `data` on a new connection and reads until it ends: the text and how ('end', or the error code). */
async function untilEnd(port: number, data: string, timeoutMs = 5000): Promise<{ text: string; how: string }> {
  const sock = connect(port, '127.0.0.1');
  let text = '';
  sock.on('data', (b: Buffer) => { text += b.toString('latin1'); });
  const how = await new Promise<string>((resolve) => {
    const t = setTimeout(() => resolve('timeout'), timeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(t); resolve(e.code ?? e.message); });
    sock.on('end', () => { clearTimeout(t); resolve('end'); });
    sock.write(data);
  });
  sock.destroy();
  return { text, how };
}

const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nX-Before: 1\r\nConnection: keep-alive\r\nX-After: 2\r\n\r\n';
const CHUNKED_BODY = '4\r\nresp\r\n5;x=y;q="a;b"\r\nonse!\r\n00010\r\n0123456789abcdef\r\nb\r\n\r\n0\r\n\r\nab\r\n\r\n0;last\r\nX-Sum: 9\r\n\r\n';
const CHUNKED_DATA = 'response!0123456789abcdef\r\n0\r\n\r\nab\r\n';
const DECHUNKED = `HTTP/1.1 200 OK\r\nX-Before: 1\r\nX-After: 2\r\nconnection: close\r\n\r\n${CHUNKED_DATA}`;

test('an HTTP/1.0 client gets a chunked response as its data, without Transfer-Encoding, ended by a clean close', async () => {
  const { up, port } = await setup(() => CHUNKED_HEAD + CHUNKED_BODY);
  const r = await untilEnd(port, 'GET /ten HTTP/1.0\r\nHost: svc\r\n\r\n');
  assert.deepEqual(r, { text: DECHUNKED, how: 'end' });
  // Asked for keep-alive, it gets the same answer: only the close can end that body.
  const k = await untilEnd(port, 'GET /ten HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n\r\nGET /never HTTP/1.0\r\nHost: svc\r\n\r\n');
  assert.deepEqual(k, { text: DECHUNKED, how: 'end' });
  assert.deepEqual(up.requests.map((m) => m.line), ['GET /ten HTTP/1.0', 'GET /ten HTTP/1.0']);
  // Both were served by one upstream connection: it is reused after a de-chunked response.
  assert.equal(up.connections, 1);
  // An HTTP/1.1 client still gets the chunked body as the upstream sent it, on the same connection.
  const eleven = await exchange(port, 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n', 1);
  assert.equal(eleven.text, CHUNKED_HEAD + CHUNKED_BODY);
  assert.equal(eleven.closed, false);
  assert.equal(up.connections, 1);
});

test('an HTTP/1.0 client gets transfer codings other than chunked as Content-Encoding, after the content codings', async () => {
  const data = 'hello, gzip transfer coding\n'.repeat(20);
  const gz = gzipSync(data);
  const chunked = `${gz.length.toString(16)}\r\n${gz.toString('latin1')}\r\n0\r\n\r\n`;
  const { port } = await setup((req, conn) => {
    if (req.line.includes('/gz-chunked')) return `HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX-A: 1\r\n\r\n${chunked}`;
    if (req.line.includes('/br-gz')) return `HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`;
    // Close-delimited, not chunked: the upstream closes after it.
    conn.end(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n${gz.toString('latin1')}`, 'latin1');
    return null;
  });
  const bodyOf = (text: string): Buffer => Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1');
  const a = await untilEnd(port, 'GET /gz-chunked HTTP/1.0\r\nHost: svc\r\n\r\n');
  assert.equal(a.how, 'end');
  assert.equal(a.text.slice(0, a.text.indexOf('\r\n\r\n') + 4), 'HTTP/1.1 200 OK\r\nX-A: 1\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n');
  assert.equal(gunzipSync(bodyOf(a.text)).toString(), data);
  const b = await untilEnd(port, 'GET /br-gz HTTP/1.0\r\nHost: svc\r\n\r\n');
  assert.match(b.text, /^HTTP\/1\.1 200 OK\r\ncontent-encoding: br, gzip\r\nconnection: close\r\n\r\n/);
  assert.doesNotMatch(b.text.slice(0, b.text.indexOf('\r\n\r\n')), /transfer-encoding/i);
  const c = await untilEnd(port, 'GET /gz-close HTTP/1.0\r\nHost: svc\r\n\r\n');
  assert.equal(c.how, 'end');
  assert.match(c.text, /^HTTP\/1\.1 200 OK\r\ncontent-encoding: gzip\r\nconnection: close\r\n\r\n/);
  assert.doesNotMatch(c.text.slice(0, c.text.indexOf('\r\n\r\n')), /transfer-encoding/i);
  assert.equal(gunzipSync(bodyOf(c.text)).toString(), data);
  // An HTTP/1.1 client gets the response as the upstream sent it.
  const eleven = await exchange(port, 'GET /gz-chunked HTTP/1.1\r\nHost: svc\r\n\r\n', 1);
  assert.match(eleven.text, /^HTTP\/1\.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n/);
});

test('an HTTP/1.0 client gets the data of a chunked body the upstream writes a byte at a time', async () => {
  const whole = CHUNKED_HEAD + CHUNKED_BODY;
  const { port } = await setup((_req, sock) => {
    sock.setNoDelay(true);
    void (async () => {
      // The head with the start of the first size line, then every byte on its own.
      const first = CHUNKED_HEAD.length + 1;
      sock.write(whole.slice(0, first));
      for (let i = first; i < whole.length && !sock.destroyed; i++) {
        await new Promise((r) => setTimeout(r, 1));
        sock.write(whole[i]!);
      }
    })();
    return null;
  });
  const r = await untilEnd(port, 'GET / HTTP/1.0\r\n\r\n', 10_000);
  assert.deepEqual(r, { text: DECHUNKED, how: 'end' });
});

test('an HTTP/1.0 client gets the data of a chunked body cut at awkward places: in a size line, an extension, a CRLF, the data, the trailers', async () => {
  const body = CHUNKED_BODY;
  const cuts = [1, 2, 5, 7, 9, 10, 12, 16, 18, 24, 26, 27, 30, 35, 45, 46, 47, 50, body.indexOf('\r\n0;last') + 1, body.length - 3, body.length - 1];
  const { port } = await setup((_req, sock) => {
    sock.setNoDelay(true);
    void (async () => {
      let at = 0;
      sock.write(CHUNKED_HEAD);
      for (const cut of [...cuts, body.length]) {
        await new Promise((r) => setTimeout(r, 3));
        if (sock.destroyed) return;
        sock.write(body.slice(at, cut));
        at = cut;
      }
    })();
    return null;
  });
  const r = await untilEnd(port, 'GET / HTTP/1.0\r\n\r\n', 10_000);
  assert.deepEqual(r, { text: DECHUNKED, how: 'end' });
});

test('a de-chunked response keeps the edits of the exchange: stripped fields, added fields', async () => {
  const up = await rawUpstream(() => 'HTTP/1.1 200 OK\r\nX-Secret: s\r\nTransfer-Encoding: chunked\r\nX-Kept: k\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  const pool = new Http1Pool({ host: '127.0.0.1', port: up.port });
  const strip = ['x-secret'];
  const extra = Buffer.from('l5d-success-class: 1.0\r\n', 'latin1');
  const server = createHttp1Server((ex) => {
    ex.responseHeaders = extra;
    ex.stripResponseHeaders = strip;
    pool.dispatch(ex);
  });
  const port = (await server.listen(0)).port;
  cleanups.push(async () => { await server.close(); pool.close(); }, () => up.close());
  const r = await untilEnd(port, 'GET / HTTP/1.0\r\n\r\n');
  assert.deepEqual(r, { text: 'HTTP/1.1 200 OK\r\nX-Kept: k\r\nl5d-success-class: 1.0\r\nconnection: close\r\n\r\nabc', how: 'end' });
});

test('a chunked body the upstream cuts (reset, close, or bad framing) reaches an HTTP/1.0 client as a reset, not as a whole body', async () => {
  for (const cut of ['reset', 'close', 'bad chunk'] as const) {
    let after!: () => void;
    const { port } = await setup((_req, sock) => {
      sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n8\r\n wor');
      after = () => {
        if (cut === 'reset') sock.resetAndDestroy();
        else if (cut === 'close') sock.end();
        else sock.write('ld!!\r\nzz\r\n');
      };
      return null;
    });
    const client = connect(port, '127.0.0.1');
    cleanups.push(async () => { client.destroy(); });
    let text = '';
    const ended = new Promise<string>((resolve) => {
      const t = setTimeout(() => resolve('timeout'), 5000);
      client.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(t); resolve(e.code ?? e.message); });
      client.on('end', () => { clearTimeout(t); resolve('end'); });
    });
    // The cut comes once the bytes before it reached the client.
    client.on('data', (b: Buffer) => {
      text += b.toString('latin1');
      if (text.endsWith('hello wor')) after();
    });
    client.write('GET / HTTP/1.0\r\n\r\n');
    assert.equal(await ended, 'ECONNRESET', cut);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\nconnection: close\r\n\r\nhello wor(ld!!)?$/, cut);
  }
});

test('a malformed chunked body in the first read still answers an HTTP/1.0 client 502', async () => {
  const { port } = await setup(() => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n');
  const r = await exchange(port, 'GET / HTTP/1.0\r\n\r\n', 1, { waitClose: true });
  assert.equal(r.responses[0]!.line, 'HTTP/1.1 502 Bad Gateway');
  assert.equal(r.closed, true);
});

test('responses without a chunked body reach an HTTP/1.0 client as before: HEAD, 204, 304, Content-Length', async () => {
  const { port } = await setup((req) => {
    const p = req.line.split(' ')[1];
    if (p === '/204') return 'HTTP/1.1 204 No Content\r\n\r\n';
    if (p === '/304') return 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n';
    if (p === '/length') return ok('sized');
    return 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  });
  const got: string[] = [];
  for (const req of ['HEAD / HTTP/1.0\r\n\r\n', 'GET /204 HTTP/1.0\r\n\r\n', 'GET /304 HTTP/1.0\r\n\r\n', 'GET /length HTTP/1.0\r\n\r\n']) {
    const r = await untilEnd(port, req);
    got.push(`${r.how} ${r.text}`);
  }
  assert.deepEqual(got, [
    'end HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nconnection: close\r\n\r\n',
    'end HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n',
    'end HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nconnection: close\r\n\r\n',
    'end HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nsized',
  ]);
});

test('a large chunked body reaches a slow HTTP/1.0 client intact, and a client that stops reading stops the upstream', async () => {
  const rnd = seededRandom(20261206);
  const data = patterned(24 << 20, 11);
  let upstreamSock: import('node:net').Socket | undefined;
  const { port } = await setup((_req, sock) => {
    upstreamSock = sock;
    sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let at = 0, k = 0; at < data.length; k++) {
      const n = Math.min(data.length - at, 1 + Math.floor(rnd() * 100_000));
      sock.write(`${n.toString(16)}${k % 3 === 0 ? ';n=' + k : ''}\r\n`);
      sock.write(data.subarray(at, at + n));
      sock.write('\r\n');
      at += n;
    }
    sock.write('0\r\nX-Done: 1\r\n\r\n');
    return null;
  });
  const client = connect(port, '127.0.0.1');
  cleanups.push(async () => { client.destroy(); });
  await once(client, 'connect');
  client.pause();
  client.write('GET /huge HTTP/1.0\r\n\r\n');
  await untilUpstreamHeld(() => upstreamSock, data.length / 2);
  const chunks: Buffer[] = [];
  const deadline = setTimeout(() => client.destroy(), 30_000);
  const how = await new Promise<string>((resolve) => {
    client.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    client.on('close', () => resolve('closed'));
    client.on('end', () => resolve('end'));
    client.on('data', (b: Buffer) => {
      chunks.push(b);
      // Stop reading now and then so the proxy's writes to us back up.
      if (rnd() < 0.2) { client.pause(); setTimeout(() => client.resume(), Math.floor(rnd() * 40)); }
    });
    client.resume();
  });
  clearTimeout(deadline);
  assert.equal(how, 'end');
  const all = Buffer.concat(chunks);
  const head = 'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n';
  assert.equal(all.subarray(0, head.length).toString('latin1'), head);
  assert.equal(all.length - head.length, data.length);
  assert.ok(all.subarray(head.length).equals(data), 'the de-chunked body differs');
});

test('a reused connection the upstream closed under a request: idempotent or unsent requests go again, others get a 502', async () => {
  // Each upstream connection answers its first request and closes under its second, as an
  // upstream whose idle timeout fires just as the pool reuses the connection.
  const seen = new WeakMap<object, number>();
  const { up, port } = await setup(
    (req, sock) => {
      const n = (seen.get(sock) ?? 0) + 1;
      seen.set(sock, n);
      if (n === 1) return ok(`served ${req.line}`);
      sock.destroy();
      return null;
    },
    { maxConnections: 1 },
  );
  const send = async (head: string): Promise<string> => {
    const r = await exchange(port, `${head}\r\nHost: svc\r\n\r\n`, 1);
    return `${r.responses[0]?.line ?? '(none)'}|${r.responses[0]?.body ?? ''}`;
  };
  assert.equal(await send('GET /1 HTTP/1.1'), 'HTTP/1.1 200 OK|served GET /1 HTTP/1.1');
  // Reused and closed under it: sent again on a new connection.
  assert.equal(await send('GET /2 HTTP/1.1'), 'HTTP/1.1 200 OK|served GET /2 HTTP/1.1');
  assert.equal(await send('DELETE /3 HTTP/1.1'), 'HTTP/1.1 200 OK|served DELETE /3 HTTP/1.1');
  assert.equal(await send('POST /4 HTTP/1.1\r\nIdempotency-Key: k4\r\nContent-Length: 0'), 'HTTP/1.1 200 OK|served POST /4 HTTP/1.1');
  // A POST the upstream may have acted on before closing is not repeated: the caller decides.
  const post = await send('POST /5 HTTP/1.1\r\nContent-Length: 0');
  assert.match(post, /^HTTP\/1\.1 502 /);
  assert.deepEqual(
    up.requests.map((m) => m.line),
    ['GET /1 HTTP/1.1', 'GET /2 HTTP/1.1', 'GET /2 HTTP/1.1', 'DELETE /3 HTTP/1.1', 'DELETE /3 HTTP/1.1', 'POST /4 HTTP/1.1', 'POST /4 HTTP/1.1', 'POST /5 HTTP/1.1'],
  );
});
