/**
 * io.l5d.curator (src/namers/curator.ts) against a real ZooKeeper (test/support/zookeeper.ts)
 * holding Curator's service-discovery layout: `<basePath>/<service>/<instance id>` with the
 * JSON Curator writes for a ServiceInstance.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { CuratorNamer, addrOfInstances } from '../../src/namers/curator.js';
import { createNamer } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/parser.js';
import type { Path } from '../../src/naming/path.js';
import type { BoundName } from '../../src/naming/contracts.js';
import { connectedClient, startZooKeeper, zkCall, type ZkServer } from '../support/zookeeper.js';
import { collectAddrs as collect, hostPorts as hp } from '../support/addrs.js';

let server: ZkServer;
let writer: Client;
const closers: Array<() => void> = [];

before(async () => {
  server = await startZooKeeper();
  writer = await connectedClient(server);
});
after(async () => {
  for (const c of closers) c();
  writer.close();
  await server.close();
});

const OPEN = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];

const call = zkCall;

/** Registers an instance as Curator's ServiceDiscovery does (its JSON serialiser's fields). */
async function register(base: string, service: string, id: string, address: string, port: number | null, sslPort: number | null = null, opts: { client?: Client; persistent?: boolean } = {}): Promise<void> {
  const c = opts.client ?? writer;
  const dir = `${base.replace(/\/+$/, '')}/${service}`;
  await call<string>((cb) => c.mkdirp(dir, null, OPEN, zookeeper.CreateMode.PERSISTENT, (err, p) => cb(err, p)));
  const data = { name: service, id, address, port, sslPort, payload: null, registrationTimeUTC: Date.now(), serviceType: 'DYNAMIC', uriSpec: null };
  const mode = opts.persistent === true ? zookeeper.CreateMode.PERSISTENT : zookeeper.CreateMode.EPHEMERAL;
  await call<string>((cb) => c.create(`${dir}/${id}`, Buffer.from(JSON.stringify(data)), OPEN, mode, (err, p) => cb(err, p)));
}

const unregister = (base: string, service: string, id: string): Promise<void> =>
  call<void>((cb) => writer.remove(`${base.replace(/\/+$/, '')}/${service}/${id}`, -1, (err) => cb(err, undefined)));

function namer(basePath: string): CuratorNamer {
  const made = createNamer({ kind: 'io.l5d.curator', experimental: true, zkAddrs: [{ host: server.host, port: server.port }], basePath }, { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' });
  assert.ok(made.namer instanceof CuratorNamer);
  assert.equal(made.prefix.show(), '/#/io.l5d.curator');
  return made.namer;
}

test('/<service>/residual binds the registered instances and follows registrations', async () => {
  await register('/services', 'users', 'a', '127.0.0.1', 8081);
  await register('/services', 'users', 'b', '127.0.0.2', 8082);
  const n = namer('/services');
  const tree = await n.lookup(readPath('/users/v1/x')).toPromise(8000);
  assert.equal(tree.type, 'leaf');
  const b = (tree as { value: BoundName }).value;
  assert.equal((b.id as Path).show(), '/#/io.l5d.curator/users');
  assert.equal(b.residual.show(), '/v1/x');
  const seen = await collect(b, 3, (i) => {
    if (i === 1) void register('/services', 'users', 'c', '127.0.0.3', 8083);
    if (i === 2) void unregister('/services', 'users', 'a');
  });
  assert.deepEqual(seen, [['127.0.0.1:8081', '127.0.0.2:8082'], ['127.0.0.1:8081', '127.0.0.2:8082', '127.0.0.3:8083'], ['127.0.0.2:8082', '127.0.0.3:8083']]);
});

test('a service that does not exist is Neg, and binds once it is registered; no instances is bound empty', async () => {
  const n = namer('/');
  assert.deepEqual(await n.lookup(readPath('/later')).toPromise(8000), { type: 'neg' });
  await call<string>((cb) => writer.mkdirp('/empty', null, OPEN, zookeeper.CreateMode.PERSISTENT, (err, p) => cb(err, p)));
  const empty = await n.lookup(readPath('/empty')).toPromise(8000);
  assert.equal(empty.type, 'leaf');
  const a = await new Promise<string[]>((resolve) => {
    const c = (empty as { value: BoundName }).value.addr.observe((x) => { if (x.type !== 'pending') { queueMicrotask(() => c.close()); resolve(hp(x)); } });
  });
  assert.deepEqual(a, []);
  const watched = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => { c.close(); reject(new Error('no bind after registration')); }, 8000);
    const c = n.lookup(readPath('/later')).observe((s) => {
      if (s.type === 'ok' && s.value.type === 'leaf') { clearTimeout(t); queueMicrotask(() => c.close()); resolve(((s.value as { value: BoundName }).value.id as Path).show()); }
    });
  });
  await register('/', 'later', 'x', '127.0.0.9', 9000);
  assert.equal(await watched, '/#/io.l5d.curator/later');
});

test('sslPort wins over port and marks the Addr ssl; unreadable instances are skipped', () => {
  const j = (o: unknown) => Buffer.from(JSON.stringify(o));
  const a = addrOfInstances([j({ address: '10.0.0.1', port: 80, sslPort: 443 }), j({ address: '10.0.0.2', port: 80, sslPort: null }), Buffer.from('not json'), j({ port: 80 }), undefined]);
  assert.deepEqual(hp(a), ['10.0.0.1:443', '10.0.0.2:80']);
  assert.deepEqual(a.type === 'bound' ? a.meta : undefined, { ssl: true });
  assert.deepEqual(addrOfInstances([j({ address: '10.0.0.2', port: 80 })]).type === 'bound' ? (addrOfInstances([j({ address: '10.0.0.2', port: 80 })]) as { meta: unknown }).meta : undefined, { ssl: false });
});

test('ZooKeeper going away keeps the last instances; config errors name the key', async () => {
  // Persistent: the instance must outlive the writer's session, which a restart may cost.
  await register('/keep', 'svc', 'i1', '127.0.0.7', 7000, null, { persistent: true });
  const n = namer('/keep');
  const tree = await n.lookup(readPath('/svc')).toPromise(8000);
  const b = (tree as { value: BoundName }).value;
  const states: string[][] = [];
  const c = b.addr.observe((x) => states.push(hp(x)));
  closers.push(() => c.close());
  await new Promise((r) => setTimeout(r, 200));
  await server.stop();
  try {
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(states.at(-1), ['127.0.0.7:7000'], JSON.stringify(states));
  } finally {
    await server.start();
  }
  // Back up: a registration made afterwards (by a client on a new session) reaches the same
  // observation, once the namer's client is serving again (its watchdog replaces a client a
  // starting server took and never served: up to its 10 s session timeout).
  const late = await connectedClient(server);
  try {
    await register('/keep', 'svc', 'i2', '127.0.0.8', 8000, null, { client: late, persistent: true });
  } finally {
    late.close();
  }
  const want = JSON.stringify(['127.0.0.7:7000', '127.0.0.8:8000']);
  const deadline = Date.now() + 30_000;
  while (JSON.stringify(states.at(-1)) !== want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(states.at(-1), ['127.0.0.7:7000', '127.0.0.8:8000'], JSON.stringify(states));
  assert.throws(() => createNamer({ kind: 'io.l5d.curator', experimental: true, zkAddrs: [] }, { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' }), /linkerd\.yaml: namers\[0\]\.zkAddrs: found \[\]; allowed: a list of \{host, port\}/);
});
