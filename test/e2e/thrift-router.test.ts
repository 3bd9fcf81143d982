/**
 * The thrift and thriftmux routers through a real `meshwork linkerd`, with upstreams and callers
 * built on the `thrift` package's own protocols (test/support/thrift.ts):
 * - routing by method name (`thriftMethodInDst`), multiplexed `service:method` names, several
 *   calls and pipelined calls on one connection, ONEWAY messages;
 * - failures answered as TApplicationException INTERNAL_ERROR with the reason (no hosts, an
 *   upstream that is gone, the total timeout), the connection still usable after them; bytes
 *   that are not thrift close only that connection;
 * - TTwitter: a caller's upgrade is accepted, its RequestHeader `dest` and delegations route
 *   the request; `attemptTTwitterUpgrade` upgrades to an upstream that accepts it (which sees
 *   the dest and dtab) and stays plain with one that refuses; with no tracer a caller's trace
 *   ids go on to it as a child of the caller's span, a plain request's as a new trace;
 * - buffered transport with the compact protocol;
 * - thriftmux: a Tdispatch's dst and dtab route; plain framed thrift on the same port works;
 *   `serverSession.idleTimeMs` drains an idle mux session (Tdrain, Rdrain, close);
 * - server and client metrics in /admin/metrics.json.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { startLinker, linkerdYaml, e2eScratch } from '../support/linker.js';
import { REFUSED_PORT } from '../support/process.js';
import { CAN_TRACE, ThriftCaller, callMessage, message, parseMessage, requestHeader, thriftUpstream, MessageTypes, type ThriftUpstream, type Parsed, type Proto } from '../support/thrift.js';
import { DEADLINE_CONTEXT_KEY, FrameDecoder, MuxClient, decodeMessage, encodeDeadline, encodeMessage } from '../../src/protocol/mux/index.js';
import { dial } from '../protocol/mux/helpers.js';

const { procs } = e2eScratch('mw-thrift-');
const ups: ThriftUpstream[] = [];
let a: ThriftUpstream; // /svc/ping
let b: ThriftUpstream; // /svc/echo, /svc/Users/get
let tt: ThriftUpstream; // TTwitter-capable, behind /svc/traced
let slow: ThriftUpstream;
let pooled: ThriftUpstream; // behind /svc/Pool, hostConnectionPool maxSize 1, maxWaiters 1
let chatty: ThriftUpstream; // answers ONEWAY messages too; behind /svc/Chatty
let thriftPort = 0;
let muxPort = 0;
let muxIdlePort = 0; // the thriftmux router's second server: serverSession idleTimeMs 300
let compactPort = 0;
let admin = 0;
let deadPort = 0;

before(async () => {
  a = await thriftUpstream('A');
  b = await thriftUpstream('B');
  tt = await thriftUpstream('T', { ttwitter: true });
  slow = await thriftUpstream('S');
  pooled = await thriftUpstream('P');
  chatty = await thriftUpstream('C2', { answerOneway: true });
  ups.push(a, b, tt, slow, pooled, chatty);
  deadPort = REFUSED_PORT;
  const inet = (u: ThriftUpstream | number): string => `/$/inet/127.0.0.1/${typeof u === 'number' ? u : u.port}`;
  const file = linkerdYaml(`
admin:
  port: 0
routers:
- protocol: thrift
  label: thr
  thriftMethodInDst: true
  dtab: |
    /svc/ping => ${inet(a)};
    /svc/echo => ${inet(b)};
    /svc/Users/get => ${inet(b)};
    /svc/slow => ${inet(slow)};
    /svc/gone => ${inet(deadPort)};
    /svc/users => ${inet(tt)};
    /svc/other => ${inet(a)};
    /svc/Pool => ${inet(pooled)};
    /svc/Chatty => ${inet(chatty)};
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc/slow
      totalTimeoutMs: 300
  client:
    kind: io.l5d.static
    configs:
    - prefix: /
      thriftFramed: true
      attemptTTwitterUpgrade: true
    - prefix: /$/inet/127.0.0.1/${chatty.port}
      hostConnectionPool:
        maxSize: 1
    - prefix: /$/inet/127.0.0.1/${pooled.port}
      hostConnectionPool:
        maxSize: 1
        maxWaiters: 1
  servers:
  - port: 0
- protocol: thriftmux
  label: tmux
  experimental: true
  thriftMethodInDst: true
  dtab: |
    /svc/ping => ${inet(a)};
    /svc/users => ${inet(b)};
    /svc/other => ${inet(a)};
  servers:
  - port: 0
    socketOptions: {keepAlive: true, backlog: 16, readTimeoutMs: 10000}
  - port: 0
    serverSession: {idleTimeMs: 300}
- protocol: thrift
  label: cmp
  thriftProtocol: compact
  dtab: |
    /svc => ${inet(0)};
  servers:
  - port: 0
    thriftFramed: false
  client:
    thriftFramed: false
`);
  // The compact router's upstream speaks buffered compact thrift: started first, then named.
  const c = await thriftUpstream('C', { proto: 'compact', framed: false });
  ups.push(c);
  const { readFileSync, writeFileSync } = await import('node:fs');
  writeFileSync(file, readFileSync(file, 'utf8').replace('/$/inet/127.0.0.1/0;', `/$/inet/127.0.0.1/${c.port};`));
  const l = await startLinker(file, 'thr');
  procs.push(l.proc);
  thriftPort = l.port;
  admin = l.admin;
  const tmux = [...l.proc.output().matchAll(/^listening tmux 127\.0\.0\.1:(\d+)/gm)].map((m) => Number(m[1]));
  muxPort = tmux[0]!;
  muxIdlePort = tmux[1]!;
  compactPort = Number(/^listening cmp 127\.0\.0\.1:(\d+)/m.exec(l.proc.output())![1]);
});
after(async () => {
  for (const u of ups) await u.close();
});

async function caller(port = thriftPort, opts: { proto?: Proto; framed?: boolean } = {}): Promise<ThriftCaller> {
  return ThriftCaller.connect(port, opts);
}

function expectReply(r: Parsed, name: string, seqid: number, text: string): void {
  assert.deepEqual([r.type, r.name, r.seqid, r.text], [MessageTypes.REPLY, name, seqid, text]);
}

test('thrift: calls route by method name, several on one connection, one upstream connection reused', async () => {
  const c = await caller();
  try {
    expectReply(await c.call(callMessage('binary', 'ping', 1, 'x')), 'ping', 1, 'A:ping:x');
    expectReply(await c.call(callMessage('binary', 'echo', 2, 'y')), 'echo', 2, 'B:echo:y');
    const before = a.connections;
    for (let i = 3; i < 8; i++) expectReply(await c.call(callMessage('binary', 'ping', i, String(i))), 'ping', i, `A:ping:${i}`);
    assert.ok(a.connections - before <= 1, `upstream connections opened: ${a.connections - before}`);
    // A multiplexed name `service:method` routes as /svc/service/method.
    expectReply(await c.call(callMessage('binary', 'Users:get', 9, 'z')), 'Users:get', 9, 'B:Users:get:z');
  } finally {
    c.close();
  }
});

test('thrift: pipelined calls (200 in one write) are answered in order; a ONEWAY message is forwarded without a reply', async () => {
  const c = await caller();
  try {
    c.send(callMessage('binary', 'echo', 11, 'p1'));
    c.send(callMessage('binary', 'ping', 12, 'p2'));
    expectReply(await c.next(), 'echo', 11, 'B:echo:p1');
    expectReply(await c.next(), 'ping', 12, 'A:ping:p2');
    const seen = a.seen.length;
    c.send(callMessage('binary', 'ping', 13, 'fire', true));
    expectReply(await c.call(callMessage('binary', 'ping', 14, 'after')), 'ping', 14, 'A:ping:after');
    const got = a.seen.slice(seen).map((m) => [m.type, m.text]);
    assert.deepEqual(got, [[MessageTypes.ONEWAY, 'fire'], [MessageTypes.CALL, 'after']]);
    // Far more pipelined calls than the server reads ahead (64): reading pauses and resumes,
    // every call is answered, in order.
    const { frame } = await import('../support/thrift.js');
    c.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => frame(callMessage('binary', 'echo', 100 + i, `n${i}`)))));
    for (let i = 0; i < 200; i++) expectReply(await c.next(), 'echo', 100 + i, `B:echo:n${i}`);
  } finally {
    c.close();
  }
});

test('thrift: failures answer TApplicationException INTERNAL_ERROR with the reason; the connection stays usable', async () => {
  const c = await caller();
  try {
    const none = await c.call(callMessage('binary', 'nosuch', 21, 'x'));
    assert.equal(none.type, MessageTypes.EXCEPTION);
    assert.deepEqual([none.name, none.seqid, none.exType], ['nosuch', 21, 6]);
    assert.match(none.text ?? '', /No hosts are available for \/svc\/nosuch/);

    const gone = await c.call(callMessage('binary', 'gone', 22, 'x'));
    assert.equal(gone.type, MessageTypes.EXCEPTION);
    assert.match(gone.text ?? '', /could not connect to 127\.0\.0\.1:\d+/);

    const t0 = Date.now();
    const late = await c.call(callMessage('binary', 'slow', 23, 'x'));
    assert.equal(late.type, MessageTypes.EXCEPTION);
    assert.equal(late.text, 'exceeded 300ms total timeout for /svc/slow');
    assert.ok(Date.now() - t0 < 1800, `answered after ${Date.now() - t0} ms`);

    expectReply(await c.call(callMessage('binary', 'ping', 24, 'ok')), 'ping', 24, 'A:ping:ok');
  } finally {
    c.close();
  }
});

test('thrift: bytes that are not thrift close that connection only', async () => {
  const bad = await caller();
  // A frame whose message head has an unknown protocol version.
  bad.write(Buffer.from([0, 0, 0, 8, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]));
  for (let i = 0; i < 100 && !bad.closed; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(bad.closed, true);
  const good = await caller();
  try {
    expectReply(await good.call(callMessage('binary', 'ping', 1, 'still')), 'ping', 1, 'A:ping:still');
  } finally {
    good.close();
  }
});

test('thrift: TTwitter upgrade from the caller; dest and delegations route the request and reach a TTwitter upstream', async () => {
  const c = await caller();
  try {
    assert.equal(await c.upgrade(), true);
    // dest /users + method get => /svc/users/get; /svc/users is routed to the TTwitter upstream.
    const r = await c.call(callMessage('binary', 'get', 31, 'u1'), requestHeader('binary', '/users', []));
    expectReply(r, 'get', 31, 'T:get:u1');
    const last = tt.seen[tt.seen.length - 1]!;
    assert.deepEqual(last.header, { dest: '/users', delegations: [] });
    assert.equal(tt.seen.some((m) => m.name === '__can__finagle__trace__v3__'), true, 'the router offered the upgrade upstream');

    // A delegation in the header overrides the router's dtab for this request only.
    const moved = await c.call(callMessage('binary', 'get', 32, 'u2'), requestHeader('binary', '/users', [['/svc/users', '/svc/other']]));
    expectReply(moved, 'get', 32, 'A:get:u2');
    // The plain upstream A refused the upgrade: it got the plain message.
    assert.equal(a.seen[a.seen.length - 1]!.header, undefined);

    const plain = await c.call(callMessage('binary', 'ping', 33, 'p'), requestHeader('binary', undefined, []));
    expectReply(plain, 'ping', 33, 'A:ping:p');
    const bad = await c.call(callMessage('binary', 'ping', 34, 'p'), requestHeader('binary', undefined, [['not a path', '/x']]));
    assert.equal(bad.type, MessageTypes.EXCEPTION);
    assert.match(bad.text ?? '', /^Invalid dtab in the request's delegations/);
  } finally {
    c.close();
  }
});

test('thrift: TTwitter delegations are forwarded to an upgraded upstream', async () => {
  const c = await caller();
  try {
    assert.equal(await c.upgrade(), true);
    const r = await c.call(callMessage('binary', 'get', 41, 'd'), requestHeader('binary', '/users', [['/svc/nothing', '/svc/users']]));
    expectReply(r, 'get', 41, 'T:get:d');
    assert.deepEqual(tt.seen[tt.seen.length - 1]!.header, { dest: '/users', delegations: [['/svc/nothing', '/svc/users']] });
  } finally {
    c.close();
  }
});

test('thrift without a tracer: a TTwitter caller’s ids go on to a TTwitter upstream as a child of its span; a plain request gets a new trace id', async () => {
  const c = await caller();
  try {
    assert.equal(await c.upgrade(), true);
    const trace = { traceId: '0000000000000abc', spanId: '0000000000000def', sampled: true, flags: '0000000000000001' };
    expectReply(await c.call(callMessage('binary', 'get', 71, 'n'), requestHeader('binary', '/users', [], trace)), 'get', 71, 'T:get:n');
    const t = tt.seen[tt.seen.length - 1]!.trace!;
    assert.match(t.spanId ?? '', /^[0-9a-f]{16}$/);
    assert.notEqual(t.spanId, trace.spanId);
    // The caller's trace, its span as parent, its decision and debug flag (Finagle's flags: 1|2|4).
    assert.deepEqual(t, { traceId: trace.traceId, spanId: t.spanId, parentSpanId: trace.spanId, sampled: true, flags: '0000000000000007' });
  } finally {
    c.close();
  }
  const p = await caller();
  try {
    expectReply(await p.call(callMessage('binary', 'users', 72, 'q')), 'users', 72, 'T:users:q');
    const t = tt.seen[tt.seen.length - 1]!.trace!;
    assert.match(t.traceId ?? '', /^[0-9a-f]{16}$/);
    assert.deepEqual(t, { traceId: t.traceId, spanId: t.traceId });
  } finally {
    p.close();
  }
});

test('thrift: buffered transport with the compact protocol, plain and TTwitter-upgraded', async () => {
  const c = await caller(compactPort, { proto: 'compact', framed: false });
  try {
    for (let i = 1; i <= 3; i++) expectReply(await c.call(callMessage('compact', 'anything', i, `v${i}`)), 'anything', i, `C:anything:v${i}`);
  } finally {
    c.close();
  }
  // Upgraded and buffered: each message's end is found after its RequestHeader.
  const u = await caller(compactPort, { proto: 'compact', framed: false });
  try {
    assert.equal(await u.upgrade(), true);
    for (let i = 1; i <= 3; i++) {
      expectReply(await u.call(callMessage('compact', 'more', i, `w${i}`), requestHeader('compact', undefined, [])), 'more', i, `C:more:w${i}`);
    }
  } finally {
    u.close();
  }
});

/** One Tdispatch on a raw mux connection (no handshake: the server accepts that). */
async function muxDispatch(port: number, dst: string, dtab: [string, string][], body: Buffer, contexts: [Buffer, Buffer][] = []): Promise<Parsed | string> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((r, j) => {
    sock.once('connect', r);
    sock.once('error', j);
  });
  try {
    sock.write(encodeMessage({ kind: 'Tdispatch', tag: 1, contexts, dst, dtab, body }));
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
    if (m.kind === 'RdispatchError') return m.message;
    assert.equal(m.kind, 'RdispatchOk');
    const body2 = (m as { body: Buffer }).body;
    return parseMessage('binary', body2);
  } finally {
    sock.destroy();
  }
}

test('thriftmux: a Tdispatch routes by its dst and dtab; plain framed thrift works on the same port', async () => {
  // Its socketOptions are all taken (readTimeoutMs too): none is warned about.
  assert.doesNotMatch(procs[0]!.output(), /warning: .*routers\[1\]\.servers\[0\]\.socketOptions/);
  const r = await muxDispatch(muxPort, '/users', [], callMessage('binary', 'get', 51, 'm'));
  assert.notEqual(typeof r, 'string', String(r));
  expectReply(r as Parsed, 'get', 51, 'B:get:m');
  const moved = await muxDispatch(muxPort, '/users', [['/svc/users', '/svc/other']], callMessage('binary', 'get', 52, 'm2'));
  expectReply(moved as Parsed, 'get', 52, 'A:get:m2');
  const none = await muxDispatch(muxPort, '', [], callMessage('binary', 'nosuch', 53, 'x'));
  assert.equal((none as Parsed).type, MessageTypes.EXCEPTION);
  assert.match((none as Parsed).text ?? '', /No hosts are available for \/svc\/nosuch/);
  // A Tdispatch whose Finagle deadline has passed is refused before any upstream sees it.
  const seenB = b.seen.length;
  const late = await muxDispatch(muxPort, '/users', [], callMessage('binary', 'get', 57, 'late'), [[DEADLINE_CONTEXT_KEY, encodeDeadline(BigInt(Date.now() - 2000) * 1_000_000n, BigInt(Date.now() - 1000) * 1_000_000n)]]);
  assert.equal((late as Parsed).type, MessageTypes.EXCEPTION);
  assert.match((late as Parsed).text ?? '', /the caller's deadline passed \d+ms before \/svc\/users\/get was called/);
  assert.equal(b.seen.length, seenB);

  const c = await caller(muxPort);
  try {
    expectReply(await c.call(callMessage('binary', 'ping', 54, 'plain')), 'ping', 54, 'A:ping:plain');
    // A ONEWAY message on plain thrift gets no frame back: the next call's reply is the next frame.
    c.send(callMessage('binary', 'ping', 55, 'oneway', true));
    expectReply(await c.call(callMessage('binary', 'ping', 56, 'next')), 'ping', 56, 'A:ping:next');
  } finally {
    c.close();
  }
});

test('thriftmux: a plain thrift client may take the TTwitter upgrade first, as Finagle\'s ThriftMux server offers it', async () => {
  const c = await caller(muxPort);
  try {
    assert.equal(await c.upgrade(), true);
    // dest /users + method get => /svc/users/get (B); a delegation moves it to /svc/other (A).
    expectReply(await c.call(callMessage('binary', 'get', 57, 'tt'), requestHeader('binary', '/users', [])), 'get', 57, 'B:get:tt');
    expectReply(await c.call(callMessage('binary', 'get', 58, 'tt2'), requestHeader('binary', '/users', [['/svc/users', '/svc/other']])), 'get', 58, 'A:get:tt2');
    const none = await c.call(callMessage('binary', 'nosuch', 59, 'x'), requestHeader('binary', undefined, []));
    assert.equal(none.type, MessageTypes.EXCEPTION);
    assert.match(none.text ?? '', /No hosts are available for \/svc\/nosuch/);
  } finally {
    c.close();
  }
  // Only a connection's first message may offer it. A later offer, or one over mux, is refused
  // here: routed, it would switch a pooled upstream connection to TTwitter behind the pool's back.
  const late = await caller(muxPort);
  try {
    expectReply(await late.call(callMessage('binary', 'ping', 60, 'first')), 'ping', 60, 'A:ping:first');
    const refused = await late.call(message('binary', CAN_TRACE, MessageTypes.CALL, 0, () => {}));
    assert.equal(refused.type, MessageTypes.EXCEPTION);
    assert.match(refused.text ?? '', /only offered as a thrift connection's first message/);
    expectReply(await late.call(callMessage('binary', 'ping', 61, 'still plain')), 'ping', 61, 'A:ping:still plain');
  } finally {
    late.close();
  }
  const overMux = await muxDispatch(muxPort, '/users', [], message('binary', CAN_TRACE, MessageTypes.CALL, 0, () => {}));
  assert.equal((overMux as Parsed).type, MessageTypes.EXCEPTION);
  assert.match((overMux as Parsed).text ?? '', /only offered as a thrift connection's first message/);
});

test('thrift: an upgraded caller\'s second upgrade offer is refused, not routed to its upstream', async () => {
  const c = await caller();
  try {
    assert.equal(await c.upgrade(), true);
    // dest /users would route it to the TTwitter upstream T, whose connection is already upgraded.
    const again = await c.call(message('binary', CAN_TRACE, MessageTypes.CALL, 0, () => {}), requestHeader('binary', '/users', []));
    assert.equal(again.type, MessageTypes.EXCEPTION);
    assert.match(again.text ?? '', /only offered as a thrift connection's first message/);
    assert.equal(tt.seen.filter((m) => m.name === CAN_TRACE && m.header !== undefined).length, 0, 'T got an upgrade offer inside a RequestHeader');
    expectReply(await c.call(callMessage('binary', 'get', 62, 'after'), requestHeader('binary', '/users', [])), 'get', 62, 'T:get:after');
  } finally {
    c.close();
  }
});

test('thriftmux serverSession idleTimeMs: an idle session gets Tdrain, is closed after Rdrain; a new connection routes', async () => {
  const p = await dial(muxIdlePort);
  try {
    p.write(encodeMessage({ kind: 'Tdispatch', tag: 2, contexts: [], dst: '/users', dtab: [], body: callMessage('binary', 'get', 61, 'idle') }));
    const rep = decodeMessage((await p.frame(5000)).subarray(4));
    assert.equal(rep.kind, 'RdispatchOk');
    expectReply(parseMessage('binary', (rep as { body: Buffer }).body), 'get', 61, 'B:get:idle');
    const t0 = Date.now();
    const drain = decodeMessage((await p.frame(5000)).subarray(4));
    assert.deepEqual(drain, { kind: 'Tdrain', tag: 1 });
    assert.ok(Date.now() - t0 >= 250, `Tdrain ${Date.now() - t0} ms after the reply`);
    p.write(encodeMessage({ kind: 'Rdrain', tag: 1 }));
    await p.waitClosed(5000);
    assert.equal(p.leftover.length, 0);
  } finally {
    p.socket.destroy();
  }
  // Finagle's server counters: one drain started and completed on this server, none on the other.
  const m = (await (await fetch(`http://127.0.0.1:${admin}/admin/metrics.json`)).json()) as Record<string, number>;
  const idleScope = `rt/tmux/server/127.0.0.1/${muxIdlePort}/mux`;
  assert.equal(m[`${idleScope}/draining`], 1, `${idleScope}/draining`);
  assert.equal(m[`${idleScope}/drained`], 1, `${idleScope}/drained`);
  const other = Object.keys(m).filter((k) => /^rt\/tmux\/server\/.*\/mux\/draining$/.test(k) && k !== `${idleScope}/draining`);
  assert.equal(other.length, 1, `the other thriftmux server's counter: ${other.join(', ')}`);
  assert.equal(m[other[0]!], 0);
  // Our own mux client answers the drain too and goes on with a new session.
  const client = new MuxClient({ host: '127.0.0.1', port: muxIdlePort, pingIntervalMs: 0 });
  try {
    expectReply(parseMessage('binary', await client.dispatch(callMessage('binary', 'ping', 62, 'again'))), 'ping', 62, 'A:ping:again');
    // Idle past 300 ms (no event to await: the drain is the client's own business): drained
    // and closed; the next call opens a second session.
    await new Promise((r) => setTimeout(r, 700));
    expectReply(parseMessage('binary', await client.dispatch(callMessage('binary', 'ping', 63, 'new'))), 'ping', 63, 'A:ping:new');
    assert.equal(client.connections, 2);
  } finally {
    client.close();
  }
});

test('thrift routers: server and client metrics under Linkerd names', async () => {
  const res = await fetch(`http://127.0.0.1:${admin}/admin/metrics.json`);
  const m = (await res.json()) as Record<string, number>;
  const key = (suffix: RegExp): string | undefined => Object.keys(m).find((k) => suffix.test(k));
  const srvReq = key(/^rt\/thr\/server\/127\.0\.0\.1\/\d+\/requests$/);
  assert.ok(srvReq !== undefined && m[srvReq]! > 10, `server requests: ${srvReq} = ${srvReq && m[srvReq]}`);
  const srvFail = key(/^rt\/thr\/server\/127\.0\.0\.1\/\d+\/failures$/);
  assert.ok(srvFail !== undefined && m[srvFail]! >= 3);
  const cli = key(new RegExp(`^rt/thr/client/\\$/inet/127\\.0\\.0\\.1/${a.port}/requests$`));
  assert.ok(cli !== undefined && m[cli]! > 5, `client requests: ${cli}`);
  assert.ok((m['rt/thr/service/svc/slow/failures'] ?? 0) >= 1);
  assert.ok(key(/^rt\/tmux\/server\/127\.0\.0\.1\/\d+\/requests$/) !== undefined);
});

test('thrift server timeoutMs, serverSession idleTimeMs / lifeTimeMs and socketOptions', async () => {
  const file = linkerdYaml(`
admin:
  port: 0
routers:
- protocol: thrift
  label: sess
  thriftMethodInDst: true
  dtab: |
    /svc/ping => /$/inet/127.0.0.1/${a.port};
    /svc/slow => /$/inet/127.0.0.1/${slow.port};
  servers:
  - port: 0
    timeoutMs: 200
    serverSession:
      idleTimeMs: 300
    socketOptions:
      keepAlive: true
      backlog: 32
      writeTimeoutMs: 100
  - port: 0
    serverSession:
      lifeTimeMs: 700
`);
  const l = await startLinker(file, 'sess');
  procs.push(l.proc);
  // Every socket option is taken (writeTimeoutMs too: no reply here is held up that long): no warning.
  assert.doesNotMatch(l.proc.output(), /warning:/);
  const second = Number([...l.proc.output().matchAll(/^listening sess 127\.0\.0\.1:(\d+)/gm)][1]![1]);

  const c = await caller(l.port);
  const t0 = Date.now();
  const late = await c.call(callMessage('binary', 'slow', 1, 'x'));
  assert.equal(late.type, MessageTypes.EXCEPTION);
  assert.equal(late.text, 'exceeded 200ms total timeout for /svc/slow');
  assert.ok(Date.now() - t0 < 1500);
  expectReply(await c.call(callMessage('binary', 'ping', 2, 'y')), 'ping', 2, 'A:ping:y');
  // Idle for 300 ms: closed by the router.
  for (let i = 0; i < 150 && !c.closed; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.closed, true, 'the idle connection was not closed');

  // lifeTimeMs: a busy connection is closed once 700 ms old, after a whole reply.
  const b = await caller(second);
  const b0 = Date.now();
  let n = 0;
  try {
    for (let i = 0; i < 100 && !b.closed && Date.now() - b0 < 4000; i++) {
      const r = await b.call(callMessage('binary', 'ping', 10 + i, 'z'), undefined, 1000).catch(() => undefined);
      if (r !== undefined) {
        expectReply(r, 'ping', 10 + i, 'A:ping:z');
        n++;
      }
      await new Promise((r2) => setTimeout(r2, 30));
    }
  } finally {
    b.close();
  }
  assert.ok(Date.now() - b0 >= 650, `closed after ${Date.now() - b0} ms`);
  assert.ok(Date.now() - b0 < 4000, 'the connection outlived lifeTimeMs');
  assert.ok(n >= 5, `replies before closing: ${n}`);
});

test('thrift hostConnectionPool: maxSize connections at most, maxWaiters calls wait, the next is refused', async () => {
  const callers = await Promise.all([caller(), caller(), caller()]);
  try {
    const t0 = Date.now();
    // Three calls at once to an upstream answering `Pool:slow` after 0.5 s, through one connection.
    const first = callers[0]!.call(callMessage('binary', 'Pool:slow', 1, 'c1'));
    await new Promise((r) => setTimeout(r, 100));
    const second = callers[1]!.call(callMessage('binary', 'Pool:slow', 2, 'c2'));
    await new Promise((r) => setTimeout(r, 100));
    const third = await callers[2]!.call(callMessage('binary', 'Pool:slow', 3, 'c3'));
    assert.equal(third.type, MessageTypes.EXCEPTION);
    assert.match(third.text ?? '', /all 1 connections to 127\.0\.0\.1:\d+ are in use and 1 calls wait/);
    expectReply(await first, 'Pool:slow', 1, 'P:Pool:slow:c1');
    expectReply(await second, 'Pool:slow', 2, 'P:Pool:slow:c2');
    // The second waited for the first's connection.
    assert.ok(Date.now() - t0 >= 900, `both answered after ${Date.now() - t0} ms`);
    assert.equal(pooled.connections, 1);
  } finally {
    for (const c of callers) c.close();
  }
});

test('thrift: a reply never reaches another caller (seqids are checked; an answer to a ONEWAY message is dropped)', async () => {
  // One upstream connection (maxSize 1) shared by two callers; the upstream answers ONEWAYs too.
  const one = await caller();
  const two = await caller();
  try {
    one.send(callMessage('binary', 'Chatty:log', 7, 'fire', true));
    await new Promise((r) => setTimeout(r, 100));
    const r = await two.call(callMessage('binary', 'Chatty:get', 2, 'mine'));
    expectReply(r, 'Chatty:get', 2, 'C2:Chatty:get:mine');
    const again = await two.call(callMessage('binary', 'Chatty:get', 3, 'again'));
    expectReply(again, 'Chatty:get', 3, 'C2:Chatty:get:again');
    // A reply with another seqid than the request's fails that call, with the reason.
    const bad = await two.call(callMessage('binary', 'Chatty:badseq', 4, 'x'));
    assert.equal(bad.type, MessageTypes.EXCEPTION);
    assert.match(bad.text ?? '', /answered seqid -?\d+ \(Chatty:badseq, type 2\) to a request sent with seqid -?\d+/);
    expectReply(await two.call(callMessage('binary', 'Chatty:get', 5, 'after')), 'Chatty:get', 5, 'C2:Chatty:get:after');
    assert.equal(one.closed, false);
  } finally {
    one.close();
    two.close();
  }
});
