import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdDtabStore, etcdStorage } from '../../../src/namerd/stores/etcd.js';
import { startEtcd, type EtcdServer } from '../../support/etcd.js';
import { makeTestCerts } from '../../support/certs.js';
import { isNamerdError } from '../../../src/namerd/errors.js';
import { waitForValue } from '../../support/activity.js';
import { d, dtabStoreContract, recoversFromColdStart, rejectsWith, replicatedHarness, watchSurvivesOutage } from './contract.js';

let etcd: EtcdServer;
let raw: Etcd3;
let seq = 0;

before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.url });
});
after(async () => {
  raw?.close();
  await etcd?.close();
});

const fast = { requestTimeoutMs: 1500, retryMinMs: 20, retryMaxMs: 200 };

dtabStoreContract('io.l5d.etcd', async () => {
  const pathPrefix = `/contract${++seq}/dtabs`;
  const mk = () => new EtcdDtabStore({ host: etcd.host, port: etcd.port, pathPrefix }, fast);
  return replicatedHarness(mk, async (ns, text) => {
      await raw.put(`${pathPrefix}/${ns}`).value(text);
    });
});

describe('io.l5d.etcd specifics', () => {
  it('stores the dtab text under <pathPrefix>/<ns>; the version is the mod_revision', async () => {
    const store = etcdStorage.create!({ host: etcd.host, port: etcd.port, pathPrefix: '/layout/' }, {});
    try {
      await store.create('default', d('/svc=>/#/io.l5d.fs'));
      const res = await raw.get('/layout/default').exec();
      assert.equal(res.kvs[0]!.value.toString(), '/svc=>/#/io.l5d.fs');
      assert.equal((await store.get('default'))!.version, res.kvs[0]!.mod_revision);
      // Keys nested below a namespace are not namespaces.
      await raw.put('/layout/default/extra').value('x');
      assert.deepEqual(await store.names(), ['default']);
    } finally {
      await store.close();
    }
  });

  it('down: calls reject with STORE_UNAVAILABLE, watches keep the last value; up: watches resume', async () => {
    const store = new EtcdDtabStore({ host: etcd.host, port: etcd.port, pathPrefix: '/downup' }, fast);
    await watchSurvivesOutage(store, etcd, {
      whileDown: async (act) => {
        await rejectsWith(store.names(), 'MESH_ERR_STORE_UNAVAILABLE');
        const down = act.states.sample();
        assert.equal(down.type, 'ok');
        assert.equal((down as { value: { dtab: { show(): string } } }).value.dtab.show(), '/a=>/1');
      },
      // The failed write was not applied, and a write from another client reaches the old watch.
      foreignWrite: async () => {
        const other = new Etcd3({ hosts: etcd.url });
        try {
          assert.equal((await other.get('/downup/ns').string()), '/a=>/1');
          await other.put('/downup/ns').value('/a=>/2');
        } finally {
          other.close();
        }
      },
      ownWriteAfter: true,
    });
  });

  it('a store that starts while etcd is down is failed, then recovers when etcd comes up', async () => {
    await recoversFromColdStart(etcd, () => new EtcdDtabStore({ host: etcd.host, port: etcd.port, pathPrefix: '/coldstart' }, fast), async () => {
      await raw.put('/coldstart/x').value('/x=>/y');
    });
  });
});

describe('io.l5d.etcd over TLS', () => {
  it('talks to an etcd that requires client certificates, given trustCerts and clientAuth', async (t) => {
    const certs = makeTestCerts();
    t.after(() => certs.cleanup());
    const secure = await startEtcd({ tls: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caCert } });
    t.after(() => secure.close());
    const store = etcdStorage.create!(
      {
        host: secure.host,
        port: secure.port,
        tls: { trustCerts: [certs.caCert], clientAuth: { certPath: certs.clientCert, keyPath: certs.clientKey } },
      },
      {},
    );
    t.after(() => store.close());
    await store.create('secure', d('/s=>/tls'));
    assert.equal((await store.get('secure'))!.dtab.show(), '/s=>/tls');
    await waitForValue(store.observe('secure'), (v) => v?.dtab.show() === '/s=>/tls', 5000, 'watched over TLS');

    // Without a client certificate the server refuses the connection: unavailable, not a hang.
    const anonymous = new EtcdDtabStore({ host: secure.host, port: secure.port, tls: { trustCerts: [certs.caCert] } }, fast);
    t.after(() => anonymous.close());
    await assert.rejects(anonymous.get('secure'), (e: unknown) => isNamerdError(e, 'MESH_ERR_STORE_UNAVAILABLE'));
  });
});
