/**
 * The raw TCP router (`protocol: tcp`) through a real `meshwork linkerd`, with TCP upstreams on
 * loopback that greet first (`<name>\n`), echo what they read and answer a FIN with
 * `bye <name>\n` before ending their side:
 * - bytes flow both ways unchanged, the upstream's first, and a half-close travels each way;
 * - 4 MiB of random bytes each way at once arrive intact (back-pressure, no loss);
 * - connections are balanced over the bound id's endpoints (roundRobin);
 * - a refused endpoint is skipped: the connection is requeued to another endpoint;
 * - a name that does not bind, or whose only endpoint refuses, resets the client's connection
 *   and is counted under `failures/<code>`;
 * - a rewritten io.l5d.fs file moves new connections, and an open one stays where it is;
 * - `maxConcurrentRequests` bounds open connections, `serverSession.idleTimeMs` ends a quiet one;
 * - TLS: terminated at the server, originated to a TLS upstream;
 * - sniInDst: TLS passed through is named by its ClientHello's server name (plain bytes and a
 *   cut-off ClientHello go unnamed), and a terminating server names by the handshake's;
 * - server metrics: connects, received_bytes and sent_bytes exact, success and failures;
 * - the linker keeps serving after clients reset in every phase of a connection.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { startLinker, linkerdYaml, e2eScratch } from '../support/linker.js';
import { REFUSED_PORT } from '../support/process.js';
import { request } from '../router/support.js';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../support/capture-io.js';

const { dir, procs } = e2eScratch('mw-tcp-');

interface TcpUpstream {
  readonly name: string;
  readonly port: number;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

const ups: TcpUpstream[] = [];

/** The test upstream: greets, echoes, answers a FIN with `bye <name>\n` and ends. */
async function tcpUpstream(name: string, secure?: TestCerts): Promise<TcpUpstream> {
  const sockets = new Set<net.Socket>();
  const onConn = (s: net.Socket): void => {
    u.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.write(`${name}\n`);
    s.on('data', (c: Buffer) => s.write(c));
    s.on('end', () => s.end(`bye ${name}\n`));
  };
  const server = secure === undefined
    ? net.createServer({ allowHalfOpen: true }, onConn)
    : tls.createServer({ allowHalfOpen: true, cert: readFileSync(secure.serverCert), key: readFileSync(secure.serverKey) }, onConn);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const u: TcpUpstream = {
    name,
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
  ups.push(u);
  return u;
}

interface Session {
  readonly data: Buffer;
  /** The error the connection ended with (ECONNRESET for a reset), if any. */
  readonly error: string | undefined;
}

/**
 * Connects, writes `chunks` (after the greeting when `awaitGreeting`), half-closes, and reads
 * until the connection closes (at most `ms`).
 */
function session(port: number, chunks: readonly (string | Buffer)[], opts: { secure?: TestCerts; servername?: string; ms?: number } = {}): Promise<Session> {
  return new Promise((resolve, reject) => {
    // A server name other than the certificate's is still checked against our CA, not the name.
    const servername = opts.servername ?? 'localhost';
    const s = opts.secure === undefined
      ? net.connect({ host: '127.0.0.1', port, allowHalfOpen: true })
      : tls.connect({ host: '127.0.0.1', port, servername, ca: readFileSync(opts.secure.caCert), allowHalfOpen: true, checkServerIdentity: () => undefined } as tls.ConnectionOptions);
    const got: Buffer[] = [];
    let error: string | undefined;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`session on ${port} still open after ${opts.ms ?? 5000} ms; got ${JSON.stringify(Buffer.concat(got).toString())}`));
    }, opts.ms ?? 5000);
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(got), error });
    });
    s.once(opts.secure === undefined ? 'connect' : 'secureConnect', () => {
      for (const c of chunks) s.write(c);
      s.end();
    });
  });
}

/** An open connection that has read the upstream's greeting line. */
function greeted(port: number): Promise<{ socket: net.Socket; greeting: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      s.off('data', onData);
      resolve({ socket: s, greeting: buf.slice(0, nl) });
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => reject(new Error(`closed before a greeting (${JSON.stringify(buf)})`)));
  });
}

let certs: TestCerts;
let a: TcpUpstream;
let b: TcpUpstream;
let secureUp: TcpUpstream;
let secureB: TcpUpstream;
let admin = 0;
const port: Record<string, number> = {};
let limitedPort = 0;
let idlePort = 0;
const disco = join(dir, 'disco');

/** Replaces an io.l5d.fs file at once (the namer sees the whole new content). */
function writeDisco(name: string, text: string): void {
  writeFileSync(join(disco, `.${name}.tmp`), text);
  renameSync(join(disco, `.${name}.tmp`), join(disco, name));
}

before(async () => {
  certs = makeTestCerts();
  a = await tcpUpstream('a');
  b = await tcpUpstream('b');
  secureUp = await tcpUpstream('secure', certs);
  secureB = await tcpUpstream('secure-b', certs);
  // A port nothing listens on for the whole run (not one picked free here: see REFUSED_PORT).
  const dead = REFUSED_PORT;
  mkdirSync(disco);
  writeDisco('pair', `127.0.0.1 ${a.port}\n127.0.0.1 ${b.port}\n`);
  writeDisco('mixed', `127.0.0.1 ${dead}\n127.0.0.1 ${b.port}\n`);
  writeDisco('moving', `127.0.0.1 ${a.port}\n`);
  const file = linkerdYaml(`
admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${disco}
routers:
- protocol: tcp
  label: pair
  dtab: /svc => /#/io.l5d.fs/pair
  client:
    loadBalancer:
      kind: roundRobin
  servers:
  - port: 0
  - port: 0
    maxConcurrentRequests: 1
  - port: 0
    serverSession:
      idleTimeMs: 300
- protocol: tcp
  label: mixed
  dtab: /svc => /#/io.l5d.fs/mixed
  client:
    loadBalancer:
      kind: roundRobin
  servers:
  - port: 0
- protocol: tcp
  label: dead
  dtab: /svc => /$/inet/127.0.0.1/${dead}
  servers:
  - port: 0
- protocol: tcp
  label: nowhere
  dstPrefix: /svc/nowhere
  dtab: /svc => /#/io.l5d.fs
  servers:
  - port: 0
- protocol: tcp
  label: moving
  dtab: /svc => /#/io.l5d.fs/moving
  servers:
  - port: 0
- protocol: tcp
  label: secure
  dtab: /svc => /$/inet/127.0.0.1/${secureUp.port}
  client:
    tls:
      commonName: localhost
      trustCerts:
      - ${certs.caCert}
  servers:
  - port: 0
    tls:
      certPath: ${certs.serverCert}
      keyPath: ${certs.serverKey}
- protocol: tcp
  label: passthrough
  sniInDst: true
  dtab: |
    /svc => /$/inet/127.0.0.1/${a.port};
    /svc/one.example.com => /$/inet/127.0.0.1/${secureUp.port};
    /svc/two.example.com => /$/inet/127.0.0.1/${secureB.port};
  servers:
  - port: 0
- protocol: tcp
  label: terminated
  sniInDst: true
  dtab: |
    /svc => /$/inet/127.0.0.1/${a.port};
    /svc/two.example.com => /$/inet/127.0.0.1/${b.port};
  servers:
  - port: 0
    tls:
      certPath: ${certs.serverCert}
      keyPath: ${certs.serverKey}
`);
  const l = await startLinker(file, 'terminated');
  procs.push(l.proc);
  admin = l.admin;
  for (const m of l.proc.output().matchAll(/^listening (\w+) 127\.0\.0\.1:(\d+)$/gm)) {
    if (port[m[1]!] === undefined) port[m[1]!] = Number(m[2]);
    else if (limitedPort === 0) limitedPort = Number(m[2]);
    else idlePort = Number(m[2]);
  }
  assert.deepEqual(Object.keys(port).sort(), ['dead', 'mixed', 'moving', 'nowhere', 'pair', 'passthrough', 'secure', 'terminated'], l.proc.output());
  assert.ok(limitedPort > 0 && idlePort > 0, l.proc.output());
});

after(async () => {
  for (const u of ups) await u.close();
  certs?.cleanup();
});

async function metrics(): Promise<Record<string, number>> {
  return JSON.parse((await request(admin, { path: '/admin/metrics.json' })).body) as Record<string, number>;
}

test('tcp: bytes flow both ways, the upstream first, and a half-close travels each way', async () => {
  const s = await session(port['pair']!, ['ping\n', 'pong\n']);
  assert.equal(s.error, undefined);
  // Greeting, the echo, then the upstream's answer to our FIN: it got the FIN, we got its.
  assert.match(s.data.toString(), /^(a|b)\nping\npong\nbye \1\n$/);
});

test('tcp: 4 MiB of random bytes each way at once arrive intact', async () => {
  const upload = randomBytes(4 * 1024 * 1024);
  const chunks: Buffer[] = [];
  for (let i = 0; i < upload.length; i += 65536) chunks.push(upload.subarray(i, i + 65536));
  const s = await session(port['pair']!, chunks, { ms: 20_000 });
  assert.equal(s.error, undefined);
  const text = s.data;
  const name = text.subarray(0, 2).toString();
  assert.ok(name === 'a\n' || name === 'b\n', JSON.stringify(name));
  const echoed = text.subarray(2, 2 + upload.length);
  const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
  assert.equal(echoed.length, upload.length);
  assert.equal(sha(echoed), sha(upload));
  assert.equal(text.subarray(2 + upload.length).toString(), `bye ${name}`);
});

test('tcp: connections are balanced over the endpoints of the bound id', async () => {
  const before = [a.accepted, b.accepted];
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) seen.push((await session(port['pair']!, [])).data.toString().split('\n')[0]!);
  assert.deepEqual([seen.filter((n) => n === 'a').length, seen.filter((n) => n === 'b').length], [5, 5], seen.join(','));
  assert.deepEqual([a.accepted - before[0]!, b.accepted - before[1]!], [5, 5]);
});

test('tcp: a refused endpoint is skipped and the connection goes to another', async () => {
  const start = b.accepted;
  for (let i = 0; i < 8; i++) {
    const s = await session(port['mixed']!, ['x']);
    assert.equal(s.data.toString(), 'b\nxbye b\n', `connection ${i}: ${s.error ?? ''}`);
  }
  assert.equal(b.accepted - start, 8);
});

test('tcp: a name that does not bind, or whose only endpoint refuses, resets the connection', async () => {
  const dead = await session(port['dead']!, ['hello']);
  assert.equal(dead.data.length, 0);
  assert.equal(dead.error, 'ECONNRESET');
  const nowhere = await session(port['nowhere']!, ['hello']);
  assert.equal(nowhere.data.length, 0);
  assert.equal(nowhere.error, 'ECONNRESET');
  const m = await metrics();
  assert.equal(m[`rt/dead/server/127.0.0.1/${port['dead']}/failures/MESH_ERR_ROUTER_CONNECT_FAILED`], 1, JSON.stringify(Object.keys(m).filter((k) => k.startsWith('rt/dead/'))));
  assert.equal(m[`rt/dead/server/127.0.0.1/${port['dead']}/success`], 0);
  assert.equal(m[`rt/nowhere/server/127.0.0.1/${port['nowhere']}/failures/MESH_ERR_ROUTER_NO_BROKERS`], 1, JSON.stringify(Object.keys(m).filter((k) => k.startsWith('rt/nowhere/'))));
  // The router still routes afterwards.
  assert.match((await session(port['pair']!, [])).data.toString(), /^(a|b)\nbye \1\n$/);
});

test('tcp: a rewritten io.l5d.fs file moves new connections; an open one stays', async () => {
  const open = await greeted(port['moving']!);
  assert.equal(open.greeting, 'a');
  writeDisco('moving', `127.0.0.1 ${b.port}\n`);
  let first = '';
  const t0 = Date.now();
  for (let i = 0; i < 100 && Date.now() - t0 < 5000; i++) {
    first = (await session(port['moving']!, [])).data.toString().split('\n')[0]!;
    if (first === 'b') break;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(first, 'b');
  // The connection made before the change still talks to a.
  const reply = await new Promise<string>((resolve) => {
    let got = '';
    open.socket.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.endsWith('bye a\n')) resolve(got);
    });
    open.socket.end('still\n');
  });
  assert.equal(reply, 'still\nbye a\n');
  writeDisco('moving', `127.0.0.1 ${a.port}\n`);
});

test('tcp: maxConcurrentRequests bounds open connections; serverSession.idleTimeMs ends a quiet one', async () => {
  const first = await greeted(limitedPort);
  const over = await session(limitedPort, ['x']);
  assert.deepEqual([over.data.length, over.error], [0, 'ECONNRESET']);
  first.socket.destroy();
  // Once the first has closed, a new connection is served.
  // Once the linker has seen the first close, a new connection is served.
  let ok = '';
  let refused = 1;
  for (let i = 0; i < 40 && ok === ''; i++) {
    const s = await session(limitedPort, ['y']);
    if (s.error === undefined) ok = s.data.toString();
    else {
      assert.equal(s.error, 'ECONNRESET');
      refused++;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  assert.match(ok, /^(a|b)\nybye \1\n$/);
  const m = await metrics();
  assert.equal(m[`rt/pair/server/127.0.0.1/${limitedPort}/failures/MESH_ERR_ROUTER_OVERLOADED`], refused);

  const quiet = await greeted(idlePort);
  const t0 = Date.now();
  await new Promise<void>((resolve) => quiet.socket.once('close', () => resolve()));
  const waited = Date.now() - t0;
  assert.ok(waited >= 250 && waited < 3000, `closed after ${waited} ms`);
});

test('tcp over TLS: terminated at the server, originated to a TLS upstream', async () => {
  const s = await session(port['secure']!, ['over tls\n'], { secure: certs });
  assert.equal(s.error, undefined);
  assert.equal(s.data.toString(), 'secure\nover tls\nbye secure\n');
  // Plain bytes on the TLS port never reach the upstream.
  const before = secureUp.accepted;
  const plain = await session(port['secure']!, ['GET / HTTP/1.0\r\n\r\n']);
  assert.equal(plain.data.includes('secure'), false);
  assert.equal(secureUp.accepted, before);
});

test('tcp sniInDst: TLS passed through is routed by the ClientHello\'s server name, unchanged end to end', async () => {
  const p = port['passthrough']!;
  const one = await session(p, ['hello one\n'], { secure: certs, servername: 'one.example.com' });
  assert.deepEqual([one.error, one.data.toString()], [undefined, 'secure\nhello one\nbye secure\n']);
  // Names compare as DNS names do: the upper-case one binds the same.
  const two = await session(p, ['hello two\n'], { secure: certs, servername: 'TWO.example.com' });
  assert.deepEqual([two.error, two.data.toString()], [undefined, 'secure-b\nhello two\nbye secure-b\n']);
  // Plain bytes (no ClientHello) go to the unnamed dstPrefix, unchanged.
  const plain = await session(p, ['not tls at all\n']);
  assert.equal(plain.data.toString(), 'a\nnot tls at all\nbye a\n');
  // A client that sends the start of a ClientHello and then its FIN is routed unnamed too.
  const cut = await session(p, [Buffer.from([0x16, 0x03, 0x01, 0x02])]);
  assert.equal(cut.data.toString(), 'a\n\x16\x03\x01\x02bye a\n');
  // Clients that reset in the middle of their ClientHello are let go, and the router still routes.
  for (let i = 0; i < 10; i++) {
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: p });
      s.on('error', () => {});
      s.once('close', () => resolve());
      s.once('connect', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), () => s.resetAndDestroy()));
    });
  }
  let open = -1;
  for (let i = 0; i < 40 && open !== 0; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 25));
    open = (await metrics())[`rt/passthrough/server/127.0.0.1/${p}/connections`] ?? -1;
  }
  assert.equal(open, 0);
  const after = await session(p, ['again\n'], { secure: certs, servername: 'one.example.com' });
  assert.equal(after.data.toString(), 'secure\nagain\nbye secure\n');
});

test('tcp sniInDst on a TLS server: the handshake\'s server name names the connection', async () => {
  const p = port['terminated']!;
  const two = await session(p, ['x'], { secure: certs, servername: 'two.example.com' });
  assert.deepEqual([two.error, two.data.toString()], [undefined, 'b\nxbye b\n']);
  const other = await session(p, ['y'], { secure: certs, servername: 'localhost' });
  assert.deepEqual([other.error, other.data.toString()], [undefined, 'a\nybye a\n']);
});

test('tcp: server metrics count connections and bytes exactly', async () => {
  const p = port['moving']!;
  const key = (k: string): string => `rt/moving/server/127.0.0.1/${p}/${k}`;
  const m0 = await metrics();
  const s = await session(p, ['0123456789']);
  // Greeting `a\n` (2) + echo (10) + `bye a\n` (6) to the client; 10 from it. (The previous
  // test moved the name back to a; a connection may still reach b until the namer reads that.)
  assert.match(s.data.toString(), /^(a|b)\n0123456789bye \1\n$/);
  let m1 = await metrics();
  // The byte counters move as bytes pass; the connection's close may land just after the reply.
  for (let i = 0; i < 40 && m1[key('connection_duration.count')] === m0[key('connection_duration.count')]; i++) {
    await new Promise((r) => setTimeout(r, 25));
    m1 = await metrics();
  }
  const d = (k: string): number => (m1[key(k)] ?? 0) - (m0[key(k)] ?? 0);
  assert.deepEqual(
    { connects: d('connects'), requests: d('requests'), success: d('success'), received: d('received_bytes'), sent: d('sent_bytes') },
    { connects: 1, requests: 1, success: 1, received: 10, sent: 18 },
  );
  assert.equal(m1[key('connections')], 0);
  assert.ok((m1[`rt/moving/client/#/io.l5d.fs/moving/connections`] ?? -1) >= 0, JSON.stringify(Object.keys(m1).filter((k) => k.startsWith('rt/moving/client'))));
});

test('tcp: clients that reset at any point leave the linker serving', async () => {
  const p = port['pair']!;
  for (let i = 0; i < 30; i++) {
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: p });
      s.on('error', () => {});
      s.once('close', () => resolve());
      // Reset at once, after a write, or after the greeting, in turn.
      if (i % 3 === 0) s.once('connect', () => s.resetAndDestroy());
      else if (i % 3 === 1) s.once('connect', () => s.write(randomBytes(100), () => s.resetAndDestroy()));
      else s.once('data', () => s.resetAndDestroy());
    });
  }
  assert.match((await session(p, ['z'])).data.toString(), /^(a|b)\nzbye \1\n$/);
  // Every connection is let go: the gauge comes down to 0 once the last closes are read.
  let open = -1;
  for (let i = 0; i < 40 && open !== 0; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 25));
    open = (await metrics())[`rt/pair/server/127.0.0.1/${p}/connections`] ?? -1;
  }
  assert.equal(open, 0);
});

test('meshwork check reads a tcp router: its clients, and its failed connections', async () => {
  const { out, io } = captureIO();
  await main(['check', '--admin', `http://127.0.0.1:${admin}`], io);
  assert.match(out.stdout, /^ {2}ok {3}8 routers: pair \(tcp\), mixed \(tcp\), dead \(tcp\), nowhere \(tcp\), moving \(tcp\), secure \(tcp\), passthrough \(tcp\), terminated \(tcp\)$/m, out.stdout);
  assert.match(out.stdout, /^ {2}ok {3}dead: 1 of 1 connection failed since start \(100\.0%\)$/m, out.stdout);
  assert.match(out.stdout, /^ {2}ok {3}pair: 1 client with every endpoint available$/m, out.stdout);
});

test('tcp: SIGTERM stops new connections, lets an open one finish, and exits once it has', async () => {
  const file = linkerdYaml(`
admin:
  port: 0
  shutdownGraceMs: 8000
routers:
- protocol: tcp
  label: draining
  dtab: /svc => /$/inet/127.0.0.1/${a.port}
  servers:
  - port: 0
`);
  const l = await startLinker(file, 'draining');
  procs.push(l.proc);
  const open = await greeted(l.port);
  const exited = new Promise<number>((resolve) => l.proc.child.once('exit', () => resolve(Date.now())));
  l.proc.child.kill('SIGTERM');
  // New connections are refused once the listener has stopped.
  let refused = '';
  for (let i = 0; i < 40 && refused === ''; i++) {
    const r = await session(l.port, ['late']).then((s) => (s.error ?? (s.data.length === 0 ? 'closed' : '')), (e: Error) => e.message);
    if (r === 'ECONNREFUSED') refused = r;
    else await new Promise((res) => setTimeout(res, 25));
  }
  assert.equal(refused, 'ECONNREFUSED');
  // The open connection still carries bytes both ways, then ends normally.
  const reply = await new Promise<string>((resolve) => {
    let got = '';
    open.socket.on('data', (c: Buffer) => (got += c.toString()));
    open.socket.once('end', () => resolve(got));
    open.socket.end('after sigterm\n');
  });
  assert.equal(reply, 'after sigterm\nbye a\n');
  const closedAt = Date.now();
  // The linker exits once its last connection has closed, well before the 8 s grace.
  const at = await exited;
  assert.ok(at - closedAt < 4000, `exited ${at - closedAt} ms after the last connection closed`);
});
