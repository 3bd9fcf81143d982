import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globalNamer } from '../../src/namers/builtin/index.js';
import { Activity } from '../../src/naming/activity.js';
import type { BoundName, Name } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { Path } from '../../src/naming/path.js';
import { Var } from '../../src/naming/var.js';
import type { Addr } from '../../src/naming/addr.js';

const p = (s: string): Path => Path.utf8(...s.split('/').filter((e) => e.length > 0));

async function lookup(s: string): Promise<NameTree<Name>> {
  return Activity.from(globalNamer.lookup(p(s))).toPromise(2000);
}

/** A rewritten path as text, `neg`, or the tree type. */
async function rewritten(s: string): Promise<string> {
  const t = await lookup(s);
  if (t.type === 'leaf' && t.value instanceof Path) return t.value.show();
  return t.type;
}

async function bound(s: string): Promise<{ id: string; residual: string; addr: Addr }> {
  const t = await lookup(s);
  assert.equal(t.type, 'leaf');
  const b = (t as { value: BoundName }).value;
  const addr = await Var.firstMatching(b.addr, (a) => a.type !== 'pending', 2000);
  return { id: b.id.show(), residual: b.residual.show(), addr };
}

test('io.buoyant.http rewriters (Linkerd HttpTest cases)', async () => {
  assert.equal(await rewritten('/$/io.buoyant.http.anyMethod/GET/foo/bar/bah'), '/foo/bar/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.anyMethod/A.B/foo/bar/bah'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.http.anyMethodPfx/foo/GET/bar/bah'), '/foo/bar/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.anyMethodPfx/foo/A.B/bar/bah'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.http.anyHost/a.b/foo/bar/bah'), '/foo/bar/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.anyHost/a%b/foo/bar/bah'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.http.anyHostPfx/foo/a.b/bar/bah'), '/foo/bar/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.anyHostPfx/foo/a%b/bar/bah'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.http.subdomainOf/a.b/foo.a.b/bar/bah'), '/foo/bar/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.subdomainOf/a.b/foo.c.d/bar'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.http.subdomainOfPfx/a.b/foo/bar.a.b/bah'), '/foo/bar/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.subdomainOfPfx/a.b/foo/bar_suffix.a.b/bah'), '/foo/bar_suffix/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.subdomainOfPfx/a.b/foo/bar-suffix.a.b/bah'), '/foo/bar-suffix/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.subdomainOfPfx/a.b/foo/bar.a.b:9090/bah'), '/foo/bar/bah');
  assert.equal(await rewritten('/$/io.buoyant.http.domainToPath/foo.buoyant.io'), '/io/buoyant/foo');
  assert.equal(await rewritten('/$/io.buoyant.http.domainToPath/foo.buoyant.io/rest'), '/io/buoyant/foo/rest');
  assert.equal(await rewritten('/$/io.buoyant.http.domainToPathPfx/pfx/foo.buoyant.io'), '/pfx/io/buoyant/foo');
  assert.equal(await rewritten('/$/io.buoyant.http.domainToPathPfx/pfx'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.http.anyMethod'), 'neg');
});

test('io.buoyant.hostportPfx / porthostPfx (Linkerd HostPortTest cases)', async () => {
  assert.equal(await rewritten('/$/io.buoyant.hostportPfx/ia/127.1:8080/etc'), '/ia/127.1/8080/etc');
  assert.equal(await rewritten('/$/io.buoyant.hostportPfx/ia/google.com:8180/etc'), '/ia/google.com/8180/etc');
  assert.equal(await rewritten('/$/io.buoyant.hostportPfx/ia/google.com:8180:abcdef/etc'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.porthostPfx/ia/127.1:8080/etc'), '/ia/8080/127.1/etc');
  assert.equal(await rewritten('/$/io.buoyant.hostportPfx/ia/google.com:http/etc'), '/ia/google.com/http/etc');
  assert.equal(await rewritten('/$/io.buoyant.hostportPfx/ia/127.1:http/etc'), '/ia/127.1/http/etc');
  assert.equal(await rewritten('/$/io.buoyant.hostportPfx/ia/google.com:http:abcdef/etc'), 'neg');
  assert.equal(await rewritten('/$/io.buoyant.porthostPfx/ia/127.1:http/etc'), '/ia/http/127.1/etc');
  assert.equal(await rewritten('/$/io.buoyant.hostportPfx/ia/nocolon/etc'), 'neg');
});

test('inet: host/port with residual, id without the residual', async () => {
  const b = await bound('/$/inet/127.0.0.1/8080/foo/bar');
  assert.deepEqual(b, {
    id: '/$/inet/127.0.0.1/8080',
    residual: '/foo/bar',
    addr: { type: 'bound', addrs: [{ host: '127.0.0.1', port: 8080, meta: {} }], meta: {} },
  });
});

test('inet: short IPv4 forms resolve as Java does (127.1 → 127.0.0.1)', async () => {
  const b = await bound('/$/inet/127.1/8080');
  assert.equal(b.id, '/$/inet/127.1/8080');
  assert.equal(b.residual, '/');
  assert.deepEqual(b.addr, { type: 'bound', addrs: [{ host: '127.0.0.1', port: 8080, meta: {} }], meta: {} });
});

test('inet: port only binds the wildcard address', async () => {
  const b = await bound('/$/inet/4140/x');
  assert.deepEqual(b, {
    id: '/$/inet/4140',
    residual: '/x',
    addr: { type: 'bound', addrs: [{ host: '0.0.0.0', port: 4140, meta: {} }], meta: {} },
  });
});

test('inet: localhost is resolved through DNS', async () => {
  const b = await bound('/$/inet/localhost/9000');
  assert.equal(b.addr.type, 'bound');
  const hosts = (b.addr as { addrs: readonly { host: string; port: number }[] }).addrs.map((a) => `${a.host}:${a.port}`);
  assert.ok(hosts.includes('127.0.0.1:9000') || hosts.includes('::1:9000'), hosts.join(','));
});

test('fixedinet binds like inet', async () => {
  const b = await bound('/$/fixedinet/127.0.0.1/81/r');
  assert.deepEqual(b, {
    id: '/$/fixedinet/127.0.0.1/81',
    residual: '/r',
    addr: { type: 'bound', addrs: [{ host: '127.0.0.1', port: 81, meta: {} }], meta: {} },
  });
});

test('io.buoyant.rinet binds port-first (Linkerd RinetTest)', async () => {
  const b = await bound('/$/io.buoyant.rinet/12345/127.0.0.1/residual');
  assert.deepEqual(b, {
    id: '/$/io.buoyant.rinet/12345/127.0.0.1',
    residual: '/residual',
    addr: { type: 'bound', addrs: [{ host: '127.0.0.1', port: 12345, meta: {} }], meta: {} },
  });
  assert.equal((await lookup('/$/io.buoyant.rinet/12345')).type, 'neg');
});

test('fail and nil', async () => {
  assert.equal((await lookup('/$/fail')).type, 'fail');
  assert.equal((await lookup('/$/fail/x/y')).type, 'fail');
  assert.equal((await lookup('/$/nil')).type, 'empty');
  assert.equal((await lookup('/$/nil/x')).type, 'empty');
});

test('unknown /$/ namers fail with Linkerd\'s message; non-/$/ paths are neg', async () => {
  await assert.rejects(lookup('/$/x/y'), (e: Error & { code?: string }) => {
    assert.equal(e.message, 'Unknown namer: x for path: /$/x/y');
    assert.equal(e.code, 'MESH_ERR_UNKNOWN_NAMER');
    return true;
  });
  await assert.rejects(lookup('/$/inet/nope'), /Unknown namer: inet for path: \/\$\/inet\/nope/);
  assert.equal((await lookup('/foo/bar')).type, 'neg');
  assert.equal((await lookup('/$')).type, 'neg');
});
