/**
 * io.l5d.serversets (src/namers/serversets.ts) against a real ZooKeeper (test/support/zookeeper.ts)
 * holding Finagle serversets: `member_*` znodes with ServiceInstance JSON.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { ServersetsNamer, addrOfMembers, parseJob } from '../../src/namers/serversets.js';
import { createNamer } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/parser.js';
import type { ActivityState } from '../../src/naming/activity.js';
import type { BoundName, Name } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { Var } from '../../src/naming/var.js';
import { connectedClient, startZooKeeper, zkCall, type ZkServer } from '../support/zookeeper.js';
import { hostPorts } from '../support/addrs.js';

let server: ZkServer;
let writer: Client;

before(async () => {
  server = await startZooKeeper();
  writer = await connectedClient(server);
});
after(async () => {
  writer.close();
  await server.close();
});

const OPEN = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];

const call = zkCall;

interface Member {
  host: string;
  port: number;
  http?: number;
  status?: string;
  shard?: number;
}

/** Announces a member as Finagle's ZkAnnouncer does: an ephemeral sequential `member_` znode. */
async function announce(dir: string, m: Member): Promise<string> {
  await call<string>((cb) => writer.mkdirp(dir, null, OPEN, zookeeper.CreateMode.PERSISTENT, (err, p) => cb(err, p)));
  const data = {
    serviceEndpoint: { host: m.host, port: m.port },
    additionalEndpoints: m.http === undefined ? {} : { http: { host: m.host, port: m.http } },
    status: m.status ?? 'ALIVE',
    ...(m.shard === undefined ? {} : { shard: m.shard }),
  };
  return call<string>((cb) => writer.create(`${dir}/member_`, Buffer.from(JSON.stringify(data)), OPEN, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, (err, p) => cb(err, p)));
}

const remove = (path: string): Promise<void> => call<void>((cb) => writer.remove(path, -1, (err) => cb(err, undefined)));

function namer(): ServersetsNamer {
  const made = createNamer({ kind: 'io.l5d.serversets', zkAddrs: [{ host: server.host, port: server.port }] }, { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' });
  assert.ok(made.namer instanceof ServersetsNamer);
  assert.equal(made.prefix.show(), '/#/io.l5d.serversets');
  return made.namer;
}

function show(s: ActivityState<NameTree<Name>>): string {
  if (s.type !== 'ok') return s.type === 'failed' ? `failed: ${s.error.message}` : s.type;
  if (s.value.type !== 'leaf') return s.value.type;
  const b = s.value.value as BoundName;
  return `${b.id.show()} ${b.residual.show()}`;
}

const settled = (n: ServersetsNamer, path: string, want?: (s: string) => boolean): Promise<string> =>
  Var.firstMatching(n.lookup(readPath(path)).states, (s) => s.type !== 'pending' && (want === undefined || want(show(s))), 8000).then(show);

async function addrsOf(n: ServersetsNamer, path: string, want: (a: string[]) => boolean): Promise<string[]> {
  const s = await Var.firstMatching(n.lookup(readPath(path)).states, (x) => x.type === 'ok' && x.value.type === 'leaf', 8000);
  const b = (s as { value: { value: BoundName } }).value.value;
  const a = await Var.firstMatching(b.addr, (x) => x.type !== 'pending' && want(hostPorts(x)), 8000);
  return hostPorts(a);
}

test('job syntax: name, name:endpoint, name#shard, name:endpoint#shard', () => {
  assert.deepEqual(parseJob('web'), { name: 'web', endpoint: undefined, shard: undefined });
  assert.deepEqual(parseJob('web:http'), { name: 'web', endpoint: 'http', shard: undefined });
  assert.deepEqual(parseJob('web#3'), { name: 'web', endpoint: undefined, shard: 3 });
  assert.deepEqual(parseJob('web:http#0'), { name: 'web', endpoint: 'http', shard: 0 });
  for (const bad of ['web:a:b', 'web#x', ':http', 'web#-1', 'web:']) assert.equal(parseJob(bad), undefined, bad);
});

test('members: ALIVE only, the service or a named endpoint, a shard when asked; none is Neg', () => {
  const j = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
  const children = ['member_0000000001', 'member_0000000002', 'member_0000000003', 'vector_0000000004', 'member_0000000005', 'member_0000000006'];
  const datas = [
    j({ serviceEndpoint: { host: '10.0.0.1', port: 9000 }, additionalEndpoints: { http: { host: '10.0.0.1', port: 8080 } }, status: 'ALIVE', shard: 0 }),
    j({ serviceEndpoint: { host: '10.0.0.2', port: 9000 }, additionalEndpoints: {}, status: 'ALIVE', shard: 1 }),
    j({ serviceEndpoint: { host: '10.0.0.3', port: 9000 }, status: 'STARTING' }),
    j({ serviceEndpoint: { host: '10.0.0.4', port: 9000 }, status: 'ALIVE' }),
    Buffer.from('not json'),
    undefined,
  ];
  assert.deepEqual(hostPorts(addrOfMembers(children, datas, { endpoint: undefined, shard: undefined })), ['10.0.0.1:9000', '10.0.0.2:9000']);
  assert.deepEqual(hostPorts(addrOfMembers(children, datas, { endpoint: 'http', shard: undefined })), ['10.0.0.1:8080']);
  assert.deepEqual(hostPorts(addrOfMembers(children, datas, { endpoint: undefined, shard: 1 })), ['10.0.0.2:9000']);
  const a = addrOfMembers(children, datas, { endpoint: undefined, shard: 1 });
  assert.deepEqual(a.type === 'bound' ? a.addrs[0]!.meta : undefined, { shard: 1 });
  assert.deepEqual(addrOfMembers(children, datas, { endpoint: 'admin', shard: undefined }), { type: 'neg' });
});

test('a serverset binds its live members and follows announcements; deeper names keep a residual', async () => {
  const n = namer();
  const a = await announce('/discovery/prod/web', { host: '127.0.0.1', port: 9001, http: 8001 });
  await announce('/discovery/prod/web', { host: '127.0.0.2', port: 9002, http: 8002 });
  assert.equal(await settled(n, '/discovery/prod/web'), '/#/io.l5d.serversets/discovery/prod/web /');
  assert.deepEqual(await addrsOf(n, '/discovery/prod/web', (x) => x.length === 2), ['127.0.0.1:9001', '127.0.0.2:9002']);
  assert.deepEqual(await addrsOf(n, '/discovery/prod/web:http', (x) => x.length === 2), ['127.0.0.1:8001', '127.0.0.2:8002']);
  // Not a serverset: the last elements move into the residual until one is.
  assert.equal(await settled(n, '/discovery/prod/web/v1/users'), '/#/io.l5d.serversets/discovery/prod/web /v1/users');
  // Announcements and departures are followed.
  await announce('/discovery/prod/web', { host: '127.0.0.3', port: 9003 });
  assert.deepEqual(await addrsOf(n, '/discovery/prod/web', (x) => x.length === 3), ['127.0.0.1:9001', '127.0.0.2:9002', '127.0.0.3:9003']);
  await remove(a);
  assert.deepEqual(await addrsOf(n, '/discovery/prod/web', (x) => x.length === 2), ['127.0.0.2:9002', '127.0.0.3:9003']);
});

test('no serverset, or none alive: Neg, until a member is announced', async () => {
  const n = namer();
  assert.equal(await settled(n, '/discovery/prod/later'), 'neg');
  await announce('/discovery/prod/sleepy', { host: '127.0.0.9', port: 9009, status: 'STARTING' });
  assert.equal(await settled(n, '/discovery/prod/sleepy'), 'neg', 'members that are not ALIVE do not count');
  const states = n.lookup(readPath('/discovery/prod/later')).states;
  const seen: string[] = [];
  const c = states.observe((s) => seen.push(show(s)));
  try {
    await announce('/discovery/prod/later', { host: '127.0.0.8', port: 9008 });
    await Var.firstMatching(states, (s) => show(s) === '/#/io.l5d.serversets/discovery/prod/later /', 8000);
  } finally {
    c.close();
  }
  assert.equal(seen[0], 'neg');
  assert.equal(await settled(n, '/discovery/prod/web:a:b'), 'failed: io.l5d.serversets: invalid job syntax: web:a:b (name[:endpoint][#shard])');
});

test('config: zkAddrs is required and named when empty', () => {
  assert.throws(
    () => createNamer({ kind: 'io.l5d.serversets', zkAddrs: [] }, { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' }),
    /linkerd\.yaml: namers\[0\]\.zkAddrs: found \[\]; allowed: a list of \{host, port\}/,
  );
});
