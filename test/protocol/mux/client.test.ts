import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MuxClient, type MuxClientOptions } from '../../../src/protocol/mux/client.js';
import { MuxServer } from '../../../src/protocol/mux/server.js';
import { MuxError, type MuxErrorCode } from '../../../src/protocol/mux/errors.js';
import { makeTestCerts } from '../../support/certs.js';
import { REFUSED_PORT } from '../../support/process.js';
import {
  hex,
  MARKER_BYTES,
  RawServer,
  rdispatchBytes,
  RPING_1,
  serveHandshake,
  show,
  tdispatchBytes,
  TINIT_V1,
  TPING_1,
  withTimeout,
  type FrameReader,
} from './helpers.js';

function isMuxError(code: MuxErrorCode, retryable?: boolean) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof MuxError, `expected a MuxError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (retryable !== undefined) assert.equal(e.retryable, retryable);
    return true;
  };
}

/** A RawServer and a MuxClient to it, both closed after the test. */
async function rawClient(t: TestContext, opts: Omit<MuxClientOptions, 'host' | 'port'> = {}): Promise<{ raw: RawServer; client: MuxClient }> {
  const raw = new RawServer();
  const port = await raw.listen();
  const client = new MuxClient({ host: '127.0.0.1', port, ...opts });
  t.after(async () => {
    client.close();
    await raw.close();
  });
  return { raw, client };
}

function echoServer(): MuxServer {
  return new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    handler: async (body) => {
      const s = body.toString();
      if (s === 'fail') throw new Error('boom');
      if (s === 'nack') throw new MuxError('MESH_ERR_MUX_NACK', 'busy');
      if (s.startsWith('wait:')) await new Promise((r) => setTimeout(r, Number(s.slice(5))));
      return Buffer.from(`re:${s}`);
    },
  });
}

test('round trips against MuxServer on one session, concurrent calls, remote errors and nacks', async () => {
  const server = echoServer();
  const { port } = await server.listen();
  const client = new MuxClient({ host: '127.0.0.1', port });
  try {
    assert.equal((await client.dispatch(Buffer.from('a'))).toString(), 're:a');
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.dispatch(Buffer.from(i % 3 === 0 ? `wait:${20 - i}` : `n${i}`))),
    );
    assert.deepEqual(
      many.map((b) => b.toString()),
      Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? `re:wait:${20 - i}` : `re:n${i}`)),
    );
    await assert.rejects(client.dispatch(Buffer.from('fail')), (e) => isMuxError('MESH_ERR_MUX_REMOTE', false)(e) && (e as Error).message === 'boom');
    await assert.rejects(client.dispatch(Buffer.from('nack')), isMuxError('MESH_ERR_MUX_NACK', true));
    const big = Buffer.alloc(1 << 20, 0x61);
    const rep = await client.dispatch(big);
    assert.equal(rep.length, big.length + 3);
    assert.equal(client.connections, 1);
    assert.deepEqual(server.sessions, { mux: 1, thrift: 0 });
  } finally {
    client.close();
    await server.close();
  }
});

test('a server without the handshake: the client drops its answer to the marker and dispatches', async (t) => {
  const { raw, client } = await rawClient(t);
  const reply = client.dispatch(Buffer.from('hello'));
  const p = await raw.peer(0);
  assert.equal(show(await p.frame()), show(MARKER_BYTES), 'the marker Rerr, type 127, tag 1');
  // An old server answers the unknown marker with an Rerr of its own.
  p.write(Buffer.concat([hex('00 00 00 1a 7f 00 00 01'), Buffer.from('Unexpected mux message')]));
  // No Tinit follows: the next frame is the dispatch, tag 2, no contexts, dst or dtab.
  assert.equal(show(await p.frame()), show(hex('00 00 00 0f 02 00 00 02 00 00 00 00 00 00 68 65 6c 6c 6f')));
  p.write(rdispatchBytes(2, 0, 'world'));
  assert.equal((await withTimeout(reply, 3000, 'the reply')).toString(), 'world');
});

test('an Rdispatch nack and an Rerr for the tag reject with their codes', async (t) => {
  const { raw, client } = await rawClient(t);
  const first = client.dispatch(Buffer.from('one'));
  const p = await raw.peer(0);
  await serveHandshake(p);
  assert.equal(show(await p.frame()), show(tdispatchBytes(2, 'one')));
  p.write(hex('00 00 00 07 fe 00 00 02 02 00 00'));
  await assert.rejects(withTimeout(first, 3000, 'the nack'), (e) => isMuxError('MESH_ERR_MUX_NACK', true)(e) && (e as MuxError).rejected);
  const second = client.dispatch(Buffer.from('two'));
  assert.equal(show(await p.frame()), show(tdispatchBytes(2, 'two')), 'tag 2 was freed by the nack');
  p.write(Buffer.concat([hex('00 00 00 08 7f 00 00 02'), Buffer.from('nope')]));
  await assert.rejects(withTimeout(second, 3000, 'the Rerr'), (e) => isMuxError('MESH_ERR_MUX_REMOTE', false)(e) && (e as Error).message === 'nope');
  assert.equal(client.connections, 1);
});

test('a server that never answers pings: the session is torn down and the next dispatch reconnects', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 40, pingTimeoutMs: 80 });
  const started = Date.now();
  const pending = client.dispatch(Buffer.from('never answered'));
  const p0 = await raw.peer(0);
  await serveHandshake(p0);
  assert.equal(show(await p0.frame()), show(tdispatchBytes(2, 'never answered')));
  assert.equal(show(await p0.frame()), show(TPING_1), 'a Tping on tag 1');
  await assert.rejects(withTimeout(pending, 3000, 'the ping timeout'), isMuxError('MESH_ERR_MUX_CLOSED', true));
  const took = Date.now() - started;
  assert.ok(took < 2000, `torn down after ${took} ms`);
  await p0.waitClosed();
  // The next dispatch opens a new session, whose server does answer.
  const next = client.dispatch(Buffer.from('again'));
  const p1 = await raw.peer(1);
  await serveHandshake(p1);
  assert.equal(show(await p1.frame()), show(tdispatchBytes(2, 'again')));
  p1.write(rdispatchBytes(2, 0, 'ok'));
  assert.equal((await withTimeout(next, 3000, 'the reply on the new session')).toString(), 'ok');
  assert.equal(client.connections, 2);
  // This server answers pings, so the session stays up across several ping intervals.
  for (let i = 0; i < 3; i++) {
    assert.equal(show(await p1.frame()), show(TPING_1));
    p1.write(RPING_1);
  }
  const still = client.dispatch(Buffer.from('still'));
  for (let i = 0; i < 10; i++) {
    const f = await p1.frame();
    if (f.equals(TPING_1)) {
      p1.write(RPING_1);
      continue;
    }
    assert.equal(show(f), show(tdispatchBytes(2, 'still')));
    p1.write(rdispatchBytes(2, 0, 'yes'));
    break;
  }
  assert.equal((await withTimeout(still, 3000, 'a dispatch after pings')).toString(), 'yes');
  assert.equal(client.connections, 2);
});

test('pings from the server are answered on their tag', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const reply = client.dispatch(Buffer.from('x'));
  const p = await raw.peer(0);
  await serveHandshake(p);
  await p.frame(); // the dispatch
  p.write(hex('00 00 00 04 41 00 00 01'));
  assert.equal(show(await p.frame()), show(hex('00 00 00 04 bf 00 00 01')));
  p.write(hex('00 00 00 04 41 00 01 00'));
  assert.equal(show(await p.frame()), show(hex('00 00 00 04 bf 00 01 00')));
  // A lease is ignored; the session keeps working.
  p.write(hex('00 00 00 0d 43 00 00 00 00 00 00 00 00 00 00 03 e8'));
  p.write(rdispatchBytes(2, 0, 'y'));
  assert.equal((await withTimeout(reply, 3000, 'the reply')).toString(), 'y');
});

test('a draining server: Rdrain, new dispatches on a new session, the pending one finishes', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const first = client.dispatch(Buffer.from('first'));
  const p0 = await raw.peer(0);
  await serveHandshake(p0);
  assert.equal(show(await p0.frame()), show(tdispatchBytes(2, 'first')));
  p0.write(hex('00 00 00 04 40 00 00 01')); // Tdrain
  assert.equal(show(await p0.frame()), show(hex('00 00 00 04 c0 00 00 01')), 'Rdrain');
  const second = client.dispatch(Buffer.from('second'));
  const p1 = await raw.peer(1);
  await serveHandshake(p1);
  assert.equal(show(await p1.frame()), show(tdispatchBytes(2, 'second')));
  p1.write(rdispatchBytes(2, 0, 'two'));
  assert.equal((await withTimeout(second, 3000, 'the second reply')).toString(), 'two');
  // The drained session still delivers its pending reply, then the client closes it.
  p0.write(rdispatchBytes(2, 0, 'one'));
  assert.equal((await withTimeout(first, 3000, 'the first reply')).toString(), 'one');
  await p0.waitClosed();
  assert.equal(client.connections, 2);
  assert.equal(raw.peers.length, 2);
});

/** Plays a server that answers the client's Tinit with a Tdrain: the client must answer Rdrain. */
async function drainBeforeRinit(p: FrameReader, which = ''): Promise<void> {
  assert.equal(show(await p.frame()), show(MARKER_BYTES), `marker${which}`);
  p.write(MARKER_BYTES);
  assert.equal(show(await p.frame()), show(TINIT_V1), `Tinit${which}`);
  p.write(hex('00 00 00 04 40 00 00 01')); // Tdrain on the control tag
  assert.equal(show(await p.frame()), show(hex('00 00 00 04 c0 00 00 01')), `Rdrain${which}`);
}

test('a Tdrain during the handshake: Rdrain, and the dispatches waiting go to a new session', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const first = client.dispatch(Buffer.from('first'));
  const p0 = await raw.peer(0);
  await drainBeforeRinit(p0);
  // Nothing was sent on the drained session: the client ends it and goes to a new one.
  await p0.waitClosed();
  assert.equal(p0.leftover.length, 0, `bytes after the Rdrain: ${show(p0.leftover)}`);
  const p1 = await raw.peer(1);
  await serveHandshake(p1);
  assert.equal(show(await p1.frame()), show(tdispatchBytes(2, 'first')));
  p1.write(rdispatchBytes(2, 0, 'one'));
  assert.equal((await withTimeout(first, 3000, 'the reply on the new session')).toString(), 'one');
  assert.equal(client.connections, 2);
});

test('a server that drains every session before its Rinit: the call fails after 3 sessions', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const call = client.dispatch(Buffer.from('x'));
  const failed = assert.rejects(withTimeout(call, 5000, 'the call to fail'), (e: Error & { code?: string }) => e.code === 'MESH_ERR_MUX_HANDSHAKE' && /drained 3 sessions/.test(e.message));
  for (let i = 0; i < 3; i++) {
    const p = await raw.peer(i);
    await drainBeforeRinit(p, ` (session ${i})`);
    await p.waitClosed();
  }
  await failed;
  assert.equal(client.connections, 3);
});

test('abort sends Tdiscarded and rejects at once; the tag is reused after Rdiscarded', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const ac = new AbortController();
  const pending = client.dispatch(Buffer.from('slow'), ac.signal);
  const p = await raw.peer(0);
  await serveHandshake(p);
  assert.equal(show(await p.frame()), show(tdispatchBytes(2, 'slow')));
  // Another call holds tag 3 meanwhile.
  const other = client.dispatch(Buffer.from('other'));
  assert.equal(show(await p.frame()), show(tdispatchBytes(3, 'other')));
  ac.abort(new Error('caller gave up'));
  await assert.rejects(withTimeout(pending, 500, 'the abort'), (e: Error) => e.name === 'AbortError');
  // Tdiscarded: type -62, tag 0, which = 2, why = the abort reason's message.
  assert.equal(show(await p.frame()), show(Buffer.concat([hex('00 00 00 15 c2 00 00 00 00 00 02'), Buffer.from('caller gave up')])));
  // Until the server answers, tag 2 stays reserved: a new call takes tag 4.
  const third = client.dispatch(Buffer.from('third'));
  assert.equal(show(await p.frame()), show(tdispatchBytes(4, 'third')));
  p.write(hex('00 00 00 04 be 00 00 02')); // Rdiscarded(2)
  p.write(rdispatchBytes(3, 0, 'o'));
  assert.equal((await withTimeout(other, 3000, 'the other reply')).toString(), 'o');
  const fourth = client.dispatch(Buffer.from('fourth'));
  const f = await p.frame();
  assert.equal(f.readUIntBE(5, 3) === 2 || f.readUIntBE(5, 3) === 3, true, `a freed tag is reused, got ${show(f)}`);
  p.write(rdispatchBytes(f.readUIntBE(5, 3), 0, '4'));
  p.write(rdispatchBytes(4, 0, '3'));
  assert.equal((await withTimeout(fourth, 3000, 'the fourth reply')).toString(), '4');
  assert.equal((await withTimeout(third, 3000, 'the third reply')).toString(), '3');
  // A signal already aborted rejects without touching the network.
  const gone = new AbortController();
  gone.abort();
  await assert.rejects(client.dispatch(Buffer.from('never'), gone.signal), (e: Error) => e.name === 'AbortError');
});

test('an Rdiscarded for a call the client did not discard fails that call; the session goes on', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const dropped = client.dispatch(Buffer.from('dropped'));
  const p = await raw.peer(0);
  await serveHandshake(p);
  assert.equal(show(await p.frame()), show(tdispatchBytes(2, 'dropped')));
  p.write(hex('00 00 00 04 be 00 00 02')); // Rdiscarded(2): the server gave up on it
  await assert.rejects(withTimeout(dropped, 1000, 'the discarded call'), isMuxError('MESH_ERR_MUX_REMOTE', false));
  // The tag is free again and the session still serves.
  const next = client.dispatch(Buffer.from('next'));
  assert.equal(show(await p.frame()), show(tdispatchBytes(2, 'next')));
  p.write(rdispatchBytes(2, 0, 'n'));
  assert.equal((await withTimeout(next, 3000, 'the next reply')).toString(), 'n');
});

test('an abort before the session opens sends nothing for that call', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const ac = new AbortController();
  const aborted = client.dispatch(Buffer.from('queued'), ac.signal);
  const kept = client.dispatch(Buffer.from('kept'));
  const p = await raw.peer(0);
  assert.equal(show(await p.frame()), show(MARKER_BYTES));
  ac.abort();
  await assert.rejects(withTimeout(aborted, 500, 'the abort'), (e: Error) => e.name === 'AbortError');
  p.write(MARKER_BYTES);
  await p.frame(); // Tinit
  p.write(hex('00 00 00 06 bc 00 00 01 00 01'));
  assert.equal(show(await p.frame()), show(tdispatchBytes(2, 'kept')), 'only the kept call is sent');
  p.write(rdispatchBytes(2, 0, 'k'));
  assert.equal((await withTimeout(kept, 3000, 'the reply')).toString(), 'k');
});

test('garbage from the server or a lost connection rejects pending calls with CLOSED', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const a = client.dispatch(Buffer.from('a'));
  const p0 = await raw.peer(0);
  await serveHandshake(p0);
  await p0.frame();
  p0.write(hex('00 00 00 05 10 00 00 02 00')); // unknown type 16
  await assert.rejects(withTimeout(a, 3000, 'the garbage'), isMuxError('MESH_ERR_MUX_CLOSED', true));
  await p0.waitClosed();
  const b = client.dispatch(Buffer.from('b'));
  const p1 = await raw.peer(1);
  await serveHandshake(p1);
  await p1.frame();
  p1.socket.destroy();
  await assert.rejects(withTimeout(b, 3000, 'the reset'), isMuxError('MESH_ERR_MUX_CLOSED', true));
  assert.equal(client.connections, 2);
});

test('a handshake refused after the echo rejects with MESH_ERR_MUX_HANDSHAKE', async (t) => {
  const { raw, client } = await rawClient(t, { pingIntervalMs: 0 });
  const a = client.dispatch(Buffer.from('a'));
  const p = await raw.peer(0);
  await p.frame();
  p.write(MARKER_BYTES);
  await p.frame();
  p.write(Buffer.concat([hex('00 00 00 0d 7f 00 00 01'), Buffer.from('no thanks')]));
  await assert.rejects(withTimeout(a, 3000, 'the refusal'), isMuxError('MESH_ERR_MUX_HANDSHAKE', false));
});

test('connect failures and a silent server reject with CLOSED within the connect timeout', async () => {
  const raw = new RawServer();
  const port = await raw.listen();
  const client = new MuxClient({ host: '127.0.0.1', port, connectTimeoutMs: 150 });
  try {
    const started = Date.now();
    await assert.rejects(withTimeout(client.dispatch(Buffer.from('a')), 3000, 'the connect timeout'), isMuxError('MESH_ERR_MUX_CLOSED', true));
    const took = Date.now() - started;
    assert.ok(took >= 140 && took < 2000, `rejected after ${took} ms`);
    await (await raw.peer(0)).waitClosed();
  } finally {
    client.close();
    await raw.close();
  }
  // A port nothing listens on (not the one just closed: see REFUSED_PORT).
  const refused = new MuxClient({ host: '127.0.0.1', port: REFUSED_PORT });
  // The server never saw it: a router may send it elsewhere.
  await assert.rejects(withTimeout(refused.dispatch(Buffer.from('a')), 3000, 'refusal'), (e) => isMuxError('MESH_ERR_MUX_CLOSED', true)(e) && (e as MuxError).rejected);
  refused.close();
});

test('a dispatch carries its destination, dtab and contexts; a call sent before the session died is not marked rejected', async (t) => {
  const seen: unknown[] = [];
  let cut: (() => void) | undefined;
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    handler: async (body, _signal, info) => {
      seen.push({ body: body.toString(), dst: info?.dst, dtab: info?.dtab, contexts: info?.contexts?.map(([k, v]) => [k.toString(), v.toString()]) });
      if (body.toString() === 'hang') await new Promise<void>((r) => (cut = r));
      return Buffer.from('ok');
    },
  });
  const { port } = await server.listen();
  const client = new MuxClient({ host: '127.0.0.1', port, pingIntervalMs: 0 });
  t.after(async () => {
    client.close();
    cut?.();
    await server.close();
  });
  const fields = { dst: '/users/42', dtab: [['/svc', '/#/io.l5d.fs']] as [string, string][], contexts: [[Buffer.from('k'), Buffer.from('v')]] as [Buffer, Buffer][] };
  assert.equal((await client.dispatch(Buffer.from('a'), undefined, fields)).toString(), 'ok');
  assert.equal((await client.dispatch(Buffer.from('b'))).toString(), 'ok');
  assert.deepEqual(seen, [
    { body: 'a', dst: '/users/42', dtab: [['/svc', '/#/io.l5d.fs']], contexts: [['k', 'v']] },
    { body: 'b', dst: '', dtab: [], contexts: [] },
  ]);
  // A call the server has (its session then dies): retryable, but not known to be unprocessed.
  const hung = client.dispatch(Buffer.from('hang'));
  for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(seen.length, 3);
  await server.close();
  await assert.rejects(withTimeout(hung, 3000, 'the cut session'), (e) => isMuxError('MESH_ERR_MUX_CLOSED', true)(e) && !(e as MuxError).rejected);
});

test('close() rejects pending calls and later dispatches with CLOSED', async (t) => {
  const { raw, client } = await rawClient(t);
  const pending = client.dispatch(Buffer.from('a'));
  const p = await raw.peer(0);
  await serveHandshake(p);
  await p.frame();
  client.close();
  await assert.rejects(withTimeout(pending, 1000, 'close'), isMuxError('MESH_ERR_MUX_CLOSED', true));
  await assert.rejects(client.dispatch(Buffer.from('b')), isMuxError('MESH_ERR_MUX_CLOSED', true));
  await p.waitClosed();
  assert.equal(client.connections, 1);
});

test('TLS round trip with a self-signed CA', async () => {
  const certs = makeTestCerts();
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
    handler: async (body) => Buffer.concat([Buffer.from('tls:'), body]),
  });
  const { port } = await server.listen();
  const client = new MuxClient({ host: '127.0.0.1', port, tls: { ca: readFileSync(certs.caCert) } });
  const untrusting = new MuxClient({ host: '127.0.0.1', port, tls: {}, connectTimeoutMs: 2000 });
  try {
    assert.equal((await withTimeout(client.dispatch(Buffer.from('hi')), 5000, 'the TLS reply')).toString(), 'tls:hi');
    assert.equal((await client.dispatch(Buffer.from('again'))).toString(), 'tls:again');
    assert.equal(client.connections, 1);
    assert.deepEqual(server.sessions, { mux: 1, thrift: 0 });
    // A client that does not trust the CA fails the TLS handshake.
    await assert.rejects(withTimeout(untrusting.dispatch(Buffer.from('x')), 5000, 'the TLS failure'), isMuxError('MESH_ERR_MUX_CLOSED', true));
  } finally {
    client.close();
    untrusting.close();
    await server.close();
    certs.cleanup();
  }
});

test('clientSession lifeTimeMs: a session that old takes no new calls, and closes once its call in flight is answered', async () => {
  const server = echoServer();
  const { port } = await server.listen();
  const client = new MuxClient({ host: '127.0.0.1', port, lifeTimeMs: 300 });
  try {
    assert.equal((await client.dispatch(Buffer.from('a'))).toString(), 're:a');
    // In flight across the expiry: answered on its session.
    const slow = client.dispatch(Buffer.from('wait:600'));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(client.connections, 1);
    // Past its life: the next call opens another session; the old one still has `slow`.
    assert.equal((await client.dispatch(Buffer.from('b'))).toString(), 're:b');
    assert.equal(client.connections, 2);
    assert.equal(client.openSessions, 2);
    assert.equal((await withTimeout(slow, 3000, 'the call in flight')).toString(), 're:wait:600');
    for (let i = 0; i < 100 && client.openSessions > 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(client.openSessions, 1, 'the expired session closed once its call was answered');
  } finally {
    client.close();
    await server.close();
  }
});

test('clientSession idleTimeMs: a session with no call in flight for that long closes; the next call opens another', async () => {
  const server = echoServer();
  const { port } = await server.listen();
  const client = new MuxClient({ host: '127.0.0.1', port, idleTimeMs: 200 });
  try {
    assert.equal((await client.dispatch(Buffer.from('a'))).toString(), 're:a');
    // Calls 100 ms apart keep it: never 200 ms without one in flight.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await client.dispatch(Buffer.from(`k${i}`))).toString(), `re:k${i}`);
    }
    // A call in flight longer than the idle time is not idleness.
    assert.equal((await client.dispatch(Buffer.from('wait:400'))).toString(), 're:wait:400');
    assert.equal(client.connections, 1);
    for (let i = 0; i < 100 && client.openSessions > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(client.openSessions, 0, 'the idle session closed');
    assert.equal((await client.dispatch(Buffer.from('b'))).toString(), 're:b');
    assert.equal(client.connections, 2);
  } finally {
    client.close();
    await server.close();
  }
});
