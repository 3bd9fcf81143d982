import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Activity } from '../../src/naming/activity.js';
import type { Addr } from '../../src/naming/addr.js';
import type { BoundName, Var } from '../../src/naming/contracts.js';
import { NEG, EMPTY, leaf, union, weighted, alt, type NameTree } from '../../src/naming/name-tree.js';
import { Path } from '../../src/naming/path.js';
import { ConstVar, MutableVar } from '../../src/naming/var.js';
import { applyTransformers, createTransformer, createTransformers, transformerPlugins, TransformerError } from '../../src/transformers/index.js';
import { ipBytes } from '../../src/transformers/transformer.js';

function addr(...hostPorts: string[]): Addr {
  return {
    type: 'bound',
    addrs: hostPorts.map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)), meta: {} };
    }),
    meta: {},
  };
}

function bound(id: string, a: Addr | Var<Addr>, residual = '/'): BoundName {
  const p = (s: string) => (s === '/' ? Path.empty : Path.utf8(...s.split('/').slice(1)));
  return { id: p(id), addr: 'sample' in (a as object) ? (a as Var<Addr>) : new ConstVar(a as Addr), residual: p(residual) };
}

/** A tree as text: ids, addrs and residuals of its leaves. */
function show(t: NameTree<BoundName>): string {
  switch (t.type) {
    case 'leaf': {
      const a = t.value.addr.sample();
      const as = a.type === 'bound' ? a.addrs.map((x) => `${x.host}:${x.port}`).join(',') : a.type;
      return `${t.value.id.show()}[${as}]${t.value.residual.isEmpty ? '' : t.value.residual.show()}`;
    }
    case 'alt':
      return '(' + t.trees.map(show).join(' | ') + ')';
    case 'union':
      return '(' + t.trees.map((w) => `${w.weight}*${show(w.tree)}`).join(' & ') + ')';
    default:
      return t.type;
  }
}

function run(t: { transform(tree: NameTree<BoundName>): { states: Var<unknown> } }, tree: NameTree<BoundName>): string {
  const s = Activity.from(t.transform(tree) as Activity<NameTree<BoundName>>).sample();
  if (s.type !== 'ok') return s.type;
  return show(s.value);
}

const users = bound('/#/io.l5d.fs/users', addr('10.0.0.1:8080', '127.0.0.1:8081'), '/v1');

test('io.l5d.port replaces ports and prefixes ids with /%/io.l5d.port/<port>', () => {
  const t = createTransformer({ kind: 'io.l5d.port', port: 4141 });
  assert.equal(t.prefix.show(), '/%/io.l5d.port/4141');
  assert.equal(run(t, leaf(users)), '/%/io.l5d.port/4141/#/io.l5d.fs/users[10.0.0.1:4141,127.0.0.1:4141]/v1');
  assert.equal(run(t, NEG), 'neg');
  assert.equal(run(t, union(weighted(0.3, leaf(users)), weighted(0.7, EMPTY))), '(0.3*/%/io.l5d.port/4141/#/io.l5d.fs/users[10.0.0.1:4141,127.0.0.1:4141]/v1 & 0.7*empty)');
  assert.equal(t.delegateName, 'DelegatingNameTreeTransformer$');
  const custom = createTransformer({ kind: 'io.l5d.port', port: 80, prefix: '/custom' });
  assert.equal(run(custom, leaf(users)), '/%/custom/#/io.l5d.fs/users[10.0.0.1:80,127.0.0.1:80]/v1');
});

test('the port transformer follows Addr changes', () => {
  const v = new MutableVar<Addr>(addr('10.0.0.1:1'));
  const t = createTransformer({ kind: 'io.l5d.port', port: 9 });
  const out = Activity.from(t.transform(leaf(bound('/$/inet/x/1', v))) as Activity<NameTree<BoundName>>).sample();
  assert.equal(out.type, 'ok');
  const b = (out as { value: { value: BoundName } }).value.value;
  const seen: string[] = [];
  const c = b.addr.observe((a) => seen.push(a.type === 'bound' ? a.addrs.map((x) => `${x.host}:${x.port}`).join(',') : a.type));
  v.update(addr('10.0.0.2:1', '10.0.0.3:2'));
  v.update({ type: 'neg' });
  c.close();
  assert.deepEqual(seen, ['10.0.0.1:9', '10.0.0.2:9,10.0.0.3:9', 'neg']);
});

test('io.l5d.localhost keeps only local IPs; none left is neg', () => {
  const t = createTransformer({ kind: 'io.l5d.localhost' }, { localAddresses: ['127.0.0.1', '::1'] });
  assert.equal(run(t, leaf(users)), '/%/io.l5d.localhost/#/io.l5d.fs/users[127.0.0.1:8081]/v1');
  assert.equal(run(t, leaf(bound('/$/inet/10.0.0.9/80', addr('10.0.0.9:80')))), '/%/io.l5d.localhost/$/inet/10.0.0.9/80[neg]');
  // Linkerd's /32 netmask is IPv4: IPv6 addresses never count as local; IPv4-mapped ones do.
  assert.equal(run(t, leaf(bound('/$/inet/v6/80', addr('0:0:0:0:0:0:0:1:80')))), '/%/io.l5d.localhost/$/inet/v6/80[neg]');
  assert.equal(run(t, leaf(bound('/$/inet/m/80', addr('::ffff:127.0.0.1:80')))), '/%/io.l5d.localhost/$/inet/m/80[::ffff:127.0.0.1:80]');
  assert.equal(t.delegateName, 'SubnetLocalTransformer');
  // Without a context it uses this machine's interfaces, which include loopback.
  const real = createTransformer({ kind: 'io.l5d.localhost' });
  assert.equal(run(real, leaf(bound('/$/inet/127.0.0.1/1', addr('127.0.0.1:1')))), '/%/io.l5d.localhost/$/inet/127.0.0.1/1[127.0.0.1:1]');
});

test('io.l5d.specificHost with an IP and with a name resolved later', async () => {
  const ip = createTransformer({ kind: 'io.l5d.specificHost', host: '10.0.0.1' });
  assert.equal(run(ip, leaf(users)), '/%/io.l5d.specificHost/#/io.l5d.fs/users[10.0.0.1:8080]/v1');
  let resolve!: (ips: readonly string[]) => void;
  const named = createTransformer(
    { kind: 'io.l5d.specificHost', host: 'docker-host' },
    { resolveHost: (h) => (assert.equal(h, 'docker-host'), new Promise((r) => (resolve = r))) },
  );
  const s = Activity.from(named.transform(leaf(users)) as Activity<NameTree<BoundName>>).sample();
  const b = (s as { value: { value: BoundName } }).value.value;
  const seen: string[] = [];
  const c = b.addr.observe((a) => seen.push(a.type === 'bound' ? a.addrs.map((x) => `${x.host}:${x.port}`).join(',') : a.type));
  assert.deepEqual(seen, ['pending']);
  resolve(['127.0.0.1']);
  await new Promise<void>((r) => setImmediate(r));
  c.close();
  assert.deepEqual(seen, ['pending', '127.0.0.1:8081']);
});

test('io.l5d.k8s.localnode: /24 of POD_IP, or nodeName metadata with hostNetwork', () => {
  const t = createTransformer({ kind: 'io.l5d.k8s.localnode' }, { env: { POD_IP: '10.0.0.17' } });
  assert.equal(t.prefix.show(), '/%/io.l5d.k8s.localnode/10.0.0.17');
  const pods = bound('/#/io.l5d.k8s/ns/http/web', addr('10.0.0.3:80', '10.0.1.3:80', '10.0.0.250:80'));
  assert.equal(run(t, leaf(pods)), '/%/io.l5d.k8s.localnode/10.0.0.17/#/io.l5d.k8s/ns/http/web[10.0.0.3:80,10.0.0.250:80]');
  const meta = (host: string, nodeName: string) => ({ host, port: 80, meta: { nodeName } });
  const hn = createTransformer({ kind: 'io.l5d.k8s.localnode', hostNetwork: true }, { env: { NODE_NAME: 'node-a' } });
  const onNodes = bound('/#/k', { type: 'bound', addrs: [meta('10.0.0.1', 'node-a'), meta('10.0.0.2', 'node-b')], meta: {} });
  assert.equal(run(hn, leaf(onNodes)), '/%/io.l5d.k8s.localnode/node-a/#/k[10.0.0.1:80]');
  assert.equal(hn.delegateName, 'MetadataFiltertingNameTreeTransformer');
  assert.throws(
    () => createTransformer({ kind: 'io.l5d.k8s.localnode' }, { env: {} }),
    (e: unknown) => e instanceof TransformerError && e.code === 'MESH_ERR_TRANSFORMER_MISSING_ENV' && e.message === "io.l5d.k8s.localnode: POD_IP env variable must be set to the pod's IP",
  );
  assert.throws(
    () => createTransformer({ kind: 'io.l5d.k8s.localnode', hostNetwork: true }, { env: {} }),
    (e: unknown) => e instanceof TransformerError && e.message === "io.l5d.k8s.localnode: NODE_NAME env variable must be set to the node's name",
  );
});

test('io.l5d.const ignores the tree, even Neg', () => {
  const t = createTransformer({ kind: 'io.l5d.const', path: '/$/inet/127.0.0.1/4140' });
  assert.equal(run(t, NEG), '/%/io.l5d.const/$/inet/127.0.0.1/4140[127.0.0.1:4140]');
  assert.equal(run(t, leaf(users)), '/%/io.l5d.const/$/inet/127.0.0.1/4140[127.0.0.1:4140]');
});

test('io.l5d.replace replaces leaves but keeps Neg', () => {
  const t = createTransformer({ kind: 'io.l5d.replace', path: '/$/inet/127.0.0.1/4140/rest' });
  assert.equal(run(t, NEG), 'neg');
  assert.equal(run(t, EMPTY), 'empty');
  assert.equal(
    run(t, alt(leaf(users), union(weighted(1, leaf(users)), weighted(2, NEG)))),
    '(/%/io.l5d.replace/$/inet/127.0.0.1/4140/rest[127.0.0.1:4140]/rest | (1*/%/io.l5d.replace/$/inet/127.0.0.1/4140/rest[127.0.0.1:4140]/rest & 2*neg))',
  );
});

test('transformers apply in order', () => {
  const list = createTransformers([{ kind: 'io.l5d.localhost' }, { kind: 'io.l5d.port', port: 4141 }], { localAddresses: ['127.0.0.1'] });
  const out = Activity.from(applyTransformers(list, Activity.value<NameTree<BoundName>>(leaf(users)))).sample();
  assert.equal(out.type, 'ok');
  assert.equal(show((out as { value: NameTree<BoundName> }).value), '/%/io.l5d.port/4141/%/io.l5d.localhost/#/io.l5d.fs/users[127.0.0.1:4141]/v1');
});

test('transformBinder wraps a binder; no transformers is the binder itself', async () => {
  const { transformBinder } = await import('../../src/transformers/index.js');
  const bind = (_dtab: string, path: Path) => Activity.value<NameTree<BoundName>>(leaf(bound('/$/inet/10.0.0.1/80' + path.show(), addr('10.0.0.1:80'))));
  assert.equal(transformBinder([], bind), bind);
  const wrapped = transformBinder(createTransformers([{ kind: 'io.l5d.port', port: 7 }]), bind);
  const s = Activity.from(wrapped('', Path.utf8('x'))).sample();
  assert.equal(s.type === 'ok' ? show(s.value) : s.type, '/%/io.l5d.port/7/$/inet/10.0.0.1/80/x[10.0.0.1:7]');
});

test('transformNamer transforms bound answers and passes paths through', async () => {
  const { transformNamer } = await import('../../src/transformers/index.js');
  const namer = {
    lookup: (p: Path) =>
      p.show() === '/rewrite'
        ? Activity.value<NameTree<BoundName | Path>>(leaf(Path.utf8('svc', 'other')))
        : Activity.value<NameTree<BoundName | Path>>(leaf(bound('/#/io.l5d.fs' + p.show(), addr('10.0.0.1:80')))),
  };
  const t = transformNamer(createTransformers([{ kind: 'io.l5d.port', port: 9 }]), namer);
  const a = Activity.from(t.lookup(Path.utf8('users'))).sample();
  assert.equal(a.type === 'ok' ? show(a.value as NameTree<BoundName>) : a.type, '/%/io.l5d.port/9/#/io.l5d.fs/users[10.0.0.1:9]');
  const b = Activity.from(t.lookup(Path.utf8('rewrite'))).sample();
  assert.ok(b.type === 'ok' && b.value.type === 'leaf' && b.value.value instanceof Path && b.value.value.show() === '/svc/other');
});

test('registry, unsupported kinds and config errors', () => {
  assert.deepEqual(
    transformerPlugins.map((p) => `${p.kind}${p.create ? '' : ' (not supported)'}`),
    ['io.l5d.localhost', 'io.l5d.specificHost', 'io.l5d.port', 'io.l5d.replace', 'io.l5d.const', 'io.l5d.k8s.daemonset', 'io.l5d.k8s.localnode'],
  );
  const code = (f: () => unknown) => {
    try {
      f();
      return 'none';
    } catch (e) {
      return `${(e as TransformerError).code}: ${(e as Error).message}`;
    }
  };
  assert.equal(
    code(() => createTransformer({ kind: 'io.l5d.k8s.daemonset', service: 's', port: 'p' })),
    "MESH_ERR_TRANSFORMER_MISSING_KEY: io.l5d.k8s.daemonset: 'namespace' is required",
  );
  assert.equal(code(() => createTransformer({ kind: 'io.l5d.port' })), "MESH_ERR_TRANSFORMER_MISSING_KEY: io.l5d.port: 'port' is required");
  assert.equal(code(() => createTransformer({ kind: 'io.l5d.port', port: 70000 })), 'MESH_ERR_TRANSFORMER_BAD_VALUE: io.l5d.port: \'port\' must be an integer between 1 and 65535, found 70000');
  assert.equal(code(() => createTransformer({ kind: 'io.l5d.const', path: 'nope' })), "MESH_ERR_TRANSFORMER_BAD_VALUE: io.l5d.const: 'path' must be a path: '/' expected but 'n' found at '[n]ope'");
  assert.equal(code(() => createTransformer({ kind: 'io.l5d.specificHost' })), "MESH_ERR_TRANSFORMER_MISSING_KEY: io.l5d.specificHost: 'host' is required");
  assert.ok(code(() => createTransformer({ kind: 'x' })).startsWith('MESH_ERR_TRANSFORMER_UNKNOWN_KIND: transformer: unknown kind "x"'));
});

test('ipBytes parses IPv4 and IPv6 literals', () => {
  assert.deepEqual(ipBytes('10.1.2.3'), [10, 1, 2, 3]);
  assert.deepEqual(ipBytes('::1'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(ipBytes('[fe80::1%eth0]'), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(ipBytes('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
  assert.equal(ipBytes('localhost'), undefined);
  assert.equal(ipBytes('1.2.3.256'), undefined);
  assert.equal(ipBytes('1::2::3'), undefined);
});

test('delegation explanation shows nested transformation nodes', async () => {
  const { explainTransformed } = await import('../../src/transformers/index.js');
  const list = createTransformers(
    [{ kind: 'io.l5d.port', port: 4141 }, { kind: 'io.l5d.const', path: '/$/inet/127.0.0.1/1' }, { kind: 'io.l5d.localhost' }],
    { localAddresses: ['127.0.0.1'] },
  );
  const b = bound('/$/inet/127.0.0.1/8080', addr('127.0.0.1:8080'));
  assert.equal(
    JSON.stringify(explainTransformed(list, '/svc/users', { prefix: '/svc', dst: '/$/inet/127.0.0.1/8080' }, b)),
    JSON.stringify({
      type: 'transformation',
      path: '/svc/users',
      name: 'DelegatingNameTreeTransformer$',
      bound: { addr: { type: 'bound', addrs: [{ ip: '127.0.0.1', port: 8080, meta: {} }], meta: {} }, id: '/$/inet/127.0.0.1/8080', path: '/' },
      tree: {
        type: 'transformation',
        path: '/%/io.l5d.port/4141/$/inet/127.0.0.1/8080',
        name: 'SubnetLocalTransformer',
        bound: { addr: { type: 'bound', addrs: [{ ip: '127.0.0.1', port: 4141, meta: {} }], meta: {} }, id: '/%/io.l5d.port/4141/$/inet/127.0.0.1/8080', path: '/' },
        tree: {
          type: 'leaf',
          path: '/%/io.l5d.localhost/%/io.l5d.port/4141/$/inet/127.0.0.1/8080',
          dentry: { prefix: '/svc', dst: '/$/inet/127.0.0.1/8080' },
          bound: {
            addr: { type: 'bound', addrs: [{ ip: '127.0.0.1', port: 4141, meta: {} }], meta: {} },
            id: '/%/io.l5d.localhost/%/io.l5d.port/4141/$/inet/127.0.0.1/8080',
            path: '/',
          },
        },
      },
    }),
  );
  assert.deepEqual(explainTransformed([], '/p', undefined, b), {
    type: 'leaf',
    path: '/p',
    bound: { addr: { type: 'bound', addrs: [{ ip: '127.0.0.1', port: 8080, meta: {} }], meta: {} }, id: '/$/inet/127.0.0.1/8080', path: '/' },
  });
});
