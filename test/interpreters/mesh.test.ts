/**
 * io.l5d.mesh (src/interpreters/mesh.ts) against an in-process namerd serving io.l5d.mesh (gRPC)
 * on loopback: exact bound trees and Addrs, dtab writes followed, the dtab sent, namerd stopped /
 * restarted on the same port / started late, and a backoff that starts at retry.baseSeconds.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/config/builtin-plugins.js';
import { parseNamerdConfig } from '../../src/config/load.js';
import { startNamerd, type RunningNamerd } from '../../src/namerd/namerd.js';
import { MeshServer } from '../../src/namerd/mesh/server.js';
import type { Namespaces } from '../../src/namerd/namespaces.js';
import { MeshInterpreter } from '../../src/interpreters/mesh.js';
import { InterpreterError } from '../../src/interpreters/errors.js';
import { Dtab, readDtab, readPath } from '../../src/naming/index.js';
import type { Path } from '../../src/naming/path.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REFUSED_PORT, freePort, onChosenPort } from '../support/process.js';
import { makeTestCerts } from '../support/certs.js';
import { eventually, leafOf, okTree, plainAddr, tcpRelay, watch, type Cleanups } from './support.js';

const cleanups: Cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const RETRY = { baseSeconds: 0.05, maxSeconds: 0.5 };
const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;

/** An in-process namerd whose `default` namespace is `dtab`, io.l5d.mesh on `port`, with `namers` (YAML list items). */
async function namerd(dtab: string, port = 0, namers = ''): Promise<{ n: RunningNamerd; mesh: number; api: number }> {
  const yaml =
    `admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: ${JSON.stringify(dtab)}\n` +
    (namers === '' ? '' : `namers:\n${namers}`) +
    `interfaces:\n- kind: io.l5d.mesh\n  ip: 127.0.0.1\n  port: ${port}\n- kind: io.l5d.httpController\n  ip: 127.0.0.1\n  port: 0\n`;
  // A fixed port (a restart on the same port) may be taken for a moment by another test file.
  const n = await onChosenPort(() => startNamerd(parseNamerdConfig(yaml, 'namerd.yaml')));
  let closed = false;
  const close = n.close;
  const wrapped: RunningNamerd = { ...n, close: async () => (closed ? undefined : ((closed = true), close())) };
  // namerd goes last: MeshServer.close() waits for open streams, so the interpreters close first.
  cleanups.unshift(() => wrapped.close());
  return {
    n: wrapped,
    mesh: n.listeners.find((l) => l.kind === 'io.l5d.mesh')!.port,
    api: n.listeners.find((l) => l.kind === 'io.l5d.httpController')!.port,
  };
}

function interpreter(port: number, extra: Record<string, unknown> = {}): MeshInterpreter {
  const i = new MeshInterpreter({ dst: inet(port), root: '/default', retry: RETRY, ...extra } as never, readPath);
  cleanups.push(() => i.close());
  return i;
}

async function putDtab(api: number, dtab: string): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${api}/api/1/dtabs/default`, { method: 'PUT', headers: { 'content-type': 'application/dtab' }, body: dtab });
  assert.equal(r.status, 204, await r.text());
}

test('bind streams the exact bound tree and Addr from namerd, and follows dtab writes', async () => {
  const { mesh, api } = await namerd(`/svc/web => ${inet(8081)}`);
  const i = interpreter(mesh);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web/a')).states, cleanups);
  const s = await tree.until((x) => x.type === 'ok');
  assert.deepEqual(okTree(s), { id: inet(8081), residual: '/a' });
  const addr = watch(leafOf(s).addr, cleanups);
  assert.deepEqual(plainAddr(await addr.until((a) => a.type === 'bound')), { addrs: ['127.0.0.1:8081 {}'], meta: {} });
  await putDtab(api, `/svc/web => 9 * ${inet(8081)} & 1 * ${inet(8082)}`);
  await tree.until(
    (x) => JSON.stringify(okTree(x)) === JSON.stringify({ union: [[9, { id: inet(8081), residual: '/a' }], [1, { id: inet(8082), residual: '/a' }]] }),
    3000,
    'the union',
  );
  await putDtab(api, '/svc/web => ~');
  await tree.until((x) => okTree(x) === 'neg', 3000, 'neg');
});

test('address metadata crosses the mesh API: an io.l5d.fs weight arrives as the number it was', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-meta-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'web'), '127.0.0.1 8081 * 2.5\n127.0.0.1 8082\n');
  const { mesh } = await namerd('/svc => /#/io.l5d.fs', 0, `- kind: io.l5d.fs\n  rootDir: ${JSON.stringify(dir)}\n`);
  const i = interpreter(mesh);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  const s = await tree.until((x) => x.type === 'ok');
  const addr = watch(leafOf(s).addr, cleanups);
  const a = await addr.until((x) => x.type === 'bound');
  assert.deepEqual(plainAddr(a), { addrs: ['127.0.0.1:8081 {"endpoint_addr_weight":2.5}', '127.0.0.1:8082 {}'], meta: {} });
});

test('the dtab handed to bind reaches namerd whole (router base ++ request dentries), after the namespace\'s own', async () => {
  const { n } = await namerd(`/svc/web => ${inet(8081)}`);
  // namerd's gRPC interface over a Namespaces that records the request dtab of every bind.
  const seen: string[] = [];
  const rec = Object.create(n.namespaces) as Namespaces;
  rec.bind = (ns: string, path: Path, extra?: Dtab) => {
    seen.push(`${ns} ${path.show()} ${extra?.show() ?? ''}`);
    return n.namespaces.bind(ns, path, extra);
  };
  const server = new MeshServer(rec, { ip: '127.0.0.1', port: 0 });
  const port = await server.listen();
  cleanups.push(() => server.close());
  const i = interpreter(port);
  const dtab = readDtab('/svc => /alias').concat(readDtab(`/alias/web => ${inet(8083)}`));
  const tree = watch(i.bind(dtab, readPath('/svc/web')).states, cleanups);
  assert.deepEqual(okTree(await tree.until((x) => x.type === 'ok')), { id: inet(8083), residual: '/' });
  assert.deepEqual(seen, [`default /svc/web /svc=>/alias;/alias/web=>${inet(8083)}`]);
});

test('namerd stopped: the last tree and Addr stay; restarted on the same port with another dtab: followed after reconnect', async () => {
  // namerd is reached through a relay on a fixed port: closing the relay cuts every connection
  // as a killed namerd would (MeshServer.close() waits for open streams to finish, see report),
  // and a new relay on the same port to a second namerd is the restarted namerd.
  const port = await freePort();
  const first = await namerd(`/svc/web => ${inet(8081)}`);
  const relay1 = await onChosenPort(() => tcpRelay(port, first.mesh));
  cleanups.push(() => relay1.close());
  const i = interpreter(port);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  const addr = watch(leafOf(await tree.until((x) => x.type === 'ok')).addr, cleanups);
  await addr.until((a) => a.type === 'bound');

  await relay1.close();
  await eventually(() => i.stats.ended >= 3, 3000, 'the streams ended and a reconnect failed');
  assert.deepEqual(okTree(tree.last()), { id: inet(8081), residual: '/' }, 'the last tree is kept');
  assert.deepEqual(plainAddr(addr.last()), { addrs: ['127.0.0.1:8081 {}'], meta: {} }, 'the last Addr is kept');

  const t0 = Date.now();
  const second = await namerd(`/svc/web => ${inet(8082)}`);
  const relay2 = await onChosenPort(() => tcpRelay(port, second.mesh));
  cleanups.push(() => relay2.close());
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ id: inet(8082), residual: '/' }), 3000, 'the new tree');
  // Retry waits are capped at maxSeconds 0.5 (and the channel's reconnect backoff with them).
  assert.ok(Date.now() - t0 < 1500, `followed after ${Date.now() - t0} ms`);
  const addr2 = watch(leafOf(tree.last()).addr, cleanups);
  assert.deepEqual(plainAddr(await addr2.until((a) => a.type === 'bound')), { addrs: ['127.0.0.1:8082 {}'], meta: {} });
});

test('an interpreter started while namerd is down stays pending, and is ok once namerd starts', async () => {
  const port = await freePort();
  const i = interpreter(port);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => i.stats.ended >= 2, 3000, 'two failed attempts');
  assert.equal(tree.last().type, 'pending');
  const t0 = Date.now();
  await namerd(`/svc/web => ${inet(8084)}`, port);
  assert.deepEqual(okTree(await tree.until((x) => x.type === 'ok', 3000, 'ok after namerd started')), { id: inet(8084), residual: '/' });
  assert.ok(Date.now() - t0 < 1500, `ok ${Date.now() - t0} ms after namerd started`);
});

test('retry: the backoff starts at baseSeconds (not a fixed 200 ms) and is capped at maxSeconds', () => {
  assert.deepEqual(interpreter(1, { retry: { baseSeconds: 0.05, maxSeconds: 0.5 } }).backoff, { baseMs: 50, maxMs: 500 });
  assert.deepEqual(interpreter(1, { retry: { baseSeconds: 1, maxSeconds: 30 } }).backoff, { baseMs: 1000, maxMs: 30_000 });
  assert.deepEqual(interpreter(1, { retry: undefined }).backoff, { baseMs: 5000, maxMs: 600_000 });
});

test('a dead namerd is retried at the configured pace: base, then jittered waits up to 2·base, 4·base', async () => {
  const i = interpreter(REFUSED_PORT, { retry: { baseSeconds: 0.1, maxSeconds: 0.4 } });
  const t0 = Date.now();
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  // Attempts after waits of 100, [100..200], [100..400] ms: the fourth opens after 300..700 ms.
  await eventually(() => i.stats.opened >= 4, 3000, 'four attempts');
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 290 && elapsed < 1500, `four attempts took ${elapsed} ms`);
  assert.equal(tree.last().type, 'pending');
});

test('tls: trustCerts and commonName verify namerd; an untrusted certificate never binds', async () => {
  const certs = makeTestCerts();
  cleanups.push(() => certs.cleanup());
  const { mesh } = await namerd(`/svc/web => ${inet(8085)}`);
  const relay = await tcpRelay(0, mesh, { key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert) });
  cleanups.push(() => relay.close());
  const good = interpreter(relay.port, { tls: { trustCerts: [certs.caCert], commonName: 'localhost' } });
  const t = watch(good.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  assert.deepEqual(okTree(await t.until((x) => x.type === 'ok')), { id: inet(8085), residual: '/' });

  const untrusted = interpreter(relay.port, { tls: { commonName: 'localhost' } });
  const u = watch(untrusted.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => untrusted.stats.ended >= 2, 3000, 'two refused handshakes');
  assert.equal(u.last().type, 'pending');

  const wrongName = interpreter(relay.port, { tls: { trustCerts: [certs.caCert], commonName: 'namerd.example' } });
  const w = watch(wrongName.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => wrongName.stats.ended >= 2, 3000, 'two refused handshakes');
  assert.equal(w.last().type, 'pending');
});

test('config errors: dst and root name the key, what was found and what is allowed', () => {
  const where = { file: 'linkerd.yaml', keyPath: 'routers[0].interpreter' };
  const check = (cfg: Record<string, unknown>, message: string): void => {
    assert.throws(
      () => new MeshInterpreter({ dst: inet(4321), ...cfg } as never, readPath, where),
      (e: unknown) => e instanceof InterpreterError && e.code === 'MESH_ERR_INTERPRETER_CONFIG' && e.message === message,
    );
  };
  check({ dst: '/$/inet/namerd' }, `linkerd.yaml: routers[0].interpreter.dst: found "/$/inet/namerd"; allowed: /$/inet/<host>/<port> naming namerd's interface`);
  check({ root: '/a/b' }, 'linkerd.yaml: routers[0].interpreter.root: found "/a/b"; allowed: a single-element path such as /default');
});

test('failureThreshold: a namerd connection that goes silent is noticed by its pings and redialled', { timeout: 15_000 }, async () => {
  const net = await import('node:net');
  const { mesh, api } = await namerd(`/svc/web => ${inet(8081)}`);
  // A relay whose connections can be frozen: open, but nothing passes any more.
  const live = new Set<import('node:net').Socket>();
  let frozen: Array<import('node:net').Socket> = [];
  const relay = net.createServer((c) => {
    const u = net.connect(mesh, '127.0.0.1');
    c.pipe(u);
    u.pipe(c);
    live.add(c);
    live.add(u);
    const drop = (): void => {
      c.destroy();
      u.destroy();
    };
    c.on('error', drop);
    u.on('error', drop);
    c.on('close', drop);
    u.on('close', drop);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  cleanups.unshift(() => {
    for (const s of [...live, ...frozen]) s.destroy();
    return new Promise<void>((r) => relay.close(() => r()));
  });
  const port = (relay.address() as import('node:net').AddressInfo).port;
  const i = interpreter(port, { failureThreshold: { minPeriodMs: 200, closeTimeoutMs: 300 } });
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await tree.until((x) => x.type === 'ok');
  // Freeze every connection through the relay: no FIN, no RST, just silence.
  for (const s of live) {
    s.unpipe();
    s.pause();
  }
  frozen = [...live];
  live.clear();
  await putDtab(api, `/svc/web => ${inet(8082)}`);
  // Only a failure detector notices the silent connection; the redial goes through the relay anew.
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ id: inet(8082), residual: '/' }), 8000, 'the new dtab after the redial');
});

test('delegate: namerd explains through the mesh Delegator exactly as through its HTTP API', async () => {
  const { NamerdHttpInterpreter } = await import('../../src/interpreters/namerd-http.js');
  const { mesh, api } = await namerd(`/svc => /alias; /alias/web => 1 * ${inet(8081)} & 3 * ${inet(8082)}`);
  const m = interpreter(mesh);
  const h = new NamerdHttpInterpreter({ dst: inet(api), namespace: 'default', retry: RETRY } as never, readPath);
  cleanups.push(() => h.close());
  const extra = readDtab('/alias/web/x => /$/fail');
  const viaMesh = await m.delegate(extra, readPath('/svc/web/x'));
  const viaHttp = await h.delegate(extra, readPath('/svc/web/x'));
  assert.deepEqual(viaMesh, viaHttp);
  const text = JSON.stringify(viaMesh);
  assert.match(text, /"dentry":\{"prefix":"\/svc","dst":"\/alias"\}/);
  assert.match(text, /"type":"union"/);
  assert.match(text, new RegExp(`"id":"${inet(8082).replace(/[$/.]/g, (c) => `\\${c}`)}"`));
  // A call past its deadline fails with the reason instead of hanging the playground.
  await assert.rejects(m.delegate(Dtab.empty, readPath('/svc/web'), 1), /namerd delegation failed/);
});
