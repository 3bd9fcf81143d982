/**
 * readClientHelloName on ClientHellos node:tls really sends (captured by a plain TCP server),
 * split across records and cut short, and on bytes that are not TLS: it answers NEED_MORE until
 * the hello is whole, the server name (lower case) or none once it is, NOT_TLS for anything else,
 * and never throws on mutated bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { MAX_CLIENT_HELLO, SNI_DONE, SNI_NEED_MORE, SNI_NOT_TLS, readClientHelloName } from '../../../src/protocol/tcp/index.js';
import { FuzzGen, seededRandom } from '../../support/prng.js';

/** The first bytes a TLS client sends (its ClientHello records) to a server that never answers. */
async function clientHello(servername: string | undefined): Promise<Buffer> {
  let got: (b: Buffer) => void;
  const first = new Promise<Buffer>((r) => (got = r));
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (b: Buffer) => {
      got(b);
      s.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, ...(servername !== undefined ? { servername } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  const b = await first;
  c.destroy();
  await new Promise((r) => server.close(r));
  return b;
}

test('a real ClientHello gives its server name, in lower case; one sent to an IP address gives none', async () => {
  const hello = await clientHello('Api.Example.COM');
  assert.equal(hello[0], 0x16);
  assert.deepEqual(readClientHelloName(hello), { state: SNI_DONE, name: 'api.example.com' });
  // Node sends no server_name when connecting to an address without `servername`.
  assert.deepEqual(readClientHelloName(await clientHello(undefined)), { state: SNI_DONE, name: undefined });
});

test('every prefix of a ClientHello needs more; the hello split over records still parses', async () => {
  const hello = await clientHello('split.example.com');
  for (let n = 0; n < hello.length; n++) assert.equal(readClientHelloName(hello.subarray(0, n)).state, SNI_NEED_MORE, `prefix of ${n} bytes`);
  // The same handshake bytes in records of 7 bytes each (a TLS record layer may fragment so).
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let i = 0; i < body.length; i += 7) {
    const part = body.subarray(i, i + 7);
    const head = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    head.writeUInt16BE(part.length, 3);
    records.push(head, part);
  }
  const fragmented = Buffer.concat(records);
  assert.deepEqual(readClientHelloName(fragmented), { state: SNI_DONE, name: 'split.example.com' });
  assert.equal(readClientHelloName(fragmented.subarray(0, fragmented.length - 1)).state, SNI_NEED_MORE);
});

test('bytes that are not a ClientHello are NOT_TLS', () => {
  assert.equal(readClientHelloName(Buffer.from('GET / HTTP/1.1\r\n\r\n')).state, SNI_NOT_TLS);
  assert.equal(readClientHelloName(Buffer.from('*1\r\n$4\r\nPING\r\n')).state, SNI_NOT_TLS);
  // A handshake record whose message is not a ClientHello (a ServerHello, type 2).
  assert.equal(readClientHelloName(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])).state, SNI_NOT_TLS);
  // An alert record, and a record version that is not 3.x.
  assert.equal(readClientHelloName(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])).state, SNI_NOT_TLS);
  assert.equal(readClientHelloName(Buffer.from([0x16, 0x02, 0x00, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00])).state, SNI_NOT_TLS);
  // A ClientHello claiming more than MAX_CLIENT_HELLO.
  const big = MAX_CLIENT_HELLO + 1;
  assert.equal(readClientHelloName(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, big >>> 16, (big >>> 8) & 255, big & 255])).state, SNI_NOT_TLS);
});

test('a server name that is not a DNS name is refused (NOT_TLS), not passed on as a path', async () => {
  const hello = await clientHello('good.example.com');
  const at = hello.indexOf('good.example.com');
  const bad = Buffer.from(hello);
  bad.write('go/d', at, 'latin1');
  assert.equal(readClientHelloName(bad).state, SNI_NOT_TLS);
});

test('fuzz: mutated ClientHellos never throw and answer one of the three states', async (t) => {
  const seed = (process.env['MESHWORK_FUZZ_SEED'] ?? '') !== '' ? Number(process.env['MESHWORK_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`fuzz seed ${seed} (replay: MESHWORK_FUZZ_SEED=${seed})`);
  const gen = new FuzzGen(seededRandom(seed));
  const hello = await clientHello('fuzz.example.com');
  for (let i = 0; i < 3000; i++) {
    const m = gen.mutate(hello);
    const r = readClientHelloName(m);
    assert.ok(r.state === SNI_DONE || r.state === SNI_NEED_MORE || r.state === SNI_NOT_TLS, `seed ${seed}, case ${i}`);
    if (r.state === SNI_DONE && r.name !== undefined) assert.match(r.name, /^[a-z0-9._-]+$/, `seed ${seed}, case ${i}`);
  }
});
