import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { adopt, copyRead } from '../../../src/protocol/http1/adopt.js';

const OPTS = { allowHalfOpen: true, highWaterMark: 64 * 1024 };

test('an adopted socket reads through the callback, writes, half-closes, and leaves the server free to close', async () => {
  const seen: string[] = [];
  let adopted: Socket | null = null;
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => {
    adopted = adopt(s, OPTS, (buf, n) => {
      const b = copyRead(buf, n);
      seen.push(b.toString());
      adopted!.write(`echo:${b.toString()}`);
    });
    assert.ok(adopted, 'a plain TCP socket is adoptable');
    assert.equal(s.destroyed, true, 'the emptied accepted socket is destroyed');
    adopted!.on('end', () => adopted!.end('bye'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const c = connect((server.address() as AddressInfo).port, '127.0.0.1');
  let got = '';
  c.on('data', (d: Buffer) => { got += d.toString(); });
  await once(c, 'connect');
  c.write('one');
  for (let i = 0; i < 100 && !got.includes('echo:one'); i++) await new Promise((r) => setTimeout(r, 10));
  c.write('two');
  for (let i = 0; i < 100 && !got.includes('echo:two'); i++) await new Promise((r) => setTimeout(r, 10));
  c.end();
  await once(c, 'close');
  assert.equal(got, 'echo:oneecho:twobye');
  assert.deepEqual(seen, ['one', 'two']);
  // The accepted socket no longer counts: close() completes without waiting for it.
  const count = await new Promise<number>((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n))));
  assert.equal(count, 0);
  await new Promise<void>((r) => server.close(() => r()));
});

test('bytes seen by the callback are only valid during it: copyRead keeps them', async () => {
  const copies: Buffer[] = [];
  const views: Buffer[] = [];
  const server = createServer({ pauseOnConnect: true }, (s) => {
    const a = adopt(s, OPTS, (buf, n) => {
      copies.push(copyRead(buf, n));
      views.push(buf.subarray(0, n));
    });
    a?.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const c = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(c, 'connect');
  c.write('AAAA');
  for (let i = 0; i < 100 && copies.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
  c.write('BBBB');
  for (let i = 0; i < 100 && copies.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  c.destroy();
  assert.deepEqual(copies.map(String), ['AAAA', 'BBBB']);
  // The shared buffer was reused: the first view now shows the second read.
  assert.equal(views[0]!.toString(), 'BBBB');
  await new Promise<void>((r) => server.close(() => r()));
});

test('a socket without a handle to move is left alone (null: read it with data events)', () => {
  const s = { _handle: null, destroy: () => assert.fail('must not be destroyed') };
  assert.equal(adopt(s as unknown as Socket, OPTS, () => {}), null);
  const t = { _handle: { readStart() {} }, destroy: () => assert.fail('must not be destroyed') };
  assert.equal(adopt(t as unknown as Socket, OPTS, () => {}), null);
  assert.notEqual(t._handle, null);
});
