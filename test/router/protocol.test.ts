import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { boundLeaf, echo, inetAddr, okTree, rawExchange, request, startRouter, upstream } from './support.js';

async function routerTo(port: number, server: Record<string, unknown> = {}, config: Record<string, unknown> = {}) {
  return startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(port))) }, server, config });
}

test('chunked request and response bodies stream through', async (t) => {
  const up = await upstream((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      res.write('got ');
      setImmediate(() => res.end(String(n)));
    });
  });
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  const body = await new Promise<{ te: string | undefined; text: string }>((resolve, reject) => {
    const req = http.request({ port: r.port, host: '127.0.0.1', method: 'POST', headers: { host: 'dog', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ te: res.headers['transfer-encoding'], text }));
    });
    req.on('error', reject);
    for (let i = 0; i < 10; i++) req.write(Buffer.alloc(1000, 97));
    req.end();
  });
  assert.equal(body.text, 'got 10000');
  assert.equal(body.te, 'chunked');
});

test('HTTP/1.0 request gets a complete response and the connection closes', async (t) => {
  const up = await upstream((req, res) => res.end('hello'));
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  const raw = await rawExchange(r.port, 'GET / HTTP/1.0\r\nHost: dog\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(raw.endsWith('\r\n\r\nhello'), raw);
});

test('keep-alive: two requests on one connection', async (t) => {
  const up = await upstream((req, res) => res.end(req.url));
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const sockets = new Set<net.Socket>();
  for (const path of ['/one', '/two']) {
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.get({ port: r.port, host: '127.0.0.1', path, headers: { host: 'dog' }, agent }, (res) => {
        sockets.add(res.socket as net.Socket);
        let s = '';
        res.on('data', (c: Buffer) => (s += c.toString()));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
    });
    assert.equal(text, path);
  }
  assert.equal(sockets.size, 1);
});

test('Expect: 100-continue is answered once the upstream continues; body follows', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  let continued = false;
  const text = await new Promise<string>((resolve, reject) => {
    const req = http.request({ port: r.port, host: '127.0.0.1', method: 'PUT', headers: { host: 'dog', expect: '100-continue', 'content-length': '5' }, agent: false }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => resolve(s));
    });
    req.on('continue', () => {
      continued = true;
      req.end('hello');
    });
    req.on('error', reject);
  });
  assert.equal(continued, true);
  assert.equal(JSON.parse(text).body, 'hello');
});

test('Expect: 100-continue refused upstream: the final status comes back, no body sent', async (t) => {
  const up = await upstream(() => {});
  up.server.on('checkContinue', (req, res) => {
    res.writeHead(413, { 'content-length': '8' });
    res.end('too big\n');
  });
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  let continued = false;
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ port: r.port, host: '127.0.0.1', method: 'PUT', headers: { host: 'dog', expect: '100-continue', 'content-length': '5' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      req.destroy();
    });
    req.on('continue', () => (continued = true));
    req.on('error', reject);
  });
  assert.equal(status, 413);
  assert.equal(continued, false);
});

test('Connection: Upgrade (WebSocket) tunnels bytes both ways', async (t) => {
  const up = await upstream((req, res) => res.end('no'));
  up.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nx-seen-service: ${req.headers['l5d-dst-service']}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.on('data', (c: Buffer) => socket.write(Buffer.from(c.toString().toUpperCase())));
    socket.on('end', () => socket.destroy());
    socket.on('error', () => socket.destroy());
  });
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  const got = await new Promise<{ status: number; seen: string | string[] | undefined; echoed: string }>((resolve, reject) => {
    const req = http.request({ port: r.port, host: '127.0.0.1', headers: { host: 'dog', connection: 'Upgrade', upgrade: 'websocket' }, agent: false });
    req.on('upgrade', (res, socket: net.Socket) => {
      socket.write('ping');
      socket.once('data', (c: Buffer) => {
        resolve({ status: res.statusCode!, seen: res.headers['x-seen-service'], echoed: c.toString() });
        socket.destroy();
      });
    });
    req.on('response', () => reject(new Error('no upgrade')));
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(got, { status: 101, seen: '/svc/dog', echoed: 'PING' });
});

test('upgrade refused by the upstream: its response is relayed', async (t) => {
  const up = await upstream((req, res) => {
    res.writeHead(426, { 'content-length': '4' });
    res.end('nope');
  });
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  const raw = await rawExchange(r.port, 'GET / HTTP/1.1\r\nHost: dog\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
  assert.ok(raw.endsWith('\r\n\r\nnope'), raw);
});

test('oversized request line is 414, oversized headers 431 (maxInitialLineKB / maxHeadersKB)', async (t) => {
  const up = await upstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const r = await routerTo(up.port, {}, { maxInitialLineKB: 1, maxHeadersKB: 2 });
  t.after(() => r.close());
  const longLine = await rawExchange(r.port, `GET /${'a'.repeat(1100)} HTTP/1.1\r\nHost: dog\r\n\r\n`);
  assert.match(longLine, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  const hugeLine = await rawExchange(r.port, `GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: dog\r\n\r\n`);
  assert.match(hugeLine, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  const bigHeaders = await rawExchange(r.port, `GET / HTTP/1.1\r\nHost: dog\r\nx-big: ${'b'.repeat(2100)}\r\n\r\n`);
  assert.match(bigHeaders, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  const hugeHeaders = await rawExchange(r.port, `GET / HTTP/1.1\r\nHost: dog\r\nx-big: ${'b'.repeat(6000)}\r\n\r\n`);
  assert.match(hugeHeaders, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  assert.equal(up.requests, 0);
  assert.equal((await request(r.port, { headers: { host: 'dog' } })).status, 200);
});

test('smuggling shapes are rejected with 400 and never reach the upstream', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  const clte = await rawExchange(r.port, 'POST / HTTP/1.1\r\nHost: dog\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.match(clte, /^HTTP\/1\.1 400 Bad Request\r\n/);
  const dupCl = await rawExchange(r.port, 'POST / HTTP/1.1\r\nHost: dog\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde');
  assert.match(dupCl, /^HTTP\/1\.1 400 Bad Request\r\n/);
  const badTe = await rawExchange(r.port, 'POST / HTTP/1.1\r\nHost: dog\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n');
  assert.match(badTe, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.equal(up.requests, 0);
  const badChunk = await rawExchange(r.port, 'POST / HTTP/1.1\r\nHost: dog\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n');
  assert.match(badChunk, /^HTTP\/1\.1 400 Bad Request\r\n/);
});

test('a client that is slow to send its head is timed out with 408', async (t) => {
  process.env['MESHWORK_HEADERS_TIMEOUT_MS'] = '150';
  const r = await routerTo(1);
  delete process.env['MESHWORK_HEADERS_TIMEOUT_MS'];
  t.after(() => r.close());
  const t0 = Date.now();
  const raw = await rawExchange(r.port, 'GET / HTTP/1.1\r\nHost: d', 3000);
  assert.match(raw, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.ok(Date.now() - t0 < 2000);
});

test('fuzz: random and mutated bytes never crash the router', async (t) => {
  const up = await upstream((req, res) => {
    req.resume();
    res.end('ok');
  });
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const base = 'POST /x HTTP/1.1\r\nHost: dog\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc';
  const cases: Buffer[] = [];
  for (let i = 0; i < 150; i++) {
    const b = Buffer.from(base, 'latin1');
    const flips = 1 + Math.floor(rnd() * 6);
    for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    cases.push(b);
  }
  for (let i = 0; i < 150; i++) {
    const n = Math.floor(rnd() * 200);
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; k++) b[k] = Math.floor(rnd() * 256);
    cases.push(b);
  }
  for (let i = 0; i < cases.length; i += 20) {
    const replies = await Promise.all(cases.slice(i, i + 20).map((c) => rawExchange(r.port, c, 1500, true)));
    for (const reply of replies) {
      if (reply === '') continue;
      assert.match(reply, /^HTTP\/1\.1 \d{3} /);
    }
  }
  assert.equal((await request(r.port, { headers: { host: 'dog' } })).status, 200);
});

test('the upstream hop’s Connection and Keep-Alive fields stay on that hop; HTTP/1.0 keep-alive is answered as such', async (t) => {
  const up = await upstream((req, res) => {
    res.writeHead(200, { 'content-length': '2', 'keep-alive': 'timeout=5', connection: 'keep-alive' });
    res.end('ok');
  });
  t.after(() => up.close());
  const r = await routerTo(up.port);
  t.after(() => r.close());
  // Two requests on one connection: both answered, neither carries the upstream's fields.
  const raw = await rawExchange(r.port, 'GET /1 HTTP/1.1\r\nHost: dog\r\n\r\nGET /2 HTTP/1.1\r\nHost: dog\r\nConnection: close\r\n\r\n');
  const heads = raw.split('\r\n\r\nok').filter((h) => h !== '').map((h) => h.toLowerCase().split('\r\n'));
  assert.equal(heads.length, 2, raw);
  assert.deepEqual(heads[0]!.filter((l) => /^(connection|keep-alive):/.test(l)), []);
  assert.deepEqual(heads[1]!.filter((l) => /^(connection|keep-alive):/.test(l)), ['connection: close']);
  const ten = await rawExchange(r.port, 'GET /3 HTTP/1.0\r\nHost: dog\r\nConnection: keep-alive\r\n\r\n', 500);
  assert.match(ten, /^HTTP\/1\.1 200 OK\r\n/);
  assert.deepEqual(ten.toLowerCase().split('\r\n').filter((l) => /^(connection|keep-alive):/.test(l)), ['connection: keep-alive']);
});
