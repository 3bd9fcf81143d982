/**
 * The thrift connection pool's waiting calls (hostConnectionPool maxSize): none hangs when a
 * connection cannot be made, when the pool closes, or when waiting and lent calls give up.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { ThriftConnPool, ThriftPoolError } from '../../../src/protocol/thrift/client-pool.js';
import { MessageReader, MessageType, encodeMessage, frameParts, readMessageHead } from '../../../src/protocol/thrift/index.js';
import { REFUSED_PORT } from '../../support/process.js';

const STOP = Buffer.from([0]);
const call = (name: string, seqid: number): Buffer => encodeMessage('binary', name, MessageType.CALL, seqid, STOP);

/** Answers `ping` at once; never answers `hang`. */
const server = net.createServer((sock) => {
  const reader = new MessageReader({ framed: true, proto: 'binary', maxBytes: 1 << 20 });
  sock.on('error', () => {});
  sock.on('data', (d: Buffer) => {
    for (const m of reader.push(d)) {
      const h = readMessageHead(m, 0, 'binary');
      if (h.name === 'ping') for (const p of frameParts(encodeMessage('binary', h.name, MessageType.REPLY, h.seqid, STOP), true)) sock.write(p);
    }
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as net.AddressInfo).port;
const sockets = new Set<net.Socket>();
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

const pool = (p: number, extra: Partial<ConstructorParameters<typeof ThriftConnPool>[0]> = {}): ThriftConnPool =>
  new ThriftConnPool({ host: '127.0.0.1', port: p, framed: true, proto: 'binary', maxMessageBytes: 1 << 20, ttwitter: false, idleTimeoutMs: 0, maxSize: 1, maxWaiters: 10, ...extra });

/** Settles within `ms` (else 'pending'). */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending' | { error: string }> {
  return Promise.race([p.catch((e: unknown) => ({ error: e instanceof ThriftPoolError ? e.code : String(e) })), new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

test('maxSize 1, endpoint refusing connections: every waiting call fails too', async () => {
  const p = pool(REFUSED_PORT);
  try {
    const results = await Promise.all([1, 2, 3].map((i) => within(p.call(call('ping', i), i, false, { delegations: [] }), 2000)));
    assert.deepEqual(results, [1, 2, 3].map(() => ({ error: 'MESH_ERR_THRIFT_CONNECT' })));
  } finally {
    p.close();
  }
});

test('close() rejects the lent call and the waiting ones', async () => {
  const p = pool(port);
  const lent = within(p.call(call('hang', 1), 1, false, { delegations: [] }), 2000);
  await new Promise((r) => setTimeout(r, 100));
  const waiting = within(p.call(call('ping', 2), 2, false, { delegations: [] }), 2000);
  await new Promise((r) => setTimeout(r, 50));
  p.close();
  assert.deepEqual(await lent, { error: 'MESH_ERR_THRIFT_CLOSED' });
  assert.deepEqual(await waiting, { error: 'MESH_ERR_THRIFT_CLOSED' });
});

test('waiting and lent calls that give up leave the pool usable (no slot held)', async () => {
  const p = pool(port);
  try {
    for (let round = 0; round < 3; round++) {
      const a = new AbortController();
      const b = new AbortController();
      const lent = within(p.call(call('hang', 1), 1, false, { delegations: [] }, a.signal), 2000);
      await new Promise((r) => setTimeout(r, 50));
      const waiting = within(p.call(call('ping', 2), 2, false, { delegations: [] }, b.signal), 2000);
      await new Promise((r) => setTimeout(r, 20));
      a.abort();
      b.abort();
      assert.deepEqual(await lent, { error: 'MESH_ERR_THRIFT_ABORTED' });
      const w = await waiting;
      // Aborted while waiting, or given the freed place and aborted while connecting.
      assert.deepEqual(w, { error: 'MESH_ERR_THRIFT_ABORTED' });
      await new Promise((r) => setTimeout(r, 50));
      const ok = await within(p.call(call('ping', 3 + round), 3 + round, false, { delegations: [] }), 1000);
      assert.ok(Buffer.isBuffer(ok), `round ${round}: ${JSON.stringify(ok)}`);
      assert.ok(p.size <= 1, `connections: ${p.size}`);
    }
  } finally {
    p.close();
  }
});

/**
 * A thrift server on 127.0.0.1 that hands each call's REPLY to `send` (with the call's name and
 * the socket to write it on); `accepted()` counts its connections.
 */
async function replying(send: (name: string, reply: Buffer, sock: net.Socket) => void): Promise<{ server: net.Server; accepted: () => number }> {
  let accepted = 0;
  const srv = net.createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    const reader = new MessageReader({ framed: true, proto: 'binary', maxBytes: 1 << 20 });
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      for (const m of reader.push(d)) {
        const h = readMessageHead(m, 0, 'binary');
        send(h.name, Buffer.concat(frameParts(encodeMessage('binary', h.name, MessageType.REPLY, h.seqid, STOP), true)), sock);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { server: srv, accepted: () => accepted };
}

test('a connection left holding part of a message nobody asked for is not lent again', async () => {
  // Answers every call; a `stray` call's reply is followed by the start of another frame.
  const { server: chatty, accepted } = await replying((name, reply, sock) => sock.write(name === 'stray' ? Buffer.concat([reply, reply.subarray(0, 6)]) : reply));
  const p = pool((chatty.address() as net.AddressInfo).port);
  try {
    const first = await within(p.call(call('stray', 1), 1, false, { delegations: [] }), 2000);
    assert.ok(Buffer.isBuffer(first), JSON.stringify(first));
    // Lent again, the connection would read the next reply from inside the stray frame.
    const second = await within(p.call(call('ping', 2), 2, false, { delegations: [] }), 2000);
    assert.ok(Buffer.isBuffer(second), JSON.stringify(second));
    assert.deepEqual([readMessageHead(second, 0, 'binary').name, readMessageHead(second, 0, 'binary').seqid], ['ping', 2]);
    assert.equal(accepted(), 2);
  } finally {
    p.close();
    chatty.close();
  }
});

test('lifeTimeMs: a connection that old is closed, idle at once or after the call under way; the next call opens another', async () => {
  // Answers `ping` at once and `slow` 900 ms later.
  const { server: srv, accepted } = await replying((name, reply, sock) => {
    if (name === 'slow') setTimeout(() => sock.write(reply), 900);
    else sock.write(reply);
  });
  const p = pool((srv.address() as net.AddressInfo).port, { lifeTimeMs: 500 });
  const ok = async (name: string, seqid: number): Promise<void> => {
    const r = await within(p.call(call(name, seqid), seqid, false, { delegations: [] }), 2000);
    assert.ok(Buffer.isBuffer(r), JSON.stringify(r));
  };
  try {
    await ok('ping', 1);
    await ok('ping', 2);
    assert.equal(accepted(), 1, 'reused while younger than lifeTimeMs');
    // Lent before its life is up, answered after: the call completes, then the connection closes.
    await ok('slow', 3);
    await ok('ping', 4);
    assert.equal(accepted(), 2);
    // Idle past its life: closed without a call.
    const open = (): number => sockets.size;
    for (let waited = 0; open() > 0 && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    assert.equal(open(), 0);
    await ok('ping', 5);
    assert.equal(accepted(), 3);
  } finally {
    p.close();
    srv.close();
  }
});
