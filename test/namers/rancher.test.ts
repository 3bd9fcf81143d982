import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitForValue } from '../support/activity.js';
import { RancherNamer, containersOf, versionOf, type RancherNamerOptions } from '../../src/namers/rancher.js';
import { NamerError } from '../../src/namers/errors.js';
import { createNamer, namerKinds } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/parser.js';
import type { Path } from '../../src/naming/path.js';
import type { BoundName, Name } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { collectAddrs as collect, hostPorts as hp } from '../support/addrs.js';
import { startFakeRancher, type FakeContainer, type FakeRancher } from '../support/fake-rancher.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function fake(containers: readonly FakeContainer[] = []): Promise<FakeRancher> {
  const f = await startFakeRancher();
  cleanups.push(() => f.stop());
  f.setContainers(containers);
  return f;
}

/** maxWait 30 s by default: a change seen within a test's few seconds came through the long poll. */
function namer(f: FakeRancher, o: Partial<RancherNamerOptions> = {}): RancherNamer {
  const n = new RancherNamer(readPath('/#/io.l5d.rancher'), {
    connectHost: f.host, connectPort: f.port, host: 'rancher-metadata', portMappings: {}, maxWaitS: 30, backoffMs: 20, maxBackoffMs: 80, ...o,
  });
  cleanups.push(() => n.client.close());
  return n;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits (at most `ms`, checking every 10 ms) until `cond` holds; fails the test otherwise. */
async function eventually(cond: () => boolean, what: string, ms = 4000): Promise<void> {
  for (let i = 0; i < ms / 10 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

/** The bound leaf a lookup settles on (fails the test on anything else). */
async function leafOf(n: RancherNamer, name: string): Promise<BoundName> {
  const tree = await n.lookup(readPath(name)).toPromise(3000);
  assert.equal(tree.type, 'leaf', JSON.stringify(tree));
  return (tree as { value: BoundName }).value;
}

/** The first non-pending Addr of a bound name, as `host:port`s. */
function firstAddr(b: BoundName): Promise<string[]> {
  return collect(b, 1, () => {}).then((seen) => seen[0]!);
}

/** Observes a lookup until `pred` holds for its tree (at most 4 s). */
function until(n: RancherNamer, name: string, pred: (t: NameTree<Name>) => boolean): Promise<NameTree<Name>> {
  return waitForValue(n.lookup(readPath(name)), pred, 4000, `a tree for ${name}`);
}

const idOf = (t: NameTree<Name>): string => ((t as { value: BoundName }).value.id as Path).show();

test('/<port>/<stack>/<service>/residual binds the service\'s running containers at their primary_ip and the port; requests as Linkerd sends them', async () => {
  const f = await fake([
    { stack: 'web', service: 'frontend', ip: '10.42.0.2', ports: ['0.0.0.0:8080:80/tcp'] },
    { stack: 'web', service: 'frontend', ip: '10.42.0.1' },
    { stack: 'web', service: 'frontend', ip: '10.42.0.3', state: 'stopped' },
    { stack: 'web', service: 'backend', ip: '10.42.0.4' },
    { stack: 'other', service: 'frontend', ip: '10.42.0.5' },
  ]);
  const n = namer(f);
  // Stack and service match case-insensitively; the id keeps the name as written.
  const b = await leafOf(n, '/http/Web/FrontEnd/a/b');
  assert.equal((b.id as Path).show(), '/#/io.l5d.rancher/http/Web/FrontEnd');
  assert.equal(b.residual.show(), '/a/b');
  const c = b.addr.observe(() => {});
  try {
    assert.deepEqual(hp(b.addr.sample()), ['10.42.0.1:80', '10.42.0.2:80']);
    const [first] = f.requestsTo('version');
    assert.equal(first!.url, '/2015-12-19/version?wait=true&maxWait=30&value=initial');
    assert.equal(first!.host, 'rancher-metadata');
    assert.equal(first!.accept, 'text/plain');
    const containers = f.requestsTo('containers');
    assert.deepEqual(containers.map((r) => [r.url, r.host, r.accept]), [['/2015-12-19/containers', 'rancher-metadata', 'application/json']]);
    // The next version request asks from the version read, and the API holds it.
    await eventually(() => f.heldCount === 1, 'a held version request');
    assert.equal(f.requestsTo('version').at(-1)!.query.get('value'), f.version);
    assert.equal(f.requestsTo('containers').length, 1);
  } finally {
    c.close();
  }
});

test('<port> is a number, a portMappings name (which may redefine http), or the built-in http and https; anything else is Neg', async () => {
  const f = await fake([{ stack: 'web', service: 'frontend', ip: '10.42.0.1' }]);
  const mapped = namer(f, { portMappings: { proxy: 8080, http: 8081 } });
  const plain = namer(f);
  const portOf = async (n: RancherNamer, name: string): Promise<string[]> => firstAddr(await leafOf(n, name));
  assert.deepEqual(await portOf(mapped, '/proxy/web/frontend'), ['10.42.0.1:8080']);
  assert.deepEqual(await portOf(mapped, '/http/web/frontend'), ['10.42.0.1:8081']);
  assert.deepEqual(await portOf(mapped, '/https/web/frontend'), ['10.42.0.1:443']);
  assert.deepEqual(await portOf(mapped, '/9990/web/frontend'), ['10.42.0.1:9990']);
  assert.deepEqual(await portOf(plain, '/http/web/frontend'), ['10.42.0.1:80']);
  assert.equal(idOf(await mapped.lookup(readPath('/proxy/web/frontend')).toPromise(3000)), '/#/io.l5d.rancher/proxy/web/frontend');
  for (const name of ['/proxy/web/frontend', '/admin/web/frontend', '/0/web/frontend', '/70000/web/frontend']) {
    assert.deepEqual(await plain.lookup(readPath(name)).toPromise(3000), { type: 'neg' }, name);
  }
  assert.equal(plain.portOf('8080'), 8080);
  assert.equal(mapped.portOf('proxy'), 8080);
});

test('an unknown stack or service, a service with no running container, and a name of fewer than three elements are Neg', async () => {
  const f = await fake([
    { stack: 'web', service: 'frontend', ip: '10.42.0.1' },
    { stack: 'web', service: 'idle', ip: '10.42.0.2', state: 'stopped' },
  ]);
  const n = namer(f);
  for (const name of ['/http/nostack/frontend', '/http/web/noservice', '/http/web/idle', '/http/web', '/http', '/']) {
    assert.deepEqual(await n.lookup(readPath(name)).toPromise(3000), { type: 'neg' }, name);
  }
});

test('containers added and removed are followed through the long poll; a service that loses its last container goes Neg and binds again', async () => {
  const one = { stack: 'web', service: 'frontend', ip: '10.42.0.1' };
  const two = { stack: 'web', service: 'frontend', ip: '10.42.0.2' };
  const f = await fake([one]);
  const n = namer(f);
  const b = await leafOf(n, '/http/web/frontend');
  const started = Date.now();
  const seen = await collect(b, 3, (i) => {
    if (i === 1) f.setContainers([one, two]);
    if (i === 2) f.setContainers([two]);
  });
  assert.deepEqual(seen, [['10.42.0.1:80'], ['10.42.0.1:80', '10.42.0.2:80'], ['10.42.0.2:80']]);
  // maxWait is 30 s: only an answer to a held request can have brought the changes this soon.
  assert.ok(Date.now() - started < 4000);
  assert.deepEqual(new Set(f.requestsTo('version').map((r) => r.query.get('maxWait'))), new Set(['30']));
  // One containers read per version: the first and the two changes.
  assert.equal(f.requestsTo('containers').length, 3);
  setTimeout(() => f.setContainers([{ ...two, state: 'stopping' }]), 20);
  assert.deepEqual(await until(n, '/http/web/frontend', (t) => t.type === 'neg'), { type: 'neg' });
  setTimeout(() => f.setContainers([two, { stack: 'web', service: 'frontend', ip: '10.42.0.3' }]), 20);
  const t = await until(n, '/http/web/frontend/x', (tree) => tree.type === 'leaf');
  assert.equal(idOf(t), '/#/io.l5d.rancher/http/web/frontend');
  assert.deepEqual(await firstAddr((t as { value: BoundName }).value), ['10.42.0.2:80', '10.42.0.3:80']);
});

test('when maxWait passes without a change the namer asks again from the same version and reads no containers', async () => {
  const f = await fake([{ stack: 'web', service: 'frontend', ip: '10.42.0.1' }]);
  const n = namer(f, { maxWaitS: 1 });
  const b = await leafOf(n, '/http/web/frontend');
  const states: string[][] = [];
  const c = b.addr.observe((a) => states.push(hp(a)));
  try {
    await eventually(() => f.requestsTo('version').length >= 3, 'two version requests answered after maxWait', 4000);
    const [, second, third] = f.requestsTo('version');
    assert.equal(second!.url, `/2015-12-19/version?wait=true&maxWait=1&value=${f.version}`);
    assert.equal(third!.query.get('value'), f.version);
    assert.ok(third!.at - second!.at >= 950, `answered after ${third!.at - second!.at} ms`);
    assert.equal(f.requestsTo('containers').length, 1);
    assert.deepEqual(states, [['10.42.0.1:80']]);
  } finally {
    c.close();
  }
});

test('the metadata API failing before the first answer fails the name (HTTP status, connection reset); it binds once the API answers', async () => {
  const f = await fake([{ stack: 'web', service: 'frontend', ip: '10.42.0.1' }]);
  f.mode = 'error';
  const err500 = await namer(f).lookup(readPath('/http/web/frontend')).toPromise(3000).then(() => undefined, (e: unknown) => e);
  assert.ok(err500 instanceof NamerError);
  assert.equal(err500.code, 'MESH_ERR_NAMER_UNAVAILABLE');
  assert.match(err500.message, /^rancher metadata GET \/2015-12-19\/version\?wait=true&maxWait=30&value=initial: HTTP 500/);
  f.mode = 'reset';
  const n = namer(f);
  const reset = await n.lookup(readPath('/http/web/frontend')).toPromise(3000).then(() => undefined, (e: unknown) => e);
  assert.ok(reset instanceof NamerError);
  assert.equal(reset.code, 'MESH_ERR_NAMER_UNAVAILABLE');
  setTimeout(() => { f.mode = 'ok'; }, 50);
  const t = await until(n, '/http/web/frontend', (tree) => tree.type === 'leaf');
  assert.equal(idOf(t), '/#/io.l5d.rancher/http/web/frontend');
});

test('while the metadata API is unreachable the last answer is kept and the poll is retried with a capped backoff; then changes are followed again', async () => {
  const f = await fake([{ stack: 'web', service: 'frontend', ip: '10.42.0.1' }]);
  const n = namer(f, { backoffMs: 20, maxBackoffMs: 80 });
  const b = await leafOf(n, '/http/web/frontend');
  const states: string[][] = [];
  const c = b.addr.observe((a) => states.push(hp(a)));
  try {
    await eventually(() => f.heldCount === 1, 'a held version request');
    const before = f.requests.length;
    f.mode = 'reset';
    await eventually(() => f.requests.length >= before + 8, 'eight retries');
    f.mode = 'ok';
    const failing = f.requests.slice(before, before + 8).map((r) => r.at);
    const gaps = failing.slice(1).map((t, i) => t - failing[i]!);
    // 20, 40, then 80 ms: never more often than the cap once reached, and still retrying.
    assert.ok(gaps.slice(2).every((g) => g >= 75 && g < 1000), JSON.stringify(gaps));
    // The retries ask from the last good version, so nothing is read again needlessly.
    assert.ok(f.requests.slice(before).every((r) => r.path === '/2015-12-19/version' && r.query.get('value') === f.version));
    assert.deepEqual(states, [['10.42.0.1:80']]);
    f.setContainers([{ stack: 'web', service: 'frontend', ip: '10.42.0.9' }]);
    await eventually(() => states.length === 2, 'the change after the API came back');
    assert.deepEqual(states, [['10.42.0.1:80'], ['10.42.0.9:80']]);
  } finally {
    c.close();
  }
});

test('bad JSON from the metadata API is survived: before a good answer the name fails saying so, after one the answer is kept and the read retried', async () => {
  const f = await fake([{ stack: 'web', service: 'frontend', ip: '10.42.0.1' }]);
  f.mode = 'badJson';
  const early = await namer(f).lookup(readPath('/http/web/frontend')).toPromise(3000).then(() => undefined, (e: unknown) => e);
  assert.ok(early instanceof NamerError);
  assert.equal(early.code, 'MESH_ERR_NAMER_BAD_DATA');
  assert.match(early.message, /^rancher metadata containers: not JSON/);
  f.mode = 'ok';
  const n = namer(f);
  const b = await leafOf(n, '/http/web/frontend');
  const states: string[][] = [];
  const c = b.addr.observe((a) => states.push(hp(a)));
  try {
    const before = f.requestsTo('containers').length;
    f.mode = 'badJson';
    f.bump();
    await eventually(() => f.requestsTo('containers').length >= before + 3, 'the containers read retried');
    assert.deepEqual(states, [['10.42.0.1:80']]);
    f.mode = 'ok';
    f.setContainers([{ stack: 'web', service: 'frontend', ip: '10.42.0.7' }]);
    await eventually(() => states.length === 2, 'the good answer after the bad ones');
    assert.deepEqual(states, [['10.42.0.1:80'], ['10.42.0.7:80']]);
  } finally {
    c.close();
  }
});

test('answers read: versions as text or a JSON string; containers a JSON list, entries without an IP, stack or service skipped', () => {
  assert.equal(versionOf(' 12-abc\n'), '12-abc');
  assert.equal(versionOf('"12-abc"'), '12-abc');
  for (const bad of ['', '  ', '""', '"unterminated']) {
    assert.throws(() => versionOf(bad), (e: unknown) => e instanceof NamerError && e.code === 'MESH_ERR_NAMER_BAD_DATA', bad);
  }
  const body = JSON.stringify([
    { primary_ip: '10.42.0.1', stack_name: 'web', service_name: 'frontend', state: 'running', name: 'web-frontend-1', ports: ['0.0.0.0:8080:80/tcp'] },
    { primary_ip: null, stack_name: 'web', service_name: 'frontend', state: 'running' },
    { primary_ip: '10.42.0.3', service_name: 'frontend', state: 'running' },
    'not a container',
    null,
  ]);
  assert.deepEqual(containersOf(body), [{ name: 'web-frontend-1', stackName: 'web', serviceName: 'frontend', primaryIp: '10.42.0.1', state: 'running' }]);
  for (const bad of ['not json', '{"message": "Not found"}', '[{"primary_ip": "10.']) {
    assert.throws(() => containersOf(bad), (e: unknown) => e instanceof NamerError && e.code === 'MESH_ERR_NAMER_BAD_DATA', bad);
  }
});

test('polling stops, held request included, when nothing observes a name any more', async () => {
  const f = await fake([{ stack: 'web', service: 'frontend', ip: '10.42.0.1' }]);
  const n = namer(f);
  const b = await leafOf(n, '/http/web/frontend');
  const c = b.addr.observe(() => {});
  await eventually(() => f.heldCount === 1, 'a held version request');
  c.close();
  await eventually(() => f.heldCount === 0, 'the held request closed');
  const count = f.requests.length;
  await sleep(200);
  assert.equal(f.requests.length, count);
});

test('config: io.l5d.rancher is registered; experimental: true, portMappings, maxWait, and the Meshwork host/port keys; bad values are named', async () => {
  assert.ok(namerKinds().includes('io.l5d.rancher'));
  const ctx = { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' };
  const made = createNamer({ kind: 'io.l5d.rancher', experimental: true, portMappings: { proxy: 8080 } }, ctx);
  assert.equal(made.prefix.show(), '/#/io.l5d.rancher');
  assert.ok(made.namer instanceof RancherNamer);
  assert.deepEqual(made.namer.opts, { connectHost: 'rancher-metadata', connectPort: 80, host: 'rancher-metadata', portMappings: { proxy: 8080 }, maxWaitS: 30 });
  made.namer.client.close();

  const f = await fake([{ stack: 'web', service: 'frontend', ip: '10.42.0.1' }]);
  const local = createNamer({ kind: 'io.l5d.rancher', experimental: true, prefix: '/rancher', host: f.host, port: f.port, maxWait: 1, portMappings: { proxy: 8080 } }, ctx);
  assert.ok(local.namer instanceof RancherNamer);
  cleanups.push(() => (local.namer as RancherNamer).client.close());
  const tree = await local.namer.lookup(readPath('/proxy/web/frontend/x')).toPromise(3000);
  assert.equal(idOf(tree), '/#/rancher/proxy/web/frontend');
  assert.deepEqual(await firstAddr((tree as { value: BoundName }).value), ['10.42.0.1:8080']);
  assert.equal(f.requestsTo('version')[0]!.url, '/2015-12-19/version?wait=true&maxWait=1&value=initial');
  assert.equal(f.requestsTo('version')[0]!.host, '127.0.0.1');

  const bad: [Record<string, unknown>, RegExp][] = [
    [{ portMappings: { proxy: 'eighty' } }, /^linkerd\.yaml: namers\[0\]\.portMappings\.proxy: found "eighty"; allowed: a port number 1-65535$/],
    [{ portMappings: { proxy: 70000 } }, /^linkerd\.yaml: namers\[0\]\.portMappings\.proxy: found 70000; allowed: a port number 1-65535$/],
    [{ portMappings: [8080] }, /^linkerd\.yaml: namers\[0\]\.portMappings: found \[8080\]; allowed: a map of port names to port numbers/],
    [{ maxWait: -1 }, /^linkerd\.yaml: namers\[0\]\.maxWait: found -1; allowed: a whole number of seconds >= 0$/],
    [{ port: 0 }, /^linkerd\.yaml: namers\[0\]\.port: found 0; allowed: a port number 1-65535$/],
  ];
  for (const [cfg, re] of bad) {
    assert.throws(() => createNamer({ kind: 'io.l5d.rancher', experimental: true, ...cfg }, ctx), (e: unknown) => e instanceof NamerError && e.code === 'MESH_ERR_NAMER_CONFIG' && re.test(e.message), JSON.stringify(cfg));
  }
});

test('linkerd.yaml: io.l5d.rancher loads with experimental: true and is refused without it; its keys are checked', async () => {
  const { parseLinkerdConfig } = await import('../../src/config/load.js');
  const { ConfigError } = await import('../../src/config/errors.js');
  await import('../../src/config/builtin-plugins.js');
  const routers = 'routers:\n- protocol: http\n  dtab: |\n    /rancher => /#/io.l5d.rancher;\n    /svc => /rancher/http;\n  servers:\n  - port: 0\n';
  parseLinkerdConfig(`namers:\n- kind: io.l5d.rancher\n  experimental: true\n  portMappings:\n    proxy: 8080\n  maxWait: 10\n${routers}`, 'linkerd.yaml');
  const issues = (yaml: string): [string, string][] => {
    try {
      parseLinkerdConfig(yaml, 'linkerd.yaml');
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.errors.map((i) => [i.code, i.keyPath]);
    }
    return assert.fail('should not load');
  };
  assert.deepEqual(issues(`namers:\n- kind: io.l5d.rancher\n  portMappings:\n    proxy: 8080\n${routers}`), [['MESH_ERR_CONFIG_EXPERIMENTAL', 'namers[0].experimental']]);
  assert.deepEqual(issues(`namers:\n- kind: io.l5d.rancher\n  experimental: true\n  portMappings:\n    proxy: eighty\n${routers}`), [['MESH_ERR_CONFIG_TYPE', 'namers[0].portMappings.proxy']]);
  assert.deepEqual(issues(`namers:\n- kind: io.l5d.rancher\n  experimental: true\n  maxWait: -5\n${routers}`), [['MESH_ERR_CONFIG_RANGE', 'namers[0].maxWait']]);
  assert.deepEqual(issues(`namers:\n- kind: io.l5d.rancher\n  experimental: true\n  metadataHost: x\n${routers}`), [['MESH_ERR_CONFIG_UNKNOWN_KEY', 'namers[0].metadataHost']]);
});
