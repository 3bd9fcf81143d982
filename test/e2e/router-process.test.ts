/**
 * End to end through a real `meshwork linkerd` child process: p2c least-loaded balancing over an
 * io.l5d.fs disco file, the RFC 7239 `Forwarded` header each `addForwardedHeader` labeler adds
 * (as Linkerd's AddForwardedHeader does), smuggling-shaped requests that must be refused with 400
 * before any byte reaches the upstream, a slow head's 408, requests the router must forward
 * intact (trailing whitespace, HTTP/1.2, chunk extensions), the client hop's own connection
 * header, and no requeue of a request the upstream already read.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { request, upstream, type Upstream } from '../router/support.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const HEAD_TIMEOUT_MS = 300;

/** What an upstream saw of one request: enough to assert headers exactly and spot half-sent bodies. */
interface Seen {
  method: string;
  url: string;
  version: string;
  rawHeaders: string[];
  body: string;
  complete: boolean;
}

/** An upstream that records every request (and every request its own parser refused). */
interface Recorder extends Upstream {
  readonly seen: Seen[];
  readonly refused: Buffer[];
}

async function recorder(): Promise<Recorder> {
  const seen: Seen[] = [];
  const refused: Buffer[] = [];
  const u = await upstream((req, res) => {
    const s: Seen = { method: req.method ?? '', url: req.url ?? '', version: req.httpVersion, rawHeaders: req.rawHeaders, body: '', complete: false };
    seen.push(s);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      s.complete = true;
      s.body = Buffer.concat(chunks).toString('latin1');
      const body = JSON.stringify(s);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  u.server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket) => {
    refused.push(err.rawPacket ?? Buffer.from(String(err.code)));
    socket.destroy();
  });
  return Object.assign(u, { seen, refused });
}

interface RawReply {
  text: string;
  /** True when the router closed the connection itself (not our time bound). */
  closedByServer: boolean;
}

/** Writes raw bytes; resolves with everything read until the server closes or `ms` passes. */
function raw(port: number, bytes: string | Buffer, ms = 3000, halfClose = false): Promise<RawReply> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, ms);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: !timedOut });
    });
    s.on('end', () => s.end());
    if (halfClose) s.end(bytes);
    else s.write(bytes);
  });
}

interface Reply {
  status: number;
  body: string;
  /** The client's own port on the connection the request went out on. */
  clientPort: number;
}

/** One request; `agent` lets a test send several on one keep-alive connection. */
function send(port: number, path: string, headers: Record<string, string>, opts: { host?: string; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: opts.host ?? '127.0.0.1', port, path, headers, agent: opts.agent ?? false }, (res) => {
      const clientPort = res.socket.localPort ?? 0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), clientPort }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every `Forwarded` field the upstream received, in order, exactly as sent. */
function forwardedFields(body: string): string[] {
  const s = JSON.parse(body) as Seen;
  const out: string[] = [];
  for (let i = 0; i < s.rawHeaders.length; i += 2) if (s.rawHeaders[i]!.toLowerCase() === 'forwarded') out.push(s.rawHeaders[i + 1]!);
  return out;
}

/** Starts `meshwork linkerd` on `yaml`; resolves with the ports by router label (and `admin`). */
async function startLinkerd(file: string, yaml: string): Promise<{ proc: ReadyProcess; ports: Record<string, number> }> {
  writeFileSync(file, yaml);
  // A short head timeout so the slow-client test sees its 408 quickly.
  const env = { ...process.env, MESHWORK_HEADERS_TIMEOUT_MS: String(HEAD_TIMEOUT_MS) };
  const proc = await spawnReady(process.execPath, [BIN, 'linkerd', file], /^admin listening on /m, 15_000, env);
  const ports: Record<string, number> = {};
  for (const m of proc.output().matchAll(/^listening (\S+) (\S+):(\d+)$/gm)) ports[m[1]!] = Number(m[3]);
  ports['admin'] = Number(/^admin listening on \S+:(\d+)$/m.exec(proc.output())![1]);
  return { proc, ports };
}

function fwdRouter(label: string, forwarded: string, ip = '127.0.0.1'): string {
  return `- protocol: http
  label: ${label}
  dtab: /svc => /#/io.l5d.fs
  servers:
  - ip: ${ip}
    port: 0
    addForwardedHeader: ${forwarded}
`;
}

let dir: string;
let lk: ReadyProcess;
let ports: Record<string, number> = {};
const ups: Record<string, Upstream> = {};
let echo: Recorder;
let smugUp: Recorder;
/** An upstream that reads a request and closes the connection without answering. */
let resetUp: net.Server;
let resetAttempts = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-rp-'));
  for (const n of ['fast1', 'fast2', 'even1', 'even2', 'even3']) ups[n] = await upstream((req, res) => res.end(n));
  ups['slow'] = await upstream((req, res) => {
    const t = setTimeout(() => res.end('slow'), 200);
    res.on('close', () => clearTimeout(t));
  });
  // Answers /slow after 150 ms and anything else at once, echoing the path.
  ups['paced'] = await upstream((req, res) => {
    const t = setTimeout(() => res.end(req.url), req.url === '/slow' ? 150 : 0);
    res.on('close', () => clearTimeout(t));
  });
  echo = await recorder();
  smugUp = await recorder();
  const line = (u: Upstream): string => `127.0.0.1 ${u.port}\n`;
  writeFileSync(join(dir, 'trio'), line(ups['fast1']!) + line(ups['slow']!) + line(ups['fast2']!));
  writeFileSync(join(dir, 'even'), line(ups['even1']!) + line(ups['even2']!) + line(ups['even3']!));
  writeFileSync(join(dir, 'echo'), line(echo));
  writeFileSync(join(dir, 'smug'), line(smugUp));
  writeFileSync(join(dir, 'paced'), line(ups['paced']!));
  resetUp = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => {
      resetAttempts++;
      sock.destroy();
    });
  });
  await new Promise<void>((r) => resetUp.listen(0, '127.0.0.1', () => r()));
  writeFileSync(join(dir, 'reset'), `127.0.0.1 ${(resetUp.address() as net.AddressInfo).port}\n`);
  const started = await startLinkerd(
    join(dir, 'linkerd.yaml'),
    `admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
- protocol: http
  label: lb
  dtab: /svc => /#/io.l5d.fs
  client:
    loadBalancer:
      kind: p2c
  servers:
  - port: 0
- protocol: http
  label: smug
  dtab: /svc => /#/io.l5d.fs
  servers:
  - port: 0
${fwdRouter('fwd-default', '{}')}${fwdRouter('fwd-default-v6', '{}', '::1')}`,
  );
  lk = started.proc;
  ports = started.ports;
});

after(async () => {
  await lk?.stop(2000);
  await labelers?.then((l) => l.proc.stop(2000), () => undefined);
  await Promise.all([...Object.values(ups), echo, smugUp].map((u) => u?.close()));
  await new Promise<void>((r) => (resetUp ? resetUp.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

test('p2c: with one upstream answering after 200 ms, least-loaded picking sends it under 15% of 300 concurrent requests', async () => {
  const port = ports['lb']!;
  const statuses = new Map<number, number>();
  let next = 0;
  let fastMs = 0;
  const worker = async (): Promise<void> => {
    while (next < 300) {
      next++;
      const t0 = performance.now();
      const r = await request(port, { headers: { host: 'trio' } });
      if (r.body !== 'slow') fastMs += performance.now() - t0;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  assert.deepEqual([...statuses], [[200, 300]]);
  const [f1, f2, slow] = [ups['fast1']!.requests, ups['fast2']!.requests, ups['slow']!.requests];
  assert.equal(f1 + f2 + slow, 300);
  // p2c evens out requests in flight, so the slow share is about fast / (fast + 2 * 200 ms): it
  // only nears 15% if the machine makes a fast request take ~70 ms.
  const fastAvg = Math.round(fastMs / (f1 + f2));
  assert.ok(slow < 45, `slow upstream got ${slow} of 300 (fast: ${f1}, ${f2}; a fast request took ${fastAvg} ms on average)`);
  // Still in the set: picked while it has fewer requests in flight than the other node drawn.
  assert.ok(slow >= 1, `slow upstream got ${slow}`);
});

test('p2c: three equally fast upstreams, sequential requests: each gets 20%..47% of 300', async () => {
  const port = ports['lb']!;
  for (let i = 0; i < 300; i++) assert.equal((await request(port, { headers: { host: 'even' } })).status, 200);
  const counts = ['even1', 'even2', 'even3'].map((n) => ups[n]!.requests);
  assert.equal(counts[0]! + counts[1]! + counts[2]!, 300);
  for (const c of counts) assert.ok(c >= 60 && c <= 141, `split ${counts.join('/')}`);
});

test('addForwardedHeader {}: requestRandom labels for both ends, fresh for every request', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const port = ports['fwd-default']!;
    const a = await send(port, 'http://echo/x', { host: 'echo' }, { agent });
    const b = await send(port, 'http://echo/x', { host: 'echo' }, { agent });
    assert.equal(a.clientPort, b.clientPort); // same connection
    const re = /^by=(_[A-Za-z0-9]+);for=(_[A-Za-z0-9]+);host=echo;proto=http$/;
    const fa = forwardedFields(a.body);
    const fb = forwardedFields(b.body);
    assert.equal(fa.length, 1);
    assert.equal(fb.length, 1);
    const ma = re.exec(fa[0]!);
    const mb = re.exec(fb[0]!);
    assert.ok(ma && mb, `${fa[0]} / ${fb[0]}`);
    assert.notEqual(ma[1], ma[2]);
    assert.notEqual(ma[1], mb[1]);
    assert.notEqual(ma[2], mb[2]);
  } finally {
    agent.destroy();
  }
});

test('addForwardedHeader {} on an IPv6 server: random labels too, one Forwarded field', async () => {
  const r = await send(ports['fwd-default-v6']!, 'http://echo/x', { host: 'echo' }, { host: '::1' });
  assert.equal(r.status, 200);
  const f = forwardedFields(r.body);
  assert.equal(f.length, 1, JSON.stringify(f));
  assert.match(f[0]!, /^by=_[A-Za-z0-9]+;for=_[A-Za-z0-9]+;host=echo;proto=http$/);
});


test('addForwardedHeader {}: a client Forwarded field is kept and ours is added after it', async () => {
  const r = await send(ports['fwd-default']!, 'http://echo/x', { host: 'echo', forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' });
  assert.equal(r.status, 200);
  const f = forwardedFields(r.body);
  assert.equal(f.length, 2, JSON.stringify(f));
  assert.equal(f[0], 'for=192.0.2.60;proto=http;by=203.0.113.43');
  assert.match(f[1]!, /^by=_[A-Za-z0-9]+;for=_[A-Za-z0-9]+;host=echo;proto=http$/);
});


test('addForwardedHeader {}: random labels are _ and 6 letters or digits, as Linkerd makes them', async () => {
  const r = await send(ports['fwd-default']!, 'http://echo/x', { host: 'echo' });
  assert.match(forwardedFields(r.body)[0]!, /^by=_[A-Za-z0-9]{6};for=_[A-Za-z0-9]{6};host=echo;proto=http$/);
});

test('addForwardedHeader {}: an origin-form request gets no proto= (no scheme in the target)', async () => {
  const r = await send(ports['fwd-default']!, '/x', { host: 'echo' });
  assert.match(forwardedFields(r.body)[0]!, /^by=_[A-Za-z0-9]+;for=_[A-Za-z0-9]+;host=echo$/);
});

// Every explicit labeler kind, in a linker of its own so a rejected config fails only these tests.
let labelers: Promise<{ proc: ReadyProcess; ports: Record<string, number> }> | undefined;
function labelerLinkerd(): Promise<{ proc: ReadyProcess; ports: Record<string, number> }> {
  labelers ??= startLinkerd(
    join(dir, 'labelers.yaml'),
    `admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
${fwdRouter('fwd-ip', '{by: {kind: ip}, for: {kind: ip}}')}${fwdRouter('fwd-ipport', "{by: {kind: 'ip:port'}, for: {kind: 'ip:port'}}")}${fwdRouter(
      'fwd-v6',
      "{by: {kind: 'ip:port'}, for: {kind: ip}}",
      '::1',
    )}${fwdRouter('fwd-router', '{by: {kind: router}, for: {kind: router}}')}${fwdRouter('fwd-static', '{by: {kind: static, label: x}, for: {kind: static, label: _y}}')}${fwdRouter(
      'fwd-conn',
      '{by: {kind: connectionRandom}, for: {kind: connectionRandom}}',
    )}${fwdRouter('fwd-req', '{by: {kind: requestRandom}}')}`,
  );
  return labelers;
}

// Linkerd adds `proto=` only for absolute-form targets; these send `GET http://echo/x` so the
// expected value does not depend on that rule.
test('addForwardedHeader ip: by=<server ip>;for=<client ip>;host=<Host>;proto=http', async () => {
  const { ports: p } = await labelerLinkerd();
  const r = await send(p['fwd-ip']!, 'http://echo/x', { host: 'echo' });
  assert.equal(r.status, 200);
  assert.deepEqual(forwardedFields(r.body), ['by=127.0.0.1;for=127.0.0.1;host=echo;proto=http']);
});

test('addForwardedHeader ip:port: quoted "ip:port" for both ends with the real ports', async () => {
  const { ports: p } = await labelerLinkerd();
  const port = p['fwd-ipport']!;
  const r = await send(port, 'http://echo/x', { host: 'echo' });
  assert.ok(r.clientPort > 0);
  assert.deepEqual(forwardedFields(r.body), [`by="127.0.0.1:${port}";for="127.0.0.1:${r.clientPort}";host=echo;proto=http`]);
});

test('addForwardedHeader on an IPv6 server: by="[::1]:port";for="[::1]"', async () => {
  const { ports: p } = await labelerLinkerd();
  const port = p['fwd-v6']!;
  const r = await send(port, 'http://echo/x', { host: 'echo' }, { host: '::1' });
  assert.deepEqual(forwardedFields(r.body), [`by="[::1]:${port}";for="[::1]";host=echo;proto=http`]);
});

test('addForwardedHeader router: the router label as an obfuscated label', async () => {
  const { ports: p } = await labelerLinkerd();
  const r = await send(p['fwd-router']!, 'http://echo/x', { host: 'echo' });
  assert.deepEqual(forwardedFields(r.body), ['by=_fwd-router;for=_fwd-router;host=echo;proto=http']);
});

test('addForwardedHeader static: label x becomes _x; a label already starting with _ is kept', async () => {
  const { ports: p } = await labelerLinkerd();
  const r = await send(p['fwd-static']!, 'http://echo/x', { host: 'echo' });
  assert.deepEqual(forwardedFields(r.body), ['by=_x;for=_y;host=echo;proto=http']);
});

test('addForwardedHeader connectionRandom: one label pair per connection', async () => {
  const { ports: p } = await labelerLinkerd();
  const port = p['fwd-conn']!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const a = await send(port, 'http://echo/x', { host: 'echo' }, { agent });
    const b = await send(port, 'http://echo/x', { host: 'echo' }, { agent });
    const other = await send(port, 'http://echo/x', { host: 'echo' });
    assert.equal(a.clientPort, b.clientPort);
    assert.notEqual(a.clientPort, other.clientPort);
    const [fa, fb, fo] = [a, b, other].map((r) => forwardedFields(r.body)[0]!);
    assert.match(fa!, /^by=_[A-Za-z0-9]{6};for=_[A-Za-z0-9]{6};host=echo;proto=http$/);
    assert.equal(fb, fa);
    assert.notEqual(fo, fa);
  } finally {
    agent.destroy();
  }
});

test('addForwardedHeader requestRandom by, default for: both random, 6 characters', async () => {
  const { ports: p } = await labelerLinkerd();
  const r = await send(p['fwd-req']!, 'http://echo/x', { host: 'echo' });
  assert.match(forwardedFields(r.body)[0]!, /^by=_[A-Za-z0-9]{6};for=_[A-Za-z0-9]{6};host=echo;proto=http$/);
});

// Smuggling shapes: each must be answered 400 and the connection closed, and the upstream must
// see no request at all (not even a head whose body is then cut). An unknown transfer coding may
// also be 501 (RFC 7230 3.3.1); either way nothing is forwarded.
const SMUGGLE: ReadonlyArray<[string, string, number?]> = [
  ['CL and TE', 'POST / HTTP/1.1\r\nHost: smug\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: smug\r\n\r\n'],
  ['TE and CL', 'POST / HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: smug\r\n\r\n'],
  ['two different CLs', 'POST / HTTP/1.1\r\nHost: smug\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
  ['CL list', 'POST / HTTP/1.1\r\nHost: smug\r\nContent-Length: 4, 5\r\n\r\nabcde'],
  ['CL with a sign', 'POST / HTTP/1.1\r\nHost: smug\r\nContent-Length: +5\r\n\r\nabcde'],
  ['TE chunked, identity', 'POST / HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
  ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: gzip\r\n\r\nabc', 501],
  ['space before the colon', 'POST / HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  ['bad chunk size', 'POST / HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
  ['overflowing chunk size', 'POST / HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n'],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: smug\r\nX-Folded: a\r\n b\r\n\r\n'],
  ['obs-fold on TE', 'POST / HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n'],
  ['bare LF line ends', 'GET / HTTP/1.1\nHost: smug\n\n'],
  ['bare LF in a header', 'GET / HTTP/1.1\r\nHost: smug\nX-A: b\r\n\r\n'],
  ['bare CR in a header', 'GET / HTTP/1.1\r\nHost: smug\rX-A: b\r\n\r\n'],
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: smug\r\nX-A: a\x00b\r\n\r\n'],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: smug\r\nHost: evil\r\n\r\n'],
  ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n'],
];

for (const [name, bytes, status] of SMUGGLE) {
  const line = status === 501 ? /^HTTP\/1\.1 (400 Bad Request|501 Not Implemented)\r\n/ : /^HTTP\/1\.1 400 Bad Request\r\n/;
  test(`smuggling through the process: ${name} is ${status === 501 ? '400 or 501' : '400'}, the connection closes, the upstream sees nothing`, async () => {
    const before = smugUp.seen.length;
    const refused = smugUp.refused.length;
    const r = await raw(ports['smug']!, bytes);
    assert.match(r.text, line, JSON.stringify(r.text));
    assert.equal(r.closedByServer, true);
    // Exactly one response: nothing after the smuggled bytes was answered.
    assert.equal(r.text.split('HTTP/1.1 ').length - 1, 1, JSON.stringify(r.text));
    assert.deepEqual(smugUp.seen.slice(before), []);
    assert.deepEqual(smugUp.refused.slice(refused), []);
  });
}

test('absolute-form: the target authority wins over Host, and the upstream gets one Host with it', async () => {
  const before = smugUp.seen.length;
  const r = await raw(ports['smug']!, 'GET http://smug/abs?q=1 HTTP/1.1\r\nHost: evil\r\nConnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/, JSON.stringify(r.text));
  const s = smugUp.seen[before]!;
  const hosts = s.rawHeaders.filter((x, i) => i % 2 === 1 && s.rawHeaders[i - 1]!.toLowerCase() === 'host');
  assert.deepEqual([s.url, hosts], ['/abs?q=1', ['smug']]);
});

test('pipelining: a slow request and a fast one on one connection are answered in the order sent', async () => {
  const r = await raw(ports['smug']!, 'GET /slow HTTP/1.1\r\nHost: paced\r\n\r\nGET /fast HTTP/1.1\r\nHost: paced\r\nConnection: close\r\n\r\n');
  assert.equal(r.closedByServer, true);
  const bodies = [...r.text.matchAll(/HTTP\/1\.1 (\d{3}) [^\r]*\r\n(?:[^\r]+\r\n)*\r\n(\/slow|\/fast)/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(bodies, ['200 /slow', '200 /fast'], JSON.stringify(r.text));
});

test('a client that stops halfway through its head gets 408 after the head timeout, and the upstream sees nothing', async () => {
  const before = smugUp.seen.length;
  const t0 = Date.now();
  const r = await raw(ports['smug']!, 'GET /slow HTTP/1.1\r\nHost: sm', 5000);
  const ms = Date.now() - t0;
  assert.match(r.text, /^HTTP\/1\.1 408 Request Timeout\r\n/, JSON.stringify(r.text));
  assert.equal(r.closedByServer, true);
  assert.ok(ms >= HEAD_TIMEOUT_MS - 50 && ms < 4000, `408 after ${ms} ms`);
  assert.deepEqual(smugUp.seen.slice(before), []);
});

test('smuggling control: the same router forwards a valid chunked POST (so the 400s above are not a dead route)', async () => {
  const before = smugUp.seen.length;
  const r = await raw(ports['smug']!, 'POST /ok HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(smugUp.seen.length, before + 1);
  const s = smugUp.seen[before]!;
  assert.deepEqual([s.method, s.url, s.body, s.complete], ['POST', '/ok', 'hello', true]);
});

// Requests a client may send that the router must forward intact. Found by router-fuzz.test.ts.
test('a header value with trailing whitespace reaches the upstream with its CRLF intact', async () => {
  const before = smugUp.seen.length;
  const refused = smugUp.refused.length;
  const r = await raw(ports['smug']!, 'GET /ows HTTP/1.1\r\nHost: smug \r\nx-a: b\t\r\nx-c: d\r\nConnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/, JSON.stringify(r.text));
  assert.deepEqual(smugUp.refused.slice(refused).map((b) => b.toString('latin1')), []);
  const s = smugUp.seen[before]!;
  const h = (n: string): string | undefined => s.rawHeaders[s.rawHeaders.findIndex((x, i) => i % 2 === 0 && x.toLowerCase() === n) + 1];
  assert.deepEqual([s.url, h('x-a'), h('x-c')], ['/ows', 'b', 'd']);
});

test('an HTTP/1.2 request is forwarded as HTTP/1.1', async () => {
  const before = smugUp.seen.length;
  const r = await raw(ports['smug']!, 'GET /v HTTP/1.2\r\nHost: smug\r\nConnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/, JSON.stringify(r.text));
  assert.deepEqual([smugUp.seen[before]?.url, smugUp.seen[before]?.version], ['/v', '1.1']);
});

test('a client that half-closes right after its requests still gets every answer, then the connection closes', async () => {
  const r = await raw(ports['smug']!, 'GET /half1 HTTP/1.1\r\nHost: smug\r\n\r\nGET /half2 HTTP/1.1\r\nHost: smug\r\n\r\n', 3000, true);
  assert.equal(r.closedByServer, true);
  assert.deepEqual([...r.text.matchAll(/HTTP\/1\.1 (\d{3}) OK\r\n/g)].map((m) => m[1]), ['200', '200']);
  assert.deepEqual([...r.text.matchAll(/"url":"(\/half\d)"/g)].map((m) => m[1]), ['/half1', '/half2']);
});

test('a response on a Connection: close request says connection: close and carries no Keep-Alive', async () => {
  const r = await raw(ports['smug']!, 'GET /hop HTTP/1.1\r\nHost: smug\r\nConnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(r.closedByServer, true);
  const head = r.text.slice(0, r.text.indexOf('\r\n\r\n')).toLowerCase().split('\r\n');
  assert.deepEqual(head.filter((l) => l.startsWith('connection:') || l.startsWith('keep-alive:')), ['connection: close']);
});

for (const [name, chunk] of [
  ['whitespace after the size', '3 \r\n'],
  ['a malformed extension', '3;ext:=1\r\n'],
]) {
  test(`a chunk-size line with ${name} is refused, or forwarded in a form the upstream reads`, async () => {
    const before = smugUp.seen.length;
    const refused = smugUp.refused.length;
    const r = await raw(ports['smug']!, `POST /cs HTTP/1.1\r\nHost: smug\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}abc\r\n0\r\n\r\n`);
    assert.deepEqual(smugUp.refused.slice(refused).map((b) => b.toString('latin1')), []);
    if (/^HTTP\/1\.1 400 /.test(r.text)) assert.deepEqual(smugUp.seen.slice(before), []);
    else {
      assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/, JSON.stringify(r.text));
      assert.deepEqual([smugUp.seen[before]?.body, smugUp.seen[before]?.complete], ['abc', true]);
    }
  });
}

// Finagle's RequeueFilter requeues only RetryableWriteException (the request was never written);
// the default classifier (io.l5d.http.nonRetryable5XX) retries nothing.
test('a request the upstream read and then dropped is not requeued: one attempt, then 502', async () => {
  const before = resetAttempts;
  const r = await raw(ports['smug']!, 'GET /once HTTP/1.1\r\nHost: reset\r\nConnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/, JSON.stringify(r.text));
  assert.equal(resetAttempts - before, 1);
});

test('a POST the upstream read and then dropped is sent once and answered 502', async () => {
  const before = resetAttempts;
  const r = await raw(ports['smug']!, 'POST /once HTTP/1.1\r\nHost: reset\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
  assert.match(r.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/, JSON.stringify(r.text));
  assert.match(r.text, /\r\nl5d-err: [^\r]+\r\n/);
  assert.equal(resetAttempts - before, 1);
});
