import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConsulDtabStore, consulStorage, nextIndex } from '../../../src/namerd/stores/consul.js';
import { startFakeConsul, type FakeConsul } from '../../support/fake-consul.js';
import { waitForValue } from '../../support/activity.js';
import { d, dtabStoreContract, recoversFromColdStart, replicatedHarness, watchSurvivesOutage } from './contract.js';
import { isNamerdError } from '../../../src/namerd/errors.js';

let consul: FakeConsul;
let seq = 0;

before(async () => {
  consul = await startFakeConsul({ startIndex: 100 });
});
after(async () => {
  await consul?.stop();
});

const fast = { requestTimeoutMs: 1500, retryMinMs: 20, retryMaxMs: 200, blockingWaitMs: 2000 };

dtabStoreContract('io.l5d.consul', async () => {
  const pathPrefix = `/contract${++seq}/dtabs`;
  const mk = () => new ConsulDtabStore({ host: consul.host, port: consul.port, pathPrefix }, fast);
  return replicatedHarness(mk, async (ns, text) => consul.set(`${pathPrefix.slice(1)}/${ns}`, text));
});

describe('io.l5d.consul specifics', () => {
  it('blocking-query index rules: start at 0, reset when it goes backwards, never below 1', () => {
    assert.equal(nextIndex(0, 57), 57);
    assert.equal(nextIndex(57, 57), 57);
    assert.equal(nextIndex(57, 90), 90);
    assert.equal(nextIndex(90, 12), 0);
    assert.equal(nextIndex(0, 0), 1);
    assert.equal(nextIndex(0, -3), 1);
    assert.equal(nextIndex(5, undefined), 0);
    assert.equal(nextIndex(5, Number.NaN), 0);
  });

  it('stores the dtab text under <pathPrefix>/<ns>; the version is the ModifyIndex; watches block with index and wait', async (t) => {
    const store = new ConsulDtabStore({ host: consul.host, port: consul.port, pathPrefix: '/layout' }, fast);
    try {
      await store.create('default', d('/svc=>/#/io.l5d.fs'));
      assert.equal(consul.getValue('layout/default'), '/svc=>/#/io.l5d.fs');
      const v = (await store.get('default'))!;
      assert.equal(v.version, String(consul.currentIndex));
      consul.set('layout/default/nested', 'x');
      assert.deepEqual(await store.names(), ['default']);
      const act = store.observe('default');
      const keep = act.states.observe(() => {}); // one watch for the whole test
      t.after(() => keep.close());
      await waitForValue(act, (x) => x !== null, 5000, 'present');
      const from = consul.requests.length;
      // A write while the query is blocked answers it at once, long before `wait` ends.
      const t0 = Date.now();
      await store.put('default', d('/svc=>/changed'));
      await waitForValue(act, (x) => x?.dtab.show() === '/svc=>/changed', 1500, 'change');
      assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0}ms`);
      const watches = consul.requests.slice(from).filter((r) => r.startsWith('GET /v1/kv/layout/?recurse'));
      assert.ok(watches.length >= 1, consul.requests.slice(from).join('\n'));
      assert.match(watches[watches.length - 1]!, /^GET \/v1\/kv\/layout\/\?recurse&index=\d+&wait=2s$/);
    } finally {
      await store.close();
    }
  });

  it('when the index goes backwards (a restored snapshot) the watch starts over with a plain read', async (t) => {
    const other = await startFakeConsul({ startIndex: 500 });
    const store = new ConsulDtabStore({ host: other.host, port: other.port }, { ...fast, blockingWaitMs: 1000 });
    try {
      await store.create('ns', d('/a=>/1'));
      const act = store.observe('ns');
      const keep = act.states.observe(() => {});
      t.after(() => keep.close());
      await waitForValue(act, (v) => v?.dtab.show() === '/a=>/1', 5000, 'initial');
      other.restoreWithIndex(20, { 'namerd/dtabs/ns': '/a=>/restored' });
      const from = other.requests.length;
      await waitForValue(act, (v) => v?.dtab.show() === '/a=>/restored', 5000, 'restored');
      // Let the loop go round once more after the backwards answer.
      const before = other.requests.length;
      await new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + 5000;
        const poll = () => (other.requests.length > before + 1 ? resolve() : Date.now() > deadline ? reject(new Error('no new query')) : setTimeout(poll, 20));
        poll();
      });
      const seen = other.requests.slice(from).filter((r) => r.includes('recurse'));
      const plain = seen.indexOf('GET /v1/kv/namerd/dtabs/?recurse');
      assert.ok(plain >= 0, seen.join('\n'));
      assert.match(seen[plain + 1] ?? '', /index=20&wait=1s$/, seen.join('\n'));
    } finally {
      await store.close();
      await other.stop();
    }
  });

  it('sends the ACL token and datacenter; a wrong token is STORE_UNAVAILABLE (403)', async () => {
    const secured = await startFakeConsul({ token: 's3cret', datacenter: 'dc2' });
    const good = consulStorage.create!(
      { host: secured.host, port: secured.port, token: 's3cret', datacenter: 'dc2', readConsistencyMode: 'stale', writeConsistencyMode: 'consistent' },
      {},
    );
    const bad = new ConsulDtabStore({ host: secured.host, port: secured.port, token: 'nope' }, fast);
    try {
      await good.create('x', d('/x=>/y'));
      assert.equal((await good.get('x'))!.dtab.show(), '/x=>/y');
      assert.deepEqual(secured.requests, ['PUT /v1/kv/namerd/dtabs/x?cas=0&dc=dc2&consistent', 'GET /v1/kv/namerd/dtabs/x?dc=dc2&stale']);
      await assert.rejects(bad.get('x'), (e: unknown) => isNamerdError(e, 'MESH_ERR_STORE_UNAVAILABLE') && /403/.test(e.message));
    } finally {
      await good.close();
      await bad.close();
      await secured.stop();
    }
  });

  it('down: calls reject with STORE_UNAVAILABLE, watches keep the last value; up: watches resume', async () => {
    const store = new ConsulDtabStore({ host: consul.host, port: consul.port, pathPrefix: '/downup' }, fast);
    await watchSurvivesOutage(store, consul, {
      foreignWrite: async () => {
        assert.equal(consul.getValue('downup/ns'), '/a=>/1');
        consul.set('downup/ns', '/a=>/2');
      },
    });
  });

  it('a store that starts while Consul is down is failed, then recovers', async () => {
    await recoversFromColdStart(consul, () => new ConsulDtabStore({ host: consul.host, port: consul.port, pathPrefix: '/cold' }, fast), async () => {
      consul.set('cold/x', '/x=>/y');
    });
  });
});

describe('io.l5d.consul over TLS', () => {
  it('speaks HTTPS with the namer TLS block (commonName against the CA); unreadable files are named', async () => {
    const { makeTestCerts } = await import('../../support/certs.js');
    const { readFileSync } = await import('node:fs');
    const certs = makeTestCerts();
    const secure = await startFakeConsul({ tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) } });
    try {
      const store = consulStorage.create!({ host: secure.host, port: secure.port, pathPrefix: '/tls/dtabs', tls: { commonName: 'localhost', trustCerts: [certs.caCert] } }, { file: 'namerd.yaml' });
      try {
        await store.create('web', d('/svc => /$/inet/127.0.0.1/1'));
        assert.equal((await store.get('web'))?.dtab.show(), '/svc=>/$/inet/127.0.0.1/1');
        assert.equal(secure.getValue('tls/dtabs/web'), '/svc=>/$/inet/127.0.0.1/1');
      } finally {
        await store.close();
      }
      const wrongName = new ConsulDtabStore({ host: secure.host, port: secure.port, tls: { commonName: 'consul.example', trustCerts: [certs.caCert] } }, fast);
      try {
        await assert.rejects(wrongName.names(), (e: unknown) => isNamerdError(e) && e.code === 'MESH_ERR_STORE_UNAVAILABLE');
      } finally {
        await wrongName.close();
      }
      assert.throws(
        () => consulStorage.create!({ host: secure.host, port: secure.port, tls: { trustCerts: ['/nonexistent/ca.pem'] } }, { file: 'namerd.yaml' }),
        /namerd\.yaml: storage\.tls\.trustCerts\[0\]: found "\/nonexistent\/ca\.pem"; allowed: a readable PEM file \(ENOENT\)/,
      );
    } finally {
      await secure.stop();
      certs.cleanup();
    }
  });
});
