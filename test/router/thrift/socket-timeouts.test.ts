/**
 * `socketOptions.readTimeoutMs` / `writeTimeoutMs` on thrift and thriftmux routers, in process,
 * as Netty's ReadTimeoutHandler / WriteTimeoutHandler apply them in Linkerd:
 * - server: a client connection that sends half a message (thrift) or nothing (thriftmux) is
 *   closed after the read timeout, while one that keeps calling stays; one that stops reading a
 *   large reply is closed after the write timeout; each closing counts one in the server's
 *   `read_timeout` / `write_timeout`;
 * - client: an upstream that takes a call and never answers fails it with the read timeout named
 *   (the caller gets a TApplicationException saying so); one that never reads a large request
 *   fails it with the write timeout named; each closing counts one in the client's counters.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { MetricsRegistry } from '../../../src/telemetry/metrics-registry.js';
import { encodeMessage } from '../../../src/protocol/mux/index.js';
import { readMessageHead } from '../../../src/protocol/thrift/wire.js';
import { ThriftRouter } from '../../../src/router/thrift/router.js';
import { ThriftMuxRouterServer, ThriftRouterServer, thriftServerOptions } from '../../../src/router/thrift/server.js';
import { ThriftCaller, MessageTypes, callMessage, frame } from '../../support/thrift.js';
import { dial, withTimeout } from '../../protocol/mux/helpers.js';
import { TextDtab, inetAddr, messageRouterDeps } from '../support.js';

type Obj = Record<string, unknown>;

/** Stands in for a thrift router: every request is answered with `reply` at once. */
function stubRouter(label: string, reply: Buffer) {
  return { label, proto: 'binary', route: async (): Promise<Buffer> => reply };
}

async function startServer(t: TestContext, kind: 'thrift' | 'thriftmux', label: string, reply: Buffer, socketOptions: Obj) {
  const metrics = new MetricsRegistry({ snapshotIntervalMs: 0 });
  const opts = thriftServerOptions({ ip: '127.0.0.1', port: 0, socketOptions }, undefined);
  const router = stubRouter(label, reply);
  const server = kind === 'thrift' ? new ThriftRouterServer(router as never, opts, metrics) : new ThriftMuxRouterServer(router as never, opts, metrics);
  const { port } = await server.listen();
  t.after(async () => {
    await server.close(0);
    metrics.close();
  });
  return { metrics, port, scope: `rt/${label}/server/127.0.0.1/${port}` };
}

/** Waits (polling, at most `ms`) until `cond` holds. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw client socket that never reads: what the server writes to it stays in the socket buffers. */
async function deafClient(t: TestContext, port: number): Promise<net.Socket> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  await withTimeout(new Promise<void>((r) => sock.once('connect', () => r())), 3000, 'connect');
  return sock;
}

test('thrift server readTimeoutMs: a connection that sent half a message is closed and counted; one that keeps calling stays', async (t) => {
  const { metrics, port, scope } = await startServer(t, 'thrift', 'thr', callMessage('binary', 'get', 1, 'ok'), { readTimeoutMs: 200 });
  const busy = await ThriftCaller.connect(port);
  t.after(() => busy.close());
  const half = await ThriftCaller.connect(port);
  t.after(() => half.close());
  const t0 = Date.now();
  half.write(frame(callMessage('binary', 'get', 1, 'x')).subarray(0, 10));
  // Calls every 50 ms on the other connection: it is read from, so it stays.
  while (!half.closed && Date.now() - t0 < 3000) {
    assert.equal((await busy.call(callMessage('binary', 'get', 2, 'y'), undefined, 3000)).text, 'ok');
    await new Promise((r) => setTimeout(r, 50));
  }
  const took = Date.now() - t0;
  assert.equal(half.closed, true, 'the silent connection was not closed within 3 s');
  assert.ok(took >= 190, `closed after ${took} ms (readTimeoutMs 200)`);
  assert.equal(busy.closed, false, 'the busy connection was closed');
  const m = metrics.flatJson();
  assert.equal(m[`${scope}/read_timeout`], 1);
  // Made only when its timeout is set.
  assert.equal(m[`${scope}/write_timeout`], undefined);
});

test('thrift server writeTimeoutMs: a caller that stops reading a large reply is closed and counted', async (t) => {
  const big = callMessage('binary', 'get', 1, 'x'.repeat(8 * 1024 * 1024));
  const { metrics, port, scope } = await startServer(t, 'thrift', 'thr', big, { writeTimeoutMs: 300 });
  const sock = await deafClient(t, port);
  sock.write(frame(callMessage('binary', 'get', 1, 'a')));
  await until(() => metrics.flatJson()[`${scope}/write_timeout`] === 1, 5000, 'write_timeout to be 1');
  await until(() => metrics.flatJson()[`${scope}/connections`] === 0, 3000, 'the connection to be closed');
  assert.equal(metrics.flatJson()[`${scope}/read_timeout`], undefined);
});

test('thriftmux server readTimeoutMs: a connection that sends nothing is closed and counted', async (t) => {
  const { metrics, port, scope } = await startServer(t, 'thriftmux', 'tmux', callMessage('binary', 'get', 1, 'ok'), { readTimeoutMs: 200 });
  const t0 = Date.now();
  const p = await dial(port);
  t.after(() => p.socket.destroy());
  await p.waitClosed(3000);
  const took = Date.now() - t0;
  assert.ok(took >= 190, `closed after ${took} ms (readTimeoutMs 200)`);
  assert.equal(metrics.flatJson()[`${scope}/read_timeout`], 1);
});

test('thriftmux server writeTimeoutMs: a mux client that stops reading a large reply is closed and counted', async (t) => {
  const big = callMessage('binary', 'get', 1, 'x'.repeat(8 * 1024 * 1024));
  const { metrics, port, scope } = await startServer(t, 'thriftmux', 'tmux', big, { writeTimeoutMs: 300 });
  const sock = await deafClient(t, port);
  sock.write(encodeMessage({ kind: 'Tdispatch', tag: 2, contexts: [], dst: '', dtab: [], body: callMessage('binary', 'get', 1, 'a') }));
  await until(() => metrics.flatJson()[`${scope}/write_timeout`] === 1, 5000, 'write_timeout to be 1');
  await until(() => metrics.flatJson()[`${scope}/connections`] === 0, 3000, 'the connection to be closed');
});

/** A thrift router whose names all bind to the upstream at `port`, its client configured by `client`. */
function routerTo(t: TestContext, port: number, client: Obj): { router: ThriftRouter<TextDtab>; metrics: MetricsRegistry } {
  const deps = messageRouterDeps('thr', inetAddr(port), { client });
  const metrics = deps.metrics;
  const router = new ThriftRouter({ ...deps, protocol: 'thrift' });
  t.after(() => {
    router.close();
    metrics.close();
  });
  return { router, metrics };
}

/** An upstream that takes connections and either reads and never answers, or never reads (`deaf`). */
async function silentUpstream(t: TestContext, deaf: boolean): Promise<{ port: number; accepted: () => number }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    if (!deaf) s.on('data', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

const CLIENT_SCOPE = 'rt/thr/client/#/io.l5d.fs/web';

test('thrift client readTimeoutMs: an upstream that never answers fails the call naming the timeout, and is counted', async (t) => {
  const up = await silentUpstream(t, false);
  const { router, metrics } = routerTo(t, up.port, { socketOptions: { readTimeoutMs: 200 } });
  const server = new ThriftRouterServer(router as never, thriftServerOptions({ ip: '127.0.0.1', port: 0 }, undefined), metrics);
  const { port } = await server.listen();
  t.after(() => server.close(0));
  const c = await ThriftCaller.connect(port);
  t.after(() => c.close());
  const t0 = Date.now();
  const r = await c.call(callMessage('binary', 'get', 7, 'x'), undefined, 3000);
  const took = Date.now() - t0;
  // The router's usual failure path: a TApplicationException with the reason.
  assert.equal(r.type, MessageTypes.EXCEPTION);
  assert.equal(r.seqid, 7);
  assert.match(r.text ?? '', /closed: nothing read for 200 ms \(readTimeoutMs\)/);
  assert.ok(took >= 190 && took < 2000, `failed after ${took} ms (readTimeoutMs 200)`);
  const m = metrics.flatJson();
  assert.equal(m[`${CLIENT_SCOPE}/read_timeout`], 1);
  assert.equal(m[`${CLIENT_SCOPE}/write_timeout`], undefined);
  assert.equal(up.accepted(), 1);
});

test('thrift client writeTimeoutMs: an upstream that never reads a large request fails it naming the timeout, and is counted', async (t) => {
  const up = await silentUpstream(t, true);
  const { router, metrics } = routerTo(t, up.port, { socketOptions: { writeTimeoutMs: 300 } });
  const msg = callMessage('binary', 'put', 3, 'y'.repeat(8 * 1024 * 1024));
  const call = router.route({ msg, head: readMessageHead(msg, 0, 'binary') });
  await assert.rejects(withTimeout(call, 5000, 'the call to fail'), (e: Error) => {
    assert.match(e.message, /closed: no write progress for 300 ms \(writeTimeoutMs\)/);
    return true;
  });
  const m = metrics.flatJson();
  assert.equal(m[`${CLIENT_SCOPE}/write_timeout`], 1);
  assert.equal(m[`${CLIENT_SCOPE}/read_timeout`], undefined);
});
