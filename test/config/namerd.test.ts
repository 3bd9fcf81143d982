import { test } from 'node:test';
import assert from 'node:assert/strict';
import { implementPlugin } from '../../src/config/plugins.js';
import { parseNamerdConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';

implementPlugin('storage', 'io.l5d.inMemory', () => ({}));
implementPlugin('namer', 'io.l5d.fs', () => ({}));
implementPlugin('namerdInterface', 'io.l5d.httpController', () => ({}));
implementPlugin('namerdInterface', 'io.l5d.mesh', () => ({}));

function messages(yaml: string): string[] {
  try {
    parseNamerdConfig(yaml, 'namerd.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.errors.map((i) => i.message);
  }
  assert.fail('namerd config loaded but errors were expected');
}

test('namerd defaults: admin on 9991, interface ports and ips per kind', () => {
  const c = parseNamerdConfig(
    `
storage:
  kind: io.l5d.inMemory
  namespaces:
    default: /svc => /#/io.l5d.fs;
namers:
- kind: io.l5d.fs
  rootDir: namerd/examples/disco
interfaces:
- kind: io.l5d.httpController
- kind: io.l5d.mesh
  ip: 0.0.0.0
`,
    'namerd.yaml',
  );
  assert.deepEqual(c, {
    file: 'namerd.yaml',
    admin: { ip: '127.0.0.1', port: 9991, shutdownGraceMs: 10000, workerThreads: 2 },
    storage: { kind: 'io.l5d.inMemory', namespaces: { default: '/svc => /#/io.l5d.fs;' } },
    namers: [{ kind: 'io.l5d.fs', rootDir: 'namerd/examples/disco', prefix: '/io.l5d.fs' }],
    interfaces: [
      { kind: 'io.l5d.httpController', ip: '127.0.0.1', port: 4180 },
      { kind: 'io.l5d.mesh', ip: '0.0.0.0', port: 4321 },
    ],
    telemetry: [],
  });
});

test('namerd needs storage and at least one interface', () => {
  assert.deepEqual(messages('namers: []\n'), [
    "namerd.yaml: storage: required key 'storage' missing",
    "namerd.yaml: interfaces: required key 'interfaces' missing",
  ]);
  assert.deepEqual(messages('storage: {kind: io.l5d.inMemory}\ninterfaces: []\n'), [
    'namerd.yaml: interfaces: at least one interface is required',
  ]);
});

test('namerd rejects overlapping and empty namer prefixes', () => {
  const base = 'storage: {kind: io.l5d.inMemory}\ninterfaces: [{kind: io.l5d.httpController}]\n';
  assert.deepEqual(
    messages(
      base +
        `namers:
- {kind: io.l5d.fs, rootDir: a, prefix: /disco}
- {kind: io.l5d.fs, rootDir: b, prefix: /disco/b}
- {kind: io.l5d.fs, rootDir: c, prefix: /other}
- {kind: io.l5d.fs, rootDir: d, prefix: /}
- {kind: io.l5d.fs, rootDir: e}
- {kind: io.l5d.fs, rootDir: f}
`,
    ),
    [
      'namerd.yaml: namers[1].prefix: namer prefix /disco/b overlaps namers[0].prefix /disco',
      'namerd.yaml: namers[3].prefix: namer prefix must not be empty',
      'namerd.yaml: namers[5].prefix: namer prefix /io.l5d.fs overlaps namers[4].prefix /io.l5d.fs',
    ],
  );
});

test('namerd: unknown storage kind and a known one not built yet', () => {
  const iface = 'interfaces: [{kind: io.l5d.httpController}]\n';
  assert.deepEqual(messages('storage: {kind: io.l5d.redis}\n' + iface), [
    "namerd.yaml: storage.kind: unknown kind 'io.l5d.redis'; supported: io.l5d.inMemory; known, not supported yet: io.l5d.k8s, io.l5d.zk, io.l5d.etcd, io.l5d.consul",
  ]);
  assert.deepEqual(messages('storage: {kind: io.l5d.zk, zkAddrs: [{host: zk1}]}\n' + iface), [
    'namerd.yaml: not supported yet: io.l5d.zk at storage',
  ]);
});
