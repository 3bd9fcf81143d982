import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { K8sApi } from '../../src/namers/k8s/api.js';
import { K8sNamer } from '../../src/namers/k8s/namer.js';
import { createNamer } from '../../src/namers/registry.js';
import type { BoundName } from '../../src/naming/contracts.js';
import type { Addr } from '../../src/naming/addr.js';
import { Path } from '../../src/naming/path.js';
import { Var } from '../../src/naming/var.js';
import { observerCountOf } from '../../src/naming/activity.js';
import { describeTree } from '../support/addrs.js';
import { FakeK8s, startFakeK8s, type K8sObject } from '../support/fake-k8s.js';

const p = (s: string): Path => Path.utf8(...s.split('/').filter((e) => e.length > 0));
const PREFIX = p('/#/io.l5d.k8s');
const WAIT_MS = 1000;

let k8s: FakeK8s;
before(async () => {
  k8s = await startFakeK8s();
});
after(() => k8s.stop());

function endpoints(name: string, ips: readonly [string, string][], ports: Record<string, number> = { http: 8080, admin: 9990 }): K8sObject {
  return {
    kind: 'Endpoints',
    apiVersion: 'v1',
    metadata: { name },
    subsets: [{ addresses: ips.map(([ip, nodeName]) => ({ ip, nodeName })), ports: Object.entries(ports).map(([n, port]) => ({ name: n, port, protocol: 'TCP' })) }],
  };
}

function describeAddr(a: Addr): string {
  if (a.type === 'bound') return 'bound:' + a.addrs.map((x) => `${x.host}:${x.port}@${String(x.meta['nodeName'])}`).join(',');
  if (a.type === 'failed') return 'failed:' + a.cause.message;
  return a.type;
}

async function bound(namer: K8sNamer, path: string): Promise<BoundName> {
  const s = await Var.firstMatching(namer.lookup(p(path)).states, (x) => x.type !== 'pending', WAIT_MS);
  assert.match(describeTree(s), /^leaf:/);
  return ((s as { value: { value: BoundName } }).value.value);
}

test('bind /default/http/world: ready addresses with nodeName, named and numeric ports, residual', async () => {
  k8s.putObject('default', 'endpoints', endpoints('world', [['10.0.0.2', 'node-b'], ['10.0.0.1', 'node-a']]));
  const namer = new K8sNamer(new K8sApi(k8s.host, k8s.port), PREFIX);
  const b = await bound(namer, '/default/http/world/extra');
  assert.equal(b.id.show(), '/#/io.l5d.k8s/default/http/world');
  assert.equal(b.residual.show(), '/extra');
  assert.equal(describeAddr(await Var.firstMatching(b.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:10.0.0.1:8080@node-a,10.0.0.2:8080@node-b');
  const admin = await bound(namer, '/default/admin/world');
  assert.equal(describeAddr(await Var.firstMatching(admin.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:10.0.0.1:9990@node-a,10.0.0.2:9990@node-b');
  const num = await bound(namer, '/default/7000/world');
  assert.equal(describeAddr(await Var.firstMatching(num.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:10.0.0.1:7000@node-a,10.0.0.2:7000@node-b');
  // A numeric port with a Service is a service port mapped to its targetPort (name or number).
  k8s.putObject('default', 'services', { kind: 'Service', apiVersion: 'v1', metadata: { name: 'world' }, spec: { ports: [{ name: 'web', port: 80, targetPort: 'http' }, { name: 'x', port: 81, targetPort: 9999 }] } });
  const svc80 = await bound(namer, '/default/80/world');
  // (A restarted shared watch shows its last value, "missing" from /default/7000/world, until its list answers.)
  await Var.firstMatching(svc80.addr, (a) => describeAddr(a) === 'bound:10.0.0.1:8080@node-a,10.0.0.2:8080@node-b', WAIT_MS);
  const svc81 = await bound(namer, '/default/81/world');
  await Var.firstMatching(svc81.addr, (a) => describeAddr(a) === 'bound:10.0.0.1:9999@node-a,10.0.0.2:9999@node-b', WAIT_MS);
  // Unknown port name, unknown service, short path: Neg.
  assert.equal(describeTree(await Var.firstMatching(namer.lookup(p('/default/grpc/world')).states, (x) => x.type !== 'pending', WAIT_MS)), 'neg');
  assert.equal(describeTree(await Var.firstMatching(namer.lookup(p('/default/http/nobody')).states, (x) => x.type !== 'pending', WAIT_MS)), 'neg');
  assert.equal(describeTree(namer.lookup(p('/default/http')).states.sample()), 'neg');
});

test('scaling (MODIFIED) updates the Addr within a second; deleting the endpoints → Neg; one shared watch closed by the last observer', async () => {
  k8s.putObject('default', 'endpoints', endpoints('scale', [['10.1.0.1', 'n1']]));
  const api = new K8sApi(k8s.host, k8s.port);
  const namer = new K8sNamer(api, PREFIX);
  const act = namer.lookup(p('/default/http/scale'));
  const treeSub = act.states.observe(() => undefined);
  const b = await bound(namer, '/default/http/scale');
  const sub = b.addr.observe(() => undefined);
  const sub2 = b.addr.observe(() => undefined);
  try {
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.1.0.1:8080@n1', WAIT_MS);
    k8s.putObject('default', 'endpoints', endpoints('scale', [['10.1.0.1', 'n1'], ['10.1.0.2', 'n2'], ['10.1.0.3', 'n1']]));
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.1.0.1:8080@n1,10.1.0.2:8080@n2,10.1.0.3:8080@n1', WAIT_MS);
    // Three observers (tree + two addr) share one list and one watch.
    // A watch of one object is its collection narrowed to its name (a GET of the object's own
    // path answers once on a real API server).
    const reqs = (q: string): number => k8s.requests.filter((r) => r === 'GET /api/v1/namespaces/default/endpoints?fieldSelector=metadata.name%3Dscale' + q).length;
    assert.equal(reqs(''), 1);
    assert.equal(reqs('&watch=true&resourceVersion=' + String(k8s.resourceVersion - 1)), 1);
    assert.equal(k8s.requests.filter((r) => r.startsWith('GET /api/v1/namespaces/default/endpoints/')).length, 0);
    k8s.putObject('default', 'endpoints', endpoints('scale', [['10.1.0.3', 'n1']]));
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.1.0.3:8080@n1', WAIT_MS);
    assert.equal(k8s.deleteObject('default', 'endpoints', 'scale'), true);
    await Var.firstMatching(b.addr, (a) => a.type === 'neg', WAIT_MS);
    await Var.firstMatching(act.states, (s) => describeTree(s) === 'neg', WAIT_MS);
    k8s.putObject('default', 'endpoints', endpoints('scale', [['10.1.0.9', 'n9']]));
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.1.0.9:8080@n9', WAIT_MS);
    await Var.firstMatching(act.states, (s) => describeTree(s) === 'leaf:/#/io.l5d.k8s/default/http/scale:/', WAIT_MS);
  } finally {
    sub.close();
    sub2.close();
    treeSub.close();
  }
  assert.equal(observerCountOf(api.object('default', 'endpoints', 'scale')), 0);
});

/** The list (and, with `&watch=true...`, the watch) of one Endpoints object in `default`. */
const named = (name: string): string => `/api/v1/namespaces/default/endpoints?fieldSelector=metadata.name%3D${name}`;

test('the API server restarting mid-watch: the watch resumes from its resourceVersion', async () => {
  k8s.putObject('default', 'endpoints', endpoints('restart', [['10.2.0.1', 'n1']]));
  const namer = new K8sNamer(new K8sApi(k8s.host, k8s.port), PREFIX);
  // Held for the whole test so the shared watch never restarts between steps.
  const held = namer.lookup(p('/default/http/restart')).states.observe(() => undefined);
  const b = await bound(namer, '/default/http/restart');
  const addrSub = b.addr.observe(() => undefined);
  const sub = { close: (): void => { addrSub.close(); held.close(); } };
  try {
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.2.0.1:8080@n1', WAIT_MS);
    const listsBefore = k8s.requests.filter((r) => r === `GET ${named('restart')}`).length;
    await k8s.stop();
    const rv = k8s.putObject('default', 'endpoints', endpoints('restart', [['10.2.0.2', 'n2']])).metadata.resourceVersion;
    await k8s.start();
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.2.0.2:8080@n2', 3000);
    assert.ok(rv !== undefined);
    // Resumed with a watch from the old version, no second list was needed.
    const lists = k8s.requests.filter((r) => r === `GET ${named('restart')}`).length;
    assert.equal(lists, listsBefore);
    assert.ok(k8s.requests.includes(`GET ${named('restart')}&watch=true&resourceVersion=${Number(rv) - 1}`));
  } finally {
    sub.close();
  }
});

test('a watch that ends at once without an event is asked again after a backoff, not in a tight loop', async (t) => {
  k8s.putObject('default', 'endpoints', endpoints('quick', [['10.4.0.1', 'n1']]));
  k8s.watchEndsAtOnce = true;
  t.after(() => {
    k8s.watchEndsAtOnce = false;
  });
  const namer = new K8sNamer(new K8sApi(k8s.host, k8s.port), PREFIX);
  const held = namer.lookup(p('/default/http/quick')).states.observe(() => undefined);
  const b = await bound(namer, '/default/http/quick');
  const addrSub = b.addr.observe(() => undefined);
  try {
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.4.0.1:8080@n1', WAIT_MS);
    await new Promise((r) => setTimeout(r, 1000));
    const watches = k8s.requests.filter((r) => r.startsWith(`GET ${named('quick')}&watch=true`)).length;
    // Backoff 50, 100, 200, 400 ms ... : a handful in a second (a tight loop made thousands).
    assert.ok(watches >= 2 && watches <= 8, `${watches} watch requests in about 1 s`);
  } finally {
    addrSub.close();
    held.close();
  }
});

test('410 Gone: a compacted history makes the client re-list', async () => {
  k8s.putObject('default', 'endpoints', endpoints('gone', [['10.3.0.1', 'n1']]));
  const namer = new K8sNamer(new K8sApi(k8s.host, k8s.port), PREFIX);
  // Held for the whole test so the shared watch never restarts between steps.
  const held = namer.lookup(p('/default/http/gone')).states.observe(() => undefined);
  const b = await bound(namer, '/default/http/gone');
  const addrSub = b.addr.observe(() => undefined);
  const sub = { close: (): void => { addrSub.close(); held.close(); } };
  try {
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.3.0.1:8080@n1', WAIT_MS);
    const listsBefore = k8s.requests.filter((r) => r === `GET ${named('gone')}`).length;
    await k8s.stop();
    k8s.putObject('default', 'endpoints', endpoints('gone', [['10.3.0.2', 'n2']]));
    k8s.compact();
    await k8s.start();
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:10.3.0.2:8080@n2', 3000);
    const lists = k8s.requests.filter((r) => r === `GET ${named('gone')}`).length;
    assert.equal(lists, listsBefore + 1);
  } finally {
    sub.close();
  }
});

test('registry: io.l5d.k8s builds from config with defaults and rejects a bad port naming the key', () => {
  const readPath = (s: string): Path => p(s);
  const made = createNamer({ kind: 'io.l5d.k8s', host: '127.0.0.1', port: k8s.port }, { readPath, keyPath: 'namers[0]', file: 'l.yaml' });
  assert.equal(made.prefix.show(), '/#/io.l5d.k8s');
  assert.equal((made.namer as K8sNamer).api.port, k8s.port);
  const d = createNamer({ kind: 'io.l5d.k8s', prefix: '/k' }, { readPath });
  assert.equal(d.prefix.show(), '/#/k');
  assert.equal((d.namer as K8sNamer).api.host, 'localhost');
  assert.equal((d.namer as K8sNamer).api.port, 8001);
  assert.throws(
    () => createNamer({ kind: 'io.l5d.k8s', port: 70000 }, { readPath, keyPath: 'namers[1]', file: 'l.yaml' }),
    (e: Error & { code?: string }) => e.code === 'MESH_ERR_NAMER_CONFIG' && e.message.includes('namers[1].port') && e.message.includes('70000'),
  );
});

test('io.l5d.k8s.daemonset: each address maps to the daemonset pod on its node (nodeName with hostNetwork, /24 otherwise)', async () => {
  const { createTransformer } = await import('../../src/transformers/index.js');
  const { toDaemonSet } = await import('../../src/transformers/k8s-daemonset.js');
  k8s.putObject('linkerd', 'endpoints', endpoints('l5d', [['10.9.1.5', 'node-a'], ['10.9.2.5', 'node-b']], { incoming: 4141 }));
  k8s.putObject('default', 'endpoints', endpoints('app', [['10.9.1.20', 'node-a'], ['10.9.1.21', 'node-a'], ['10.9.3.7', 'node-c']]));
  const namer = new K8sNamer(new K8sApi(k8s.host, k8s.port), PREFIX);
  const held = namer.lookup(p('/default/http/app')).states.observe(() => undefined);
  try {
    const b = await bound(namer, '/default/http/app');
    for (const hostNetwork of [true, false]) {
      const t = createTransformer({ kind: 'io.l5d.k8s.daemonset', namespace: 'linkerd', service: 'l5d', port: 'incoming', hostNetwork, k8sHost: '127.0.0.1', k8sPort: k8s.port });
      assert.equal(t.prefix.show(), '/%/io.l5d.k8s.daemonset/linkerd/incoming/l5d');
      const mapped = t.mapBound!(b);
      assert.equal(mapped.id.show(), '/%/io.l5d.k8s.daemonset/linkerd/incoming/l5d/#/io.l5d.k8s/default/http/app');
      // node-a's two app pods collapse to node-a's daemonset pod; node-c has none.
      assert.equal(describeAddr(await Var.firstMatching(mapped.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:10.9.1.5:4141@node-a');
    }
    const t = createTransformer({ kind: 'io.l5d.k8s.daemonset', namespace: 'linkerd', service: 'l5d', port: 'incoming', hostNetwork: true, k8sHost: '127.0.0.1', k8sPort: k8s.port });
    const mapped = t.mapBound!(b);
    const sub = mapped.addr.observe(() => undefined);
    try {
      // Scaling the app onto node-b reaches the mapped Addr.
      k8s.putObject('default', 'endpoints', endpoints('app', [['10.9.1.20', 'node-a'], ['10.9.2.30', 'node-b']]));
      await Var.firstMatching(mapped.addr, (a) => describeAddr(a) === 'bound:10.9.1.5:4141@node-a,10.9.2.5:4141@node-b', WAIT_MS);
    } finally {
      sub.close();
    }
  } finally {
    held.close();
  }
  const pod = { host: '10.0.0.1', port: 1, meta: { nodeName: 'x' } };
  assert.deepEqual(toDaemonSet({ type: 'bound', addrs: [{ host: '10.0.0.9', port: 2, meta: { nodeName: 'y' } }], meta: {} }, { type: 'bound', addrs: [pod], meta: {} }, true), { type: 'neg' });
  assert.deepEqual(toDaemonSet({ type: 'neg' }, { type: 'bound', addrs: [pod], meta: {} }, true), { type: 'neg' });
  assert.deepEqual(toDaemonSet({ type: 'bound', addrs: [{ host: '10.0.0.9', port: 2, meta: {} }], meta: {} }, { type: 'neg' }, false), { type: 'neg' });
});

test('io.l5d.k8s with namer transformers: answers go through io.l5d.k8s.daemonset', async () => {
  k8s.putObject('linkerd', 'endpoints', endpoints('l5d-t', [['10.8.1.5', 'node-a']], { incoming: 4141 }));
  k8s.putObject('default', 'endpoints', endpoints('tapp', [['10.8.1.20', 'node-a']]));
  const readPath = (s: string): Path => p(s);
  const made = createNamer(
    { kind: 'io.l5d.k8s', host: '127.0.0.1', port: k8s.port, transformers: [{ kind: 'io.l5d.k8s.daemonset', namespace: 'linkerd', service: 'l5d-t', port: 'incoming', hostNetwork: true, k8sHost: '127.0.0.1', k8sPort: k8s.port }] },
    { readPath, keyPath: 'namers[0]' },
  );
  const act = made.namer.lookup(p('/default/http/tapp'));
  const held = act.states.observe(() => undefined);
  try {
    const s = await Var.firstMatching(act.states, (x) => x.type !== 'pending', WAIT_MS);
    assert.equal(describeTree(s), 'leaf:/%/io.l5d.k8s.daemonset/linkerd/incoming/l5d-t/#/io.l5d.k8s/default/http/tapp:/');
    const b = (s as { value: { value: BoundName } }).value.value;
    assert.equal(describeAddr(await Var.firstMatching(b.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:10.8.1.5:4141@node-a');
  } finally {
    held.close();
  }
  assert.throws(
    () => createNamer({ kind: 'io.l5d.k8s', transformers: [{ kind: 'io.l5d.k8s.daemonset', service: 's', port: 'p' }] }, { readPath, keyPath: 'namers[2]', file: 'l.yaml' }),
    (e: Error & { code?: string }) => e.code === 'MESH_ERR_NAMER_CONFIG' && e.message.includes('namers[2].transformers') && e.message.includes("'namespace' is required"),
  );
});

test('io.l5d.k8s.external: LoadBalancer ingress addresses on the named service port; io.l5d.k8s.ns: namespace from envVar', async () => {
  const readPath = (s: string): Path => p(s);
  const svc = (ingress: readonly Record<string, string>[]): K8sObject => ({
    kind: 'Service',
    apiVersion: 'v1',
    metadata: { name: 'web' },
    spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    status: { loadBalancer: { ingress } },
  });
  k8s.putObject('prod', 'services', svc([{ ip: '203.0.113.7' }]));
  const ext = createNamer({ kind: 'io.l5d.k8s.external', experimental: true, host: '127.0.0.1', port: k8s.port }, { readPath, keyPath: 'namers[0]' });
  assert.equal(ext.prefix.show(), '/#/io.l5d.k8s.external');
  const act = ext.namer.lookup(p('/prod/http/web'));
  const held = act.states.observe(() => undefined);
  try {
    const s = await Var.firstMatching(act.states, (x) => x.type !== 'pending', WAIT_MS);
    assert.equal(describeTree(s), 'leaf:/#/io.l5d.k8s.external/prod/http/web:/');
    const b = (s as { value: { value: BoundName } }).value.value;
    assert.equal(describeAddr(await Var.firstMatching(b.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:203.0.113.7:80@undefined');
    k8s.putObject('prod', 'services', svc([{ ip: '203.0.113.7' }, { hostname: 'lb.example.com' }]));
    await Var.firstMatching(b.addr, (a) => describeAddr(a) === 'bound:203.0.113.7:80@undefined,lb.example.com:80@undefined', WAIT_MS);
    assert.equal(describeTree(await Var.firstMatching(ext.namer.lookup(p('/prod/80/web')).states, (x) => x.type !== 'pending', WAIT_MS)), 'leaf:/#/io.l5d.k8s.external/prod/80/web:/');
    assert.equal(describeTree(await Var.firstMatching(ext.namer.lookup(p('/prod/grpc/web')).states, (x) => x.type !== 'pending', WAIT_MS)), 'neg');
  } finally {
    held.close();
  }

  k8s.putObject('team-a', 'endpoints', endpoints('api', [['10.7.0.1', 'n1']]));
  process.env['MESHWORK_TEST_K8S_NS'] = 'team-a';
  try {
    const ns = createNamer({ kind: 'io.l5d.k8s.ns', envVar: 'MESHWORK_TEST_K8S_NS', host: '127.0.0.1', port: k8s.port }, { readPath, keyPath: 'namers[1]' });
    assert.equal(ns.prefix.show(), '/#/io.l5d.k8s.ns');
    const a = ns.namer.lookup(p('/http/api/rest'));
    const h = a.states.observe(() => undefined);
    try {
      const s = await Var.firstMatching(a.states, (x) => x.type !== 'pending', WAIT_MS);
      assert.equal(describeTree(s), 'leaf:/#/io.l5d.k8s.ns/http/api:/rest');
      const b = (s as { value: { value: BoundName } }).value.value;
      assert.equal(describeAddr(await Var.firstMatching(b.addr, (x) => x.type !== 'pending', WAIT_MS)), 'bound:10.7.0.1:8080@n1');
    } finally {
      h.close();
    }
  } finally {
    delete process.env['MESHWORK_TEST_K8S_NS'];
  }
  assert.throws(
    () => createNamer({ kind: 'io.l5d.k8s.ns', envVar: 'MESHWORK_TEST_K8S_NS' }, { readPath, keyPath: 'namers[1]', file: 'l.yaml' }),
    (e: Error & { code?: string }) => e.code === 'MESH_ERR_NAMER_CONFIG' && e.message.includes('namers[1].envVar') && e.message.includes('MESHWORK_TEST_K8S_NS'),
  );
});

test('labelSelector: the label value is one more element, and binds only while the service carries that label', async () => {
  const eps = (labels: Record<string, string>): K8sObject => ({ ...endpoints('labelled', [['10.7.0.1', 'n1']]), metadata: { name: 'labelled', labels } });
  k8s.putObject('prod', 'endpoints', eps({ version: 'v1', app: 'web' }));
  const readPath = (s: string): Path => p(s);
  const made = createNamer({ kind: 'io.l5d.k8s', host: '127.0.0.1', port: k8s.port, labelSelector: 'version' }, { readPath, keyPath: 'namers[0]', file: 'l.yaml' });
  const namer = made.namer as K8sNamer;
  const v1 = await bound(namer, '/prod/http/labelled/v1/rest');
  assert.equal(v1.id.show(), '/#/io.l5d.k8s/prod/http/labelled/v1');
  assert.equal(v1.residual.show(), '/rest');
  assert.equal(describeAddr(await Var.firstMatching(v1.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:10.7.0.1:8080@n1');
  const state = (path: string): Promise<string> => Var.firstMatching(namer.lookup(p(path)).states, (x) => x.type !== 'pending', WAIT_MS).then(describeTree);
  assert.equal(await state('/prod/http/labelled/v2'), 'neg', 'another value of the label');
  assert.equal(await state('/prod/http/labelled'), 'neg', 'the label value element is required');
  // Relabelled to v2: the v1 name goes Neg, the v2 name binds.
  const v1States = namer.lookup(p('/prod/http/labelled/v1')).states;
  const seen: string[] = [];
  const c = v1States.observe((s) => seen.push(describeTree(s)));
  try {
    k8s.putObject('prod', 'endpoints', eps({ version: 'v2' }));
    await Var.firstMatching(v1States, (s) => describeTree(s) === 'neg', WAIT_MS);
    assert.match(await state('/prod/http/labelled/v2'), /^leaf:\/#\/io\.l5d\.k8s\/prod\/http\/labelled\/v2:/);
  } finally {
    c.close();
  }
  assert.ok(seen.some((x) => x.startsWith('leaf:')) && seen.at(-1) === 'neg', seen.join(' '));
});

test('names are read in lower case, as Linkerd reads them: /Default/HTTP/World binds /default/http/world', async () => {
  k8s.putObject('default', 'endpoints', endpoints('caps', [['10.8.0.1', 'n1']]));
  const namer = new K8sNamer(new K8sApi(k8s.host, k8s.port), PREFIX);
  const b = await bound(namer, '/Default/HTTP/Caps/Keep/Case');
  assert.equal(b.id.show(), '/#/io.l5d.k8s/default/http/caps');
  assert.equal(b.residual.show(), '/Keep/Case', 'the residual keeps its case');
  assert.equal(describeAddr(await Var.firstMatching(b.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:10.8.0.1:8080@n1');
});
