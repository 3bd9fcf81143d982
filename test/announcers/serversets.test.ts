/**
 * The io.l5d.serversets announcer (src/announcers/serversets.ts) against a real ZooKeeper: members
 * written as Finagle's announcer writes them, read back by the io.l5d.serversets namer, removed
 * when the announcement ends, announced again after the session is lost; and `meshwork linkerd`
 * announcing its server as Linkerd's serversets example does.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'node-zookeeper-client';
import { networkInterfaces } from 'node:os';
import '../../src/config/builtin-plugins.js';
import { announceServer, announcedHosts, createAnnouncer } from '../../src/announcers/index.js';
import { ServersetsNamer } from '../../src/namers/serversets.js';
import { readPath } from '../../src/naming/parser.js';
import type { BoundName } from '../../src/naming/contracts.js';
import { Var } from '../../src/naming/var.js';
import { connectedClient, startZooKeeper, zkCall, type ZkServer } from '../support/zookeeper.js';
import { hostPorts } from '../support/addrs.js';
import { linkerdYaml, startLinker } from '../support/linker.js';

let server: ZkServer;
let reader: Client;

before(async () => {
  server = await startZooKeeper();
  reader = await connectedClient(server);
});
after(async () => {
  reader.close();
  await server.close();
});

const children = (dir: string): Promise<string[]> =>
  zkCall<string[]>((cb) => reader.getChildren(dir, undefined, (err, ch) => cb(err, ch))).catch((e: { getCode?: () => number }) => (e.getCode?.() === -101 ? [] : Promise.reject(e)));
const data = (path: string): Promise<unknown> => zkCall<Buffer | undefined>((cb) => reader.getData(path, undefined, (err, d) => cb(err, d ?? undefined))).then((d) => JSON.parse(d!.toString('utf8')));

/** Polls (50 ms apart, at most `ms`) until `cond` holds. */
async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out after ${ms} ms: ${what}`);
}

const announcer = (pathPrefix: string) =>
  createAnnouncer({ kind: 'io.l5d.serversets', zkAddrs: [{ host: server.host, port: server.port }], pathPrefix, prefix: '/io.l5d.serversets' }, { readPath, keyPath: 'routers[0].announcers[0]' });

test("members as Finagle writes them, bound by io.l5d.serversets, gone when the announcement ends", async () => {
  const a = announcer('/discovery/prod');
  try {
    assert.equal(a.prefix.show(), '/#/io.l5d.serversets');
    const names = [readPath('/#/io.l5d.serversets/web'), readPath('/#/other/x')];
    const logged: string[] = [];
    const ann = announceServer([a], '127.0.0.1', 4140, names, (l) => logged.push(l));
    assert.deepEqual(logged, ['no announcer found for /#/other/x']);
    await until(async () => (await children('/discovery/prod/web')).length === 1, 8000, 'one member');
    const [m] = await children('/discovery/prod/web');
    assert.match(m!, /^member_\d{10}$/);
    assert.deepEqual(await data(`/discovery/prod/web/${m}`), { serviceEndpoint: { host: '127.0.0.1', port: 4140 }, additionalEndpoints: {}, status: 'ALIVE', shard: 0 });

    const n = new ServersetsNamer(readPath('/#/io.l5d.serversets'), `${server.host}:${server.port}`);
    const s = await Var.firstMatching(n.lookup(readPath('/discovery/prod/web')).states, (x) => x.type === 'ok' && x.value.type === 'leaf', 8000);
    const b = (s as { value: { value: BoundName } }).value.value;
    assert.deepEqual(hostPorts(await Var.firstMatching(b.addr, (x) => x.type === 'bound', 8000)), ['127.0.0.1:4140']);

    // Another announcement keeps the session: the ended one's member is removed, not expired.
    const other = a.announce('127.0.0.1', 4150, readPath('/admin'));
    await until(async () => (await children('/discovery/prod/admin')).length === 1, 8000, 'second member');
    ann.close();
    await until(async () => (await children('/discovery/prod/web')).length === 0, 8000, 'member removed');
    assert.equal((await children('/discovery/prod/admin')).length, 1, 'the other member stays');
    other.close();
    await until(async () => (await children('/discovery/prod/admin')).length === 0, 8000, 'last member removed');
    // A name that is exactly the prefix is announced at pathPrefix itself.
    const root = announceServer([a], '127.0.0.1', 4160, [readPath('/#/io.l5d.serversets')], () => undefined);
    await until(async () => (await children('/discovery/prod')).some((c) => c.startsWith('member_')), 8000, 'member at the prefix');
    root.close();
    await until(async () => !(await children('/discovery/prod')).some((c) => c.startsWith('member_')), 8000, 'prefix member removed');
  } finally {
    a.close();
  }
});

test('a lost session (ZooKeeper restarted with its data wiped) gets the member announced again', async () => {
  const a = announcer('/discovery/wiped');
  try {
    const ann = announceServer([a], '127.0.0.1', 4141, [readPath('/#/io.l5d.serversets/api')], () => undefined);
    await until(async () => (await children('/discovery/wiped/api')).length === 1, 8000, 'announced');
    reader.close();
    await server.stop();
    server.wipeData();
    await server.start();
    reader = await connectedClient(server);
    await until(async () => (await children('/discovery/wiped/api')).length === 1, 30_000, 'announced again on a new session');
    const [m] = await children('/discovery/wiped/api');
    assert.deepEqual(await data(`/discovery/wiped/api/${m}`), { serviceEndpoint: { host: '127.0.0.1', port: 4141 }, additionalEndpoints: {}, status: 'ALIVE', shard: 0 });
    ann.close();
    await until(async () => (await children('/discovery/wiped/api')).length === 0, 8000, 'member removed');
  } finally {
    a.close();
  }
});

test('wildcard servers are announced at the host addresses, loopback and link-local excluded', () => {
  const iface = (address: string, family: 'IPv4' | 'IPv6', internal: boolean) => ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) });
  const host = {
    lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
    eth0: [iface('192.0.2.2', 'IPv4', false), iface('fd00::2', 'IPv6', false), iface('fe80::1', 'IPv6', false)],
    eth1: [iface('198.51.100.7', 'IPv4', false)],
  } as unknown as ReturnType<typeof networkInterfaces>;
  assert.deepEqual(announcedHosts('127.0.0.1', host), ['127.0.0.1']);
  assert.deepEqual(announcedHosts('::1', host), ['::1']);
  assert.deepEqual(announcedHosts('0.0.0.0', host), ['192.0.2.2', '198.51.100.7']);
  assert.deepEqual(announcedHosts('::', host), ['192.0.2.2', 'fd00::2', '198.51.100.7']);
  // A host with nothing but loopback announces nothing, and says so.
  const logged: string[] = [];
  const a = { kind: 'test', prefix: readPath('/#/t'), announce: () => assert.fail('nothing to announce'), close: () => undefined };
  announceServer([a], '0.0.0.0', 1, [readPath('/#/t/x')], (l) => logged.push(l), { lo: host['lo']! });
  assert.deepEqual(logged, ['no address to announce /#/t/x at: 0.0.0.0 and the host has no non-loopback address']);
  // The real host's table is what a linker uses by default.
  assert.deepEqual(announcedHosts('0.0.0.0'), announcedHosts('0.0.0.0', networkInterfaces()));
});

test("meshwork linkerd announces its server (Linkerd's serversets example), and takes it out when stopped", async () => {
  const file = linkerdYaml(
    `admin: {ip: 127.0.0.1, port: 0}
namers:
- kind: io.l5d.serversets
  zkAddrs:
  - host: ${server.host}
    port: ${server.port}
routers:
- protocol: http
  label: web
  announcers:
  - kind: io.l5d.serversets
    zkAddrs:
    - host: ${server.host}
      port: ${server.port}
    pathPrefix: /discovery/e2e
  dtab: /svc => /#/io.l5d.serversets/discovery/e2e;
  servers:
  - port: 0
    ip: 127.0.0.1
    announce:
    - /#/io.l5d.serversets/linkerd
`,
  );
  const l = await startLinker(file, 'web');
  let stopped = false;
  try {
    await until(async () => (await children('/discovery/e2e/linkerd')).length === 1, 8000, 'the linker announced');
    const [m] = await children('/discovery/e2e/linkerd');
    assert.deepEqual(await data(`/discovery/e2e/linkerd/${m}`), { serviceEndpoint: { host: '127.0.0.1', port: l.port }, additionalEndpoints: {}, status: 'ALIVE', shard: 0 });
    await l.proc.stop();
    stopped = true;
    await until(async () => (await children('/discovery/e2e/linkerd')).length === 0, 8000, 'the member left with the linker');
  } finally {
    if (!stopped) await l.proc.stop();
  }
});
