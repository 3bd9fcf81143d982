/**
 * Tracing through the thrift and thriftmux routers of a real `meshwork linkerd`, with the Zipkin
 * telemeter pointed at an in-test collector (Zipkin's v2 JSON API):
 * - a plain thrift request starts a trace: a server span named by its method and a client span,
 *   its child, with the upstream endpoint as remote address;
 * - a TTwitter caller's RequestHeader ids are continued (same trace, its span the parent), and
 *   the TTwitter upstream's RequestHeader carries the client span's ids; a debug flag samples,
 *   `trace_id_high` keeps the trace 128-bit, `sampled: false` records nothing but still forwards;
 * - a thriftmux Tdispatch's `com.twitter.finagle.tracing.TraceContext` is continued the same way;
 * - a request the router fails (no hosts, an upstream that refuses connections) records the
 *   error on its spans.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startLinker, linkerdYaml, e2eScratch } from '../support/linker.js';
import { REFUSED_PORT } from '../support/process.js';
import { ThriftCaller, callMessage, parseMessage, requestHeader, thriftUpstream, MessageTypes, type Parsed, type ThriftUpstream } from '../support/thrift.js';
import { FrameDecoder, decodeMessage, encodeMessage } from '../../src/protocol/mux/index.js';

type Span = Record<string, unknown> & { tags: Record<string, string> };

const { procs } = e2eScratch('mw-thrift-trace-');
let a: ThriftUpstream; // plain thrift (refuses the TTwitter upgrade)
let tt: ThriftUpstream; // TTwitter-capable
let deadPort = 0;
let thriftPort = 0;
let muxPort = 0;
const zipkin: Span[] = [];
let collector: http.Server;

before(async () => {
  a = await thriftUpstream('A');
  tt = await thriftUpstream('T', { ttwitter: true });
  deadPort = REFUSED_PORT;
  collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v2/spans') zipkin.push(...(JSON.parse(body) as Span[]));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;
  const file = linkerdYaml(`
admin:
  port: 0
telemetry:
- {kind: io.l5d.zipkin, host: 127.0.0.1, port: ${(collector.address() as AddressInfo).port}, sampleRate: 1.0, flushIntervalMs: 20}
routers:
- protocol: thrift
  label: thr
  thriftMethodInDst: true
  dtab: |
    /svc/plainPing => ${inet(a.port)};
    /svc/users => ${inet(tt.port)};
    /svc/gone => ${inet(deadPort)};
  client:
    attemptTTwitterUpgrade: true
  servers:
  - port: 0
- protocol: thriftmux
  label: tmux
  experimental: true
  thriftMethodInDst: true
  dtab: |
    /svc/users => ${inet(tt.port)};
  client:
    attemptTTwitterUpgrade: true
  servers:
  - port: 0
`);
  const l = await startLinker(file, 'thr');
  procs.push(l.proc);
  thriftPort = l.port;
  muxPort = Number(/^listening tmux 127\.0\.0\.1:(\d+)/m.exec(l.proc.output())![1]);
});

after(async () => {
  await a.close();
  await tt.close();
  await new Promise<void>((r) => collector.close(() => r()));
});

/** Waits (at most `ms`) until `f` gives a value. */
async function until<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; zipkin has ${JSON.stringify(zipkin.map((s) => [s['traceId'], s['kind'], s['name']]))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The server span whose rpc.method is `method` and the client spans of its trace. */
async function spansOf(method: string, clients = 1): Promise<{ server: Span; clients: Span[] }> {
  return until(`the spans of ${method}`, () => {
    const server = zipkin.find((s) => s['kind'] === 'SERVER' && s.tags['rpc.method'] === method);
    if (server === undefined) return undefined;
    const cs = zipkin.filter((s) => s['kind'] === 'CLIENT' && s['traceId'] === server['traceId'] && s['parentId'] === server['id']);
    return cs.length >= clients ? { server, clients: cs } : undefined;
  });
}

const inetName = (port: number): string => `/$/inet/127.0.0.1/${port}`;

test('thrift: a plain request starts a trace: a server span named by its method, a client span its child', async () => {
  const c = await ThriftCaller.connect(thriftPort);
  try {
    const r = await c.call(callMessage('binary', 'plainPing', 1, 'x'));
    assert.deepEqual([r.type, r.text], [MessageTypes.REPLY, 'A:plainPing:x']);
  } finally {
    c.close();
  }
  const { server, clients } = await spansOf('plainPing');
  assert.equal(server['parentId'], undefined);
  assert.match(String(server['traceId']), /^[0-9a-f]{16}$/);
  assert.equal(server['name'], 'plainping');
  assert.deepEqual(server['localEndpoint'], { serviceName: 'thr' });
  assert.deepEqual(server.tags, { 'l5d.dst.service': '/svc/plainPing', 'l5d.dst.client': inetName(a.port), 'rpc.system': 'thrift', 'rpc.method': 'plainPing' });
  assert.equal(clients.length, 1);
  const client = clients[0]!;
  assert.equal(client['name'], inetName(a.port));
  assert.deepEqual(client['remoteEndpoint'], { ipv4: '127.0.0.1', port: a.port });
  assert.deepEqual(client.tags, { client: inetName(a.port) });
  // The plain upstream refused the upgrade: no header, so no ids reached it.
  assert.equal(a.seen[a.seen.length - 1]!.trace, undefined);
});

test('thrift: a TTwitter caller’s trace is continued and the TTwitter upstream gets the client span’s ids', async () => {
  const c = await ThriftCaller.connect(thriftPort);
  try {
    assert.equal(await c.upgrade(), true);
    const trace = { traceId: '463ac35c9f6413ad', spanId: 'a2fb4a1d1a96d312', parentSpanId: '0102030405060708', sampled: true, flags: '0000000000000000' };
    const r = await c.call(callMessage('binary', 'get', 1, 'u'), requestHeader('binary', '/users', [], trace));
    assert.deepEqual([r.type, r.text], [MessageTypes.REPLY, 'T:get:u']);
    const seen = tt.seen[tt.seen.length - 1]!;
    const { server, clients } = await spansOf('get');
    assert.equal(server['traceId'], trace.traceId);
    assert.equal(server['parentId'], trace.spanId);
    assert.equal(server.tags['l5d.dst.service'], '/svc/users/get');
    const client = clients[0]!;
    assert.deepEqual(client['remoteEndpoint'], { ipv4: '127.0.0.1', port: tt.port });
    // Finagle's TTwitter client fields: the client span's ids, sampled, the flags with the decision.
    assert.deepEqual(seen.trace, { traceId: trace.traceId, spanId: client['id'], parentSpanId: server['id'], sampled: true, flags: '0000000000000006' });
    assert.deepEqual(seen.header, { dest: '/users', delegations: [] });

    // Debug: sampled even when the caller says `sampled: false` (as Finagle reads a TraceId);
    // a 128-bit trace id stays 128-bit.
    const wide = { traceId: '00000000000000aa', spanId: '00000000000000bb', sampled: false, flags: '0000000000000001', traceIdHigh: '11223344556677ff' };
    const w = await c.call(callMessage('binary', 'get', 2, 'w'), requestHeader('binary', '/users', [], wide));
    assert.deepEqual([w.type, w.text], [MessageTypes.REPLY, 'T:get:w']);
    const wseen = tt.seen[tt.seen.length - 1]!;
    const wideSpans = await until('the 128-bit trace', () => {
      const s = zipkin.filter((z) => z['traceId'] === wide.traceIdHigh + wide.traceId);
      return s.length >= 2 ? s : undefined;
    });
    const wServer = wideSpans.find((s) => s['kind'] === 'SERVER')!;
    const wClient = wideSpans.find((s) => s['kind'] === 'CLIENT')!;
    assert.equal(wServer['parentId'], wide.spanId);
    assert.deepEqual(wseen.trace, { traceId: wide.traceId, spanId: wClient['id'], parentSpanId: wServer['id'], sampled: true, flags: '0000000000000007', traceIdHigh: wide.traceIdHigh });

    // sampled: false: nothing recorded, the ids still go on with the decision.
    const off = { traceId: '00000000000000cc', spanId: '00000000000000dd', sampled: false };
    const o = await c.call(callMessage('binary', 'get', 3, 'o'), requestHeader('binary', '/users', [], off));
    assert.deepEqual([o.type, o.text], [MessageTypes.REPLY, 'T:get:o']);
    const oseen = tt.seen[tt.seen.length - 1]!.trace!;
    assert.equal(oseen.traceId, off.traceId);
    assert.equal(oseen.sampled, false);
    assert.equal(oseen.flags, '0000000000000002');
    assert.notEqual(oseen.spanId, off.spanId);
    // A sampled request after it: once its spans are in, none of the unsampled trace came before.
    const after = await c.call(callMessage('binary', 'get', 4, 'later'), requestHeader('binary', '/users', [], { traceId: '00000000000000ee', spanId: '00000000000000ef', sampled: true }));
    assert.equal(after.text, 'T:get:later');
    await until('the later trace', () => (zipkin.filter((z) => z['traceId'] === '00000000000000ee').length >= 2 ? true : undefined));
    assert.deepEqual(zipkin.filter((z) => z['traceId'] === off.traceId), []);
  } finally {
    c.close();
  }
});

/** Finagle's TraceId serialization: span, parent, trace, flags, 8 bytes each. */
function traceIdBytes(span: string, parent: string, trace: string, flags: number): Buffer {
  const b = Buffer.from(span + parent + trace + '0'.repeat(16), 'hex');
  b.writeUInt32BE(flags, 28);
  return b;
}

/** One Tdispatch with `contexts` on a raw mux connection; the reply message. */
async function muxDispatch(contexts: [Buffer, Buffer][], dst: string, body: Buffer): Promise<Parsed> {
  const sock = net.connect({ port: muxPort, host: '127.0.0.1' });
  await new Promise<void>((r, j) => {
    sock.once('connect', r);
    sock.once('error', j);
  });
  try {
    sock.write(encodeMessage({ kind: 'Tdispatch', tag: 1, contexts, dst, dtab: [], body }));
    const frames = new FrameDecoder(1 << 20);
    const m = await new Promise<ReturnType<typeof decodeMessage>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no mux reply')), 5000);
      sock.on('data', (d: Buffer) => {
        for (const f of frames.push(d)) {
          clearTimeout(t);
          resolve(decodeMessage(f));
        }
      });
    });
    assert.equal(m.kind, 'RdispatchOk');
    return parseMessage('binary', (m as { body: Buffer }).body);
  } finally {
    sock.destroy();
  }
}

test('thriftmux: a Tdispatch’s TraceContext is continued and reaches the TTwitter upstream as the client span’s ids', async () => {
  const span = '5af7183fb1d4cf5f';
  const parent = '6b221d5bc9e6496c';
  const trace = '7c8a1e2b3d4f5061';
  const ctx = traceIdBytes(span, parent, trace, 6);
  // Another context beside the trace: a Finagle deadline an hour away (timestamp, deadline in ns).
  const deadline = Buffer.alloc(16);
  deadline.writeBigInt64BE(BigInt(Date.now()) * 1_000_000n, 0);
  deadline.writeBigInt64BE(BigInt(Date.now() + 3_600_000) * 1_000_000n, 8);
  const other: [Buffer, Buffer] = [Buffer.from('com.twitter.finagle.Deadline'), deadline];
  const r = await muxDispatch([other, [Buffer.from('com.twitter.finagle.tracing.TraceContext'), ctx]], '/users', callMessage('binary', 'muxGet', 5, 'm'));
  assert.deepEqual([r.type, r.text], [MessageTypes.REPLY, 'T:muxGet:m']);
  const seen = tt.seen[tt.seen.length - 1]!;
  const { server, clients } = await spansOf('muxGet');
  assert.equal(server['traceId'], trace);
  assert.equal(server['parentId'], span);
  assert.deepEqual(server['localEndpoint'], { serviceName: 'tmux' });
  assert.deepEqual(server.tags, { 'l5d.dst.service': '/svc/users/muxGet', 'l5d.dst.client': inetName(tt.port), 'rpc.system': 'thriftmux', 'rpc.method': 'muxGet' });
  const client = clients[0]!;
  assert.deepEqual(seen.trace, { traceId: trace, spanId: client['id'], parentSpanId: server['id'], sampled: true, flags: '0000000000000006' });
  assert.deepEqual(seen.header, { dest: '/users', delegations: [] });
});

test('thrift: a failed request records its error: no hosts on the server span, a refused connection on each attempt', async () => {
  const c = await ThriftCaller.connect(thriftPort);
  try {
    const none = await c.call(callMessage('binary', 'nosuch', 1, 'x'));
    assert.equal(none.type, MessageTypes.EXCEPTION);
    const gone = await c.call(callMessage('binary', 'gone', 2, 'x'));
    assert.equal(gone.type, MessageTypes.EXCEPTION);
    const noneSpan = await until('the nosuch span', () => zipkin.find((s) => s['kind'] === 'SERVER' && s.tags['rpc.method'] === 'nosuch'));
    assert.equal(noneSpan.tags['error'], none.text);
    assert.match(noneSpan.tags['error']!, /^No hosts are available for \/svc\/nosuch/);
    assert.equal(noneSpan.tags['l5d.dst.service'], '/svc/nosuch');
    assert.deepEqual(zipkin.filter((s) => s['parentId'] === noneSpan['id']), [], 'no attempt, no client span');

    const { server, clients } = await spansOf('gone');
    assert.equal(server.tags['error'], gone.text);
    assert.match(server.tags['error']!, /could not connect to 127\.0\.0\.1:\d+/);
    for (const cs of clients) {
      assert.deepEqual(cs['remoteEndpoint'], { ipv4: '127.0.0.1', port: deadPort });
      assert.match(cs.tags['error']!, new RegExp(`could not connect to 127\\.0\\.0\\.1:${deadPort}(?!\\d)`));
    }
  } finally {
    c.close();
  }
});
