import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsulNamer, type ConsulNamerOptions } from '../../src/namers/consul.js';
import { createNamer } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/parser.js';
import type { Path } from '../../src/naming/path.js';
import type { BoundName } from '../../src/naming/contracts.js';
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

function namer(o: Partial<ConsulNamerOptions> = {}): ConsulNamer {
  const n = new ConsulNamer(readPath('/#/io.l5d.consul'), {
    host: consul.host, port: consul.port, includeTag: false, useHealthCheck: false, healthStatuses: ['passing'],
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
