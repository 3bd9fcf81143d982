/**
 * The `envoy` key of namerd's io.meshwork.xds interface: its defaults, and clear errors (file,
 * key path, what was found, what is allowed) for a config Envoy could not use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNamerdConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import '../../src/namerd/register-interfaces.js';
import { implementPlugin } from '../../src/config/plugins.js';

implementPlugin('storage', 'io.l5d.inMemory', () => ({}));

const base = 'storage: {kind: io.l5d.inMemory}\ninterfaces:\n';

function issues(yaml: string): { code: string; keyPath: string; found: unknown; message: string }[] {
  try {
    parseNamerdConfig(base + yaml, 'namerd.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.errors.map((i) => ({ code: i.code, keyPath: i.keyPath, found: i.found, message: i.message }));
  }
  assert.fail('the config loaded but errors were expected');
}

test('io.meshwork.xds envoy: listeners get ip 0.0.0.0 and services [] by default; without envoy nothing is added', () => {
  const c = parseNamerdConfig(base + '- kind: io.meshwork.xds\n  envoy:\n    listeners:\n    - port: 4140\n    - {port: 4141, ip: "::1", name: internal}\n- {kind: io.meshwork.xds, port: 18001}\n', 'namerd.yaml');
  assert.deepEqual(c.interfaces[0], {
    kind: 'io.meshwork.xds',
    ip: '127.0.0.1',
    port: 18000,
    prefix: '/svc',
    namespace: 'default',
    envoy: { listeners: [{ port: 4140, ip: '0.0.0.0' }, { port: 4141, ip: '::1', name: 'internal' }], services: [] },
  });
  assert.equal((c.interfaces[1] as Record<string, unknown>)['envoy'], undefined);
});

test('io.meshwork.xds envoy: a missing or bad listener port, a host name for ip, clashing listeners, bad service names', () => {
  assert.deepEqual(issues('- kind: io.meshwork.xds\n  envoy: {services: [web]}\n').map((i) => [i.code, i.message]), [
    ['MESH_ERR_CONFIG_MISSING_KEY', "namerd.yaml: interfaces[0].envoy.listeners: required key 'listeners' missing"],
  ]);
  const got = issues(
    `- kind: io.meshwork.xds
  envoy:
    listeners:
    - {ip: 0.0.0.0}
    - {port: 70000}
    - {port: 4140, ip: envoy.local}
    - {port: 4141}
    - {port: 4142, name: http-4141}
    - {port: 4141, ip: 0.0.0.0, name: other}
    services: [web, "web:8080", "*"]
`,
  );
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath, i.found]),
    [
      ['MESH_ERR_CONFIG_MISSING_KEY', 'interfaces[0].envoy.listeners[0].port', undefined],
      ['MESH_ERR_CONFIG_RANGE', 'interfaces[0].envoy.listeners[1].port', 70000],
      ['MESH_ERR_CONFIG_INVALID', 'interfaces[0].envoy.listeners[2].ip', 'envoy.local'],
      ['MESH_ERR_CONFIG_INVALID', 'interfaces[0].envoy.listeners[4].name', 'http-4141'],
      ['MESH_ERR_CONFIG_INVALID', 'interfaces[0].envoy.listeners[5].port', 4141],
      ['MESH_ERR_CONFIG_INVALID', 'interfaces[0].envoy.services[1]', 'web:8080'],
      ['MESH_ERR_CONFIG_INVALID', 'interfaces[0].envoy.services[2]', '*'],
    ],
  );
  const byKey = new Map(got.map((i) => [i.keyPath, i.message]));
  assert.equal(
    byKey.get('interfaces[0].envoy.listeners[2].ip'),
    'namerd.yaml: interfaces[0].envoy.listeners[2].ip: expected an IP address for an Envoy listener (Envoy does not resolve listener host names), found "envoy.local"',
  );
  assert.equal(
    byKey.get('interfaces[0].envoy.listeners[4].name'),
    `namerd.yaml: interfaces[0].envoy.listeners[4].name: Envoy listener name "http-4141" is also interfaces[0].envoy.listeners[3]'s; give each listener its own name`,
  );
  assert.equal(byKey.get('interfaces[0].envoy.listeners[5].port'), 'namerd.yaml: interfaces[0].envoy.listeners[5].port: Envoy listener 0.0.0.0:4141 is also interfaces[0].envoy.listeners[3]');
  assert.equal(
    byKey.get('interfaces[0].envoy.services[1]'),
    `namerd.yaml: interfaces[0].envoy.services[1]: expected a service name usable as a Host header without its port (letters, digits, '_', '.', '-'), found "web:8080"`,
  );
  assert.deepEqual(issues('- kind: io.meshwork.xds\n  envoy: {listeners: []}\n').map((i) => i.message), [
    'namerd.yaml: interfaces[0].envoy.listeners: at least one listener is required (each with a port)',
  ]);
  assert.deepEqual(issues('- kind: io.meshwork.xds\n  envoy: {listeners: [{port: 4140}], routes: x}\n').map((i) => i.message), [
    "namerd.yaml: interfaces[0].envoy.routes: unknown key 'routes'; allowed keys: listeners, services",
  ]);
});
