/**
 * A thrift router server in process: close() ends even while a client has connected but not
 * finished (or started) its TLS handshake; a thriftmux server's graceful close routes what a mux
 * client sends before its Rdrain; a thrift server's graceful close answers the request under way
 * and ends as soon as it is out (or after the grace).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { Path } from '../../../src/naming/path.js';
import type { ActivityState, BoundName } from '../../../src/naming/contracts.js';
import type { NameTree } from '../../../src/naming/name-tree.js';
import { MetricsRegistry } from '../../../src/telemetry/metrics-registry.js';
import { ThriftRouter } from '../../../src/router/thrift/router.js';
import { ThriftMuxRouterServer, ThriftRouterServer, thriftServerOptions } from '../../../src/router/thrift/server.js';
import { decodeMessage, encodeMessage, type MuxMessage } from '../../../src/protocol/mux/index.js';
import { makeTestCerts } from '../../support/certs.js';
import { ThriftCaller, callMessage } from '../../support/thrift.js';
import { dial, MARKER_BYTES, RINIT_V1, TINIT_V1, withTimeout, type FrameReader } from '../../protocol/mux/helpers.js';
import { TestVar, TextDtab, activity, parseTextDtab } from '../support.js';

test('a TLS thrift server closes at once with a client stuck before its TLS handshake', async () => {
  const certs = makeTestCerts();
  const metrics = new MetricsRegistry();
  const router = new ThriftRouter<TextDtab>({
    label: 'tls',
    protocol: 'thrift',
    baseDtab: new TextDtab(''),
    dstPrefix: Path.utf8('svc'),
    readPath: (s) => Path.utf8(...s.split('/').filter((x) => x !== '')),
    parseDtab: parseTextDtab,
    bind: () => activity(new TestVar<ActivityState<NameTree<BoundName>>>({ type: 'pending' })),
    metrics,
    config: {},
  });
  const server = new ThriftRouterServer(router as never, thriftServerOptions({ ip: '127.0.0.1', port: 0 }, { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }), metrics);
  try {
    const { port } = await server.listen();
    const stuck = net.connect({ port, host: '127.0.0.1' });
    stuck.on('error', () => {});
    await new Promise<void>((r) => stuck.once('connect', () => r()));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const closed = await Promise.race([server.close(0).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    stuck.destroy();
    assert.equal(closed, true, 'close() still pending after 3 s');
    assert.ok(Date.now() - t0 < 1000, `closed after ${Date.now() - t0} ms`);
  } finally {
    router.close();
    metrics.close();
    certs.cleanup();
  }
});

/**
 * Stands in for a thrift router: a request named "hold" waits until `release()` (`held` settles
 * once one has started), "stuck" until its signal aborts; the reply is `reply(name)`.
 */
function stubRouter(label: string, reply: (name: string) => Buffer) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let onHeld!: () => void;
  const held = new Promise<void>((r) => (onHeld = r));
  const router = {
    label,
    proto: 'binary',
    route: async (req: { head: { name: string } }, signal?: AbortSignal): Promise<Buffer> => {
      if (req.head.name === 'hold') {
        onHeld();
        await released;
      }
      if (req.head.name === 'stuck') await new Promise((r) => signal?.addEventListener('abort', r, { once: true }));
      return reply(req.head.name);
    },
  };
  return { router, held, release };
}

async function muxFrame(p: FrameReader): Promise<MuxMessage> {
  return decodeMessage((await p.frame()).subarray(4));
}

test('a thriftmux server closing with grace routes what a mux client sends before its Rdrain', async () => {
  const metrics = new MetricsRegistry();
  const { router, held, release } = stubRouter('tmux', (name) => Buffer.from(`routed:${name}`));
  const server = new ThriftMuxRouterServer(router as never, thriftServerOptions({ ip: '127.0.0.1', port: 0 }, undefined), metrics);
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(MARKER_BYTES);
    await p.frame();
    p.write(TINIT_V1);
    assert.deepEqual(await p.frame(), RINIT_V1);
    p.write(encodeMessage({ kind: 'Tdispatch', tag: 2, contexts: [], dst: '', dtab: [], body: callMessage('binary', 'hold', 1, 'a') }));
    await withTimeout(held, 3000, 'the held request');
    const closing = server.close(5000);
    assert.deepEqual(await muxFrame(p), { kind: 'Tdrain', tag: 1 });
    // Sent before the client's Rdrain: served as Finagle's drain serves it, not refused.
    p.write(encodeMessage({ kind: 'Tdispatch', tag: 3, contexts: [], dst: '', dtab: [], body: callMessage('binary', 'get', 2, 'b') }));
    const early = await muxFrame(p);
    assert.equal(early.kind, 'RdispatchOk');
    assert.equal((early as { body: Buffer }).body.toString('latin1'), 'routed:get');
    p.write(encodeMessage({ kind: 'Rdrain', tag: 1 }));
    release();
    const last = await muxFrame(p);
    assert.equal(last.kind, 'RdispatchOk');
    assert.equal((last as { tag: number; body: Buffer }).tag, 2);
    assert.equal((last as { body: Buffer }).body.toString('latin1'), 'routed:hold');
    await p.waitClosed();
    await withTimeout(closing, 3000, 'close');
  } finally {
    p.socket.destroy();
    await server.close(0);
    metrics.close();
  }
});

test('a thrift server closing with grace refuses new connections, answers the request under way, then closes at once', async () => {
  const metrics = new MetricsRegistry();
  const { router, held, release } = stubRouter('thr', (name) => callMessage('binary', `routed:${name}`, 1, 'ok'));
  const server = new ThriftRouterServer(router as never, thriftServerOptions({ ip: '127.0.0.1', port: 0 }, undefined), metrics);
  const { port } = await server.listen();
  const c = await ThriftCaller.connect(port);
  try {
    const reply = c.call(callMessage('binary', 'hold', 1, 'a'));
    await withTimeout(held, 3000, 'the held request');
    const closing = server.close(10_000);
    // No new connection while draining.
    const late = net.connect({ port, host: '127.0.0.1' });
    late.on('error', () => {});
    await withTimeout(new Promise<void>((r) => late.once('close', () => r())), 3000, 'the late connection to be closed');
    await new Promise((r) => setTimeout(r, 100));
    release();
    const t0 = Date.now();
    assert.equal((await withTimeout(reply, 3000, 'the reply')).name, 'routed:hold');
    await withTimeout(closing, 3000, 'close');
    assert.ok(Date.now() - t0 < 1000, `closed ${Date.now() - t0} ms after the last reply (grace 10 s)`);
  } finally {
    c.close();
    await server.close(0);
    metrics.close();
  }

  // A request that never ends holds a graceful close for its grace only.
  const server2 = new ThriftRouterServer(router as never, thriftServerOptions({ ip: '127.0.0.1', port: 0 }, undefined), metrics);
  const c2 = await ThriftCaller.connect((await server2.listen()).port);
  try {
    c2.send(callMessage('binary', 'stuck', 1, 'a'));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await withTimeout(server2.close(300), 3000, 'close with a stuck request');
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 2000, `closed after ${took} ms (grace 300 ms)`);
  } finally {
    c2.close();
    await server2.close(0);
    metrics.close();
  }
});

test('a thrift server closing with grace sends a large reply whole before it closes the connection', async () => {
  const metrics = new MetricsRegistry();
  const big = 'x'.repeat(8 * 1024 * 1024);
  const { router, held, release } = stubRouter('thr', (name) => callMessage('binary', `routed:${name}`, 1, big));
  const server = new ThriftRouterServer(router as never, thriftServerOptions({ ip: '127.0.0.1', port: 0 }, undefined), metrics);
  const c = await ThriftCaller.connect((await server.listen()).port);
  try {
    const reply = c.call(callMessage('binary', 'hold', 1, 'a'), undefined, 10_000);
    await withTimeout(held, 3000, 'the held request');
    const closing = server.close(10_000);
    release();
    const r = await withTimeout(reply, 10_000, 'the large reply');
    assert.equal(r.name, 'routed:hold');
    assert.equal(r.text?.length, big.length, 'the reply arrived whole');
    await withTimeout(closing, 10_000, 'close');
  } finally {
    c.close();
    await server.close(0);
    metrics.close();
  }
});
