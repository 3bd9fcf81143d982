/**
 * io.l5d.zkLeader (src/namers/zk-leader.ts) against a real ZooKeeper (test/support/zookeeper.ts)
 * holding Twitter commons leader groups: candidates are ephemeral sequential `member_` znodes
 * whose data is the candidate's `host:port`, and the lowest one leads.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { ZkLeaderNamer, leaderAddr, leaderOf, parseHostList } from '../../src/namers/zk-leader.js';
import { createNamer, createNamers } from '../../src/namers/registry.js';
import { readDtab, readPath } from '../../src/naming/parser.js';
import { bind } from '../../src/naming/binder.js';
import type { ActivityState } from '../../src/naming/activity.js';
import type { Addr } from '../../src/naming/addr.js';
import type { BoundName, Name } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { Var } from '../../src/naming/var.js';
import { connectedClient, startZooKeeper, zkCall as call, type ZkServer } from '../support/zookeeper.js';
import { collectAddrs, hostPorts } from '../support/addrs.js';

let server: ZkServer;
let writer: Client;
const clients: Client[] = [];

before(async () => {
  server = await startZooKeeper();
  writer = await connectedClient(server);
});
after(async () => {
  for (const c of clients) c.close();
  writer.close();
  await server.close();
});

const OPEN = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];
const ctx = { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' };

const mkdirp = (path: string, c: Client = writer): Promise<string> =>
  call<string>((cb) => c.mkdirp(path, null, OPEN, zookeeper.CreateMode.PERSISTENT, (err, p) => cb(err, p)));

/**
 * Offers leadership as Twitter commons' CandidateImpl does: an ephemeral sequential `member_`
 * znode under the group, its data the candidate's address (null: a candidate without data).
 */
async function join(group: string, data: string | null, c: Client = writer): Promise<string> {
  await mkdirp(group, c);
  return call<string>((cb) => c.create(`${group}/member_`, data === null ? (null as unknown as Buffer) : Buffer.from(data), OPEN, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, (err, p) => cb(err, p)));
}

const remove = (path: string): Promise<void> => call<void>((cb) => writer.remove(path, -1, (err) => cb(err, undefined)));

function namer(): ZkLeaderNamer {
  const made = createNamer({ kind: 'io.l5d.zkLeader', zkAddrs: [{ host: server.host, port: server.port }] }, ctx);
  assert.ok(made.namer instanceof ZkLeaderNamer);
  assert.equal(made.prefix.show(), '/#/io.l5d.zkLeader');
  return made.namer;
}

/** A lookup state as `<id> <residual>`, `neg`, `pending` or `failed: <code> <message>`. */
function show(s: ActivityState<NameTree<Name>>): string {
  if (s.type === 'failed') return `failed: ${(s.error as { code?: string }).code} ${s.error.message}`;
  if (s.type !== 'ok') return s.type;
  if (s.value.type !== 'leaf') return s.value.type;
  const b = s.value.value as BoundName;
  return `${b.id.show()} ${b.residual.show()}`;
}

const settled = (n: ZkLeaderNamer, path: string, want?: (s: string) => boolean): Promise<string> =>
  Var.firstMatching(n.lookup(readPath(path)).states, (s) => s.type !== 'pending' && (want === undefined || want(show(s))), 8000).then(show);

async function boundOf(n: ZkLeaderNamer, path: string): Promise<BoundName> {
  const s = await Var.firstMatching(n.lookup(readPath(path)).states, (x) => x.type === 'ok' && x.value.type === 'leaf', 8000);
  return (s as { value: { value: BoundName } }).value.value;
}

async function addrsOf(n: ZkLeaderNamer, path: string, want: (a: string[]) => boolean = () => true): Promise<string[]> {
  const b = await boundOf(n, path);
  return hostPorts(await Var.firstMatching(b.addr, (x) => x.type !== 'pending' && want(hostPorts(x)), 8000));
}

test('host lists: host:port entries split on commas and spaces, as Finagle reads them', () => {
  const hp = (s: string): string[] | string => {
    const r = parseHostList(s);
    return typeof r === 'string' ? r : r.map((a) => `${a.host}:${a.port}`);
  };
  assert.deepEqual(hp('10.0.0.1:8080'), ['10.0.0.1:8080']);
  assert.deepEqual(hp('b.example:2,a.example:1 c.example:3,,b.example:2'), ['b.example:2', 'a.example:1', 'c.example:3']);
  assert.deepEqual(hp(':9000'), ['0.0.0.0:9000'], 'no host: the wildcard address');
  assert.deepEqual(hp('host:*'), ['host:0']);
  assert.deepEqual(hp(':*'), ['0.0.0.0:0']);
  assert.deepEqual(hp('host:'), '"host:" is not host:port', "Java's split drops the empty port");
  assert.deepEqual(hp(''), []);
  assert.deepEqual(hp('10.0.0.1'), '"10.0.0.1" is not host:port');
  assert.deepEqual(hp('a:1 b:2:3'), '"b:2:3" is not host:port');
  assert.deepEqual(hp('[::1]:80'), '"[::1]:80" is not host:port');
  assert.deepEqual(hp('h:http'), '"h:http" has no port 0-65535 or *');
  assert.deepEqual(hp('h:65536'), '"h:65536" has no port 0-65535 or *');
  assert.deepEqual(hp('h:80\n'), '"h:80\\n" has no port 0-65535 or *', 'only commas and spaces separate entries');
  assert.deepEqual(hp('{"serviceEndpoint":{"host":"10.0.0.1","port":80},"status":"ALIVE"}'), '"{\\"serviceEndpoint\\":{\\"host\\":\\"10.0.0.1\\"" is not host:port');
});

test('the leader is the lowest member_ child; its data is its address', () => {
  assert.equal(leaderOf(['member_0000000012', 'member_0000000003', 'lock', 'aaa', 'member_0000000007']), 'member_0000000003');
  assert.equal(leaderOf(['lock', 'aaa']), undefined);
  assert.equal(leaderOf([]), undefined);
  assert.deepEqual(leaderAddr('/g', [], []), { type: 'neg' });
  assert.deepEqual(leaderAddr('/g', ['member_0000000003'], [Buffer.from('10.0.0.3:80,10.0.0.4:81')]), {
    type: 'bound',
    addrs: [
      { host: '10.0.0.3', port: 80, meta: {} },
      { host: '10.0.0.4', port: 81, meta: {} },
    ],
    meta: {},
  });
  const failure = (a: Addr): string => (a.type === 'failed' ? `${(a.cause as { code?: string }).code} ${a.cause.message}` : a.type);
  assert.equal(failure(leaderAddr('/g', ['member_0000000003'], [undefined])), 'MESH_ERR_NAMER_BAD_DATA io.l5d.zkLeader: leader /g/member_0000000003 has no data');
  assert.equal(failure(leaderAddr('/', ['member_0000000001'], [Buffer.from('nope')])), 'MESH_ERR_NAMER_BAD_DATA io.l5d.zkLeader: leader /member_0000000001: "nope" is not host:port in its data "nope"');
});

test('binds the lowest-sequence candidate, keeps the residual, and follows leadership changes', async () => {
  const n = namer();
  // The first candidate (lowest sequence) runs on its own session, like a leader process.
  const leaderProcess = await connectedClient(server);
  clients.push(leaderProcess);
  await join('/leaders/web', '127.0.0.3:9003', leaderProcess);
  const second = await join('/leaders/web', '127.0.0.1:9001');
  const third = await join('/leaders/web', '127.0.0.2:9002');
  // Not a candidate, though its name sorts before member_.
  await call<string>((cb) => writer.create('/leaders/web/aaa', Buffer.from('127.0.0.9:9009'), OPEN, zookeeper.CreateMode.PERSISTENT, (err, p) => cb(err, p)));

  assert.equal(await settled(n, '/leaders/web'), '/#/io.l5d.zkLeader/leaders/web /');
  assert.deepEqual(await addrsOf(n, '/leaders/web'), ['127.0.0.3:9003']);
  // Deeper names: elements that are no group move into the residual.
  assert.equal(await settled(n, '/leaders/web/v1/users'), '/#/io.l5d.zkLeader/leaders/web /v1/users');

  // The leader's process dies (its session ends, its ephemeral znode goes): the next is leader.
  // A candidate joining behind the leader changes nothing. (Held: one session throughout.)
  const hold = n.lookup(readPath('/leaders/web')).states.observe(() => {});
  let seen: string[][];
  try {
    seen = await collectAddrs(await boundOf(n, '/leaders/web'), 4, (i) => {
      if (i === 1) leaderProcess.close();
      if (i === 2) void join('/leaders/web', '127.0.0.4:9004').then(() => remove(second));
      if (i === 3) void remove(third);
    });
  } finally {
    hold.close();
  }
  assert.deepEqual(seen, [['127.0.0.3:9003'], ['127.0.0.1:9001'], ['127.0.0.2:9002'], ['127.0.0.4:9004']]);
});

test('no group or no candidate is Neg; a group that gains a leader binds, one that loses it is Neg again', async () => {
  const n = namer();
  assert.equal(await settled(n, '/leaders/none'), 'neg');
  await mkdirp('/leaders/empty');
  assert.equal(await settled(n, '/leaders/empty'), 'neg');
  assert.equal(await settled(n, '/'), 'neg');

  const states = n.lookup(readPath('/leaders/later/x')).states;
  const seen: string[] = [];
  const c = states.observe((s) => {
    const v = show(s);
    if (v !== 'pending' && v !== seen.at(-1)) seen.push(v);
  });
  try {
    await Var.firstMatching(states, (s) => show(s) === 'neg', 8000);
    const only = await join('/leaders/later', '127.0.0.5:9005');
    await Var.firstMatching(states, (s) => show(s) === '/#/io.l5d.zkLeader/leaders/later /x', 8000);
    await remove(only);
    await Var.firstMatching(states, (s) => show(s) === 'neg', 8000);
  } finally {
    c.close();
  }
  assert.deepEqual(seen, ['neg', '/#/io.l5d.zkLeader/leaders/later /x', 'neg']);
});

test('leader data: several host:port, the wildcard host; unreadable data fails until a readable leader takes over', async () => {
  const n = namer();
  await join('/leaders/many', '127.0.0.1:7001,127.0.0.2:7002 127.0.0.3:7003');
  assert.deepEqual(await addrsOf(n, '/leaders/many'), ['127.0.0.1:7001', '127.0.0.2:7002', '127.0.0.3:7003']);
  await join('/leaders/wild', ':7004');
  assert.deepEqual(await addrsOf(n, '/leaders/wild'), ['0.0.0.0:7004']);

  // A serverset ServiceInstance is not what Linkerd's namer reads: the name fails.
  const json = await join('/leaders/json', JSON.stringify({ serviceEndpoint: { host: '127.0.0.1', port: 7005 }, additionalEndpoints: {}, status: 'ALIVE' }));
  await join('/leaders/json', '127.0.0.6:7006');
  const failed = await settled(n, '/leaders/json');
  assert.match(failed, /^failed: MESH_ERR_NAMER_BAD_DATA io\.l5d\.zkLeader: leader \/leaders\/json\/member_\d{10}: "\{\\"serviceEndpoint\\":\{\\"host\\":\\"127\.0\.0\.1\\"" is not host:port in its data "\{/);
  await remove(json);
  assert.equal(await settled(n, '/leaders/json', (s) => !s.startsWith('failed')), '/#/io.l5d.zkLeader/leaders/json /');
  assert.deepEqual(await addrsOf(n, '/leaders/json'), ['127.0.0.6:7006']);

  await join('/leaders/nodata', null);
  assert.match(await settled(n, '/leaders/nodata'), /^failed: MESH_ERR_NAMER_BAD_DATA io\.l5d\.zkLeader: leader \/leaders\/nodata\/member_\d{10} has no data$/);
});

test('linkerd.yaml: a zkLeader namer validates and binds through a dtab; a Neg leader falls back; config errors name the key', async () => {
  const { parseLinkerdConfig } = await import('../../src/config/load.js');
  await import('../../src/config/builtin-plugins.js');
  const routers = 'routers:\n- protocol: http\n  dtab: /svc => /#/leader/leaders\n  servers:\n  - port: 0\n';
  const cfg = parseLinkerdConfig(`namers:\n- kind: io.l5d.zkLeader\n  prefix: /leader\n  zkAddrs:\n  - host: ${server.host}\n    port: ${server.port}\n${routers}`, 'linkerd.yaml');
  assert.throws(() => parseLinkerdConfig(`namers:\n- kind: io.l5d.zkLeader\n${routers}`, 'linkerd.yaml'), /namers\[0\]\.zkAddrs/);
  assert.throws(() => parseLinkerdConfig(`namers:\n- kind: io.l5d.zkLeader\n  zkAddrs:\n  - host: zk\n    port: nope\n${routers}`, 'linkerd.yaml'), /namers\[0\]\.zkAddrs\[0\]\.port/);
  assert.throws(() => createNamer({ kind: 'io.l5d.zkLeader', zkAddrs: [] }, ctx), /^NamerError: linkerd\.yaml: namers\[0\]\.zkAddrs: found \[\]; allowed: a list of \{host, port\}$/);

  const namers = createNamers(cfg.namers as unknown as { kind: string }[], { readPath, file: 'linkerd.yaml' });
  assert.equal(namers.configured[0]!.prefix.show(), '/#/leader');
  await join('/leaders/api', '127.0.0.7:7007');
  const dtab = readDtab('/svc => /#/leader/leaders | /$/inet/127.0.0.1/4444');
  const boundShow = async (path: string): Promise<string> => {
    const s = await Var.firstMatching(bind(dtab, readPath(path), namers).states, (x) => x.type === 'ok', 8000);
    const t = (s as { value: NameTree<BoundName> }).value;
    return t.type === 'leaf' ? `${t.value.id.show()} ${t.value.residual.show()}` : t.type;
  };
  assert.equal(await boundShow('/svc/api/v2'), '/#/leader/leaders/api /v2');
  assert.equal(await boundShow('/svc/nobody/v2'), '/$/inet/127.0.0.1/4444 /nobody/v2');
});

test('a lost ZooKeeper session is replaced: the last leader is kept while cut off, the new one followed after', async () => {
  // The namer reaches ZooKeeper through a relay; cutting it for longer than the session
  // timeout makes the server expire the namer's session while the writer's lives on.
  const r = await relay(server);
  try {
    const n = new ZkLeaderNamer(readPath('/#/io.l5d.zkLeader'), `127.0.0.1:${r.port}`, 1000);
    const first = await join('/leaders/ha', '127.0.0.8:7008');
    // Observed from the first lookup to the end: one session, whose answers are real reads.
    const hold = n.lookup(readPath('/leaders/ha')).states.observe(() => {});
    const seen: string[][] = [];
    let c: { close(): void } | undefined;
    try {
      const b = await boundOf(n, '/leaders/ha');
      c = b.addr.observe((a) => {
        if (a.type !== 'pending') seen.push(hostPorts(a));
      });
      assert.deepEqual(seen, [['127.0.0.8:7008']]);
      r.cut();
      await join('/leaders/ha', '127.0.0.9:7009');
      await remove(first);
      // Longer than the session timeout (and the server's tick): the session is gone.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      assert.deepEqual(seen, [['127.0.0.8:7008']], 'the last leader is kept while ZooKeeper is unreachable');
      r.heal();
      await Var.firstMatching(b.addr, (a) => hostPorts(a).join() === '127.0.0.9:7009', 15_000);
    } finally {
      c?.close();
      hold.close();
    }
    assert.deepEqual(seen, [['127.0.0.8:7008'], ['127.0.0.9:7009']]);
  } finally {
    await r.close();
  }
});

/** A loopback TCP relay to `target` that can cut every connection and refuse new ones. */
async function relay(target: { host: string; port: number }): Promise<{ port: number; cut(): void; heal(): void; close(): Promise<void> }> {
  let open = true;
  const sockets = new Set<Socket>();
  const srv = createServer((down) => {
    if (!open) {
      down.destroy();
      return;
    }
    const up = netConnect(target.port, target.host);
    sockets.add(down);
    sockets.add(up);
    const end = (): void => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    for (const s of [down, up]) {
      s.on('error', end);
      s.on('close', end);
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const cut = (): void => {
    open = false;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    port: (srv.address() as AddressInfo).port,
    cut,
    heal: () => {
      open = true;
    },
    close: () => {
      cut();
      return new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}
