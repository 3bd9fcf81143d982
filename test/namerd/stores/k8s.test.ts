import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { K8sDtabStore, k8sStorage } from '../../../src/namerd/stores/k8s.js';
import { startFakeK8s, type FakeK8s } from '../../support/fake-k8s.js';
import { waitForValue } from '../../support/activity.js';
import { d, dtabStoreContract, recoversFromColdStart, rejectsWith, replicatedHarness, watchSurvivesOutage } from './contract.js';

let k8s: FakeK8s;
let seq = 0;

before(async () => {
  k8s = await startFakeK8s();
});
after(async () => {
  await k8s?.stop();
});

const fast = { requestTimeoutMs: 1500, retryMinMs: 20, retryMaxMs: 200 };
const dtabObject = (name: string, dentries: unknown) => ({ apiVersion: 'l5d.io/v1alpha1', kind: 'DTab', metadata: { name }, dentries });

dtabStoreContract('io.l5d.k8s', async () => {
  const namespace = `contract${++seq}`;
  const mk = () => new K8sDtabStore({ host: k8s.host, port: k8s.port, namespace }, fast);
  return replicatedHarness(mk, async (ns, text) => {
    k8s.putObject(namespace, 'dtabs', dtabObject(ns, [{ prefix: text, dst: '' }]));
  });
});

describe('io.l5d.k8s specifics', () => {
  it('writes DTab objects with dentries [{prefix, dst}]; the version is the resourceVersion', async () => {
    const store = k8sStorage.create!({ host: k8s.host, port: k8s.port, namespace: 'shape' }, {});
    try {
      await store.create('default', d('/svc=>/#/io.l5d.fs;/svc/b=>/$/inet/127.0.0.1/80 | /x'));
      const obj = k8s.getObject('shape', 'dtabs', 'default')!;
      assert.equal(obj.apiVersion, 'l5d.io/v1alpha1');
      assert.equal(obj.kind, 'DTab');
      assert.equal(obj.metadata.name, 'default');
      assert.deepEqual(obj['dentries'], [
        { prefix: '/svc', dst: '/#/io.l5d.fs' },
        { prefix: '/svc/b', dst: '/$/inet/127.0.0.1/80 | /x' },
      ]);
      assert.equal((await store.get('default'))!.version, obj.metadata.resourceVersion);
      await rejectsWith(store.create('Upper', d('/a=>/b')), 'MESH_ERR_NAMESPACE_INVALID');
    } finally {
      await store.close();
    }
  });

  it('a watch the server ends is resumed from the last resourceVersion, without listing again', async (t) => {
    const store = new K8sDtabStore({ host: k8s.host, port: k8s.port, namespace: 'resume' }, fast);
    t.after(() => store.close());
    await store.create('a', d('/a=>/1'));
    const act = store.observe('a');
    const keep = act.states.observe(() => {});
    t.after(() => keep.close());
    const v1 = await waitForValue(act, (v) => v?.dtab.show() === '/a=>/1', 5000, 'a=1');
    const before = k8s.requests.length;
    k8s.endWatches();
    k8s.putObject('resume', 'dtabs', dtabObject('a', [{ prefix: '/a', dst: '/2' }]));
    await waitForValue(act, (v) => v?.dtab.show() === '/a=>/2', 5000, 'a=2');
    const after = k8s.requests.slice(before);
    assert.deepEqual(after, [`GET /apis/l5d.io/v1alpha1/namespaces/resume/dtabs?watch=true&allowWatchBookmarks=true&resourceVersion=${v1!.version}`]);
  });

  it('a 410 Gone on re-watch makes the store list again and catch up', async () => {
    const store = new K8sDtabStore({ host: k8s.host, port: k8s.port, namespace: 'gone' }, fast);
    try {
      await store.create('a', d('/a=>/1'));
      const act = store.observe('a');
      const b = store.observe('b');
      const keepB = b.states.observe(() => {});
      await waitForValue(act, (v) => v?.dtab.show() === '/a=>/1', 5000, 'a=1');
      await k8s.stop();
      // While the API is down, other clients change things and the history is compacted.
      k8s.putObject('gone', 'dtabs', dtabObject('a', [{ prefix: '/a', dst: '/2' }]));
      k8s.putObject('gone', 'dtabs', dtabObject('b', [{ prefix: '/b', dst: '/1' }]));
      k8s.compact();
      const before = k8s.requests.length;
      await k8s.start();
      await waitForValue(act, (v) => v?.dtab.show() === '/a=>/2', 10000, 'a=2 after relist');
      await waitForValue(b, (v) => v?.dtab.show() === '/b=>/1', 5000, 'b after relist');
      keepB.close();
      const after = k8s.requests.slice(before);
      const gone = after.findIndex((r) => /watch=true.*resourceVersion=\d+/.test(r));
      assert.ok(gone >= 0, after.join('\n'));
      assert.ok(after.slice(gone + 1).some((r) => r === 'GET /apis/l5d.io/v1alpha1/namespaces/gone/dtabs'), after.join('\n'));
    } finally {
      await store.close();
      if (!k8s.running) await k8s.start();
    }
  });

  it('down: calls reject with STORE_UNAVAILABLE, watches keep the last value; up: watches resume', async () => {
    const store = new K8sDtabStore({ host: k8s.host, port: k8s.port, namespace: 'downup' }, fast);
    await watchSurvivesOutage(store, k8s, {
      foreignWrite: async () => {
        assert.deepEqual(k8s.getObject('downup', 'dtabs', 'ns')!['dentries'], [{ prefix: '/a', dst: '/1' }]);
        k8s.putObject('downup', 'dtabs', dtabObject('ns', [{ prefix: '/a', dst: '/2' }]));
      },
    });
  });

  it('a store that starts while the API is down is failed, then recovers', async () => {
    await recoversFromColdStart(k8s, () => new K8sDtabStore({ host: k8s.host, port: k8s.port, namespace: 'cold' }, fast), async () => {
      k8s.putObject('cold', 'dtabs', dtabObject('x', [{ prefix: '/x', dst: '/y' }]));
    });
  });
});
