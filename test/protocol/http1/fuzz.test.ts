/**
 * Fuzzing the engine with random and mutated requests (seeded, so a failure can be replayed
 * with FUZZ_SEED). The process must survive; every answer must be 400-class from the engine or
 * a response from the upstream, and every request that reached the upstream must parse under
 * Node's own (independent, strict) HTTP parser.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createHttp1Proxy } from '../../../src/protocol/http1/proxy.js';
import { seededRandom as rng } from '../../support/prng.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed);
const CASES = 400;
const BATCH = 40;
const CASE_TIMEOUT_MS = 300;


const BASES = [
  'GET /index.html?q=1 HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\n\r\n',
  'POST /submit HTTP/1.1\r\nHost: svc\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world',
  'PUT /c HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'DELETE /x HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: svc\r\n\r\n',
];
const INTERESTING = ['\r', '\n', '\r\n', ' ', '\t', ':', '\x00', '\x7f', '\xff', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 5\r\n', 'Host: b\r\n', ' x\r\n', '0\r\n\r\n', 'ffffffffffff\r\n', '-1', 'HTTP/1.1', '%00'];

function mutate(r: () => number, base: string): string {
  let s = base;
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 6)) {
      case 0: s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 256)) + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + INTERESTING[Math.floor(r() * INTERESTING.length)] + s.slice(at); break;
      case 2: s = s.slice(0, at) + s.slice(Math.min(s.length, at + 1 + Math.floor(r() * 8))); break;
      case 3: { const line = s.split('\r\n')[1 + Math.floor(r() * 2)] ?? ''; s = s.replace('\r\n', `\r\n${line}\r\n`); break; }
      case 4: s = s.slice(0, at); break;
      default: s = s.slice(0, at) + s.slice(at, at + 6).toUpperCase() + s.slice(at + 6); break;
    }
  }
  return s;
}

function random(r: () => number): string {
  const len = Math.floor(r() * 200);
  let s = '';
  for (let i = 0; i < len; i++) s += r() < 0.3 ? INTERESTING[Math.floor(r() * INTERESTING.length)] : String.fromCharCode(32 + Math.floor(r() * 95));
  return s;
}

const ENGINE_STATUSES = new Set([400, 408, 414, 431, 501, 505]);

test(`fuzz: ${CASES} random and mutated requests (seed ${SEED})`, async () => {
  const upstreamErrors: string[] = [];
  const upstream: Server = createServer((req, res) => {
    let n = 0;
    req.on('data', (b: Buffer) => { n += b.length; });
    req.on('end', () => { res.setHeader('content-type', 'text/plain'); res.end(`${req.method} ${req.url} ${n}`); });
  });
  upstream.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, sock) => {
    sock.destroy();
    // Node knows only registered methods while RFC 9110 allows any token, and a client that
    // leaves mid-body makes the engine cut the upstream connection mid-request: neither is a
    // malformed forward.
    if (err.code === 'HPE_INVALID_METHOD' || err.code === 'HPE_INVALID_EOF_STATE') return;
    upstreamErrors.push(`${err.code} ${JSON.stringify(err.rawPacket?.toString('latin1').slice(0, 120))}`);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = createHttp1Proxy({ upstream: { host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }, limits: { headerTimeoutMs: 100 } });
  const port = (await proxy.server.listen(0, '127.0.0.1')).port;
  after(async () => { await proxy.close(); upstream.closeAllConnections(); upstream.close(); });

  const r = rng(SEED);
  const inputs: string[] = [];
  for (let i = 0; i < CASES; i++) inputs.push(i % 4 === 3 ? random(r) : mutate(r, BASES[i % BASES.length]!));

  const statuses = new Map<number, number>();
  const bad: string[] = [];
  const one = (input: string) => new Promise<void>((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => sock.destroy(), CASE_TIMEOUT_MS);
    sock.on('data', (b) => { text += b.toString('latin1'); });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(t);
      for (const m of text.matchAll(/(?:^|\r\n\r\n|[^\r\n])?HTTP\/1\.[01] (\d{3}) /g)) {
        const st = Number(m[1]);
        statuses.set(st, (statuses.get(st) ?? 0) + 1);
        if (st !== 200 && st !== 502 && !ENGINE_STATUSES.has(st)) bad.push(`${st} for ${JSON.stringify(input)}`);
      }
      if (text.length > 0 && !text.startsWith('HTTP/1.')) bad.push(`garbage answer ${JSON.stringify(text.slice(0, 40))} for ${JSON.stringify(input)}`);
      resolve();
    });
    sock.write(Buffer.from(input, 'latin1'));
  });
  for (let i = 0; i < inputs.length; i += BATCH) await Promise.all(inputs.slice(i, i + BATCH).map(one));

  assert.deepEqual(bad, []);
  assert.deepEqual(upstreamErrors, [], 'the engine forwarded a request Node\'s parser rejects');
  // Both outcomes must have happened, or the fuzzer is not exercising anything.
  assert.ok((statuses.get(200) ?? 0) > 20, `200s: ${statuses.get(200)}`);
  assert.ok((statuses.get(400) ?? 0) > 20, `400s: ${statuses.get(400)}`);

  // Still alive and serving.
  const sock = connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write('GET /alive HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n');
  let text = '';
  sock.on('data', (b) => { text += b.toString('latin1'); });
  await once(sock, 'close');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nGET \/alive 0$/);
});
