/**
 * The one contract every dtab store must keep, run against each store by its own test file
 * (in-memory, etcd, zk, k8s, consul). Not a test file itself: it has no `.test` suffix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isNamerdError, type NamerdErrorCode } from '../../../src/namerd/errors.js';
import { readStoredDtab } from '../../../src/namerd/stores/dtab-codec.js';
import type { DtabStore, VersionedDtab } from '../../../src/namerd/stores/store.js';
import type { Activity } from '../../../src/naming/contracts.js';
import { describe as show, record, waitForState, waitForValue } from '../../support/activity.js';

export interface StoreHarness {
  readonly store: DtabStore;
  /** Writes text for `ns` straight into the backend, as a foreign writer could. */
  writeRaw(ns: string, text: string): Promise<void>;
  /** A second store on the same backend: another namerd replica. */
  replica?(): DtabStore;
  close(): Promise<void>;
}

export const d = (text: string) => readStoredDtab(text);

/**
 * The harness of a store with a shared backend: `mk` makes one store (namerd replica) on it;
 * every replica handed out is closed with the harness.
 */
export function replicatedHarness(mk: () => DtabStore, writeRaw: StoreHarness['writeRaw']): StoreHarness {
  const store = mk();
  const replicas: DtabStore[] = [];
  return {
    store,
    writeRaw,
    replica: () => {
      const r = mk();
      replicas.push(r);
      return r;
    },
    close: async () => {
      await store.close();
      for (const r of replicas) await r.close();
    },
  };
}

export async function rejectsWith(p: Promise<unknown>, code: NamerdErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isNamerdError(e), `expected a NamerdError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const text = (v: VersionedDtab | null) => (v === null ? null : v.dtab.show());

export function dtabStoreContract(name: string, setup: () => Promise<StoreHarness>): void {
  describe(`${name}: DtabStore contract`, () => {
    let h: StoreHarness;
    let store: DtabStore;
    before(async () => {
      h = await setup();
      store = h.store;
    });
    after(async () => {
      await h?.close();
    });

    it('create then get returns the dtab text and a version', async () => {
      await store.create('c-get', d('/svc=>/#/io.l5d.fs'));
      const v = await store.get('c-get');
      assert.equal(text(v), '/svc=>/#/io.l5d.fs');
      assert.equal(typeof v!.version, 'string');
      assert.notEqual(v!.version, '');
      assert.equal(await store.get('c-absent'), null);
    });

    it('create of an existing namespace fails with DTAB_EXISTS and changes nothing', async () => {
      await store.create('c-dup', d('/a=>/b'));
      const before = await store.get('c-dup');
      await rejectsWith(store.create('c-dup', d('/a=>/c')), 'MESH_ERR_DTAB_EXISTS');
      assert.deepEqual(await store.get('c-dup').then(text), '/a=>/b');
      assert.equal((await store.get('c-dup'))!.version, before!.version);
    });

    it('update is compare-and-set on the version', async () => {
      await store.create('c-cas', d('/a=>/b'));
      const v1 = (await store.get('c-cas'))!;
      await store.update('c-cas', d('/a=>/c'), v1.version);
      const v2 = (await store.get('c-cas'))!;
      assert.equal(text(v2), '/a=>/c');
      assert.notEqual(v2.version, v1.version);
      await rejectsWith(store.update('c-cas', d('/a=>/stale'), v1.version), 'MESH_ERR_DTAB_VERSION_MISMATCH');
      await rejectsWith(store.update('c-cas', d('/a=>/bogus'), 'not-a-version'), 'MESH_ERR_DTAB_VERSION_MISMATCH');
      assert.equal(text(await store.get('c-cas')), '/a=>/c');
      await rejectsWith(store.update('c-cas-absent', d('/a=>/b'), v2.version), 'MESH_ERR_DTAB_NOT_FOUND');
      assert.equal(await store.get('c-cas-absent'), null);
    });

    it('put creates and overwrites, changing the version each time', async () => {
      await store.put('c-put', d('/x=>/y'));
      const v1 = (await store.get('c-put'))!;
      assert.equal(text(v1), '/x=>/y');
      await store.put('c-put', d('/x=>/z;/q=>/r'));
      const v2 = (await store.get('c-put'))!;
      assert.equal(text(v2), '/x=>/z;/q=>/r');
      assert.notEqual(v2.version, v1.version);
    });

    it('an empty dtab is a value, not an absence', async () => {
      await store.create('c-empty', d(''));
      const v = await store.get('c-empty');
      assert.equal(text(v), '');
    });

    it('delete removes; deleting again fails with DTAB_NOT_FOUND; a re-created namespace gets a new version', async () => {
      await store.create('c-del', d('/a=>/b'));
      const old = (await store.get('c-del'))!;
      await store.delete('c-del');
      assert.equal(await store.get('c-del'), null);
      await rejectsWith(store.delete('c-del'), 'MESH_ERR_DTAB_NOT_FOUND');
      await store.create('c-del', d('/a=>/b'));
      const fresh = (await store.get('c-del'))!;
      assert.notEqual(fresh.version, old.version);
      await rejectsWith(store.update('c-del', d('/a=>/c'), old.version), 'MESH_ERR_DTAB_VERSION_MISMATCH');
    });

    it('names() and list() report namespaces sorted', async () => {
      await store.create('l-b', d('/a=>/b'));
      await store.create('l-a', d('/a=>/b'));
      const names = await store.names();
      assert.deepEqual(
        names.filter((n) => n.startsWith('l-')),
        ['l-a', 'l-b'],
      );
      const listed = await waitForValue(store.list(), (v) => v.includes('l-a') && v.includes('l-b'), 5000, 'l-a, l-b listed');
      assert.deepEqual(
        listed.filter((n) => n.startsWith('l-')),
        ['l-a', 'l-b'],
      );
      await store.delete('l-b');
      const after = await waitForValue(store.list(), (v) => !v.includes('l-b'), 5000, 'l-b gone');
      assert.deepEqual(
        after.filter((n) => n.startsWith('l-')),
        ['l-a'],
      );
    });

    it('observe follows create, update, put and delete', async () => {
      const act = store.observe('o-ns');
      const rec = record(act);
      try {
        await waitForState(act, (s) => s.type === 'ok' && s.value === null, 5000, 'absent');
        await store.create('o-ns', d('/a=>/1'));
        const v1 = await waitForValue(act, (v) => text(v) === '/a=>/1', 5000, '/a=>/1');
        await store.update('o-ns', d('/a=>/2'), v1!.version);
        const v2 = await waitForValue(act, (v) => text(v) === '/a=>/2', 5000, '/a=>/2');
        assert.equal(v2!.version, (await store.get('o-ns'))!.version);
        await store.put('o-ns', d('/a=>/3'));
        await waitForValue(act, (v) => text(v) === '/a=>/3', 5000, '/a=>/3');
        await store.delete('o-ns');
        await waitForValue(act, (v) => v === null, 5000, 'deleted');
        const seen = rec.states.filter((s) => s.type === 'ok').map((s) => text((s as { value: VersionedDtab | null }).value));
        assert.deepEqual(seen, [null, '/a=>/1', '/a=>/2', '/a=>/3', null]);
        assert.ok(rec.states.every((s) => s.type !== 'failed'), rec.states.map(show).join(', '));
      } finally {
        rec.close();
      }
    });

    it('invalid namespace names are rejected before reaching the backend', async () => {
      for (const bad of ['', 'a/b', '..', 'sp ace']) {
        await rejectsWith(store.create(bad, d('/a=>/b')), 'MESH_ERR_NAMESPACE_INVALID');
        await rejectsWith(store.get(bad), 'MESH_ERR_NAMESPACE_INVALID');
      }
    });

    it('a stored value that does not parse is a failed state for that namespace only', async () => {
      await store.create('bad-neighbour', d('/ok=>/fine'));
      const act = store.observe('bad-ns');
      const okAct = store.observe('bad-neighbour');
      const keep = okAct.states.observe(() => {});
      try {
        await h.writeRaw('bad-ns', 'this is not a dtab');
        const st = await waitForState(act, (s) => s.type === 'failed', 5000, 'failed');
        assert.equal(st.type, 'failed');
        assert.equal((st as unknown as { error: { code: string } }).error.code, 'MESH_ERR_STORED_DTAB_INVALID');
        await rejectsWith(store.get('bad-ns'), 'MESH_ERR_STORED_DTAB_INVALID');
        assert.equal(text((okAct.states.sample() as { value: VersionedDtab | null }).value), '/ok=>/fine');
        assert.ok((await store.names()).includes('bad-ns'));
        await store.put('bad-ns', d('/fixed=>/now'));
        await waitForValue(act, (v) => text(v) === '/fixed=>/now', 5000, 'fixed');
      } finally {
        keep.close();
      }
    });

    it('1,000 observers of one namespace all see one write', async () => {
      const n = 1000;
      const act = store.observe('fanout');
      let seen = 0;
      let resolveAll!: () => void;
      const all = new Promise<void>((r) => (resolveAll = r));
      const handles = [];
      for (let i = 0; i < n; i++) {
        let got = false;
        handles.push(
          act.states.observe((s) => {
            if (!got && s.type === 'ok' && text(s.value) === '/fan=>/out') {
              got = true;
              if (++seen === n) resolveAll();
            }
          }),
        );
      }
      try {
        await waitForState(act, (s) => s.type === 'ok', 5000, 'ready');
        await store.put('fanout', d('/fan=>/out'));
        const timer = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`only ${seen}/${n} observers saw the write`)), 5000).unref());
        await Promise.race([all, timer]);
        assert.equal(seen, n);
      } finally {
        for (const h2 of handles) h2.close();
      }
    });

    it('50 writers read one version and update at once: exactly one wins, 49 get VERSION_MISMATCH', async () => {
      await store.create('cas-race', d('/base=>/0'));
      const v = (await store.get('cas-race'))!;
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => store.update('cas-race', d(`/base=>/0;/w${i}=>/x`), v.version)),
      );
      const won = results.filter((r) => r.status === 'fulfilled').length;
      const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code?: string }).code] : []));
      assert.equal(won, 1);
      assert.deepEqual(codes, Array(49).fill('MESH_ERR_DTAB_VERSION_MISMATCH'));
      assert.equal((await store.get('cas-race'))!.dtab.show().split(';').length, 2);
    });

    it('50 concurrent read-modify-write writers: every write lands exactly once', async () => {
      await store.create('cas-rmw', d('/base=>/0'));
      let mismatches = 0;
      const writer = async (i: number) => {
        for (let attempt = 0; attempt < 500; attempt++) {
          const cur = (await store.get('cas-rmw'))!;
          try {
            await store.update('cas-rmw', d(`${cur.dtab.show()};/w${i}=>/x`), cur.version);
            return attempt;
          } catch (e) {
            if (!isNamerdError(e, 'MESH_ERR_DTAB_VERSION_MISMATCH')) throw e;
            mismatches++;
          }
        }
        throw new Error(`writer ${i} gave up`);
      };
      await Promise.all(Array.from({ length: 50 }, (_, i) => writer(i)));
      const final = (await store.get('cas-rmw'))!.dtab.show().split(';');
      assert.equal(final.length, 51);
      assert.deepEqual(
        final.slice(1).map((x) => Number(/^\/w(\d+)=>/.exec(x)![1])).sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.ok(mismatches >= 49, `expected contention, saw ${mismatches} mismatches`);
    });

    it('a second store on the same backend (a replica) sees writes', { skip: false }, async (t) => {
      if (h.replica === undefined) {
        t.skip('this store keeps its state in the process: there is no shared backend');
        return;
      }
      const other = h.replica();
      t.after(() => other.close());
      const act = other.observe('replicated');
      await waitForState(act, (s) => s.type === 'ok' && s.value === null, 5000, 'absent on replica');
      await store.create('replicated', d('/r=>/1'));
      const v = await waitForValue(act, (x) => text(x) === '/r=>/1', 5000, 'replica sees create');
      await other.update('replicated', d('/r=>/2'), v!.version);
      assert.equal(text(await store.get('replicated')), '/r=>/2');
    });
  });

  describe(`${name}: closed store`, () => {
    it('rejects calls with STORE_CLOSED after close()', async () => {
      const h = await setup();
      await h.store.close();
      await rejectsWith(h.store.get('x'), 'MESH_ERR_STORE_CLOSED');
      await rejectsWith(h.store.put('x', d('/a=>/b')), 'MESH_ERR_STORE_CLOSED');
      await h.close();
    });
  });
}

/** A store's backend that a test can take down and bring back on the same address. */
export interface Restartable {
  readonly running: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface OutageSteps {
  /** Runs while the backend is down, after get and put were refused (extra checks of one store). */
  whileDown?(act: Activity<VersionedDtab | null>): Promise<void>;
  /** Once the backend is back, as another client: checks `ns` still holds /a=>/1, then writes /a=>/2. */
  foreignWrite(): Promise<void>;
  /** After the foreign write: the store's own put of /a=>/3 reaches its watch too. */
  ownWriteAfter?: boolean;
}

/**
 * The outage run of a networked store: `store` watches `ns` (/a=>/1); while `backend` is down,
 * calls reject with STORE_UNAVAILABLE and the watch keeps its value; once it is back, writes
 * reach the old watch, which never failed. Closes `store`; leaves `backend` running.
 */
export async function watchSurvivesOutage(store: DtabStore, backend: Restartable, steps: OutageSteps): Promise<void> {
  try {
    await store.create('ns', d('/a=>/1'));
    const act = store.observe('ns');
    const rec = record(act);
    await waitForValue(act, (v) => v?.dtab.show() === '/a=>/1', 5000, 'initial');

    await backend.stop();
    await rejectsWith(store.get('ns'), 'MESH_ERR_STORE_UNAVAILABLE');
    await rejectsWith(store.put('ns', d('/a=>/lost')), 'MESH_ERR_STORE_UNAVAILABLE');
    await steps.whileDown?.(act);
    assert.equal(act.states.sample().type, 'ok');

    await backend.start();
    await steps.foreignWrite();
    await waitForValue(act, (v) => v?.dtab.show() === '/a=>/2', 10000, 'after restart');
    if (steps.ownWriteAfter === true) {
      await store.put('ns', d('/a=>/3'));
      await waitForValue(act, (v) => v?.dtab.show() === '/a=>/3', 5000, 'own write after restart');
    }
    rec.close();
    const firstOk = rec.states.findIndex((s) => s.type === 'ok');
    assert.ok(rec.states.slice(firstOk).every((s) => s.type === 'ok'), 'never failed once a value was known');
  } finally {
    await store.close();
    if (!backend.running) await backend.start();
  }
}

/**
 * A store made by `mk` while `backend` is down lists as failed (STORE_UNAVAILABLE); once the
 * backend is back, `addX` makes namespace `x` exist and the list must show just it within
 * `listedMs`. Closes the store; leaves `backend` running.
 */
export async function recoversFromColdStart(
  backend: Restartable,
  mk: () => DtabStore,
  addX: (store: DtabStore, list: Activity<readonly string[]>) => Promise<void>,
  listedMs = 10000,
): Promise<void> {
  await backend.stop();
  const store = mk();
  try {
    const act = store.list();
    const st = await waitForState(act, (s) => s.type === 'failed', 5000, 'failed');
    assert.equal((st as unknown as { error: { code: string } }).error.code, 'MESH_ERR_STORE_UNAVAILABLE');
    await backend.start();
    await addX(store, act);
    assert.deepEqual(await waitForValue(act, (v) => v.length === 1, listedMs, 'listed'), ['x']);
  } finally {
    await store.close();
    if (!backend.running) await backend.start();
  }
}
