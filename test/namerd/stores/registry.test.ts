import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createStore, getStorageSpec, storageKinds } from '../../../src/namerd/stores/registry.js';
import { getPlugin } from '../../../src/config/plugins.js';
import { isNamerdError } from '../../../src/namerd/errors.js';
import { startFakeConsul, type FakeConsul } from '../../support/fake-consul.js';
import { record, waitForValue } from '../../support/activity.js';
import { d } from './contract.js';

describe('storage registry', () => {
  let consul: FakeConsul;
  before(async () => {
    consul = await startFakeConsul();
  });
  after(async () => {
    await consul?.stop();
  });

  it('registers the five kinds, by their exact Linkerd names, with the config area', () => {
    assert.deepEqual(storageKinds(), ['io.l5d.consul', 'io.l5d.etcd', 'io.l5d.inMemory', 'io.l5d.k8s', 'io.l5d.zk']);
    for (const kind of storageKinds()) {
      const spec = getPlugin('storage', kind);
      assert.equal(spec?.kind, kind);
      assert.equal(typeof spec?.create, 'function', kind);
      assert.equal(spec, getStorageSpec(kind));
    }
    assert.equal(getStorageSpec('io.l5d.etcd')!.experimental, undefined, 'namerd/examples/etcd.yaml (no experimental flag) must load');
    assert.deepEqual(Object.keys(getStorageSpec('io.l5d.zk')!.fields).sort(), ['acls', 'authInfo', 'pathPrefix', 'sessionTimeoutMs', 'zkAddrs']);
    assert.equal(getStorageSpec('io.l5d.consul')!.fields['pathPrefix']!.default, '/namerd/dtabs');
    assert.equal(getStorageSpec('io.l5d.zk')!.fields['pathPrefix']!.default, '/dtabs');
  });

  it('an unknown kind is MESH_ERR_STORAGE_KIND naming the file, key, value and the kinds we build', () => {
    assert.throws(
      () => createStore({ kind: 'io.l5d.redis' }, { file: 'namerd.yaml' }),
      (e: unknown) => {
        assert.ok(isNamerdError(e, 'MESH_ERR_STORAGE_KIND'));
        assert.equal(
          e.message,
          'namerd.yaml: storage.kind: unknown storage kind "io.l5d.redis"; supported: io.l5d.consul, io.l5d.etcd, io.l5d.inMemory, io.l5d.k8s, io.l5d.zk',
        );
        return true;
      },
    );
  });

  it('a store made from config loads its module on first use and then behaves like the store', async () => {
    const store = createStore({ kind: 'io.l5d.consul', host: consul.host, port: consul.port, pathPrefix: '/namerd/dtabs' });
    try {
      const rec = record(store.observe('lazy'));
      await store.create('lazy', d('/a=>/b'));
      assert.equal((await store.get('lazy'))!.dtab.show(), '/a=>/b');
      await waitForValue(store.observe('lazy'), (v) => v?.dtab.show() === '/a=>/b', 5000, 'observed');
      rec.close();
      assert.equal(rec.states[0]!.type, 'pending');
      assert.deepEqual(await store.names(), ['lazy']);
    } finally {
      await store.close();
    }
    await assert.rejects(store.get('lazy'), (e: unknown) => isNamerdError(e, 'MESH_ERR_STORE_CLOSED'));
  });

  it('loading the registry does not load etcd3, gRPC or the ZooKeeper client', () => {
    const registry = fileURLToPath(new URL('../../../src/namerd/stores/registry.js', import.meta.url));
    const script = [
      `await import(${JSON.stringify(registry)});`,
      `const { createRequire } = await import('node:module');`,
      `const cache = Object.keys(createRequire(import.meta.url).cache);`,
      `console.log(JSON.stringify(['etcd3', '@grpc', 'node-zookeeper-client'].filter((m) => cache.some((k) => k.includes('/node_modules/' + m + '/')))));`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '[]');
  });
});
