import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getPlugin, implementPlugin, isSupported, kinds, registerPlugin, supportedKinds } from '../../src/config/plugins.js';
import { parseLinkerdConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import type { PluginCategory } from '../../src/config/schema.js';

test('the catalogue knows every documented Linkerd kind (and Meshwork\'s own io.meshwork.xds and tcp protocol), none built by the config area itself', () => {
  const expected: Array<[PluginCategory, string[]]> = [
    ['protocol', ['http', 'h2', 'thrift', 'mux', 'thriftmux', 'tcp']],
    ['loadBalancer', ['p2c', 'ewma', 'aperture', 'heap', 'roundRobin']],
    ['failureAccrual', ['io.l5d.consecutiveFailures', 'io.l5d.successRate', 'io.l5d.successRateWindowed', 'none']],
    ['retryBackoff', ['constant', 'jittered']],
    ['storage', ['io.l5d.inMemory', 'io.l5d.k8s', 'io.l5d.zk', 'io.l5d.etcd', 'io.l5d.consul']],
    ['namerdInterface', ['io.l5d.thriftNameInterpreter', 'io.l5d.mesh', 'io.l5d.destination', 'io.l5d.httpController', 'io.meshwork.xds']],
    ['announcer', ['io.l5d.serversets']],
  ];
  for (const [category, ks] of expected) assert.deepEqual(kinds(category), ks, category);
  for (const k of ['io.l5d.fs', 'io.l5d.serversets', 'io.l5d.consul', 'io.l5d.k8s', 'io.l5d.marathon', 'io.l5d.zkLeader', 'io.l5d.curator', 'io.l5d.rancher', 'io.l5d.rewrite', 'io.l5d.dnssrv']) {
    assert.ok(kinds('namer').includes(k), k);
  }
  for (const k of ['io.l5d.methodAndHost', 'io.l5d.path', 'io.l5d.header', 'io.l5d.header.token', 'io.l5d.static', 'io.l5d.ingress']) {
    assert.ok(kinds('identifier').includes(k), k);
  }
  assert.deepEqual(kinds('h2Identifier'), ['io.l5d.header.token', 'io.l5d.header.path', 'io.l5d.ingress', 'io.l5d.k8s.istio']);
  assert.equal(kinds('telemeter').length, 6);
  assert.equal(kinds('responseClassifier').length, 15);
  assert.equal(getPlugin('identifier', 'io.l5d.header.token')!.fields['header']!.default, 'Host');
  assert.equal(getPlugin('h2Identifier', 'io.l5d.header.token')!.fields['header']!.default, ':authority');
  assert.deepEqual(supportedKinds('loadBalancer'), []);
});

test('an implemented plugin replaces the catalogue entry; a later catalogue-style spec does not undo it', () => {
  const create = () => 'balancer';
  const spec = implementPlugin('loadBalancer', 'aperture', create);
  assert.equal(spec.create, create);
  // implementPlugin keeps the documented keys.
  assert.deepEqual(Object.keys(spec.fields), ['maxEffort', 'smoothWindowMs', 'lowLoad', 'highLoad', 'minAperture']);
  registerPlugin({ category: 'loadBalancer', kind: 'aperture', fields: {} });
  assert.equal(getPlugin('loadBalancer', 'aperture')!.create, create);
  assert.ok(isSupported('loadBalancer', 'aperture'));
  assert.ok(!isSupported('loadBalancer', 'heap'));
});

test('with every balancer built, the unknown-kind message lists them all as supported', () => {
  for (const k of ['p2c', 'ewma', 'heap', 'roundRobin']) implementPlugin('loadBalancer', k, () => k);
  implementPlugin('protocol', 'http', () => ({}));
  const messages = (): string[] => {
    try {
      parseLinkerdConfig('routers:\n- protocol: http\n  client: {loadBalancer: {kind: foo}}\n  servers: [{port: 4140}]\n', 'linkerd.yaml');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.errors.map((i) => i.message);
    }
    assert.fail('should not load');
  };
  assert.deepEqual(messages(), ["linkerd.yaml: routers[0].client.loadBalancer.kind: unknown kind 'foo'; supported: p2c, ewma, aperture, heap, roundRobin"]);
  // A kind Linkerd never documented can be registered too, and is then listed.
  registerPlugin({ category: 'loadBalancer', kind: 'io.meshwork.test', fields: {}, create: () => 'test' });
  assert.equal(kinds('loadBalancer').at(-1), 'io.meshwork.test');
  assert.deepEqual(messages(), ["linkerd.yaml: routers[0].client.loadBalancer.kind: unknown kind 'foo'; supported: p2c, ewma, aperture, heap, roundRobin, io.meshwork.test"]);
});
