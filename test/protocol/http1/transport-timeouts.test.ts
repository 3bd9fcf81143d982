/**
 * `socketOptions.readTimeoutMs` and `writeTimeoutMs` in the http engine, as Netty's
 * ReadTimeoutHandler and WriteTimeoutHandler close a Finagle channel: a connection from which
 * nothing was read for the read timeout (idle, or waiting for its answer) is closed, and so is
 * one whose pending bytes made no progress for the write timeout. Silence while the engine
 * itself stopped reading (back-pressure) does not count, and neither does a slow but moving peer.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttp1Server, type Http1ServerHooks } from '../../../src/protocol/http1/server.js';
import { Http1Pool, type Http1PoolOptions } from '../../../src/protocol/http1/pool.js';
import type { Http1Limits } from '../../../src/protocol/http1/limits.js';
import { exchange, ok, rawUpstream, type Responder } from './helpers.js';
import { within } from '../../support/activity.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });


interface Setup {
  port: number;
  timeouts: string[];
  upstreamConnections: () => number;
}

async function setup(respond: Responder, limits: Partial<Http1Limits>, pool: Partial<Http1PoolOptions> = {}): Promise<Setup> {
  const up = await rawUpstream(respond);
  const timeouts: string[] = [];
  const p = new Http1Pool({ host: '127.0.0.1', port: up.port, ...pool, onTransportTimeout: (k) => timeouts.push(`client ${k}`) });
  const hooks: Http1ServerHooks = { onTransportTimeout: (k) => timeouts.push(`server ${k}`) };
  const server = createHttp1Server((ex) => p.dispatch(ex), limits, hooks);
  const port = (await server.listen(0)).port;
  cleanups.push(async () => { await server.close(); p.close(); }, () => up.close());
  return { port, timeouts, upstreamConnections: () => up.connections };
}

/** A client connection; resolves `closed` with the time (ms after `opened`) the server closed it. */
async function client(port: number): Promise<{ sock: Socket; opened: number; closed: Promise<number>; received: () => string }> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await once(sock, 'connect');
  const opened = Date.now();
  let text = '';
  sock.on('data', (b: Buffer) => (text += b.toString('latin1')));
  const closed = new Promise<number>((resolve) => sock.once('close', () => resolve(Date.now() - opened)));
  cleanups.push(() => { sock.destroy(); });
  return { sock, opened, closed, received: () => text };
}

test('server readTimeoutMs: a connection that sends nothing is closed; one with traffic stays', async () => {
  // Margins wide enough for a loaded machine: the busy connection sends every 50 ms, a tenth
  // of the timeout.
  const s = await setup(() => ok('hi'), { readTimeoutMs: 500 });
  const quiet = await client(s.port);
  const busy = await client(s.port);
  // Requests every 50 ms for 900 ms on the busy one.
  for (let i = 0; i < 18; i++) {
    busy.sock.write('GET / HTTP/1.1\r\nHost: up\r\n\r\n');
    await sleep(50);
  }
  const after = await within(quiet.closed, 3000);
  assert.ok(typeof after === 'number' && after >= 490 && after < 3000, `quiet connection closed after ${after}`);
  assert.equal(await within(busy.closed, 10), 'pending', 'the busy connection is still open');
  assert.equal(busy.received().split('HTTP/1.1 200 OK').length - 1, 18);
  assert.deepEqual(s.timeouts, ['server read']);
});

test('server readTimeoutMs: a connection waiting longer than it for its answer is closed and the upstream attempt cancelled', async () => {
  let upstreamClosed = false;
  const s = await setup((_req, conn) => {
    conn.once('close', () => (upstreamClosed = true));
    return null; // never answers
  }, { readTimeoutMs: 200 });
  const c = await client(s.port);
  c.sock.write('GET /slow HTTP/1.1\r\nHost: up\r\n\r\n');
  const after = await within(c.closed, 2000);
  assert.ok(typeof after === 'number' && after >= 190, `closed after ${after}`);
  assert.equal(c.received(), '');
  for (let i = 0; i < 50 && !upstreamClosed; i++) await sleep(20);
  assert.equal(upstreamClosed, true);
  assert.deepEqual(s.timeouts, ['server read']);
});

test('server writeTimeoutMs: a client that stops reading a large answer is closed; one reading slowly gets it all', async () => {
  const big = 'x'.repeat(8 * 1024 * 1024);
  const s = await setup(() => ok(big), { writeTimeoutMs: 1000 });
  // Paused from the start: its receive buffer fills and the answer stops moving.
  const stuck = await client(s.port);
  stuck.sock.pause();
  stuck.sock.write('GET /big HTTP/1.1\r\nHost: up\r\n\r\n');
  // A paused client cannot see its connection close: the server's count says when it did.
  for (let i = 0; i < 250 && s.timeouts.length === 0; i++) await sleep(20);
  const after = Date.now() - stuck.opened;
  assert.deepEqual(s.timeouts, ['server write']);
  assert.ok(after >= 990, `closed after ${after} ms`);
  stuck.sock.resume();
  assert.notEqual(await within(stuck.closed, 3000), 'pending');
  assert.ok(stuck.received().length < big.length, 'the answer was cut');
  // Reads for 5 ms, rests 100 ms (a tenth of the write timeout), and so on: slow, but the
  // answer keeps moving. Bounded at 10 s.
  const slow = await client(s.port);
  slow.sock.pause();
  slow.sock.write('GET /big HTTP/1.1\r\nHost: up\r\n\r\n');
  const until = Date.now() + 10_000;
  while (slow.received().length < big.length + 40 && Date.now() < until && !slow.sock.destroyed) {
    slow.sock.resume();
    await sleep(5);
    slow.sock.pause();
    await sleep(100);
  }
  assert.ok(slow.received().endsWith('x'.repeat(100)), `slow reader got ${slow.received().length} bytes`);
  assert.ok(slow.received().length > big.length);
  assert.deepEqual(s.timeouts, ['server write']);
});

test('client readTimeoutMs: an upstream that never answers gives 502 naming the timeout; one answering in pieces is read whole', async () => {
  const s = await setup((req, conn) => {
    if (req.line.includes('/never')) return null;
    // Ten pieces of a 10-byte body, 100 ms apart: 1 s in all, twice the timeout.
    conn.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n');
    let n = 0;
    const t = setInterval(() => {
      if (conn.destroyed || ++n > 10) return clearInterval(t);
      conn.write('y');
    }, 100);
    return null;
  }, {}, { readTimeoutMs: 500 });
  const never = await exchange(s.port, 'GET /never HTTP/1.1\r\nHost: up\r\n\r\n', 1, { timeoutMs: 3000 });
  assert.equal(never.responses[0]?.line, 'HTTP/1.1 502 Bad Gateway', never.text);
  assert.match(never.responses[0]!.body, /nothing read for 500 ms \(readTimeoutMs\)/);
  assert.deepEqual(s.timeouts, ['client read']);
  const pieces = await exchange(s.port, 'GET /pieces HTTP/1.1\r\nHost: up\r\n\r\n', 1, { timeoutMs: 3000 });
  assert.equal(pieces.responses[0]?.body, 'yyyyyyyyyy');
  assert.deepEqual(s.timeouts, ['client read']);
});

test('client writeTimeoutMs: an upstream that never reads a large request body is closed', async () => {
  // The upstream reads nothing from any connection and answers nothing.
  const socks = new Set<Socket>();
  const srv = createServer({ pauseOnConnect: true }, (sock) => {
    socks.add(sock);
    sock.on('error', () => {});
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  cleanups.push(() => { for (const x of socks) x.destroy(); srv.close(); });
  const timeouts: string[] = [];
  const p = new Http1Pool({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, writeTimeoutMs: 300, onTransportTimeout: (k) => timeouts.push(k) });
  const server = createHttp1Server((ex) => p.dispatch(ex));
  const port = (await server.listen(0)).port;
  cleanups.push(async () => { await server.close(); p.close(); });
  const c = await client(port);
  const size = 32 * 1024 * 1024;
  c.sock.write(`POST /upload HTTP/1.1\r\nHost: up\r\ncontent-length: ${size}\r\n\r\n`);
  // Sent in 1 MiB pieces as the proxy takes them.
  const piece = Buffer.alloc(1024 * 1024, 0x7a);
  for (let sent = 0; sent < size && !c.sock.destroyed && timeouts.length === 0; sent += piece.length) {
    if (!c.sock.write(piece)) await within(once(c.sock, 'drain'), 500);
  }
  for (let i = 0; i < 100 && timeouts.length === 0; i++) await sleep(20);
  assert.deepEqual(timeouts, ['write']);
  // The request could not be sent: the client hears a 502 (or loses the connection).
  const end = await within(c.closed, 3000);
  assert.notEqual(end, 'pending');
  assert.ok(c.received() === '' || c.received().startsWith('HTTP/1.1 502'), c.received().slice(0, 200));
});
