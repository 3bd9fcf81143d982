/**
 * What a linker loads is what its config uses: with a plain HTTP router (the bench's config)
 * none of the other routers' modules, namerd's stores, the local interpreters, the serversets
 * announcer with its ZooKeeper code or the Kubernetes API client is loaded (they cost resident
 * memory every sidecar would pay); a config that uses some of them loads those. Modules are
 * listed by test/support/module-log.ts, preloaded into a real `meshwork linkerd`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnReady } from '../support/process.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const HOOK = fileURLToPath(new URL('../support/module-log.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mw-modules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Meshwork's modules (paths under dist/src) a linker running `yaml` loaded by the time it stopped. */
async function loadedBy(name: string, yaml: string): Promise<Set<string>> {
  const file = join(dir, `${name}.yaml`);
  const log = join(dir, `${name}.modules`);
  writeFileSync(file, yaml);
  const proc = await spawnReady(process.execPath, ['--import', HOOK, BIN, 'linkerd', file], /admin listening on/, 15_000, { ...process.env, MESHWORK_MODULE_LOG: log });
  await proc.stop(5000);
  const out = new Set<string>();
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    const at = url.indexOf('/dist/src/');
    if (at >= 0) out.add(url.slice(at + '/dist/src/'.length));
  }
  return out;
}

/** Modules a plain HTTP linker does not need. */
const NOT_FOR_PLAIN_HTTP = [
  'router/h2/build.js',
  'router/thrift/build.js',
  'router/mux/build.js',
  'router/tcp/build.js',
  'router/tcp/router.js',
  'protocol/tcp/splice.js',
  'namerd/stores/in-memory.js',
  'namerd/stores/lazy-store.js',
  'interpreters/dtab-file.js',
  'interpreters/consul.js',
  'interpreters/k8s-configmap.js',
  'announcers/serversets.js',
  'namers/zk-dir.js',
  'namers/k8s/api.js',
  'namers/fs.js',
];

test('a plain HTTP linker loads none of the modules its config does not use', async () => {
  const loaded = await loadedBy('plain', `
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: http
  label: plain
  identifier: {kind: io.l5d.header.token, header: Host}
  dtab: /svc => /$/inet/127.1/9;
  client: {loadBalancer: {kind: p2c}}
  servers: [{ip: 127.0.0.1, port: 0}]
`);
  assert.ok(loaded.has('router/router.js') && loaded.has('protocol/http1/server.js'), [...loaded].join(' '));
  assert.deepEqual(NOT_FOR_PLAIN_HTTP.filter((m) => loaded.has(m)), []);
});

test('a linker loads the modules its config uses: a tcp router, the io.l5d.fs namer and interpreter', async () => {
  writeFileSync(join(dir, 'dtab'), '/svc => /#/io.l5d.fs;\n');
  const loaded = await loadedBy('used', `
admin: {ip: 127.0.0.1, port: 0}
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
- protocol: tcp
  label: used
  interpreter: {kind: io.l5d.fs, dtabFile: ${join(dir, 'dtab')}}
  servers: [{ip: 127.0.0.1, port: 0}]
`);
  assert.deepEqual(['router/tcp/build.js', 'router/tcp/router.js', 'protocol/tcp/splice.js', 'interpreters/dtab-file.js', 'namers/fs.js'].filter((m) => !loaded.has(m)), []);
});
