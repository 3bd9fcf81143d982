import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryDtabStore, inMemoryStorage } from '../../../src/namerd/stores/in-memory.js';
import { d, dtabStoreContract } from './contract.js';
import { record, waitForState } from '../../support/activity.js';

dtabStoreContract('io.l5d.inMemory', async () => {
  const store = new InMemoryDtabStore();
  return {
    store,
    writeRaw: async (ns, text) => store.putRawForTest(ns, text),
    close: () => store.close(),
  };
});

describe('io.l5d.inMemory specifics', () => {
  it('starts with the configured namespaces, versions 1..n', async () => {
    const store = inMemoryStorage.create!({ namespaces: { default: '/svc => /#/io.l5d.fs', other: '/a=>/b' } }, {});
    const v = await store.get('default');
    assert.equal(v!.dtab.show(), '/svc=>/#/io.l5d.fs');
    assert.equal(v!.version, '1');
    assert.equal((await store.get('other'))!.version, '2');
    assert.deepEqual(await store.names(), ['default', 'other']);
    await store.close();
  });

  it('rejects a configured namespace whose dtab does not parse, at build time', () => {
    assert.throws(() => new InMemoryDtabStore({ ns: 'garbage' }), /'\/' expected but 'g' found at '\[g\]arbage'/);
  });

  it('observers get pending never: the first state is the current value, and no duplicates', async () => {
    const store = new InMemoryDtabStore({ a: '/a=>/b' });
    const rec = record(store.observe('a'));
    await store.put('a', d('/a=>/c'));
    await store.put('b', d('/b=>/c'));
    rec.close();
    assert.deepEqual(
      rec.states.map((s) => (s.type === 'ok' ? `${s.value!.dtab.show()}@${s.value!.version}` : s.type)),
      ['/a=>/b@1', '/a=>/c@2'],
    );
    await store.close();
  });

  it('the list activity stops being fed once every observer has closed, and restarts on demand', async () => {
    const store = new InMemoryDtabStore();
    const h1 = store.list().states.observe(() => {});
    h1.close();
    await store.create('later', d('/x=>/y'));
    const st = await waitForState(store.list(), (s) => s.type === 'ok', 1000, 'list');
    assert.deepEqual(st, { type: 'ok', value: ['later'] });
    await store.close();
  });
});

describe('closing', () => {
  it('observers still attached get a failed STORE_CLOSED state, and nothing after', async () => {
    const store = new InMemoryDtabStore({ a: '/a=>/1' });
    const ns = record(store.observe('a'));
    const list = record(store.list());
    await store.close();
    const last = ns.states[ns.states.length - 1]!;
    assert.equal(last.type, 'failed');
    assert.equal((last as unknown as { error: { code: string } }).error.code, 'MESH_ERR_STORE_CLOSED');
    assert.deepEqual(
      list.states.map((s) => (s.type === 'failed' ? (s.error as unknown as { code: string }).code : s.type === 'ok' ? s.value.join() : s.type)),
      ['a', 'MESH_ERR_STORE_CLOSED'],
    );
    assert.equal(ns.states.length, 2);
    ns.close();
    list.close();
  });
});

describe('observer isolation', () => {
  it('an observer that throws does not stop the others; it becomes a process warning', async () => {
    const store = new InMemoryDtabStore({ a: '/a=>/1' });
    const warned = new Promise<Error & { code?: string }>((resolve) => process.once('warning', (w) => resolve(w as Error & { code?: string })));
    const bad = store.observe('a').states.observe((s) => {
      if (s.type === 'ok' && s.value?.dtab.show() === '/a=>/2') throw new Error('observer bug');
    });
    const rec = record(store.observe('a'));
    await store.put('a', d('/a=>/2'));
    const w = await warned;
    assert.equal(w.message, 'dtab observer threw: observer bug');
    assert.equal(w.code, 'MESH_WARN_DTAB_OBSERVER_THREW');
    assert.deepEqual(
      rec.states.map((s) => (s.type === 'ok' ? s.value!.dtab.show() : s.type)),
      ['/a=>/1', '/a=>/2'],
    );
    bad.close();
    rec.close();
    await store.close();
  });
});
