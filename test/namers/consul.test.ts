import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsulNamer, type ConsulNamerOptions } from '../../src/namers/consul.js';
import { createNamer } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/parser.js';
import type { Path } from '../../src/naming/path.js';
import type { BoundName } from '../../src/naming/contracts.js';
import type { Addr } from '../../src/naming/addr.js';
import { collectAddrs as collect } from '../support/addrs.js';
import { startFakeConsul, type FakeConsul } from '../support/fake-consul.js';

let consul: FakeConsul;
const namers: ConsulNamer[] = [];
before(async () => {
  consul = await startFakeConsul({ datacenter: 'dc1' });
});
after(async () => {
  for (const n of namers) n.client.close();
  await consul.stop();
});

function namer(o: Partial<ConsulNamerOptions> = {}, c: FakeConsul = consul): ConsulNamer {
  const n = new ConsulNamer(readPath('/#/io.l5d.consul'), {
    host: c.host, port: c.port, includeTag: false, useHealthCheck: false, healthStatuses: ['passing'],
    consistencyMode: 'default', failFast: false, preferServiceAddress: true, ...o,
  });
  namers.push(n);
  return n;
}



test('/dc/service binds catalog instances (ServiceAddress preferred) and follows blocking-query updates', async () => {
  consul.setService('web', [{ address: '10.0.0.1', serviceAddress: '127.0.0.9', port: 8080 }, { address: '127.0.0.2', port: 8081 }]);
  const tree = await namer().lookup(readPath('/dc1/web/a/b')).toPromise(3000);
  assert.equal(tree.type, 'leaf');
  const b = (tree as { value: BoundName }).value;
  assert.equal((b.id as Path).show(), '/#/io.l5d.consul/dc1/web');
  assert.equal(b.residual.show(), '/a/b');
  const before = consul.requests.length;
  const seen = await collect(b, 3, (i) => {
    if (i === 1) consul.setService('web', [{ address: '127.0.0.3', port: 9000 }]);
    if (i === 2) setTimeout(() => consul.setService('web', [{ address: '127.0.0.4', port: 9001 }]), 50);
  });
  assert.deepEqual(seen, [['127.0.0.2:8081', '127.0.0.9:8080'], ['127.0.0.3:9000'], ['127.0.0.4:9001']]);
  const blocking = consul.requests.slice(before).filter((r) => r.includes('&index='));
  assert.ok(blocking.length >= 1, JSON.stringify(consul.requests));
  assert.match(blocking[0]!, /^GET \/v1\/catalog\/service\/web\?dc=dc1&index=\d+&wait=30s$/);
});

test('a missing service is Neg; an unknown datacenter fails', async () => {
  const n = namer();
  assert.deepEqual(await n.lookup(readPath('/dc1/nothere')).toPromise(3000), { type: 'neg' });
  assert.deepEqual(await n.lookup(readPath('/dc1')).toPromise(3000), { type: 'neg' });
  await assert.rejects(n.lookup(readPath('/dc9/web')).toPromise(3000), /HTTP 500/);
});

test('includeTag: /dc/tag/service filters by tag', async () => {
  consul.setService('api', [{ address: '127.0.0.4', port: 1, tags: ['blue'] }, { address: '127.0.0.5', port: 2, tags: ['green'] }]);
  const n = namer({ includeTag: true });
  const tree = await n.lookup(readPath('/dc1/green/api/x')).toPromise(3000);
  const b = (tree as { value: BoundName }).value;
  assert.equal((b.id as Path).show(), '/#/io.l5d.consul/dc1/green/api');
  assert.deepEqual(await collect(b, 1, () => {}), [['127.0.0.5:2']]);
});

test('useHealthCheck keeps instances whose worst check is in healthStatuses', async () => {
  consul.setService('db', [
    { address: '127.0.0.6', port: 5432 },
    { address: '127.0.0.7', port: 5432, status: 'warning' },
    { address: '127.0.0.8', port: 5432, status: 'critical' },
  ]);
  const n1 = namer({ useHealthCheck: true });
  const b1 = ((await n1.lookup(readPath('/dc1/db')).toPromise(3000)) as { value: BoundName }).value;
  assert.deepEqual(await collect(b1, 1, () => {}), [['127.0.0.6:5432']]);
  const n2 = namer({ useHealthCheck: true, healthStatuses: ['passing', 'warning'] });
  const b2 = ((await n2.lookup(readPath('/dc1/db')).toPromise(3000)) as { value: BoundName }).value;
  assert.deepEqual(await collect(b2, 1, () => {}), [['127.0.0.6:5432', '127.0.0.7:5432']]);
  assert.ok(consul.requests.includes('GET /v1/health/service/db?dc=dc1&passing'));
});

test('registry builds io.l5d.consul from config', () => {
  const made = createNamer({ kind: 'io.l5d.consul', host: '127.0.0.1', port: 1234, includeTag: true }, { file: 'l.yaml', keyPath: 'namers[0]', readPath });
  assert.equal(made.kind, 'io.l5d.consul');
  assert.equal(made.prefix.show(), '/#/io.l5d.consul');
  const n = made.namer as ConsulNamer;
  namers.push(n);
  assert.equal(n.opts.port, 1234);
  assert.equal(n.opts.includeTag, true);
});

test('tls: the namer speaks HTTPS to Consul with the namer TLS block', async () => {
  const { makeTestCerts } = await import('../support/certs.js');
  const { readFileSync } = await import('node:fs');
  const { createNamer } = await import('../../src/namers/registry.js');
  const certs = makeTestCerts();
  const secure = await startFakeConsul({ datacenter: 'dc1', tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) } });
  try {
    secure.setService('web', [{ address: '127.0.0.5', port: 8443 }]);
    const made = createNamer({ kind: 'io.l5d.consul', host: secure.host, port: secure.port, tls: { commonName: 'localhost', trustCerts: [certs.caCert] } }, { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' });
    assert.ok(made.namer instanceof ConsulNamer);
    namers.push(made.namer);
    const tree = await made.namer.lookup(readPath('/dc1/web')).toPromise(3000);
    assert.equal(tree.type, 'leaf');
    const first = await new Promise<string[]>((resolve) => {
      const c = (tree as { value: BoundName }).value.addr.observe((a) => { if (a.type !== 'pending') { queueMicrotask(() => c.close()); resolve(a.type === 'bound' ? a.addrs.map((x) => `${x.host}:${x.port}`) : [a.type]); } });
    });
    assert.deepEqual(first, ['127.0.0.5:8443']);
    const wrong = createNamer({ kind: 'io.l5d.consul', host: secure.host, port: secure.port, tls: { commonName: 'consul.example', trustCerts: [certs.caCert] } }, { readPath });
    assert.ok(wrong.namer instanceof ConsulNamer);
    namers.push(wrong.namer);
    await assert.rejects(wrong.namer.lookup(readPath('/dc1/web')).toPromise(3000), /consul\.example/);
  } finally {
    await secure.stop();
    certs.cleanup();
  }
});

/** Observes `b.addr` until `want` non-pending Addrs were seen (at most 4 s), running `step(i)` after the i-th. */
function addrs(b: BoundName, want: number, step: (i: number) => void = () => {}): Promise<Addr[]> {
  const seen: Addr[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { c.close(); reject(new Error(`timeout after ${seen.length}: ${JSON.stringify(seen)}`)); }, 4000);
    const c = b.addr.observe((a) => {
      if (a.type === 'pending' || seen.length === want) return;
      seen.push(a);
      step(seen.length);
      if (seen.length === want) {
        clearTimeout(timer);
        queueMicrotask(() => c.close());
        resolve(seen);
      }
    });
  });
}

/** A bound Addr as plain data: its metadata and each `host:port` with its address metadata. */
function shape(a: Addr): unknown {
  return a.type === 'bound' ? { meta: a.meta, addrs: a.addrs.map((x) => [`${x.host}:${x.port}`, x.meta]) } : a.type;
}

async function bind(n: ConsulNamer, path: string): Promise<BoundName> {
  const tree = await n.lookup(readPath(path)).toPromise(3000);
  assert.equal(tree.type, 'leaf', JSON.stringify(tree));
  return (tree as { value: BoundName }).value;
}

const agentSelfReads = (c: FakeConsul, from: number): number => c.requests.slice(from).filter((r) => r === 'GET /v1/agent/self').length;

test('weights: an address gets the highest weight among its tags, 1 when none matches, and follows tag changes', async () => {
  consul.setService('weighted', [
    { address: '127.0.1.1', port: 1, tags: ['experimental', 'primary'] },
    { address: '127.0.1.2', port: 1, tags: ['experimental'] },
    { address: '127.0.1.3', port: 1, tags: ['canary'] },
    { address: '127.0.1.4', port: 1 },
  ]);
  const n = namer({ weights: [{ tag: 'experimental', weight: 0.1 }, { tag: 'primary', weight: 5 }, { tag: 'ops', weight: 7 }] });
  const seen = await addrs(await bind(n, '/dc1/weighted'), 2, (i) => {
    if (i === 1) consul.setService('weighted', [{ address: '127.0.1.3', port: 1, tags: ['canary', 'ops'] }, { address: '127.0.1.4', port: 1 }]);
  });
  assert.deepEqual(seen.map(shape), [
    {
      meta: {},
      addrs: [
        ['127.0.1.1:1', { endpoint_addr_weight: 5 }],
        ['127.0.1.2:1', { endpoint_addr_weight: 0.1 }],
        ['127.0.1.3:1', { endpoint_addr_weight: 1 }],
        ['127.0.1.4:1', { endpoint_addr_weight: 1 }],
      ],
    },
    { meta: {}, addrs: [['127.0.1.3:1', { endpoint_addr_weight: 7 }], ['127.0.1.4:1', { endpoint_addr_weight: 1 }]] },
  ]);
  // No `weights`: every address weighs 1, as in Linkerd.
  const plain = await addrs(await bind(namer(), '/dc1/weighted'), 1);
  assert.deepEqual(plain.map(shape), [{ meta: {}, addrs: [['127.0.1.3:1', { endpoint_addr_weight: 1 }], ['127.0.1.4:1', { endpoint_addr_weight: 1 }]] }]);
});

test('weights: with useHealthCheck the tags are read from the health entries (Service.Tags)', async () => {
  consul.setService('hweighted', [
    { address: '127.0.1.5', port: 2, tags: ['primary', 'experimental'] },
    { address: '127.0.1.6', port: 2, tags: ['experimental'] },
    { address: '127.0.1.7', port: 2, tags: ['primary'], status: 'critical' },
  ]);
  const n = namer({ useHealthCheck: true, weights: [{ tag: 'experimental', weight: 0.5 }, { tag: 'primary', weight: 3 }] });
  const seen = await addrs(await bind(n, '/dc1/hweighted'), 1);
  assert.deepEqual(seen.map(shape), [{ meta: {}, addrs: [['127.0.1.5:2', { endpoint_addr_weight: 3 }], ['127.0.1.6:2', { endpoint_addr_weight: 0.5 }]] }]);
});

test('setHost: authority is <service>.service.<dc>.<domain> with the agent domain (dots stripped); .local is the agent datacenter', async () => {
  const east = await startFakeConsul({ datacenter: 'east-1', domain: 'consul.acme.co.' });
  try {
    east.setService('web', [{ address: '127.0.1.8', port: 80 }]);
    east.setService('Web', [{ address: '127.0.1.9', port: 81, tags: ['master'] }]);
    const from = east.requests.length;
    const n = namer({ setHost: true }, east);
    const b = await bind(n, '/.local/web/x');
    assert.equal((b.id as Path).show(), '/#/io.l5d.consul/.local/web');
    assert.deepEqual((await addrs(b, 1)).map(shape), [{ meta: { authority: 'web.service.east-1.consul.acme.co' }, addrs: [['127.0.1.8:80', { endpoint_addr_weight: 1 }]] }]);
    assert.ok(east.requests.includes('GET /v1/catalog/service/web?dc=east-1'), JSON.stringify(east.requests));
    assert.ok(!east.requests.some((r) => r.includes('dc=.local')), JSON.stringify(east.requests));
    // With includeTag the tag leads; both read in lower case, as Linkerd does. The agent is read once.
    const tagged = namer({ setHost: true, includeTag: true }, east);
    const bt = await bind(tagged, '/east-1/master/Web');
    assert.deepEqual((await addrs(bt, 1)).map(shape), [{ meta: { authority: 'master.web.service.east-1.consul.acme.co' }, addrs: [['127.0.1.9:81', { endpoint_addr_weight: 1 }]] }]);
    assert.equal(agentSelfReads(east, from), 2, JSON.stringify(east.requests));
    await addrs(await bind(n, '/east-1/web'), 1);
    assert.equal(agentSelfReads(east, from), 2, 'a namer reads /v1/agent/self once');
    // .local without setHost: the agent's datacenter is queried, no authority.
    const local = namer({}, east);
    assert.deepEqual((await addrs(await bind(local, '/.local/web'), 1)).map(shape), [{ meta: {}, addrs: [['127.0.1.8:80', { endpoint_addr_weight: 1 }]] }]);
  } finally {
    await east.stop();
  }
  // A Consul 1.x agent reports its domain only as DebugConfig.DNSDomain: taken from there.
  const modern = await startFakeConsul({ datacenter: 'dc9', dnsDomain: 'mesh.internal.' });
  try {
    modern.setService('web', [{ address: '127.0.1.11', port: 83 }]);
    const b = await bind(namer({ setHost: true }, modern), '/.local/web');
    assert.deepEqual((await addrs(b, 1)).map(shape), [{ meta: { authority: 'web.service.dc9.mesh.internal' }, addrs: [['127.0.1.11:83', { endpoint_addr_weight: 1 }]] }]);
  } finally {
    await modern.stop();
  }
  // An agent whose Config has no Domain (Consul 1.x): `consul`. Without setHost, no agent read for a named dc.
  consul.setService('web', [{ address: '127.0.1.10', port: 82 }]);
  const from = consul.requests.length;
  assert.deepEqual((await addrs(await bind(namer({ setHost: true }), '/dc1/web'), 1)).map(shape), [{ meta: { authority: 'web.service.dc1.consul' }, addrs: [['127.0.1.10:82', { endpoint_addr_weight: 1 }]] }]);
  assert.equal(agentSelfReads(consul, from), 1);
  const from2 = consul.requests.length;
  assert.deepEqual((await addrs(await bind(namer(), '/dc1/web'), 1)).map(shape), [{ meta: {}, addrs: [['127.0.1.10:82', { endpoint_addr_weight: 1 }]] }]);
  assert.equal(agentSelfReads(consul, from2), 0);
});

test('setHost: the name stays pending while /v1/agent/self answers 5xx, then binds; a 403 fails the name', async () => {
  consul.setService('web', [{ address: '127.0.1.11', port: 83 }]);
  const from = consul.requests.length;
  consul.failAgentSelf(500, 503);
  const seen = await addrs(await bind(namer({ setHost: true }), '/dc1/web'), 1);
  assert.deepEqual(seen.map(shape), [{ meta: { authority: 'web.service.dc1.consul' }, addrs: [['127.0.1.11:83', { endpoint_addr_weight: 1 }]] }]);
  assert.equal(agentSelfReads(consul, from), 3);
  const from2 = consul.requests.length;
  consul.failAgentSelf(403);
  await assert.rejects(namer({ setHost: true }).lookup(readPath('/dc1/web')).toPromise(3000), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MESH_ERR_NAMER_UNAVAILABLE');
    assert.match(e.message, /\/v1\/agent\/self HTTP 403/);
    return true;
  });
  assert.deepEqual(consul.requests.slice(from2), ['GET /v1/agent/self'], 'no retry after a 4xx, and no catalog read');
});

test('transferMetadata: the first instance\'s service Meta goes to the Addr, each node\'s Meta to its address', async () => {
  consul.setService('meta', [
    { address: '127.0.2.1', port: 1, meta: { version: 'v1', team: 'a' }, nodeMeta: { rack: 'r1' } },
    { address: '127.0.2.2', port: 1, meta: { version: 'v2' }, nodeMeta: { rack: 'r2', zone: 'z' }, tags: ['primary'] },
  ]);
  const n = namer({ transferMetadata: true, weights: [{ tag: 'primary', weight: 3 }] });
  const seen = await addrs(await bind(n, '/dc1/meta'), 2, (i) => {
    if (i === 1) consul.setService('meta', [{ address: '127.0.2.2', port: 1, meta: { version: 'v3' }, nodeMeta: { rack: 'r9' } }]);
  });
  assert.deepEqual(seen.map(shape), [
    {
      meta: { version: 'v1', team: 'a' },
      addrs: [['127.0.2.1:1', { endpoint_addr_weight: 1, rack: 'r1' }], ['127.0.2.2:1', { endpoint_addr_weight: 3, rack: 'r2', zone: 'z' }]],
    },
    { meta: { version: 'v3' }, addrs: [['127.0.2.2:1', { endpoint_addr_weight: 1, rack: 'r9' }]] },
  ]);
  // The health API's Service.Meta and Node.Meta, next to setHost's authority.
  consul.setService('hmeta', [
    { address: '127.0.2.3', port: 2, meta: { version: 'v1' }, nodeMeta: { rack: 'r3' }, status: 'critical' },
    { address: '127.0.2.4', port: 2, meta: { version: 'v2' }, nodeMeta: { rack: 'r4' } },
  ]);
  const h = namer({ transferMetadata: true, setHost: true, useHealthCheck: true });
  assert.deepEqual((await addrs(await bind(h, '/dc1/hmeta'), 1)).map(shape), [
    { meta: { authority: 'hmeta.service.dc1.consul', version: 'v2' }, addrs: [['127.0.2.4:2', { endpoint_addr_weight: 1, rack: 'r4' }]] },
  ]);
  // Off (the default): neither is carried.
  assert.deepEqual((await addrs(await bind(namer(), '/dc1/hmeta'), 1)).map(shape), [
    { meta: {}, addrs: [['127.0.2.3:2', { endpoint_addr_weight: 1 }], ['127.0.2.4:2', { endpoint_addr_weight: 1 }]] },
  ]);
});

test('registry: weights, setHost and transferMetadata are read from config and validate in a linkerd.yaml', async () => {
  const ctx = { file: 'l.yaml', keyPath: 'namers[0]', readPath };
  const made = createNamer({ kind: 'io.l5d.consul', host: '127.0.0.1', port: 1234, setHost: true, transferMetadata: true, weights: [{ tag: 'primary', weight: 5 }] }, ctx);
  const n = made.namer as ConsulNamer;
  namers.push(n);
  assert.equal(n.opts.setHost, true);
  assert.equal(n.opts.transferMetadata, true);
  assert.deepEqual(n.opts.weights, [{ tag: 'primary', weight: 5 }]);
  assert.equal(n.weightOf(['x', 'primary']), 5);
  assert.throws(() => createNamer({ kind: 'io.l5d.consul', weights: [{ tag: 'primary', weight: 'heavy' }] }, ctx), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MESH_ERR_NAMER_CONFIG');
    assert.equal(e.message, 'l.yaml: namers[0].weights[0].weight: found "heavy"; allowed: a number >= 0');
    return true;
  });
  const { parseLinkerdConfig } = await import('../../src/config/load.js');
  await import('../../src/config/builtin-plugins.js');
  parseLinkerdConfig(
    'namers:\n- kind: io.l5d.consul\n  setHost: true\n  transferMetadata: true\n  weights:\n  - tag: experimental\n    weight: 0.1\n  - tag: primary\n    weight: 5.0\nrouters:\n- protocol: http\n  dtab: /svc => /#/io.l5d.consul/dc1\n  servers:\n  - port: 0\n',
    'linkerd.yaml',
  );
});
