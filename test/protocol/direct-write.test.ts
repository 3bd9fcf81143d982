import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { directHandle, directWrites, writeDirect } from '../../src/protocol/direct-write.js';
import { SocketWriter } from '../../src/protocol/write-batch.js';
import { socketPair as pair } from './http1/helpers.js';

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

test('direct writes are in use on this Node (the tests below exercise them, not the fallback)', () => {
  assert.equal(directWrites, true);
});

test('a write to an idle socket goes straight to the handle and completes at once', async (t) => {
  const p = await pair();
  t.after(p.close);
  let heard: Error | null | undefined;
  assert.equal(writeDirect(p.a, Buffer.from('hello'), (e) => { heard = e; }), true);
  assert.equal(heard, null, 'the callback ran at once: the bytes are in the kernel');
  assert.equal(p.a.writableLength, 0, "nothing went through Node's buffer");
  await until(() => p.received().length === 5, 'the peer to read 5 bytes');
  assert.equal(p.received().toString(), 'hello');
});

test('a write libuv must queue keeps its place: later writes and the FIN follow it', async (t) => {
  const p = await pair(true);
  t.after(p.close);
  const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
  let heard: Error | null | undefined;
  assert.equal(writeDirect(p.a, big, (e) => { heard = e; }), true);
  assert.equal(heard, undefined, 'the peer is not reading: the write is still queued');
  assert.equal(writeDirect(p.a, Buffer.from('x')), false, 'declines while libuv holds bytes');
  p.a.write('tail');
  p.a.end();
  const ended = once(p.peer, 'end');
  p.peer.resume();
  await ended;
  const got = p.received();
  assert.equal(got.length, big.length + 4);
  assert.equal(got.subarray(big.length).toString(), 'tail');
  assert.equal(got.indexOf(0x74), big.length, 'no byte of the tail came before the end of the big write');
  assert.equal(heard, null);
});

test('declines where Node must write: connecting, a timeout set, buffered bytes, ended or destroyed', async (t) => {
  const p = await pair();
  t.after(p.close);
  const connecting = connect((p.server.address() as AddressInfo).port, '127.0.0.1');
  connecting.on('error', () => {});
  assert.equal(writeDirect(connecting, Buffer.from('x')), false, 'connecting');
  await once(connecting, 'connect');
  connecting.setTimeout(10_000);
  assert.equal(writeDirect(connecting, Buffer.from('x')), false, 'timeout set');
  connecting.setTimeout(0);
  connecting.cork();
  connecting.write('held');
  assert.equal(writeDirect(connecting, Buffer.from('x')), false, "bytes wait in Node's buffer");
  connecting.uncork();
  connecting.end();
  assert.equal(writeDirect(connecting, Buffer.from('x')), false, 'ended');
  connecting.destroy();
  assert.equal(writeDirect(connecting, Buffer.from('x')), false, 'destroyed');
});

test('a write the kernel refuses destroys the socket with the error; the process goes on', async (t) => {
  // Ours is an accepted socket never read (pauseOnConnect), so it learns of the reset only by writing.
  let ours!: Socket;
  const server = createServer({ pauseOnConnect: true }, (s) => { ours = s; });
  t.after(() => new Promise<void>((r) => { ours?.destroy(); server.close(() => r()); }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const peer = connect((server.address() as AddressInfo).port, '127.0.0.1');
  peer.on('error', () => {});
  await once(peer, 'connect');
  await until(() => ours !== undefined, 'the accepted socket');
  const errors: NodeJS.ErrnoException[] = [];
  ours.on('error', (e: NodeJS.ErrnoException) => errors.push(e));
  peer.resetAndDestroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ours.destroyed, false, 'not read, so not yet aware of the reset');
  let heard: Error | null | undefined;
  let wrote = 0;
  for (let i = 0; i < 20 && !ours.destroyed; i++) {
    assert.equal(writeDirect(ours, Buffer.from('into a reset connection'), (e) => { if (e) heard = e; }), true);
    wrote++;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(wrote >= 1);
  assert.equal(ours.destroyed, true);
  assert.ok(heard instanceof Error);
  await until(() => errors.length > 0, "the socket's error event");
  assert.match(String(errors[0]!.code), /^(EPIPE|ECONNRESET)$/);
});

test('MESHWORK_NO_DIRECT_WRITE=1 turns direct writes off', () => {
  const mod = fileURLToPath(new URL('../../src/protocol/direct-write.js', import.meta.url));
  const run = (env: Record<string, string>) => execFileSync(process.execPath, ['--input-type=module', '-e', `import { directWrites } from ${JSON.stringify(mod)}; process.stdout.write(String(directWrites));`], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(run({ MESHWORK_NO_DIRECT_WRITE: '1' }), 'false');
  assert.equal(run({ MESHWORK_NO_DIRECT_WRITE: '' }), 'true');
});

test("a SocketWriter's batch of one chunk leaves through the handle (its callback runs within the flush)", async (t) => {
  const p = await pair();
  t.after(p.close);
  const w = new SocketWriter(p.a);
  let heard: Error | null | undefined;
  w.writeOwned(Buffer.from('batched'), (e) => { heard = e; });
  assert.equal(w.flush(), true);
  // socket.write would call back on a later tick; the direct path does so before returning.
  assert.equal(heard, null);
  assert.equal(p.a.writableLength, 0);
  await until(() => p.received().length === 7, 'the peer to read 7 bytes');
  assert.equal(p.received().toString(), 'batched');
});

test('a kept handle is declined in the same cases, and a writer that kept one drops a destroyed socket\'s batch', async (t) => {
  const p = await pair();
  t.after(p.close);
  const s = connect((p.server.address() as AddressInfo).port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  const h = directHandle(s);
  assert.ok(h !== null, 'a connected TCP socket has a handle for direct writes');
  s.setTimeout(10_000);
  assert.equal(writeDirect(s, Buffer.from('x'), undefined, h), false, 'timeout set');
  s.setTimeout(0);
  s.cork();
  s.write('held');
  assert.equal(writeDirect(s, Buffer.from('x'), undefined, h), false, "bytes wait in Node's buffer");
  s.uncork();
  s.end();
  assert.equal(writeDirect(s, Buffer.from('x'), undefined, h), false, 'ended');
  s.destroy();

  const q = await pair();
  t.after(q.close);
  const w = new SocketWriter(q.a);
  const heard: (Error | null | undefined)[] = [];
  w.writeOwned(Buffer.from('one'), (e) => heard.push(e));
  assert.equal(w.flush(), true);
  w.writeOwned(Buffer.from('two'), (e) => heard.push(e));
  q.a.destroy();
  assert.equal(w.flush(), false);
  assert.equal(heard[0], null);
  assert.match(String(heard[1]), /destroyed before its pending bytes were written/);
  await until(() => q.received().length === 3, 'the peer to read 3 bytes');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(q.received().toString(), 'one');
});
