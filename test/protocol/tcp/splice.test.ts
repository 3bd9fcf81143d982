/**
 * The TCP engine on loopback sockets: connectTcp's outcomes (connected, refused, timed out,
 * given up) and Splice's guarantees (bytes each way in order, FINs passed on while the other
 * direction flows, back-pressure, a reset destroys both sides, idle and lifetime limits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Splice, TcpError, connectTcp, type SpliceResult } from '../../../src/protocol/tcp/index.js';
import { freeChunks, readSlotOf } from '../../../src/protocol/tcp/onread.js';
import { REFUSED_PORT } from '../../support/process.js';

interface Pair {
  /** The test's end of the client connection (what a caller of the proxy holds). */
  readonly caller: net.Socket;
  /** The test's end of the upstream connection (what the upstream server holds). */
  readonly service: net.Socket;
  readonly splice: Splice;
  close(): Promise<void>;
}

/**
 * A caller and a service joined through a Splice, every socket half-open capable. `greeting`:
 * the service writes it as it accepts, and the splice starts once those bytes have been read.
 */
async function spliced(opts: ConstructorParameters<typeof Splice>[2] = {}, greeting?: string): Promise<Pair> {
  let service!: net.Socket;
  const upServer = net.createServer({ allowHalfOpen: true }, (s) => {
    service = s;
    if (greeting !== undefined) s.write(greeting);
  });
  await new Promise<void>((r) => upServer.listen(0, '127.0.0.1', r));
  let accepted!: (s: net.Socket) => void;
  const acceptedP = new Promise<net.Socket>((r) => (accepted = r));
  const front = net.createServer({ allowHalfOpen: true }, (s) => accepted(s));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const caller = net.connect({ host: '127.0.0.1', port: (front.address() as net.AddressInfo).port, allowHalfOpen: true });
  const client = await acceptedP;
  client.pause();
  const upstream = await connectTcp({ host: '127.0.0.1', port: (upServer.address() as net.AddressInfo).port });
  for (let i = 0; i < 100 && service === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  if (greeting !== undefined) {
    // Read (into the socket's read slot) before anything takes them.
    for (let i = 0; i < 200 && upstream.bytesRead < greeting.length; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(upstream.bytesRead, greeting.length);
  }
  const splice = new Splice(client, upstream, opts);
  return {
    caller,
    service,
    splice,
    close: async () => {
      caller.destroy();
      service.destroy();
      await Promise.all([new Promise((r) => upServer.close(r)), new Promise((r) => front.close(r))]);
    },
  };
}

function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.once('end', () => resolve(Buffer.concat(got)));
  });
}

test('connectTcp: connects; a refused port, a silent TLS peer and an abort each reject with their code', async () => {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end('hi');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const s = await connectTcp({ host: '127.0.0.1', port });
  assert.equal(s.remotePort, port);
  s.destroy();

  const dead = REFUSED_PORT;
  const refused = await connectTcp({ host: '127.0.0.1', port: dead }).then(() => null, (e: unknown) => e);
  assert.ok(refused instanceof TcpError);
  assert.equal(refused.code, 'MESH_ERR_TCP_CONNECT');
  assert.match(refused.message, new RegExp(`^127\\.0\\.0\\.1:${dead}: .*ECONNREFUSED`));

  // A peer that accepts and never answers the TLS handshake: the connect timeout ends it.
  const silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const silentPort = (silent.address() as net.AddressInfo).port;
  const t0 = Date.now();
  const timedOut = await connectTcp({ host: '127.0.0.1', port: silentPort, tls: { rejectUnauthorized: false }, connectTimeoutMs: 200 }).then(() => null, (e: unknown) => e);
  assert.ok(timedOut instanceof TcpError);
  assert.equal(timedOut.code, 'MESH_ERR_TCP_CONNECT');
  assert.match(timedOut.message, /within 200 ms/);
  assert.ok(Date.now() - t0 >= 190);

  const ac = new AbortController();
  const given = connectTcp({ host: '127.0.0.1', port: silentPort, tls: { rejectUnauthorized: false }, signal: ac.signal });
  ac.abort();
  const aborted = await given.then(() => null, (e: unknown) => e);
  assert.ok(aborted instanceof TcpError);
  assert.equal(aborted.code, 'MESH_ERR_TCP_ABORTED');
  const pre = await connectTcp({ host: '127.0.0.1', port, signal: AbortSignal.abort() }).then(() => null, (e: unknown) => e);
  assert.equal((pre as TcpError).code, 'MESH_ERR_TCP_ABORTED');
  // The silent server's last connection may still be in its accept queue: not waited for.
  silent.close();
  await new Promise((r) => server.close(r));
});

test('splice: bytes flow each way; a FIN passes on while the other direction keeps flowing', async () => {
  const p = await spliced();
  const fromService = readAll(p.caller);
  const fromCaller = readAll(p.service);
  p.caller.write('request part 1;');
  p.caller.end('part 2');
  // The service has the caller's FIN and still answers after it.
  assert.equal((await fromCaller).toString(), 'request part 1;part 2');
  p.service.write('answer after the FIN;');
  p.service.end('done');
  assert.equal((await fromService).toString(), 'answer after the FIN;done');
  const r: SpliceResult = await p.splice.done;
  assert.deepEqual(r, { reason: 'closed', error: undefined, toUpstream: 21, toClient: 25 });
  await p.close();
});

test('splice: a fast writer to a paused reader is held back, and every byte arrives in order', async () => {
  const p = await spliced();
  const big = randomBytes(8 * 1024 * 1024);
  // The service reads nothing for a while: the splice must pause the caller's side.
  p.service.pause();
  let pausedSeen = false;
  const writing = new Promise<void>((resolve) => p.caller.end(big, () => resolve()));
  for (let i = 0; i < 200 && !pausedSeen; i++) {
    await new Promise((r) => setTimeout(r, 5));
    pausedSeen = p.splice.client.isPaused();
  }
  assert.ok(pausedSeen, 'the client side was paused while the upstream was full');
  // Far less than 8 MiB waits in the proxy's write buffer.
  assert.ok(p.splice.upstream.writableLength < 2 * 1024 * 1024, `${p.splice.upstream.writableLength} bytes buffered`);
  const got = readAll(p.service);
  p.service.resume();
  await writing;
  assert.ok((await got).equals(big));
  p.service.end();
  await p.splice.done;
  await p.close();
});

test('splice: an upstream read through onread is held back by a paused caller, its reused chunks keep every byte in order', async () => {
  const p = await spliced();
  // connectTcp's plain sockets read into one shared buffer (onread.ts), not a buffer per read.
  assert.ok(readSlotOf(p.splice.upstream) !== undefined);
  const big = randomBytes(8 * 1024 * 1024);
  p.caller.pause();
  const writing = new Promise<void>((resolve) => p.service.end(big, () => resolve()));
  const handle = (p.splice.upstream as unknown as { _handle: { reading: boolean } | null })._handle;
  let stopped = false;
  for (let i = 0; i < 200 && !stopped; i++) {
    await new Promise((r) => setTimeout(r, 5));
    stopped = handle !== null && !handle.reading;
  }
  assert.ok(stopped, 'the upstream socket stopped reading while the client side was full');
  assert.ok(p.splice.client.writableLength < 2 * 1024 * 1024, `${p.splice.client.writableLength} bytes buffered`);
  const got = readAll(p.caller);
  p.caller.resume();
  await writing;
  assert.ok((await got).equals(big));
  // Chunks of the large reads went back to the free list once written.
  assert.ok(freeChunks() > 0 && freeChunks() <= 256, `${freeChunks()} free chunks`);
  p.caller.end();
  await p.splice.done;
  await p.close();
});

test('splice: bytes the upstream sent before the splice began reach the caller first, once', async () => {
  const p = await spliced({}, 'banner\n');
  const fromService = readAll(p.caller);
  p.service.end('after');
  p.caller.end();
  assert.equal((await fromService).toString(), 'banner\nafter');
  const r = await p.splice.done;
  assert.equal(r.toClient, 'banner\nafter'.length);
  await p.close();
});

test('splice: a reset on one side resets the other and ends the splice with the error', async () => {
  const p = await spliced();
  const callerClosed = new Promise<string | undefined>((resolve) => {
    let code: string | undefined;
    p.caller.on('error', (e: NodeJS.ErrnoException) => (code = e.code));
    p.caller.once('close', () => resolve(code));
  });
  p.caller.write('x');
  await new Promise<void>((r) => p.service.once('data', () => r()));
  p.service.resetAndDestroy();
  const r = await p.splice.done;
  assert.equal(r.reason, 'error');
  assert.equal((r.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
  assert.equal(p.splice.client.destroyed, true);
  // The caller is reset too: it does not see an orderly end it could take for a whole reply.
  assert.equal(await callerClosed, 'ECONNRESET');
  await p.close();
});

test('splice: idleTimeMs ends a quiet connection, traffic keeps it open; lifeTimeMs ends any', async () => {
  const idle = await spliced({ idleTimeMs: 150 });
  // Bytes every 50 ms keep it open past the idle time.
  for (let i = 0; i < 6; i++) {
    idle.caller.write('.');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(idle.splice.client.destroyed, false);
  const t0 = Date.now();
  const r = await idle.splice.done;
  assert.equal(r.reason, 'idle');
  assert.ok(Date.now() - t0 >= 90, `${Date.now() - t0} ms`);
  await idle.close();

  const life = await spliced({ lifeTimeMs: 200 });
  const t1 = Date.now();
  const timer = setInterval(() => life.caller.write('.'), 20);
  const lr = await life.splice.done;
  clearInterval(timer);
  assert.equal(lr.reason, 'lifetime');
  assert.ok(Date.now() - t1 >= 190 && Date.now() - t1 < 2000);
  await life.close();
});

test('splice: stop() ends both sides at once', async () => {
  const p = await spliced();
  // An orderly end (FIN) reaches the service: stop() is for limits and shutdown, not failures.
  const ended = new Promise<void>((r) => p.service.once('end', () => r()));
  p.service.resume();
  p.splice.stop();
  assert.equal((await p.splice.done).reason, 'stopped');
  await ended;
  await p.close();
});
