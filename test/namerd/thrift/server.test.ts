/**
 * `io.l5d.thriftNameInterpreter` end to end on loopback: a namerd started from a namerd.yaml
 * asked through a ThriftMux client and through a raw framed-thrift socket (the downgraded
 * protocol Finagle's old clients speak), long polls answered after a dtab write to the store,
 * discards over mux releasing the wait, and the interface behind TLS.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import '../../../src/config/builtin-plugins.js';
import { parseNamerdConfig } from '../../../src/config/load.js';
import { startNamerd, type RunningNamerd } from '../../../src/namerd/namerd.js';
import { Namespaces } from '../../../src/namerd/namespaces.js';
import { InMemoryDtabStore } from '../../../src/namerd/stores/in-memory.js';
import { ThriftNamerInterface } from '../../../src/namerd/thrift/server.js';
import { decodeReply, encodeCall } from '../../../src/namerd/thrift/codec.js';
import { ThriftApplicationError } from '../../../src/namerd/thrift/errors.js';
import type { NamerMethod, NamerMethods, NamerReply, TPath } from '../../../src/namerd/thrift/types.js';
import { MuxClient } from '../../../src/protocol/mux/index.js';
import { BUILTIN_ONLY } from '../../../src/namers/registry.js';
import { readDtab } from '../../../src/naming/index.js';
import { makeTestCerts } from '../../support/certs.js';
import { within } from '../../support/activity.js';

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const tp = (...elems: string[]): TPath => elems.map((e) => Buffer.from(e));
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const EMPTY = Buffer.alloc(0);

async function namerd(ifaceExtra = ''): Promise<{ n: RunningNamerd; port: number }> {
  const yaml =
    'admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: "/svc/web=>/$/inet/127.0.0.1/8085"\n' +
    `interfaces:\n- kind: io.l5d.thriftNameInterpreter\n  ip: 127.0.0.1\n  port: 0\n${ifaceExtra}`;
  const n = await startNamerd(parseNamerdConfig(yaml, 'namerd.yaml'));
  cleanups.push(() => n.close());
  const l = n.listeners.find((x) => x.kind === 'io.l5d.thriftNameInterpreter');
  assert.ok(l, 'the thrift interface is listed');
  assert.equal(l.ip, '127.0.0.1');
  return { n, port: l.port };
}

function client(port: number, tls?: Record<string, unknown>): MuxClient {
  const c = new MuxClient({ host: '127.0.0.1', port, connectTimeoutMs: 2000, ...(tls ? { tls } : {}) });
  cleanups.push(() => c.close());
  return c;
}

let seq = 1;
/** One call over mux, bounded in time; the decoded reply (ThriftApplicationError if one came). */
async function call<M extends NamerMethod>(c: MuxClient, method: M, req: NamerMethods[M]['req'], signal?: AbortSignal): Promise<NamerReply<M>> {
  const seqid = seq++;
  const body = await c.dispatch(encodeCall(method, seqid, req), signal ?? AbortSignal.timeout(5000));
  const r = decodeReply(method, body);
  assert.equal(r.seqid, seqid);
  return r.reply;
}

async function eventually(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * An interface on an in-memory store and a mux client whose second bind of /svc/80 (a long poll,
 * cancelled by `signal`) is waiting on the server.
 */
async function waitingBind(signal?: AbortSignal): Promise<{ iface: ThriftNamerInterface; c: MuxClient; poll: Promise<NamerReply<'bind'>> }> {
  const store = new InMemoryDtabStore({ default: '/svc=>/$/inet/127.0.0.1' });
  cleanups.push(() => store.close());
  const iface = new ThriftNamerInterface(new Namespaces(store, BUILTIN_ONLY), { ip: '127.0.0.1', port: 0 });
  const a = await iface.listen();
  cleanups.push(() => iface.close());
  const c = client(a.port);
  const first = await call(c, 'bind', { dtab: '', name: { stamp: EMPTY, name: tp('svc', '80'), ns: 'default' }, clientId: [] });
  assert.ok(first.ok);
  const poll = call(c, 'bind', { dtab: '', name: { stamp: first.value.stamp, name: tp('svc', '80'), ns: 'default' }, clientId: [] }, signal);
  await eventually(() => iface.service.observers().bind.waiting === 1, 'the poll to wait on the server');
  return { iface, c, poll };
}

const leafOf = (id: TPath) => ({ root: { type: 'leaf', leaf: { id, residual: [] } }, nodes: new Map() });

test('ThriftMux: bind, a long poll answered after a dtab write to the store, addr bytes, an unknown method', async () => {
  const { n, port } = await namerd();
  const c = client(port);
  const first = await call(c, 'bind', { dtab: '', name: { stamp: EMPTY, name: tp('svc', 'web'), ns: 'default' }, clientId: tp('test') });
  assert.ok(first.ok, JSON.stringify(first));
  assert.equal(first.value.stamp.length, 8);
  assert.deepEqual(first.value, { stamp: first.value.stamp, tree: leafOf(tp('$', 'inet', '127.0.0.1', '8085')), ns: 'default' });

  const poll = call(c, 'bind', { dtab: '', name: { stamp: first.value.stamp, name: tp('svc', 'web'), ns: 'default' }, clientId: [] }, AbortSignal.timeout(5000));
  assert.equal(await within(poll, 100), 'pending');
  await n.namespaces.store.put('default', readDtab('/svc/web=>/$/inet/127.0.0.1/8086'));
  const next = await poll;
  assert.ok(next.ok);
  assert.equal(next.value.stamp.readBigInt64BE() - first.value.stamp.readBigInt64BE(), 1n, 'the next stamp of the same counter');
  assert.deepEqual(next.value.tree, leafOf(tp('$', 'inet', '127.0.0.1', '8086')));

  const addr = await call(c, 'addr', { name: { stamp: EMPTY, name: tp('$', 'inet', '127.0.0.1', '8086'), ns: 'default' }, clientId: [] });
  assert.ok(addr.ok);
  assert.deepEqual(addr.value.value, { type: 'bound', bound: { addresses: [{ ip: hex('7f000001'), port: 8086 }] } });

  // Hand-made CALL of a method Namer lacks: Scrooge's TApplicationException, UNKNOWN_METHOD (1).
  const body = await c.dispatch(Buffer.concat([hex('80010001 00000003'), Buffer.from('foo'), hex('00000063 00')]), AbortSignal.timeout(5000));
  assert.throws(
    () => decodeReply('bind', body),
    (e: unknown) => e instanceof ThriftApplicationError && e.type === 1 && e.message === "Invalid method name: 'foo'",
  );
});

/** A raw socket speaking framed thrift: each message is a 4-byte length and the message. */
function framedSocket(port: number): Promise<{ send(msg: Buffer): void; next(ms?: number): Promise<Buffer>; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => {
      socket.destroy();
    });
    let buf = Buffer.alloc(0);
    const waiting: Array<(b: Buffer) => void> = [];
    const frames: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const f = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        const w = waiting.shift();
        if (w) w(f);
        else frames.push(f);
      }
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        socket,
        send(msg) {
          const len = Buffer.alloc(4);
          len.writeUInt32BE(msg.length);
          socket.write(Buffer.concat([len, msg]));
        },
        next(ms = 5000) {
          const f = frames.shift();
          if (f) return Promise.resolve(f);
          return new Promise<Buffer>((res, rej) => {
            const w = (b: Buffer): void => {
              clearTimeout(timer);
              res(b);
            };
            const timer = setTimeout(() => {
              waiting.splice(waiting.indexOf(w), 1);
              rej(new Error('no frame'));
            }, ms);
            waiting.push(w);
          });
        },
      }),
    );
  });
}

/** dtab(DtabReq{1: stamp, 2: ns "default", 3: clientId []}) as a strict TBinaryProtocol CALL. */
function dtabCall(seqid: number, stamp: Buffer): Buffer {
  const s = Buffer.alloc(4);
  s.writeUInt32BE(seqid);
  const sl = Buffer.alloc(4);
  sl.writeUInt32BE(stamp.length);
  return Buffer.concat([
    hex('80010001 00000004'), Buffer.from('dtab'), s,
    hex('0c 0001'), // args field 1: struct DtabReq
    hex('0b 0001'), sl, stamp, // 1: binary stamp
    hex('0b 0002 00000007'), Buffer.from('default'), // 2: string ns
    hex('0f 0003 0b 00000000'), // 3: list<binary> clientId, empty
    hex('00'), // end of DtabReq
    hex('00'), // end of args
  ]);
}

/** The REPLY to dtab: result field 0, struct DtabRef{1: binary stamp, 2: string dtab}. */
function dtabReply(seqid: number, stamp: Buffer, dtab: string): Buffer {
  const s = Buffer.alloc(4);
  s.writeUInt32BE(seqid);
  const sl = Buffer.alloc(4);
  sl.writeUInt32BE(stamp.length);
  const dl = Buffer.alloc(4);
  dl.writeUInt32BE(Buffer.byteLength(dtab));
  return Buffer.concat([hex('80010002 00000004'), Buffer.from('dtab'), s, hex('0c 0000'), hex('0b 0001'), sl, stamp, hex('0b 0002'), dl, Buffer.from(dtab), hex('00'), hex('00')]);
}

test('downgraded framed thrift: exact dtab reply bytes; a long poll answered after a dtab write, in order', async () => {
  const { n, port } = await namerd();
  const f = await framedSocket(port);
  f.send(dtabCall(5, EMPTY));
  const r1 = await f.next();
  // The stamp is the server's; everything else is fixed by the IDL and TBinaryProtocol.
  const stamp1 = r1.subarray(26, 34);
  assert.deepEqual(r1, dtabReply(5, stamp1, '/svc/web=>/$/inet/127.0.0.1/8085'));

  f.send(dtabCall(6, stamp1));
  await assert.rejects(f.next(150), /no frame/);
  await n.namespaces.store.put('default', readDtab('/svc=>/$/inet/127.0.0.1/9000'));
  const r2 = await f.next();
  const stamp2 = r2.subarray(26, 34);
  assert.equal(stamp2.readBigInt64BE() - stamp1.readBigInt64BE(), 1n);
  assert.deepEqual(r2, dtabReply(6, stamp2, '/svc=>/$/inet/127.0.0.1/9000'));
});

test('a discarded mux long poll stops waiting on the server; close ends pending polls', async () => {
  const ac = new AbortController();
  const { iface, c, poll } = await waitingBind(ac.signal);
  assert.deepEqual(iface.sessions, { mux: 1, thrift: 0 });
  ac.abort();
  await assert.rejects(poll);
  await eventually(() => iface.service.observers().bind.active === 0, 'the server to drop the discarded poll');
  assert.deepEqual(iface.service.observers().bind, { active: 0, inactive: 1, waiting: 0, opened: 1, closed: 0 });

  // A poll still waiting when the interface closes ends (the mux layer answers or drops it).
  const left = call(c, 'dtab', { stamp: EMPTY, ns: 'default', clientId: [] }).then((d) =>
    call(c, 'dtab', { stamp: d.ok ? d.value.stamp : EMPTY, ns: 'default', clientId: [] }),
  );
  await eventually(() => iface.service.observers().dtab.waiting === 1, 'the dtab poll to wait');
  await iface.close();
  await assert.rejects(left);
  assert.deepEqual(iface.service.observers().dtab, { active: 0, inactive: 0, waiting: 0, opened: 1, closed: 1 });
});

test('tls: the interface behind TLS binds for a trusting client; a plaintext client gets nothing', async () => {
  const certs = makeTestCerts();
  cleanups.push(() => certs.cleanup());
  const { port } = await namerd(`  tls:\n    certPath: ${JSON.stringify(certs.serverCert)}\n    keyPath: ${JSON.stringify(certs.serverKey)}\n`);
  const good = client(port, { ca: readFileSync(certs.caCert), servername: 'localhost' });
  const r = await call(good, 'bind', { dtab: '', name: { stamp: EMPTY, name: tp('svc', 'web'), ns: 'default' }, clientId: [] });
  assert.ok(r.ok);
  assert.deepEqual(r.value.tree, leafOf(tp('$', 'inet', '127.0.0.1', '8085')));

  const plain = client(port);
  const res = await within(call(plain, 'dtab', { stamp: EMPTY, ns: 'default', clientId: [] }, AbortSignal.timeout(3000)), 4000);
  assert.ok(res instanceof Error, `a plaintext client must not be answered, got ${String(res)}`);
});

test('a long poll whose client goes away without a Tdiscarded (the socket just closes) stops waiting on the server', async () => {
  const { iface, c, poll } = await waitingBind();
  // close() tears the session down at once: no Tdiscarded goes out for the pending call.
  c.close();
  await assert.rejects(poll, { code: 'MESH_ERR_MUX_CLOSED' });
  await eventually(() => iface.service.observers().bind.active === 0, 'the server to drop the orphaned poll');
  assert.deepEqual(iface.service.observers().bind, { active: 0, inactive: 1, waiting: 0, opened: 1, closed: 0 });
});

test("namerd's admin metrics show the observer caches under Linkerd's names", async () => {
  const { n, port } = await namerd();
  const admin = n.listeners.find((x) => x.kind === 'admin');
  assert.ok(admin);
  const gauges = async (): Promise<Record<string, number>> => {
    const all = (await (await fetch(`http://127.0.0.1:${admin.port}/admin/metrics.json`)).json()) as Record<string, number>;
    return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith('io.l5d.thriftNameInterpreter/')));
  };
  const zero = { active: 0, inactive: 0 };
  const expect = (bind: typeof zero, addr: typeof zero, dtab: typeof zero): Record<string, number> => ({
    'io.l5d.thriftNameInterpreter/bindingcache/active': bind.active,
    'io.l5d.thriftNameInterpreter/bindingcache/inactive': bind.inactive,
    'io.l5d.thriftNameInterpreter/addrcache/active': addr.active,
    'io.l5d.thriftNameInterpreter/addrcache/inactive': addr.inactive,
    'io.l5d.thriftNameInterpreter/delegationcache/active': dtab.active,
    'io.l5d.thriftNameInterpreter/delegationcache/inactive': dtab.inactive,
  });
  assert.deepEqual(await gauges(), expect(zero, zero, zero));
  const c = client(port);
  const first = await call(c, 'bind', { dtab: '', name: { stamp: EMPTY, name: tp('svc', 'web'), ns: 'default' }, clientId: [] });
  assert.ok(first.ok);
  const ac = new AbortController();
  const poll = call(c, 'bind', { dtab: '', name: { stamp: first.value.stamp, name: tp('svc', 'web'), ns: 'default' }, clientId: [] }, ac.signal);
  const deadline = Date.now() + 3000;
  while ((await gauges())['io.l5d.thriftNameInterpreter/bindingcache/active'] !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await gauges(), expect({ active: 1, inactive: 0 }, zero, zero));
  ac.abort();
  await assert.rejects(poll);
  while ((await gauges())['io.l5d.thriftNameInterpreter/bindingcache/active'] !== 0 && Date.now() < deadline + 3000) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await gauges(), expect({ active: 0, inactive: 1 }, zero, zero));
});
