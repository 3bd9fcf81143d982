/**
 * `socketOptions.readTimeoutMs` / `writeTimeoutMs` on a mux router, in process, as Netty's
 * ReadTimeoutHandler / WriteTimeoutHandler apply them in Linkerd:
 * - server: a session that finished its handshake and then sends nothing is closed after the
 *   read timeout; a client that stops reading a large reply is closed after the write timeout;
 *   each closing counts one in the server's `read_timeout` / `write_timeout`;
 * - client: an upstream that takes a Tdispatch and never answers has its session torn down after
 *   the read timeout, the call failing with the timeout named, and the client's `read_timeout`
 *   counts it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { MetricsRegistry } from '../../../src/telemetry/metrics-registry.js';
import { decodeMessage, encodeMessage } from '../../../src/protocol/mux/index.js';
import { MuxRouter } from '../../../src/router/mux/router.js';
import { MuxRouterServer, muxServerSettings } from '../../../src/router/mux/server.js';
import { MARKER_BYTES, RINIT_V1, RawServer, TINIT_V1, dial, serveHandshake, withTimeout } from '../../protocol/mux/helpers.js';
import { TextDtab, inetAddr, messageRouterDeps } from '../support.js';

type Obj = Record<string, unknown>;

/** A mux router server whose router answers every request with `reply` at once. */
async function startServer(t: TestContext, reply: Buffer, socketOptions: Obj) {
  const metrics = new MetricsRegistry({ snapshotIntervalMs: 0 });
  const router = { label: 'mx', route: async (): Promise<Buffer> => reply };
  const server = new MuxRouterServer(router as never, muxServerSettings({ ip: '127.0.0.1', port: 0, socketOptions }, undefined), metrics);
  const { port } = await server.listen();
  t.after(async () => {
    await server.close(0);
    metrics.close();
  });
  return { metrics, port, scope: `rt/mx/server/127.0.0.1/${port}` };
}

/** Waits (polling, at most `ms`) until `cond` holds. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('mux server readTimeoutMs: a session that goes quiet after its handshake is closed and counted', async (t) => {
  const { metrics, port, scope } = await startServer(t, Buffer.from('ok'), { readTimeoutMs: 200 });
  const p = await dial(port);
  t.after(() => p.socket.destroy());
  p.write(MARKER_BYTES);
  assert.deepEqual(await p.frame(), MARKER_BYTES);
  p.write(TINIT_V1);
  assert.deepEqual(await p.frame(), RINIT_V1);
  // A request answered: the session is live, then silent.
  p.write(encodeMessage({ kind: 'Tdispatch', tag: 2, contexts: [], dst: '', dtab: [], body: Buffer.from('hi') }));
  const m = decodeMessage((await p.frame()).subarray(4));
  assert.equal(m.kind, 'RdispatchOk');
  const t0 = Date.now();
  await p.waitClosed(3000);
  const took = Date.now() - t0;
  assert.ok(took >= 150, `closed ${took} ms after the last request (readTimeoutMs 200)`);
  const flat = metrics.flatJson();
  assert.equal(flat[`${scope}/read_timeout`], 1);
  // Made only when its timeout is set.
  assert.equal(flat[`${scope}/write_timeout`], undefined);
});

test('mux server writeTimeoutMs: a client that stops reading a large reply is closed and counted', async (t) => {
  const { metrics, port, scope } = await startServer(t, Buffer.alloc(8 * 1024 * 1024, 0x78), { writeTimeoutMs: 300 });
  // Never reads: the reply stays in the socket buffers.
  const sock = net.connect({ port, host: '127.0.0.1' });
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  await withTimeout(new Promise<void>((r) => sock.once('connect', () => r())), 3000, 'connect');
  sock.write(encodeMessage({ kind: 'Tdispatch', tag: 2, contexts: [], dst: '', dtab: [], body: Buffer.from('big') }));
  await until(() => metrics.flatJson()[`${scope}/write_timeout`] === 1, 5000, 'write_timeout to be 1');
  await until(() => metrics.flatJson()[`${scope}/connections`] === 0, 3000, 'the connection to be closed');
  assert.equal(metrics.flatJson()[`${scope}/read_timeout`], undefined);
});

test('mux client readTimeoutMs: an upstream that never answers fails the call naming the timeout, and is counted', async (t) => {
  const up = new RawServer();
  const upPort = await up.listen();
  t.after(() => up.close());
  const deps = messageRouterDeps('mx', inetAddr(upPort), { client: { socketOptions: { readTimeoutMs: 300 } } });
  const metrics = deps.metrics;
  const router = new MuxRouter<TextDtab>(deps);
  t.after(() => {
    router.close();
    metrics.close();
  });
  const call = router.route({ body: Buffer.from('hello'), dst: '', dtab: [], contexts: [] });
  call.catch(() => {});
  const peer = await up.peer(0);
  await serveHandshake(peer);
  // The Tdispatch arrives and is never answered.
  const td = decodeMessage((await peer.frame()).subarray(4));
  assert.equal(td.kind, 'Tdispatch');
  const t0 = Date.now();
  await assert.rejects(withTimeout(call, 3000, 'the call to fail'), (e: Error) => {
    assert.match(e.message, /mux session closed: 127\.0\.0\.1:\d+: nothing read for 300 ms \(readTimeoutMs\)/);
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took >= 250, `failed ${took} ms after the Tdispatch (readTimeoutMs 300)`);
  await peer.waitClosed(3000);
  const flat = metrics.flatJson();
  assert.equal(flat['rt/mx/client/#/io.l5d.fs/web/read_timeout'], 1);
  assert.equal(flat['rt/mx/client/#/io.l5d.fs/web/write_timeout'], undefined);
});
