import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MuxServer } from '../../../src/protocol/mux/server.js';
import { MuxError } from '../../../src/protocol/mux/errors.js';
import { dial, hex, MARKER_BYTES, rdispatchBytes, RINIT_V1, RPING_1, show, tdispatchBytes, TINIT_V1, TPING_1, withTimeout, type FrameReader } from './helpers.js';

/** A test handler: "slow" waits for its signal, "fail" rejects, "throw" throws, "nack" nacks, else echoes. */
function makeServer(): { server: MuxServer; aborted: Array<Promise<unknown>>; started: Array<Promise<void>> } {
  const aborted: Array<Promise<unknown>> = [];
  let notifyStart: (() => void) | null = null;
  const started: Array<Promise<void>> = [];
  const nextStart = () => started.push(new Promise<void>((r) => (notifyStart = r)));
  nextStart();
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    handler: async (body, signal) => {
      const s = body.toString();
      if (s === 'throw-sync') throw new Error('unreachable');
      if (s === 'slow') {
        aborted.push(new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true })));
        notifyStart!();
        nextStart();
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return Buffer.from('late reply'); // must never be sent
      }
      if (s === 'fail') throw new Error('boom');
      if (s === 'nack') throw new MuxError('MESH_ERR_MUX_NACK', 'busy');
      return Buffer.from(`re:${s}`);
    },
  });
  return { server, aborted, started };
}

/** A server whose handler throws synchronously for "throw" (not from an async function). */
function makeSyncThrowServer(): MuxServer {
  return new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    handler: (body) => {
      if (body.toString() === 'throw') throw new Error('sync');
      return Promise.resolve(Buffer.from(`re:${body.toString()}`));
    },
  });
}

async function expectFrame(p: FrameReader, expected: Buffer, what: string): Promise<void> {
  const f = await p.frame();
  assert.equal(show(f), show(expected), what);
}

/** The Rerr on tag 0 a server sends before closing: type 127, tag 0, and some reason. */
function assertRerrTag0(f: Buffer): string {
  assert.equal(show(f.subarray(4, 8)), '7f 00 00 00', `an Rerr on tag 0, got ${show(f)}`);
  return f.subarray(8).toString();
}

test('a Finagle client session: handshake, dispatches, ping, discard', async () => {
  const { server, aborted, started } = makeServer();
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    // 1. Marker Rerr (type 127, tag 1, "tinit check") is echoed byte for byte.
    p.write(MARKER_BYTES);
    await expectFrame(p, MARKER_BYTES, 'marker echo');
    // 2. Tinit version 1 with a header, as Finagle sends ("mux-framer" -> 4-byte max frame size).
    p.write(hex('00 00 00 1c 44 00 00 01 00 01 00 00 00 0a 6d 75 78 2d 66 72 61 6d 65 72 00 00 00 04 7f ff ff ff'));
    await expectFrame(p, RINIT_V1, 'Rinit(1, version 1, no headers)');
    // 3. A Tdispatch with a broadcast context (a trace id key) and a dtab, as a Finagle client sends.
    p.write(
      hex(
        '00 00 00 2b 02 00 00 02' +
          ' 00 01 00 05 74 72 61 63 65 00 04 01 02 03 04' + // nctx 1: "trace" -> 4 bytes
          ' 00 02 2f 73' + // dst "/s"
          ' 00 01 00 02 2f 61 00 02 2f 62' + // dtab: /a=>/b
          ' 70 69 6e 67 2d 70 6f 6e 67 21', // body "ping-pong!"
      ),
    );
    await expectFrame(p, rdispatchBytes(2, 0, 're:ping-pong!'), 'Rdispatch ok');
    // 4. Tping on the control tag.
    p.write(TPING_1);
    await expectFrame(p, RPING_1, 'Rping');
    // 5. A handler failure is an Rdispatch error carrying its message; a MuxError nack is a nack.
    p.write(tdispatchBytes(5, 'fail'));
    await expectFrame(p, rdispatchBytes(5, 1, 'boom'), 'Rdispatch error');
    p.write(tdispatchBytes(6, 'nack'));
    await expectFrame(p, hex('00 00 00 07 fe 00 00 06 02 00 00'), 'Rdispatch nack');
    // 6. A Treq (deprecated request) with one trace key is answered with an Rreq.
    p.write(hex('00 00 00 0b 01 00 00 07 01 02 01 01 61 62 63'));
    await expectFrame(p, hex('00 00 00 0b ff 00 00 07 00 72 65 3a 61 62 63'), 'Rreq ok "re:abc"');
    // 7. Tdiscarded (old type -62, as Finagle sends it) of a pending slow request.
    p.write(tdispatchBytes(3, 'slow'));
    await withTimeout(started[0], 3000, 'the slow handler to start');
    p.write(hex('00 00 00 0b c2 00 00 00 00 00 03 67 6f 6e 65'));
    await expectFrame(p, hex('00 00 00 04 be 00 00 03'), 'Rdiscarded(3)');
    const reason = (await withTimeout(aborted[0], 3000, 'the handler signal to abort')) as Error;
    assert.equal(reason.name, 'AbortError');
    assert.match(reason.message, /gone/);
    // The late reply of the discarded request is never sent: the next frame is this ping's answer.
    await new Promise((r) => setImmediate(r));
    p.write(TPING_1);
    await expectFrame(p, RPING_1, 'Rping after the discard (no Rdispatch for tag 3)');
    // 8. Out of order: a slow request does not hold up a fast one; tag 3 is reusable.
    p.write(Buffer.concat([tdispatchBytes(3, 'slow'), tdispatchBytes(4, 'fast')]));
    await expectFrame(p, rdispatchBytes(4, 0, 're:fast'), 'fast reply overtakes the slow one');
    assert.deepEqual(server.sessions, { mux: 1, thrift: 0 });
  } finally {
    p.socket.destroy();
    await server.close();
  }
  // close() aborted the second slow handler too.
  const reason = (await withTimeout(aborted[1], 3000, 'close to abort the pending handler')) as Error;
  assert.equal(reason.name, 'AbortError');
});

test('a client without the handshake is served from its first message', async () => {
  const { server } = makeServer();
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(tdispatchBytes(2, 'x'));
    await expectFrame(p, rdispatchBytes(2, 0, 're:x'), 'Rdispatch ok');
    assert.deepEqual(server.sessions, { mux: 1, thrift: 0 });
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('a Tinit of another version is refused with an Rerr and the connection closed', async () => {
  const { server } = makeServer();
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(MARKER_BYTES);
    await expectFrame(p, MARKER_BYTES, 'marker echo');
    p.write(hex('00 00 00 06 44 00 00 01 00 02'));
    const f = await p.frame();
    assert.equal(show(f.subarray(4, 8)), '7f 00 00 01');
    assert.equal(f.subarray(8).toString(), 'unsupported mux version 2');
    await p.waitClosed();
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('a downgraded framed-thrift session: pipelined frames answered in order', async () => {
  const order: string[] = [];
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    handler: async (body) => {
      const seq = body.readUInt32BE(body.length - 4);
      order.push(`start ${seq}`);
      // The first call finishes last, so in-order writing is what keeps replies in order.
      if (seq === 1) await new Promise((r) => setTimeout(r, 60));
      order.push(`done ${seq}`);
      return Buffer.concat([Buffer.from('R'), body]);
    },
  });
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    // Two TBinaryProtocol CALLs of method "a" (header 0x80010001, name, seqid 1 and 2), framed.
    const call1 = hex('80 01 00 01 00 00 00 01 61 00 00 00 01');
    const call2 = hex('80 01 00 01 00 00 00 01 61 00 00 00 02');
    p.write(Buffer.concat([hex('00 00 00 0d'), call1, hex('00 00 00 0d'), call2]));
    const r1 = await p.frame();
    const r2 = await p.frame();
    assert.equal(show(r1), show(Buffer.concat([hex('00 00 00 0e 52'), call1])));
    assert.equal(show(r2), show(Buffer.concat([hex('00 00 00 0e 52'), call2])));
    assert.deepEqual(order.slice(0, 2), ['start 1', 'start 2'], 'both calls ran at once');
    assert.deepEqual(server.sessions, { mux: 0, thrift: 1 });
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('a plain mux server (downgrade: false) disconnects a framed-thrift peer without calling its handler', async () => {
  let called = 0;
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    downgrade: false,
    handler: async () => {
      called++;
      return Buffer.alloc(0);
    },
  });
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(Buffer.concat([hex('00 00 00 0d'), hex('80 01 00 01 00 00 00 01 61 00 00 00 01')]));
    await p.waitClosed(3000);
    assert.equal(called, 0);
    assert.deepEqual(server.sessions, { mux: 0, thrift: 0 });
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('a framed thrift ONEWAY header (Rerr tag 65540 as mux) also downgrades', async () => {
  const seen: string[] = [];
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    handler: async (body) => {
      seen.push(show(body));
      return Buffer.from('ok');
    },
  });
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(hex('00 00 00 0d 80 01 00 04 00 00 00 01 62 00 00 00 09'));
    await expectFrame(p, hex('00 00 00 02 6f 6b'), 'framed reply');
    assert.deepEqual(seen, ['80 01 00 04 00 00 00 01 62 00 00 00 09']);
    assert.deepEqual(server.sessions, { mux: 0, thrift: 1 });
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('garbage, an oversize frame or a throwing handler close only that connection', async () => {
  const server = makeSyncThrowServer();
  const { port } = await server.listen();
  const good = await dial(port);
  const garbage = await dial(port);
  const oversize = await dial(port);
  const throwing = await dial(port);
  try {
    for (const p of [good, garbage, oversize, throwing]) {
      p.write(MARKER_BYTES);
      await expectFrame(p, MARKER_BYTES, 'marker echo');
      p.write(TINIT_V1);
      await expectFrame(p, RINIT_V1, 'Rinit');
    }
    // Unknown message type 0x10 once the session is mux.
    garbage.write(hex('00 00 00 06 10 00 00 02 ab cd'));
    assert.match(assertRerrTag0(await garbage.frame()), /unknown message type 16/);
    await garbage.waitClosed();
    // A size field of 16 MiB + 1: refused at once, without waiting for the body.
    oversize.write(hex('01 00 00 01 02 00 00 02'));
    assert.match(assertRerrTag0(await oversize.frame()), /over the limit/);
    await oversize.waitClosed();
    // A handler that throws instead of returning a promise.
    throwing.write(tdispatchBytes(2, 'throw'));
    assert.match(assertRerrTag0(await throwing.frame()), /handler failed: sync/);
    await throwing.waitClosed();
    // The first connection is untouched.
    good.write(tdispatchBytes(2, 'still here'));
    await expectFrame(good, rdispatchBytes(2, 0, 're:still here'), 'reply on the good connection');
    good.write(TPING_1);
    await expectFrame(good, RPING_1, 'Rping on the good connection');
    assert.deepEqual(server.sessions, { mux: 4, thrift: 0 });
  } finally {
    for (const p of [good, garbage, oversize, throwing]) p.socket.destroy();
    await server.close();
  }
});

test('a duplicate tag is a protocol error', async () => {
  const { server, started } = makeServer();
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(tdispatchBytes(2, 'slow'));
    await withTimeout(started[0], 3000, 'the slow handler to start');
    p.write(tdispatchBytes(2, 'again'));
    assert.match(assertRerrTag0(await p.frame()), /duplicate tag 2/);
    await p.waitClosed();
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('close() ends open connections and stops accepting', async () => {
  const { server, aborted, started } = makeServer();
  const { port } = await server.listen();
  const p = await dial(port);
  p.write(tdispatchBytes(2, 'slow'));
  await withTimeout(started[0], 3000, 'the slow handler to start');
  await withTimeout(server.close(), 3000, 'server close');
  await p.waitClosed();
  const reason = (await withTimeout(aborted[0], 3000, 'the handler to be aborted')) as Error;
  assert.equal(reason.name, 'AbortError');
  await assert.rejects(dial(port));
});

// ---- serverSession expiry and draining ---------------------------------------------------------

/** Tdrain and Rdrain on the control tag, as Finagle's MuxServerSession and its clients send them. */
const TDRAIN_1 = hex('00 00 00 04 40 00 00 01');
const RDRAIN_1 = hex('00 00 00 04 c0 00 00 01');

/**
 * A server whose handler echoes, except that a body containing "hold" waits until `release()`
 * (or its signal aborts). `seen` lists every body the handler got.
 */
function holdingServer(opts: { idleTimeMs?: number; lifeTimeMs?: number; drainTimeoutMs?: number }) {
  const seen: string[] = [];
  /** The server's drain events (`onDrain`), in order. */
  const drains: string[] = [];
  const held: Array<{ release: () => void; aborted: Promise<unknown> }> = [];
  let onHeld: (() => void) | null = null;
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    ...opts,
    onDrain: (event) => drains.push(event),
    handler: async (body, signal) => {
      const s = body.toString('latin1');
      seen.push(s);
      if (s.includes('hold')) {
        let release!: () => void;
        const released = new Promise<void>((r) => (release = r));
        const aborted = new Promise((r) => signal.addEventListener('abort', () => r(signal.reason), { once: true }));
        held.push({ release, aborted });
        onHeld?.();
        await Promise.race([released, aborted]);
        if (signal.aborted) throw signal.reason;
      }
      return Buffer.from(`re:${s}`, 'latin1');
    },
  });
  /** The n-th held request (0-based), once its handler has started. */
  const holding = async (n: number) => {
    for (let i = 0; i < 100 && held.length <= n; i++) await withTimeout(new Promise<void>((r) => (onHeld = r)), 3000, `held request ${n}`);
    return held[n]!;
  };
  return { server, seen, holding, drains };
}

/** Treq(tag, no keys, body) and an Rreq nack for a tag, written out by hand. */
function treqBytes(tag: number, body: string): Buffer {
  const b = Buffer.from(body);
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + b.length, 0);
  head[4] = 0x01;
  head.writeUIntBE(tag, 5, 3);
  head[8] = 0;
  return Buffer.concat([head, b]);
}
const rreqNack = (tag: number): Buffer => Buffer.concat([hex('00 00 00 05 ff'), hex(tag.toString(16).padStart(6, '0')), hex('02')]);
const rdispatchNack = (tag: number): Buffer => Buffer.concat([hex('00 00 00 07 fe'), hex(tag.toString(16).padStart(6, '0')), hex('02 00 00')]);

async function handshake(p: FrameReader): Promise<void> {
  p.write(MARKER_BYTES);
  await expectFrame(p, MARKER_BYTES, 'marker echo');
  p.write(TINIT_V1);
  await expectFrame(p, RINIT_V1, 'Rinit');
}

test('serverSession idleTimeMs: not while a request is in flight; then Tdrain, requests served until Rdrain, then closed', async () => {
  const { server, holding, drains } = holdingServer({ idleTimeMs: 150 });
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    await handshake(p);
    // A request in flight for twice the idle time keeps the session from expiring.
    p.write(tdispatchBytes(2, 'hold'));
    const h = await holding(0);
    await assert.rejects(p.frame(350), /no frame within 350 ms/);
    h.release();
    await expectFrame(p, rdispatchBytes(2, 0, 're:hold'), 'the held reply');
    const t0 = Date.now();
    await expectFrame(p, TDRAIN_1, 'Tdrain on the control tag once idle');
    const waited = Date.now() - t0;
    assert.ok(waited >= 120 && waited < 2000, `Tdrain ${waited} ms after the last reply`);
    // Until the client's Rdrain, the session serves as before (Finagle drains on Rdrain).
    p.write(tdispatchBytes(3, 'before rdrain'));
    await expectFrame(p, rdispatchBytes(3, 0, 're:before rdrain'), 'served before Rdrain');
    p.write(TPING_1);
    await expectFrame(p, RPING_1, 'Rping before Rdrain');
    assert.deepEqual(drains, ['draining'], 'counted as draining once the Tdrain is out');
    p.write(RDRAIN_1);
    await p.waitClosed();
    assert.equal(p.leftover.length, 0, `bytes after the drain: ${show(p.leftover)}`);
    assert.deepEqual(drains, ['draining', 'drained'], 'drained: Rdrain with nothing in flight');
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('serverSession lifeTimeMs: Tdrain while a request is in flight; after Rdrain new requests are nacked; closed after the reply', async () => {
  const { server, seen, holding, drains } = holdingServer({ lifeTimeMs: 200 });
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    await handshake(p);
    const t0 = Date.now();
    p.write(tdispatchBytes(2, 'hold'));
    const h = await holding(0);
    await expectFrame(p, TDRAIN_1, 'Tdrain once the session is 200 ms old');
    assert.ok(Date.now() - t0 >= 150, `Tdrain after ${Date.now() - t0} ms`);
    p.write(RDRAIN_1);
    // Refused unprocessed: Rdispatch and Rreq status 2 (nack), never given to the handler.
    p.write(tdispatchBytes(3, 'late dispatch'));
    await expectFrame(p, rdispatchNack(3), 'Rdispatch nack after Rdrain');
    p.write(treqBytes(4, 'late treq'));
    await expectFrame(p, rreqNack(4), 'Rreq nack after Rdrain');
    p.write(TPING_1);
    await expectFrame(p, RPING_1, 'pings are still answered');
    assert.deepEqual(seen, ['hold']);
    assert.equal(server.connectionCount, 1, 'open while a request is in flight');
    assert.deepEqual(drains, ['draining'], 'not drained while a request is in flight');
    h.release();
    await expectFrame(p, rdispatchBytes(2, 0, 're:hold'), 'the request in flight finishes');
    await p.waitClosed();
    assert.equal(p.leftover.length, 0);
    assert.deepEqual(drains, ['draining', 'drained'], 'drained once the last reply is out');
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('a client that never answers Tdrain is closed after drainTimeoutMs; a request still in flight is aborted', async () => {
  const { server, holding, drains } = holdingServer({ idleTimeMs: 50, drainTimeoutMs: 400 });
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(tdispatchBytes(2, 'first')); // no handshake: the server takes it as it comes
    await expectFrame(p, rdispatchBytes(2, 0, 're:first'), 'reply');
    await expectFrame(p, TDRAIN_1, 'Tdrain once idle');
    const t0 = Date.now();
    p.write(tdispatchBytes(3, 'hold'));
    const h = await holding(0);
    await p.waitClosed(3000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 350 && waited < 3000, `closed ${waited} ms after the Tdrain`);
    const reason = (await withTimeout(h.aborted, 3000, 'the held request to be aborted')) as Error;
    assert.equal(reason.name, 'AbortError');
    assert.equal(p.leftover.length, 0, `no reply to the aborted request: ${show(p.leftover)}`);
    assert.deepEqual(drains, ['draining'], 'a drain cut off by drainTimeoutMs is not drained');
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

test('a session expired between the marker echo and the Tinit gets its Tdrain after the Rinit', async () => {
  const { server, seen } = holdingServer({ lifeTimeMs: 100 });
  const { port } = await server.listen();
  const p = await dial(port);
  try {
    p.write(MARKER_BYTES);
    await expectFrame(p, MARKER_BYTES, 'marker echo');
    // The session is past its lifetime while the client has yet to send Tinit: a Finagle client
    // reads the next message as the answer to its Tinit, so nothing may come before the Rinit.
    await assert.rejects(p.frame(300), /no frame within 300 ms/);
    p.write(TINIT_V1);
    await expectFrame(p, RINIT_V1, 'Rinit first');
    await expectFrame(p, TDRAIN_1, 'then the Tdrain');
    p.write(tdispatchBytes(2, 'before rdrain'));
    await expectFrame(p, rdispatchBytes(2, 0, 're:before rdrain'), 'served before Rdrain');
    p.write(RDRAIN_1);
    await p.waitClosed();
    assert.equal(p.leftover.length, 0, `bytes after the drain: ${show(p.leftover)}`);
    assert.deepEqual(seen, ['before rdrain']);
  } finally {
    p.socket.destroy();
    await server.close();
  }
});

/** A framed TBinaryProtocol CALL of method `name` with seqid 1. */
function thriftCall(name: string): Buffer {
  const n = Buffer.from(name);
  const msg = Buffer.concat([hex('80 01 00 01'), hex(n.length.toString(16).padStart(8, '0')), n, hex('00 00 00 01')]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length, 0);
  return Buffer.concat([len, msg]);
}

/** The framed reply the holding server sends to a framed call: "re:" and the message. */
function thriftReply(call: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from('re:'), call.subarray(4)]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

test('serverSession on a downgraded thrift session: closed when idle; past lifeTimeMs, closed after the reply under way', async () => {
  const idle = holdingServer({ idleTimeMs: 150 });
  const { port } = await idle.server.listen();
  const p = await dial(port);
  try {
    const call = thriftCall('ping');
    p.write(call);
    await expectFrame(p, thriftReply(call), 'framed reply');
    const t0 = Date.now();
    await p.waitClosed();
    assert.ok(Date.now() - t0 >= 120, `closed ${Date.now() - t0} ms after the reply`);
    assert.equal(p.leftover.length, 0, 'plain thrift gets no Tdrain');
    assert.deepEqual(idle.server.sessions, { mux: 0, thrift: 1 });
  } finally {
    p.socket.destroy();
    await idle.server.close();
  }

  const old = holdingServer({ lifeTimeMs: 200 });
  const { port: port2 } = await old.server.listen();
  const q = await dial(port2);
  try {
    const held = thriftCall('hold');
    q.write(held);
    const h = await old.holding(0);
    // Past its lifetime (no event says so on plain thrift): a frame read now goes unanswered.
    await new Promise((r) => setTimeout(r, 300));
    q.write(thriftCall('after'));
    h.release();
    await expectFrame(q, thriftReply(held), 'the reply under way');
    await q.waitClosed();
    assert.equal(q.leftover.length, 0);
    assert.deepEqual(old.seen.map((s) => s.slice(8, 12)), ['hold']);
  } finally {
    q.socket.destroy();
    await old.server.close();
  }
});

test('close(graceMs) drains: Tdrain, nacks after Rdrain, the request in flight finishes, then the server is closed', async () => {
  const { server, holding } = holdingServer({});
  const { port } = await server.listen();
  const p = await dial(port);
  const quiet = await dial(port);
  try {
    await handshake(p);
    quiet.write(thriftCall('ping'));
    await expectFrame(quiet, thriftReply(thriftCall('ping')), 'a plain thrift caller, now idle');
    p.write(tdispatchBytes(2, 'hold'));
    const h = await holding(0);
    const t0 = Date.now();
    const closing = server.close(5000);
    await expectFrame(p, TDRAIN_1, 'Tdrain on close');
    await quiet.waitClosed(); // nothing in flight: closed at once
    p.write(RDRAIN_1);
    p.write(tdispatchBytes(3, 'new'));
    await expectFrame(p, rdispatchNack(3), 'nack after Rdrain');
    await assert.rejects(dial(port));
    h.release();
    await expectFrame(p, rdispatchBytes(2, 0, 're:hold'), 'the request in flight finishes');
    await p.waitClosed();
    await withTimeout(closing, 3000, 'close');
    assert.ok(Date.now() - t0 < 3000, `closed after ${Date.now() - t0} ms`);
  } finally {
    p.socket.destroy();
    quiet.socket.destroy();
    await server.close();
  }
});

test('a MuxClient answers an expiring server\'s Tdrain and sends its next request on a new session', async () => {
  const { server } = holdingServer({ idleTimeMs: 100 });
  const { port } = await server.listen();
  const { MuxClient } = await import('../../../src/protocol/mux/client.js');
  const client = new MuxClient({ host: '127.0.0.1', port, pingIntervalMs: 0 });
  try {
    assert.equal((await client.dispatch(Buffer.from('one'))).toString(), 're:one');
    // The drained session is closed by both sides (the client's Rdrain, then the server's close).
    for (let i = 0; i < 150 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.connectionCount, 0);
    assert.equal((await client.dispatch(Buffer.from('two'))).toString(), 're:two');
    assert.equal(client.connections, 2);
    assert.deepEqual(server.sessions, { mux: 2, thrift: 0 });
  } finally {
    client.close();
    await server.close();
  }
});
