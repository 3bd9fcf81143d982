/**
 * io.l5d.k8s.configMap (src/interpreters/k8s-configmap.ts) against the in-test Kubernetes API
 * server (test/support/fake-k8s.ts: list + watch with resourceVersion, 410 Gone): the dtab in
 * one entry of a ConfigMap is followed under the router's entries; a missing ConfigMap or key
 * is an empty dtab; a bad edit keeps the last good dtab; a 410 on the watch re-lists and a
 * dropped watch resumes. The last test goes through a real `meshwork linkerd`.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { k8sConfigMapInterpreter } from '../../src/interpreters/k8s-configmap.js';
import type { InterpreterError } from '../../src/interpreters/errors.js';
import { Dtab, bind, explainDelegation, readDtab, readPath, showNameTree } from '../../src/naming/index.js';
import { createNamers } from '../../src/namers/registry.js';
import { startFakeK8s, type FakeK8s } from '../support/fake-k8s.js';
import { onChosenPort } from '../support/process.js';
import { e2eScratch, startLinker, untilBody } from '../support/linker.js';
import { request, upstream } from '../router/support.js';
import { eventually, okTree, watch, type Cleanups } from './support.js';

let k8s: FakeK8s;
const cleanups: Cleanups = [];
before(async () => {
  k8s = await startFakeK8s();
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await k8s.stop();
});

const namers = createNamers([], { readPath });
const leaf = (id: string, residual = '/') => JSON.stringify({ id, residual });
const where = { file: 'linkerd.yaml', keyPath: 'routers[0].interpreter' };

function configMap(namespace: string, name: string, data?: Record<string, string>): void {
  k8s.putObject(namespace, 'configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, ...(data !== undefined ? { data } : {}) });
}

function interpreter(config: Record<string, unknown>, log: string[] = []) {
  const i = k8sConfigMapInterpreter(
    { kind: 'io.l5d.k8s.configMap', host: k8s.host, port: k8s.port, name: 'dtabs', filename: 'my-dtab', ...config },
    {
      bind: (d, p) => bind(d, p, namers),
      explain: (d, p) => explainDelegation(d, p, namers, { showTree: showNameTree, timeoutMs: 2000 }),
      log: (line) => log.push(line),
    },
    where,
  );
  cleanups.push(() => i.close());
  return i;
}

/** The fake's requests from index `from` on, for one namespace's ConfigMaps, as `list` or `watch@<rv>`. */
function calls(namespace: string, from: number): string[] {
  const prefix = `GET /api/v1/namespaces/${namespace}/configmaps?`;
  return k8s.requests.slice(from).filter((r) => r.startsWith(prefix)).map((r) => {
    const q = new URLSearchParams(r.slice(prefix.length));
    return q.get('watch') === 'true' ? `watch@${q.get('resourceVersion') ?? ''}` : `list ${q.get('fieldSelector')}`;
  });
}

test("the ConfigMap's entry routes under the router's and the request's entries; an edit is followed; the delegator explains with it", async () => {
  configMap('routing', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/1111', other: 'not a dtab at all' });
  const log: string[] = [];
  const i = interpreter({ namespace: 'routing' }, log);
  const w = watch(i.bind(Dtab.empty, readPath('/svc/a')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/1111', '/a'), 3000, 'the ConfigMap dtab');
  // The ConfigMap is read narrowed to its name, then watched from the list's resourceVersion.
  await eventually(() => calls('routing', 0).length >= 2, 3000, 'the watch request');
  assert.deepEqual(calls('routing', 0).slice(0, 2), ['list metadata.name=dtabs', `watch@${k8s.getObject('routing', 'configmaps', 'dtabs')!.metadata.resourceVersion}`]);

  configMap('routing', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/2222', other: 'not a dtab at all' });
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/2222', '/a'), 3000, 'the edited dtab');

  // The router's dtab (and a request's dentries, appended after it) come later and win.
  const routerWins = await i.bind(readDtab('/svc/a => /$/inet/127.0.0.1/3333'), readPath('/svc/a')).toPromise(3000);
  assert.equal(JSON.stringify(okTree({ type: 'ok', value: routerWins })), leaf('/$/inet/127.0.0.1/3333'));
  // The ConfigMap's entries are there for the router's to build on.
  const layered = await i.bind(readDtab('/web => /svc'), readPath('/web/b')).toPromise(3000);
  assert.equal(JSON.stringify(okTree({ type: 'ok', value: layered })), leaf('/$/inet/127.0.0.1/2222', '/b'));

  const explained = (await i.delegate(Dtab.empty, readPath('/svc/a'), 3000)) as { type: string; path: string; delegate: { dentry: unknown; path: string; bound?: { id: string } } };
  assert.equal(explained.type, 'delegate');
  assert.equal(explained.path, '/svc/a');
  assert.deepEqual(explained.delegate.dentry, { prefix: '/svc', dst: '/$/inet/127.0.0.1/2222' });
  assert.equal(explained.delegate.path, '/$/inet/127.0.0.1/2222/a');
  assert.equal(explained.delegate.bound?.id, '/$/inet/127.0.0.1/2222');
  assert.deepEqual(log, []);
});

test('a ConfigMap or key that does not exist is an empty dtab (said once) until it is created; a deleted ConfigMap is empty again', async () => {
  const log: string[] = [];
  const i = interpreter({ namespace: 'later' }, log);
  const w = watch(i.bind(Dtab.empty, readPath('/svc/a')).states, cleanups);
  await w.until((s) => s.type === 'ok' && s.value.type === 'neg', 3000, 'neg: no ConfigMap, no entries');
  const viaRouter = await i.bind(readDtab('/svc => /$/inet/127.0.0.1/4444'), readPath('/svc/a')).toPromise(3000);
  assert.equal(JSON.stringify(okTree({ type: 'ok', value: viaRouter })), leaf('/$/inet/127.0.0.1/4444', '/a'));
  assert.deepEqual(log, ["io.l5d.k8s.configMap interpreter: ConfigMap later/dtabs does not exist; routing on an empty dtab until it is created"]);

  configMap('later', 'dtabs', { unrelated: 'x' });
  await eventually(() => log.length === 2, 3000, 'the missing key reported');
  assert.equal(log[1], "io.l5d.k8s.configMap interpreter: ConfigMap later/dtabs has no key 'my-dtab'; routing on an empty dtab until it is added");
  assert.equal(JSON.stringify(okTree(w.last())), '"neg"');

  // Another key edited, the entry still missing: not said again (the watch delivers in order,
  // so once the entry created next is seen, this edit was read).
  configMap('later', 'dtabs', { unrelated: 'xx' });
  configMap('later', 'dtabs', { unrelated: 'xx', 'my-dtab': '/svc => /$/inet/127.0.0.1/5555' });
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/5555', '/a'), 3000, 'the created entry');
  assert.equal(log.length, 2, JSON.stringify(log));

  // Linkerd: a deleted ConfigMap is an empty dtab, not the last one.
  assert.equal(k8s.deleteObject('later', 'configmaps', 'dtabs'), true);
  await w.until((s) => s.type === 'ok' && s.value.type === 'neg', 3000, 'neg after the delete');
  assert.equal(log.length, 3);
  assert.equal(log[2], 'io.l5d.k8s.configMap interpreter: ConfigMap later/dtabs does not exist; routing on an empty dtab until it is created');
});

test('an entry that stops parsing keeps the last good dtab (said once) until it is fixed; one that never parsed is an empty dtab', async () => {
  configMap('typo', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/1111' });
  const log: string[] = [];
  const i = interpreter({ namespace: 'typo' }, log);
  const w = watch(i.bind(Dtab.empty, readPath('/svc')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/1111'), 3000, 'the ConfigMap dtab');

  configMap('typo', 'dtabs', { 'my-dtab': 'blargh im not a dtab!!!' });
  await eventually(() => log.length > 0, 3000, 'the bad entry reported');
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.match(log[0]!, /^io\.l5d\.k8s\.configMap interpreter: ConfigMap typo\/dtabs key 'my-dtab' is not a valid dtab: .*\[b\]largh.*; routing stays on the last dtab read from it$/);
  assert.equal(JSON.stringify(okTree(w.last())), leaf('/$/inet/127.0.0.1/1111'));
  // The same bad text again (another key edited) is not reported again.
  configMap('typo', 'dtabs', { 'my-dtab': 'blargh im not a dtab!!!', other: 'y' });
  configMap('typo', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/2222' });
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/2222'), 3000, 'the fixed dtab');
  assert.equal(log.length, 1, JSON.stringify(log));

  // Never parsed: Linkerd routes on an empty dtab (the router's entries) and says why.
  configMap('typo', 'first-bad', { 'my-dtab': '/svc => => broken' });
  const log2: string[] = [];
  const j = interpreter({ namespace: 'typo', name: 'first-bad' }, log2);
  const t = await j.bind(readDtab('/svc => /$/inet/127.0.0.1/6666'), readPath('/svc/x')).toPromise(3000);
  assert.equal(JSON.stringify(okTree({ type: 'ok', value: t })), leaf('/$/inet/127.0.0.1/6666', '/x'));
  assert.equal(log2.length, 1, JSON.stringify(log2));
  assert.match(log2[0]!, /^io\.l5d\.k8s\.configMap interpreter: ConfigMap typo\/first-bad key 'my-dtab' is not a valid dtab: .*; routing on an empty dtab until it is fixed$/);
});

test('a 410 Gone on the watch is recovered by re-listing: an edit made while the history was compacted is read', async () => {
  configMap('gone', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/1111' });
  const i = interpreter({ namespace: 'gone' });
  const w = watch(i.bind(Dtab.empty, readPath('/svc')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/1111'), 3000, 'the ConfigMap dtab');
  const seen = k8s.getObject('gone', 'configmaps', 'dtabs')!.metadata.resourceVersion!;
  await k8s.stop();
  const mark = k8s.requests.length;
  configMap('gone', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/2222' });
  // The edit's event is forgotten: only a new list can show it.
  k8s.compact();
  await onChosenPort(() => k8s.start());
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/2222'), 5000, 'the dtab edited during the outage');
  await eventually(() => calls('gone', mark).length >= 3, 3000, 'the watch after the re-list');
  assert.deepEqual(calls('gone', mark).slice(0, 3), [`watch@${seen}`, 'list metadata.name=dtabs', `watch@${k8s.resourceVersion}`]);
});

test('a watch that ends or whose connection drops is resumed from its resourceVersion; the last dtab routes meanwhile', async () => {
  configMap('drop', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/1111' });
  const i = interpreter({ namespace: 'drop' });
  const w = watch(i.bind(Dtab.empty, readPath('/svc')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/1111'), 3000, 'the ConfigMap dtab');

  // The API server ends the watch (its timeout): it is watched again.
  const watchesBefore = calls('drop', 0).filter((c) => c.startsWith('watch@')).length;
  k8s.endWatches();
  await eventually(() => calls('drop', 0).filter((c) => c.startsWith('watch@')).length > watchesBefore, 3000, 'a new watch after the end');
  configMap('drop', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/2222' });
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/2222'), 3000, 'the edit after the watch ended');

  // The connection drops (API server or kubectl proxy gone): the last dtab keeps routing.
  const seen = k8s.getObject('drop', 'configmaps', 'dtabs')!.metadata.resourceVersion!;
  await k8s.stop();
  const mark = k8s.requests.length;
  configMap('drop', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/3333' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(JSON.stringify(okTree(w.last())), leaf('/$/inet/127.0.0.1/2222'));
    const bound = await i.bind(Dtab.empty, readPath('/svc/z')).toPromise(1000);
    assert.equal(JSON.stringify(okTree({ type: 'ok', value: bound })), leaf('/$/inet/127.0.0.1/2222', '/z'));
  } finally {
    await onChosenPort(() => k8s.start());
  }
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/3333'), 5000, 'the edit made while the API was away');
  // Resumed from the version it had seen (the edit came from the watch's history, no re-list).
  assert.deepEqual(calls('drop', mark).slice(0, 1), [`watch@${seen}`]);
  assert.ok(!calls('drop', mark).some((c) => c.startsWith('list')), JSON.stringify(calls('drop', mark)));
});

test('close() ends the watch, even while a name bound through it is still observed', async () => {
  configMap('closing', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/1111' });
  const i = interpreter({ namespace: 'closing' });
  const w = watch(i.bind(Dtab.empty, readPath('/svc')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/1111'), 3000, 'the ConfigMap dtab');
  await eventually(() => calls('closing', 0).length === 2, 3000, 'the list and the watch');
  i.close();
  // A watch still running would be resumed after this end (at once or after 50 ms).
  k8s.endWatches();
  configMap('closing', 'dtabs', { 'my-dtab': '/svc => /$/inet/127.0.0.1/2222' });
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(calls('closing', 0).map((c) => c.split('@')[0]), ['list metadata.name=dtabs', 'watch']);
  assert.equal(JSON.stringify(okTree(w.last())), leaf('/$/inet/127.0.0.1/1111'));
});

test('the API failing before any dtab fails binding with the reason', async () => {
  // Core v1 not served (as a proxy in front of the wrong server would answer): a 404 on the list.
  k8s.unserved.add('/v1');
  try {
    const i = interpreter({ namespace: 'broken' });
    await assert.rejects(i.bind(Dtab.empty, readPath('/svc/a')).toPromise(3000), (e: Error) => {
      assert.equal((e as InterpreterError).code, 'MESH_ERR_INTERPRETER_DTAB');
      assert.equal(e.message, 'io.l5d.k8s.configMap interpreter: ConfigMap broken/dtabs: cannot read it: GET /api/v1/namespaces/broken/configmaps?fieldSelector=metadata.name%3Ddtabs: HTTP 404');
      return true;
    });
  } finally {
    k8s.unserved.delete('/v1');
  }
});

test('config errors name the file, the key path, the value found and what is allowed', () => {
  const make = (c: Record<string, unknown>) => () => k8sConfigMapInterpreter({ kind: 'io.l5d.k8s.configMap', ...c }, { bind: (d, p) => bind(d, p, namers) }, where);
  const code = (re: RegExp) => (e: unknown) => {
    assert.equal((e as InterpreterError).code, 'MESH_ERR_INTERPRETER_CONFIG');
    assert.match((e as Error).message, re);
    return true;
  };
  assert.throws(make({ filename: 'my-dtab' }), code(/^linkerd\.yaml: routers\[0\]\.interpreter\.name: found undefined; allowed: a ConfigMap name/));
  assert.throws(make({ name: 'dtabs' }), code(/^linkerd\.yaml: routers\[0\]\.interpreter\.filename: found undefined; allowed: a ConfigMap data key/));
  assert.throws(make({ name: 'dtabs', filename: 'a/b' }), code(/^linkerd\.yaml: routers\[0\]\.interpreter\.filename: found "a\/b"; allowed: a ConfigMap data key/));
  assert.throws(make({ name: 'Dtabs', filename: 'd' }), code(/^linkerd\.yaml: routers\[0\]\.interpreter\.name: found "Dtabs"; allowed: a ConfigMap name \(lower-case letters, digits, - and \., at most 253\)$/));
  assert.throws(make({ name: 'dtabs', filename: 'd', namespace: '' }), code(/^linkerd\.yaml: routers\[0\]\.interpreter\.namespace: found ""; allowed: a Kubernetes namespace name/));
  assert.throws(make({ name: 'dtabs', filename: 'd', port: 0 }), code(/^linkerd\.yaml: routers\[0\]\.interpreter\.port: found 0; allowed: a port number 1-65535$/));
  assert.throws(make({ name: 'dtabs', filename: 'd', host: '' }), code(/^linkerd\.yaml: routers\[0\]\.interpreter\.host: found ""; allowed: /));
  // Defaults: localhost:8001 (kubectl proxy), namespace default; nothing is requested until a name is bound.
  const i = make({ name: 'dtabs', filename: 'd' })();
  i.close();
});

const { dir, procs, ups } = e2eScratch('meshwork-k8scm-');

function getText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
    })
      .on('error', reject)
      .end();
  });
}

test('meshwork linkerd with io.l5d.k8s.configMap routes by the ConfigMap, follows an edit, and its delegator shows the entry', async () => {
  const [a, b] = [await upstream((_q, r) => r.end('a')), await upstream((_q, r) => r.end('b'))];
  ups.push(a, b);
  configMap('mesh', 'l5d-dtabs', { 'router.dtab': `/svc/web => /$/inet/127.0.0.1/${a.port};\n` });
  const file = join(dir, 'linkerd.yaml');
  writeFileSync(
    file,
    `admin:\n  ip: 127.0.0.1\n  port: 0\nrouters:\n- protocol: http\n  label: web\n  interpreter:\n    kind: io.l5d.k8s.configMap\n    experimental: true\n` +
      `    host: 127.0.0.1\n    port: ${k8s.port}\n    namespace: mesh\n    name: l5d-dtabs\n    filename: router.dtab\n  servers:\n  - port: 0\n`,
  );
  const { proc, port, admin } = await startLinker(file);
  procs.push(proc);
  try {
    const first = await request(port, { headers: { host: 'web' } });
    assert.equal(first.status, 200, `${first.status} ${first.headers['l5d-err'] ?? ''}`);
    assert.equal(first.body, 'a');
    configMap('mesh', 'l5d-dtabs', { 'router.dtab': `/svc/web => /$/inet/127.0.0.1/${b.port};\n` });
    assert.equal(await untilBody(port, 'web', 'b'), 'b', 'traffic moved within 5 s of the ConfigMap edit');
    // A request's l5d-dtab still wins over the ConfigMap.
    assert.equal((await request(port, { headers: { host: 'web', 'l5d-dtab': `/svc/web => /$/inet/127.0.0.1/${a.port}` } })).body, 'a');
    const explained = await getText(admin, '/delegator.json?namespace=web&path=/svc/web&dtab=');
    assert.match(explained, /^200 /);
    assert.ok(explained.includes(`"dentry":{"prefix":"/svc/web","dst":"/$/inet/127.0.0.1/${b.port}"}`), explained);
  } finally {
    for (const p of procs.splice(0)) await p.stop(1000);
  }
});
