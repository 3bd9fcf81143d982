import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { ZkDtabStore, permsToBits, zkStorage } from '../../../src/namerd/stores/zk.js';
import { connectedClient, startZooKeeper, type ZkServer } from '../../support/zookeeper.js';
import { waitForValue } from '../../support/activity.js';
import { d, dtabStoreContract, recoversFromColdStart, rejectsWith, replicatedHarness, watchSurvivesOutage } from './contract.js';

let zks: ZkServer;
let raw: Client;
let seq = 0;

function connectRaw(): Promise<Client> {
  return connectedClient(zks, { spinDelay: 50 });
}

function rawSet(path: string, text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    raw.mkdirp(path, Buffer.from(text), [new zookeeper.ACL(31, new zookeeper.Id('world', 'anyone'))], 0, (err) => {
      if (err) return reject(err);
      raw.setData(path, Buffer.from(text), -1, (e2) => (e2 ? reject(e2) : resolve()));
    }),
  );
}

before(async () => {
  zks = await startZooKeeper();
  raw = await connectRaw();
});
after(async () => {
  raw?.close();
  await zks?.close();
});

const fast = { requestTimeoutMs: 1500, retryMinMs: 50, retryMaxMs: 200 };
const addrs = () => [{ host: zks.host, port: zks.port }];

dtabStoreContract('io.l5d.zk', async () => {
  const pathPrefix = `/contract${++seq}/dtabs`;
  const mk = () => new ZkDtabStore({ zkAddrs: addrs(), pathPrefix, sessionTimeoutMs: 4000 }, fast);
  return replicatedHarness(mk, (ns, text) => rawSet(`${pathPrefix}/${ns}`, text));
});

describe('io.l5d.zk specifics', () => {
  it('acl perms: distinct letters of crwda', () => {
    assert.equal(permsToBits('crwda'), 31);
    assert.equal(permsToBits('r'), 1);
    assert.equal(permsToBits('cd'), 12);
    assert.equal(permsToBits('rr'), undefined);
    assert.equal(permsToBits('x'), undefined);
    assert.equal(permsToBits(''), undefined);
  });

  it('stores the dtab text in <pathPrefix>/<ns> with the configured digest auth and ACLs', async () => {
    const store = zkStorage.create!(
      {
        zkAddrs: addrs(),
        pathPrefix: '/secured',
        authInfo: { scheme: 'digest', auth: 'namerd:secret' },
        acls: [{ scheme: 'auth', id: '', perms: 'crwda' }],
      },
      {},
    );
    try {
      await store.create('default', d('/svc=>/#/io.l5d.fs'));
      assert.equal((await store.get('default'))!.dtab.show(), '/svc=>/#/io.l5d.fs');
      // Another client without the credentials can not read it.
      const err = await new Promise<unknown>((resolve) => raw.getData('/secured/default', undefined, (e) => resolve(e)));
      assert.equal((err as { getCode(): number }).getCode(), zookeeper.Exception.NO_AUTH);
    } finally {
      await store.close();
    }
  });

  it('down: calls reject with STORE_UNAVAILABLE, watches keep the last value; up: watches resume', async () => {
    const store = new ZkDtabStore({ zkAddrs: addrs(), pathPrefix: '/downup', sessionTimeoutMs: 4000 }, fast);
    await watchSurvivesOutage(store, zks, {
      whileDown: async () => {
        await rejectsWith(store.names(), 'MESH_ERR_STORE_UNAVAILABLE');
      },
      foreignWrite: async () => {
        const other = await connectRaw();
        try {
          const before = await new Promise<string>((res, rej) => other.getData('/downup/ns', undefined, (e, data) => (e ? rej(e) : res(data!.toString()))));
          assert.equal(before, '/a=>/1');
          await new Promise<void>((res, rej) => other.setData('/downup/ns', Buffer.from('/a=>/2'), -1, (e) => (e ? rej(e) : res())));
        } finally {
          other.close();
        }
      },
      ownWriteAfter: true,
    });
  });

  it('a store that starts while ZooKeeper is down is failed, then recovers when it comes up', async () => {
    const mk = () => new ZkDtabStore({ zkAddrs: addrs(), pathPrefix: '/coldstart', sessionTimeoutMs: 4000 }, fast);
    await recoversFromColdStart(
      zks,
      mk,
      async (store, act) => {
        assert.deepEqual(await waitForValue(act, () => true, 10000, 'listed'), []);
        await store.create('x', d('/x=>/y'));
      },
      5000,
    );
  });
});

describe('io.l5d.zk session loss', () => {
  it('a session the server no longer knows (data wiped) gets a new client; the watch lists again', async (t) => {
    const store = new ZkDtabStore({ zkAddrs: addrs(), pathPrefix: '/expiry', sessionTimeoutMs: 4000 }, fast);
    t.after(() => store.close());
    await store.create('x', d('/x=>/1'));
    const act = store.list();
    const keep = act.states.observe(() => {});
    t.after(() => keep.close());
    assert.deepEqual(await waitForValue(act, (v) => v.length === 1, 5000, 'x'), ['x']);
    raw.close();
    await zks.stop();
    zks.wipeData();
    await zks.start();
    raw = await connectRaw();
    assert.deepEqual(await waitForValue(act, (v) => v.length === 0, 10000, 'empty after wipe'), []);
    await store.create('y', d('/y=>/1'));
    assert.deepEqual(await waitForValue(act, (v) => v.length === 1, 5000, 'y'), ['y']);
  });
});
