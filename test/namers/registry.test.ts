import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_ONLY, createNamer, createNamers, getNamerSpec, namerKinds, registerNamer } from '../../src/namers/registry.js';
import { NamerError } from '../../src/namers/errors.js';
import { bind, type DtabLookup } from '../../src/naming/binder.js';
import { Activity } from '../../src/naming/activity.js';
import { boundName } from '../../src/naming/bound.js';
import type { BoundName, Name } from '../../src/naming/contracts.js';
import { NEG, leaf, type NameTree } from '../../src/naming/name-tree.js';
import { Path } from '../../src/naming/path.js';
import { Var } from '../../src/naming/var.js';
import { ADDR_NEG } from '../../src/naming/addr.js';
import { getPlugin } from '../../src/config/plugins.js';
import { configuredPrefix, type NamerSpec } from '../../src/namers/spec.js';

const p = (s: string): Path => Path.utf8(...s.split('/').filter((e) => e.length > 0));
const readPath = (s: string): Path => {
  if (!s.startsWith('/')) throw new Error(`'/' expected but '${s[0] ?? ''}' found`);
  return p(s);
};
const NO_DTAB: DtabLookup = { lookup: () => NEG };

/** A namer that binds everything under its prefix to its own prefix (Linkerd's test booNamer). */
function prefixNamer(kind: string, defaultPrefix: string): NamerSpec {
  return {
    category: 'namer',
    kind,
    fields: { prefix: { type: 'path', default: defaultPrefix } },
    create(config, ctx) {
      const prefix = configuredPrefix({ prefix: config['prefix'] ?? defaultPrefix }, kind, ctx);
      return {
        prefix,
        namer: { lookup: (rest: Path) => Activity.value<NameTree<Name>>(leaf<Name>(boundName(prefix, Var.value(ADDR_NEG), rest))) },
      };
    },
  };
}

registerNamer(prefixNamer('test.boo', '/boo'));
registerNamer(prefixNamer('test.booUrns', '/boo/urns'));

async function bindShow(namersYaml: { kind: string }[], path: string): Promise<string> {
  const namers = createNamers(namersYaml, { readPath });
  const t = await bind(NO_DTAB, p(path), namers).toPromise(1000);
  assert.equal(t.type, 'leaf');
  const b = (t as { value: BoundName }).value;
  return `${b.id.show()} ${b.residual.show()}`;
}

test('namers are evaluated bottom-up (Linkerd NamerInitializersTest)', async () => {
  assert.equal(await bindShow([{ kind: 'test.booUrns' }, { kind: 'test.boo' }], '/#/boo/urns'), '/#/boo /urns');
  assert.equal(await bindShow([{ kind: 'test.boo' }, { kind: 'test.booUrns' }], '/#/boo/urns'), '/#/boo/urns /');
});

test('built-in kinds are registered here and in the config plugin registry', () => {
  assert.ok(namerKinds().includes('io.l5d.fs'));
  assert.ok(namerKinds().includes('io.l5d.rewrite'));
  assert.equal(getNamerSpec('io.l5d.fs')?.kind, 'io.l5d.fs');
  assert.equal(typeof getPlugin('namer', 'io.l5d.fs')?.create, 'function');
  assert.equal(typeof getPlugin('namer', 'io.l5d.rewrite')?.create, 'function');
});

test('default prefix is /#/<kind>, overridable with prefix:', () => {
  const fs = createNamer({ kind: 'io.l5d.fs', rootDir: '/tmp' }, { readPath });
  assert.equal(fs.prefix.show(), '/#/io.l5d.fs');
  const fs2 = createNamer({ kind: 'io.l5d.fs', rootDir: '/tmp', prefix: '/disco' }, { readPath });
  assert.equal(fs2.prefix.show(), '/#/disco');
  assert.equal(fs2.kind, 'io.l5d.fs');
  const rw = createNamer({ kind: 'io.l5d.rewrite', prefix: '/rw', pattern: '/{a}', name: '/b/{a}' }, { readPath });
  assert.equal(rw.prefix.show(), '/#/rw');
});

test('config errors name the file, key path, found value and allowed values', () => {
  const ctx = { readPath, file: 'linkerd.yaml', keyPath: 'namers[1]' };
  const check = (f: () => unknown, code: string, message: string): void => {
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof NamerError);
      assert.equal(e.code, code);
      assert.equal(e.message, message);
      return true;
    });
  };
  check(
    () => createNamer({ kind: 'io.l5d.nope' }, ctx),
    'MESH_ERR_NAMER_KIND',
    `linkerd.yaml: namers[1].kind: found "io.l5d.nope"; allowed: ${namerKinds().join(', ')}`,
  );
  check(() => createNamer({ kind: 'io.l5d.fs' }, ctx), 'MESH_ERR_NAMER_CONFIG', 'linkerd.yaml: namers[1].rootDir: found undefined; allowed: a non-empty string');
  check(
    () => createNamer({ kind: 'io.l5d.rewrite', pattern: '/a', name: '/b' }, ctx),
    'MESH_ERR_NAMER_CONFIG',
    "linkerd.yaml: namers[1].prefix: found undefined; allowed: a path (the 'prefix' property is required for the io.l5d.rewrite namer)",
  );
  check(
    () => createNamer({ kind: 'io.l5d.fs', rootDir: '/x', prefix: 'nope' }, ctx),
    'MESH_ERR_NAMER_CONFIG',
    `linkerd.yaml: namers[1].prefix: found "nope"; allowed: a path ('/' expected but 'n' found)`,
  );
  // createNamers numbers the entries itself.
  check(
    () => createNamers([{ kind: 'io.l5d.fs', rootDir: '/x' }, { kind: 'bad' }], { readPath, file: 'l.yaml' }),
    'MESH_ERR_NAMER_KIND',
    `l.yaml: namers[1].kind: found "bad"; allowed: ${namerKinds().join(', ')}`,
  );
});

test('BUILTIN_ONLY binds /$/ names', async () => {
  const t = await bind(NO_DTAB, p('/$/nil'), BUILTIN_ONLY).toPromise(1000);
  assert.equal(t.type, 'empty');
});

test('building the namer registry and every config plugin does not load the ZooKeeper client (about 2 MB resident)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const script = `
    await import(${JSON.stringify(src + 'config/builtin-plugins.js')});
    await import(${JSON.stringify(src + 'namers/registry.js')});
    await import(${JSON.stringify(src + 'router/naming-deps.js')});
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('node-zookeeper-client'));
    process.stdout.write(JSON.stringify(loaded));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
});

test('any namer takes transformers: io.l5d.fs answers pass io.l5d.port; a bad list names its key', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'mw-namer-t-'));
  try {
    writeFileSync(join(dir, 'users'), '10.0.0.1 8080\n10.0.0.2 8080\n');
    const made = createNamer({ kind: 'io.l5d.fs', rootDir: dir, transformers: [{ kind: 'io.l5d.port', port: 4141 }] }, { readPath, keyPath: 'namers[0]', file: 'l.yaml' });
    const st = await Var.firstMatching(made.namer.lookup(p('/users/rest')).states, (x) => x.type !== 'pending', 2000);
    assert.ok(st.type === 'ok' && st.value.type === 'leaf', JSON.stringify(st));
    const b = (st as { value: { value: BoundName } }).value.value;
    assert.equal(b.id.show(), '/%/io.l5d.port/4141/#/io.l5d.fs/users');
    assert.equal(b.residual.show(), '/rest');
    const addr = await Var.firstMatching(b.addr, (a) => a.type === 'bound', 2000);
    assert.deepEqual(addr.type === 'bound' ? addr.addrs.map((a) => `${a.host}:${a.port}`).sort() : [], ['10.0.0.1:4141', '10.0.0.2:4141']);
    // Without transformers the same namer answers the file's ports.
    const plain = createNamer({ kind: 'io.l5d.fs', rootDir: dir }, { readPath });
    const pt = await Var.firstMatching(plain.namer.lookup(p('/users')).states, (x) => x.type === 'ok', 2000);
    assert.equal((pt as { value: { value: BoundName } }).value.value.id.show(), '/#/io.l5d.fs/users');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => createNamer({ kind: 'io.l5d.fs', rootDir: '.', transformers: { kind: 'io.l5d.port' } }, { readPath, keyPath: 'namers[2]', file: 'l.yaml' }),
    (e: unknown) => e instanceof NamerError && /l\.yaml: namers\[2\]\.transformers: found .*; allowed: a list of transformers/.test(e.message),
  );
  assert.throws(
    () => createNamer({ kind: 'io.l5d.fs', rootDir: '.', transformers: [{ kind: 'io.l5d.nope' }] }, { readPath, keyPath: 'namers[2]', file: 'l.yaml' }),
    (e: unknown) => e instanceof NamerError && /namers\[2\]\.transformers: .*allowed: valid transformers \(transformer: unknown kind "io\.l5d\.nope"/.test(e.message),
  );
});
