/**
 * `socketOptions.readTimeoutMs` / `writeTimeoutMs` on a tcp router, in process, as Netty's
 * timeout handlers apply them in Linkerd:
 * - server: a client that sends nothing is closed after the read timeout, while the router's
 *   holding its bytes back (an upstream that does not read) does not count as its silence; a
 *   client that stops reading a large download is closed after the write timeout;
 * - client: an upstream that goes quiet is closed after the read timeout, and the client's side
 *   is reset;
 * - each closing counts one in the server's or client's `read_timeout` / `write_timeout`.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { TcpRouter } from '../../../src/router/tcp/router.js';
import { TcpRouterServer, tcpServerSettings } from '../../../src/router/tcp/server.js';
import { inetAddr, messageRouterDeps } from '../support.js';

type Obj = Record<string, unknown>;

/** An in-process tcp router (label `tcp`) to the upstream on `upPort`, with one server. */
async function startTcp(t: TestContext, upPort: number, client: Obj, serverSocketOptions: Obj) {
  const deps = messageRouterDeps('tcp', inetAddr(upPort), { client }, '/#/io.l5d.fs/up');
  const metrics = deps.metrics;
  const router = new TcpRouter(deps);
  const server = new TcpRouterServer(router as never, tcpServerSettings({ ip: '127.0.0.1', port: 0, socketOptions: serverSocketOptions }, undefined), metrics);
  const { port } = await server.listen();
  t.after(async () => {
    await server.close(0);
    router.close();
    metrics.close();
  });
  const counters = (): Record<string, number> => metrics.flatJson();
  return { port, counters, server: `rt/tcp/server/127.0.0.1/${port}`, client: 'rt/tcp/client/#/io.l5d.fs/up' };
}

/** An upstream that greets each connection with `hi\n`, then does what `onConn` says. */
async function upstream(t: TestContext, onConn: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.write('hi\n');
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A client connection that reads everything; `closed` settles with how it ended and after how long. */
function connect(t: TestContext, port: number): { sock: net.Socket; closed: Promise<{ ms: number; error: string | undefined; data: string }> } {
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => sock.destroy());
  const t0 = Date.now();
  let error: string | undefined;
  let data = '';
  sock.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code));
  sock.on('data', (b: Buffer) => (data += b.length < 64 ? b.toString('latin1') : ''));
  sock.on('end', () => sock.end());
  const closed = new Promise<{ ms: number; error: string | undefined; data: string }>((resolve) => sock.once('close', () => resolve({ ms: Date.now() - t0, error, data })));
  return { sock, closed };
}

/** Settles with `p`, or rejects after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test('a tcp server closes a client that sent nothing for readTimeoutMs; one that keeps sending stays', async (t) => {
  const upPort = await upstream(t, (s) => s.on('data', () => {}));
  const r = await startTcp(t, upPort, {}, { readTimeoutMs: 200 });
  const quiet = connect(t, r.port);
  const busy = connect(t, r.port);
  const ticker = setInterval(() => busy.sock.write('x'), 50);
  t.after(() => clearInterval(ticker));
  const q = await within(quiet.closed, 3000, 'the quiet client closed');
  assert.ok(q.ms >= 150, `closed after ${q.ms} ms`);
  assert.equal(q.data, 'hi\n');
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(busy.sock.destroyed, false, 'the client that keeps sending is still connected');
  assert.equal(r.counters()[`${r.server}/read_timeout`], 1);
  assert.equal(r.counters()[`${r.client}/read_timeout`], undefined);
});

test("a tcp server's read timeout does not count while the upstream holds the client's bytes back", async (t) => {
  // The upstream never reads: the client's upload fills the sockets and the router stops
  // reading it. That is not the client's silence; the upload then stays stuck, not cut.
  const upPort = await upstream(t, () => {});
  const r = await startTcp(t, upPort, {}, { readTimeoutMs: 200 });
  const c = connect(t, r.port);
  // 64 MB queued at once: more than the sockets on the way hold.
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < 1024; i++) c.sock.write(chunk);
  await new Promise((res) => setTimeout(res, 800));
  assert.ok(c.sock.writableLength > 0, 'the whole upload left the client');
  assert.equal(c.sock.destroyed, false, JSON.stringify(r.counters()));
  assert.equal(r.counters()[`${r.server}/read_timeout`], 0);
});

test('a tcp server closes a client that stopped reading a download for writeTimeoutMs', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  const upPort = await upstream(t, (s) => {
    let left = 1024; // 64 MB: more than the sockets between router and client hold
    const pump = (): void => {
      while (left > 0 && !s.destroyed) {
        left--;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
    };
    pump();
  });
  const r = await startTcp(t, upPort, {}, { writeTimeoutMs: 300 });
  const sock = net.connect({ port: r.port, host: '127.0.0.1' });
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  sock.pause();
  const key = `${r.server}/write_timeout`;
  const t0 = Date.now();
  for (let i = 0; i < 160 && r.counters()[key] !== 1; i++) await new Promise((res) => setTimeout(res, 50));
  const ms = Date.now() - t0;
  assert.equal(r.counters()[key], 1, `no write timeout counted after ${ms} ms`);
  assert.ok(ms >= 250, `counted after ${ms} ms`);
});

test('a tcp client closes an upstream that went quiet for readTimeoutMs, and resets the client', async (t) => {
  const upPort = await upstream(t, (s) => s.on('data', () => {}));
  const r = await startTcp(t, upPort, { socketOptions: { readTimeoutMs: 250 } }, {});
  const c = connect(t, r.port);
  // The client keeps sending: only the upstream is quiet.
  const ticker = setInterval(() => c.sock.write('x'), 50);
  t.after(() => clearInterval(ticker));
  const got = await within(c.closed, 3000, 'the client closed');
  assert.ok(got.ms >= 200, `closed after ${got.ms} ms`);
  assert.equal(got.data, 'hi\n');
  assert.equal(got.error, 'ECONNRESET');
  assert.equal(r.counters()[`${r.client}/read_timeout`], 1);
  assert.equal(r.counters()[`${r.server}/read_timeout`], undefined);
});
