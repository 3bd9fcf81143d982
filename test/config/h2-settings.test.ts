/**
 * Validation of the h2 router's SETTINGS keys, `windowUpdateRatio`, `addForwardedHeader` and the
 * client's `socketOptions` and `hostConnectionPool` (config/router-fields.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/config/builtin-plugins.js';
import { parseLinkerdConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';

function messages(yaml: string): string[] {
  try {
    parseLinkerdConfig(yaml, 'linkerd.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.errors.map((i) => `${i.code} ${i.keyPath}`);
  }
  return [];
}

const h2 = (server: string, client: string): string => `
routers:
- protocol: h2
  dtab: /svc => /$/inet/127.0.0.1/1;
  servers:
  - port: 4142
${server}
  client:
    kind: io.l5d.global
${client}
`;

test('h2 SETTINGS keys and addForwardedHeader load on servers and clients', () => {
  const server = [
    '    initialStreamWindowBytes: 1048576',
    '    maxFrameBytes: 16777215',
    '    maxHeaderListBytes: 4294967295',
    '    maxHeaderListByts: 8192',
    '    headerTableBytes: 0',
    '    addForwardedHeader: {by: {kind: "ip:port"}, for: {kind: connectionRandom}}',
  ].join('\n');
  const client = ['    initialStreamWindowBytes: 2147483647', '    maxFrameBytes: 16384', '    maxHeaderListByts: 1', '    headerTableBytes: 4096'].join('\n');
  assert.deepEqual(messages(h2(server, client)), []);
});

test('out-of-range h2 SETTINGS are config errors naming the key path', () => {
  const server = ['    maxFrameBytes: 16383', '    initialStreamWindowBytes: 2147483648', '    headerTableBytes: -1'].join('\n');
  const client = ['    maxFrameBytes: 16777216', '    maxHeaderListBytes: 4294967296'].join('\n');
  assert.deepEqual(messages(h2(server, client)).sort(), [
    'MESH_ERR_CONFIG_RANGE routers[0].client.maxFrameBytes',
    'MESH_ERR_CONFIG_RANGE routers[0].client.maxHeaderListBytes',
    'MESH_ERR_CONFIG_RANGE routers[0].servers[0].headerTableBytes',
    'MESH_ERR_CONFIG_RANGE routers[0].servers[0].initialStreamWindowBytes',
    'MESH_ERR_CONFIG_RANGE routers[0].servers[0].maxFrameBytes',
  ]);
});

test('windowUpdateRatio loads on h2 servers and clients (warned about, not applied: config-warnings.ts)', () => {
  assert.deepEqual(messages(h2('    windowUpdateRatio: 0.99', '    windowUpdateRatio: 0.5')), []);
  assert.deepEqual(messages(h2('    windowUpdateRatio: "0.75"', '    windowUpdateRatio: 1e-9')), []);
});

test('windowUpdateRatio is between 0 and 1, exclusive', () => {
  const full = (server: string, client: string): string[] => {
    try {
      parseLinkerdConfig(h2(server, client), 'linkerd.yaml');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.errors.map((i) => `${i.code} ${i.message}`);
    }
    return [];
  };
  assert.deepEqual(full('    windowUpdateRatio: 0', '    windowUpdateRatio: 1'), [
    'MESH_ERR_CONFIG_RANGE linkerd.yaml: routers[0].servers[0].windowUpdateRatio: 0 out of range; allowed: 0..1 exclusive',
    'MESH_ERR_CONFIG_RANGE linkerd.yaml: routers[0].client.windowUpdateRatio: 1 out of range; allowed: 0..1 exclusive',
  ]);
  assert.deepEqual(messages(h2('    windowUpdateRatio: -0.5', '    windowUpdateRatio: 1.5')), [
    'MESH_ERR_CONFIG_RANGE routers[0].servers[0].windowUpdateRatio',
    'MESH_ERR_CONFIG_RANGE routers[0].client.windowUpdateRatio',
  ]);
  assert.deepEqual(messages(h2('', '    windowUpdateRatio: high')), ['MESH_ERR_CONFIG_TYPE routers[0].client.windowUpdateRatio']);
});

test('h2 client socketOptions and hostConnectionPool load, checked like the http client\'s', () => {
  const client = [
    '    socketOptions: {noDelay: false, keepAlive: true, reusePort: true, readTimeoutMs: 100}',
    '    hostConnectionPool: {minSize: 0, maxSize: 10, idleTimeMs: 1000, maxWaiters: 5}',
  ].join('\n');
  assert.deepEqual(messages(h2('', client)), []);
  assert.deepEqual(messages(h2('', '    socketOptions: {noDelay: maybe}\n    hostConnectionPool: {maxSize: -1, poolSize: 3}')).sort(), [
    'MESH_ERR_CONFIG_RANGE routers[0].client.hostConnectionPool.maxSize',
    'MESH_ERR_CONFIG_TYPE routers[0].client.socketOptions.noDelay',
    'MESH_ERR_CONFIG_UNKNOWN_KEY routers[0].client.hostConnectionPool.poolSize',
  ]);
});
