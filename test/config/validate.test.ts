import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getPlugin, implementPlugin, keysNotBuilt, markKeyBuilt, registerPlugin } from '../../src/config/plugins.js';
import { parseLinkerdConfig, parseNamerdConfig } from '../../src/config/load.js';
import { ConfigError, type ConfigIssue } from '../../src/config/errors.js';
import type { NamingSyntax } from '../../src/config/validate.js';

// This file plays an area that builds http routers, the fs namer and two balancers, so that
// "supported" and "not supported yet" can both be seen. Each test file runs in its own process.
implementPlugin('protocol', 'http', () => ({}));
implementPlugin('namer', 'io.l5d.fs', () => ({}));
implementPlugin('interpreter', 'default', () => ({}));
implementPlugin('loadBalancer', 'p2c', () => ({}));
implementPlugin('loadBalancer', 'ewma', () => ({}));
implementPlugin('identifier', 'io.l5d.path', () => ({}));
implementPlugin('identifier', 'io.l5d.header.token', () => ({}));

function issues(yaml: string, naming?: NamingSyntax): ConfigIssue[] {
  try {
    parseLinkerdConfig(yaml, 'linkerd.yaml', naming);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'MESH_ERR_CONFIG');
    return [...e.errors];
  }
  assert.fail('config loaded but errors were expected');
}

const minimal = `
routers:
- protocol: http
  servers:
  - port: 4140
`;

test('unknown key: file, key path, found value and the allowed keys', () => {
  const got = issues(`
namers:
- kind: io.l5d.fs
  rootdir: /disco
  rootDir: /disco
routers:
- protocol: http
  servers: [{port: 4140}]
`);
  assert.deepEqual(got, [
    {
      code: 'MESH_ERR_CONFIG_UNKNOWN_KEY',
      file: 'linkerd.yaml',
      keyPath: 'namers[0].rootdir',
      found: '/disco',
      allowed: ['kind', 'experimental', 'prefix', 'transformers', 'rootDir'],
      message: "linkerd.yaml: namers[0].rootdir: unknown key 'rootdir'; allowed keys: kind, experimental, prefix, transformers, rootDir",
    },
  ]);
});

test('unknown router key lists the router keys of that protocol', () => {
  const [e, ...rest] = issues(`
routers:
- protocol: http
  prot: http
  servers: [{port: 4140}]
`);
  assert.equal(rest.length, 0);
  assert.equal(e!.code, 'MESH_ERR_CONFIG_UNKNOWN_KEY');
  assert.equal(e!.keyPath, 'routers[0].prot');
  assert.ok(e!.message.startsWith("linkerd.yaml: routers[0].prot: unknown key 'prot'; allowed keys: protocol, servers, client, service, identifier, label, "));
  for (const k of ['dtab', 'dstPrefix', 'httpAccessLog', 'maxHeadersKB', 'streamingEnabled', 'bindingCache']) assert.ok(e!.allowed.includes(k), k);
  assert.ok(!e!.allowed.includes('thriftMethodInDst'), 'thrift keys are not http keys');
});

test('wrong type: expected integer, found "abc"', () => {
  const got = issues(`
routers:
- protocol: http
  servers:
  - port: abc
`);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.code, 'MESH_ERR_CONFIG_TYPE');
  assert.equal(got[0]!.keyPath, 'routers[0].servers[0].port');
  assert.equal(got[0]!.found, 'abc');
  assert.deepEqual(got[0]!.allowed, ['integer']);
  assert.equal(got[0]!.message, 'linkerd.yaml: routers[0].servers[0].port: expected integer, found "abc"');
});

test('out of range: the allowed range is named', () => {
  const got = issues(`
routers:
- protocol: http
  servers:
  - port: 70000
`);
  assert.deepEqual(
    got.map((i) => [i.code, i.message]),
    [['MESH_ERR_CONFIG_RANGE', 'linkerd.yaml: routers[0].servers[0].port: 70000 out of range; allowed: 0..65535']],
  );
  // An int key without a bound of its own is a Java Int, as Linkerd reads it.
  const big = issues(`
routers:
- protocol: http
  bindingTimeoutMs: 3000000000
  servers:
  - port: 4140
`);
  assert.deepEqual(
    big.map((i) => [i.code, i.message]),
    [['MESH_ERR_CONFIG_RANGE', 'linkerd.yaml: routers[0].bindingTimeoutMs: 3000000000 out of range; allowed: 0..2147483647']],
  );
});

test('missing required key', () => {
  const got = issues(`
namers:
- kind: io.l5d.fs
routers:
- protocol: http
  servers: [{port: 4140}]
`);
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath, i.message]),
    [['MESH_ERR_CONFIG_MISSING_KEY', 'namers[0].rootDir', "linkerd.yaml: namers[0].rootDir: required key 'rootDir' missing"]],
  );
  assert.deepEqual(
    issues('namers: []\n').map((i) => i.message),
    ["linkerd.yaml: routers: required key 'routers' missing"],
  );
});

test('unknown kind lists supported kinds first, then the known ones not built yet', () => {
  const got = issues(`
routers:
- protocol: http
  client:
    loadBalancer:
      kind: foo
  servers: [{port: 4140}]
`);
  assert.deepEqual(got, [
    {
      code: 'MESH_ERR_CONFIG_UNKNOWN_KIND',
      file: 'linkerd.yaml',
      keyPath: 'routers[0].client.loadBalancer.kind',
      found: 'foo',
      allowed: ['p2c', 'ewma', 'aperture', 'heap', 'roundRobin'],
      message:
        "linkerd.yaml: routers[0].client.loadBalancer.kind: unknown kind 'foo'; supported: p2c, ewma; known, not supported yet: aperture, heap, roundRobin",
    },
  ]);
});

test('a documented kind that is not built yet fails with "not supported yet: <kind> at <key path>"', () => {
  const got = issues(`
namers:
- kind: io.l5d.fs
  rootDir: disco
- kind: io.l5d.consul
  host: consul.local
routers:
- protocol: h2
  servers: [{port: 4142}]
`);
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath, i.found, i.message]),
    [
      ['MESH_ERR_CONFIG_NOT_SUPPORTED', 'namers[1]', 'io.l5d.consul', 'linkerd.yaml: not supported yet: io.l5d.consul at namers[1]'],
      ['MESH_ERR_CONFIG_NOT_SUPPORTED', 'routers[0].protocol', 'h2', 'linkerd.yaml: not supported yet: h2 at routers[0].protocol'],
    ],
  );
  const e = (() => {
    try {
      parseLinkerdConfig('routers: [{protocol: thrift}]', 'l.yaml');
    } catch (err) {
      return err as ConfigError;
    }
    return undefined;
  })();
  assert.ok(e?.onlyNotSupported);
});

test('a documented key whose feature is not built yet is not silently ignored', () => {
  const got = issues(`
admin:
  httpIdentifierPort: 9992
routers:
- protocol: http
  servers: [{port: 4140}]
`);
  assert.deepEqual(got.map((i) => i.message), ['linkerd.yaml: not supported yet: httpIdentifierPort at admin.httpIdentifierPort']);
  // Pre-1.0 client TLS keys still shown in routers.md are recognised, never built.
  const old = issues(minimal + '  client:\n    tls: {kind: io.l5d.noValidation, caCertPath: /ca.pem}\n');
  assert.deepEqual(old.map((i) => i.message), [
    'linkerd.yaml: not supported yet: tls at routers[0].client.tls',
    'linkerd.yaml: not supported yet: kind at routers[0].client.tls.kind',
    'linkerd.yaml: not supported yet: caCertPath at routers[0].client.tls.caCertPath',
  ]);
});

test('bad dtab and bad path carry the naming parser message', () => {
  // The parser is injected; this one fails the way src/naming's readDtab reports errors.
  const naming: NamingSyntax = {
    readPath(s) {
      if (!s.startsWith('/')) throw new Error(`'/' expected but '${s[0]}' found at '[${s[0]}]${s.slice(1)}'`);
      return s;
    },
    readDtab(s) {
      if (s.includes('=>>')) throw new Error("'/' expected but '>' found at '/svc =>[>] /b'");
      return s;
    },
  };
  const got = issues(
    `
routers:
- protocol: http
  dtab: /svc =>> /b
  dstPrefix: svc
  servers: [{port: 4140}]
`,
    naming,
  );
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath, i.message]),
    [
      ['MESH_ERR_CONFIG_BAD_DTAB', 'routers[0].dtab', "linkerd.yaml: routers[0].dtab: bad dtab: '/' expected but '>' found at '/svc =>[>] /b'"],
      ['MESH_ERR_CONFIG_BAD_PATH', 'routers[0].dstPrefix', `linkerd.yaml: routers[0].dstPrefix: bad path "svc": '/' expected but 's' found at '[s]vc'`],
    ],
  );
});

test('every error is reported, not just the first, in document order', () => {
  const got = issues(`
admin:
  port: -1
namers:
- kind: io.l5d.nope
routers:
- protocol: http
  label: [web]
  servers:
  - port: 4140
    clearContext: "yes"
`);
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath]),
    [
      ['MESH_ERR_CONFIG_RANGE', 'admin.port'],
      ['MESH_ERR_CONFIG_UNKNOWN_KIND', 'namers[0].kind'],
      ['MESH_ERR_CONFIG_TYPE', 'routers[0].label'],
      ['MESH_ERR_CONFIG_TYPE', 'routers[0].servers[0].clearContext'],
    ],
  );
});

test('an unknown protocol names the known ones', () => {
  const got = issues('routers: [{protocol: udp, servers: [{port: 1}]}]');
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath, i.message]),
    [
      [
        'MESH_ERR_CONFIG_UNKNOWN_KIND',
        'routers[0].protocol',
        'linkerd.yaml: routers[0].protocol: unknown protocol "udp"; supported: http; known, not supported yet: h2, thrift, mux, thriftmux, tcp',
      ],
    ],
  );
});

test('h2 response classifiers are refused on an http router', () => {
  const got = issues(`
routers:
- protocol: http
  service:
    responseClassifier: {kind: io.l5d.h2.retryableRead5XX}
  servers: [{port: 4140}]
`);
  const wrong = got.filter((i) => i.code === 'MESH_ERR_CONFIG_UNKNOWN_KIND');
  assert.equal(wrong.length, 1);
  assert.equal(wrong[0]!.keyPath, 'routers[0].service.responseClassifier.kind');
  assert.ok(wrong[0]!.message.startsWith("linkerd.yaml: routers[0].service.responseClassifier.kind: kind 'io.l5d.h2.retryableRead5XX' is not a http response classifier; http routers take: io.l5d.http.nonRetryable5XX, io.l5d.http.retryableRead5XX,"));
});

test('two routers with one label, or two servers on one ip:port, are refused as Linkerd does', () => {
  const got = issues(`
routers:
- protocol: http
  servers: [{port: 4140}]
- protocol: http
  servers: [{port: 4140}, {port: 4141, ip: 0.0.0.0}]
`);
  assert.deepEqual(
    got.map((i) => i.message),
    [
      "linkerd.yaml: routers[1].label: router label 'http' is already used by routers[0]; labels must be unique",
      'linkerd.yaml: routers[1].servers[0].port: server 127.0.0.1:4140 conflicts with routers[0].servers[0]',
    ],
  );
});

test('YAML syntax errors give file:line:col', () => {
  const got = issues('routers:\n- protocol: http\n  servers: [{port: 4140}\n');
  assert.deepEqual(
    got.map((i) => [i.code, i.message]),
    [['MESH_ERR_CONFIG_SYNTAX', 'linkerd.yaml:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]']],
  );
  assert.deepEqual(issues('{"routers": [ {"protocol": "http",, } ]}').map((i) => i.message), ['linkerd.yaml:1:35: Unexpected , in flow map']);
  assert.deepEqual(issues('').map((i) => i.message), ["linkerd.yaml: empty config; expected an object with 'routers'"]);
});

test('a minimal config loads with Linkerd defaults applied', () => {
  const c = parseLinkerdConfig(
    minimal + `
namers:
- kind: io.l5d.fs
  rootDir: linkerd/examples/io.l5d.fs
`,
    'linkerd.yaml',
  );
  assert.deepEqual(c, {
    file: 'linkerd.yaml',
    admin: { ip: '127.0.0.1', port: 9990, shutdownGraceMs: 10000, workerThreads: 2 },
    routers: [
      {
        protocol: 'http',
        label: 'http',
        dtab: '',
        dstPrefix: '/svc',
        announcers: [],
        bindingTimeoutMs: 10000,
        bindingCache: { paths: 1000, trees: 1000, bounds: 1000, clients: 1000, idleTtlSecs: 600 },
        originator: false,
        interpreter: { kind: 'default' },
        streamAfterContentLengthKB: 5,
        maxHeadersKB: 8,
        maxInitialLineKB: 4,
        maxErrResponseKB: 5120,
        compressionLevel: -1,
        streamingEnabled: true,
        servers: [{ port: 4140, ip: '127.0.0.1', announce: [], clearContext: false, maxCallDepth: 1000 }],
        client: { kind: 'io.l5d.global', configs: [] },
        service: { kind: 'io.l5d.global', configs: [] },
      },
    ],
    // Relative rootDir stays as written: resolved against the cwd at use, as Linkerd does.
    namers: [{ kind: 'io.l5d.fs', rootDir: 'linkerd/examples/io.l5d.fs', prefix: '/io.l5d.fs' }],
    telemetry: [],
    usage: { enabled: true },
  });
});

test('scalars are coerced as Linkerd (Jackson) does: "4140" is a port, 7 is a label', () => {
  const c = parseLinkerdConfig('routers: [{protocol: http, label: 7, originator: "true", servers: [{port: "4140"}]}]', 'l.yaml');
  assert.equal(c.routers[0]!.label, '7');
  assert.equal(c.routers[0]!.originator, true);
  assert.equal(c.routers[0]!.servers[0]!.port, 4140);
  assert.deepEqual(
    issues('routers: [{protocol: http, servers: [{port: "41 40"}]}]').map((i) => i.message),
    ['linkerd.yaml: routers[0].servers[0].port: expected integer, found "41 40"'],
  );
});

test('YAML 1.1 as Linkerd reads it: yes/on booleans and << merge keys', () => {
  const merged = parseLinkerdConfig(
    `
routers:
- &r
  protocol: http
  label: a
  originator: on
  servers: [{port: 4140}]
- <<: *r
  label: b
  servers: [{port: 4141, clearContext: yes}]
`,
    'l.yaml',
  );
  assert.deepEqual(
    merged.routers.map((r) => [r.label, r.originator, r.servers[0]!.port, r.servers[0]!.clearContext]),
    [['a', true, 4140, false], ['b', true, 4141, true]],
  );
});

test('JSON configs load the same as YAML', () => {
  const c = parseLinkerdConfig(
    JSON.stringify({ routers: [{ protocol: 'http', label: 'web', servers: [{ port: 4140, ip: '0.0.0.0' }] }] }),
    'linkerd.json',
  );
  assert.equal(c.routers[0]!.label, 'web');
  assert.equal(c.routers[0]!.servers[0]!.ip, '0.0.0.0');
});

test('identifier: a single object becomes a one-element list; plugin defaults applied', () => {
  const one = parseLinkerdConfig(minimal + '  identifier: {kind: io.l5d.path, segments: 2}\n', 'l.yaml');
  assert.deepEqual(one.routers[0]!.identifier, [{ kind: 'io.l5d.path', segments: 2, consume: false }]);
  const two = parseLinkerdConfig(minimal + '  identifier: [{kind: io.l5d.path}, {kind: io.l5d.header.token}]\n', 'l.yaml');
  assert.deepEqual(two.routers[0]!.identifier, [
    { kind: 'io.l5d.path', segments: 1, consume: false },
    { kind: 'io.l5d.header.token', header: 'Host' },
  ]);
});

test('a documented key no area has built (TLS, access logs, admin security) is "not supported yet"', () => {
  const tls = minimal + '    tls: {certPath: c.pem, keyPath: k.pem}\n  client:\n    kind: io.l5d.static\n    configs:\n    - prefix: /\n      tls: {commonName: x}\n';
  assert.deepEqual(issues(tls).map((i) => [i.code, i.keyPath, i.message]), [
    ['MESH_ERR_CONFIG_NOT_SUPPORTED', 'routers[0].servers[0].tls', 'linkerd.yaml: not supported yet: tls at routers[0].servers[0].tls'],
    ['MESH_ERR_CONFIG_NOT_SUPPORTED', 'routers[0].client.configs[0].tls', 'linkerd.yaml: not supported yet: tls at routers[0].client.configs[0].tls'],
  ]);
  assert.deepEqual(keysNotBuilt().sort(), [
    'admin.httpIdentifierPort',
    'admin.security',
    'admin.tls',
    'interfaces.tls',
    'routers.client.forwardClientCert',
    'routers.client.tls',
    'routers.h2AccessLog',
    'routers.httpAccessLog',
    'routers.servers.tls',
  ]);
  markKeyBuilt('routers.servers.tls');
  markKeyBuilt('routers.client.tls');
  const c = parseLinkerdConfig(tls, 'l.yaml');
  assert.deepEqual(c.routers[0]!.servers[0]!.tls, { certPath: 'c.pem', keyPath: 'k.pem' });
});

test('client: io.l5d.global becomes one config for prefix /, io.l5d.static keeps its order', () => {
  const g = parseLinkerdConfig(minimal + '  client:\n    failFast: true\n    loadBalancer: {kind: ewma}\n', 'l.yaml');
  assert.deepEqual(g.routers[0]!.client, {
    kind: 'io.l5d.global',
    configs: [{ prefix: '/', failFast: true, loadBalancer: { kind: 'ewma', enableProbation: false, maxEffort: 5, decayTimeMs: 10000 } }],
  });
  const s = parseLinkerdConfig(
    minimal +
      `  client:
    kind: io.l5d.static
    configs:
    - prefix: /
      requestAttemptTimeoutMs: 1000
    - prefix: "/#/*/{service}"
      tls: {commonName: "{service}.linkerd.io"}
`,
    'l.yaml',
  );
  assert.deepEqual(s.routers[0]!.client, {
    kind: 'io.l5d.static',
    configs: [
      { prefix: '/', requestAttemptTimeoutMs: 1000 },
      { prefix: '/#/*/{service}', tls: { commonName: '{service}.linkerd.io' } },
    ],
  });
  const bad = issues(minimal + '  client: {kind: io.l5d.static}\n');
  assert.deepEqual(bad.map((i) => i.message), ["linkerd.yaml: routers[0].client.configs: required key 'configs' missing"]);
  const badKind = issues(minimal + '  client: {kind: io.l5d.dynamic}\n');
  assert.deepEqual(badKind.map((i) => i.message), ['linkerd.yaml: routers[0].client.kind: unknown kind "io.l5d.dynamic"; supported: io.l5d.global, io.l5d.static']);
});

test('a kind Meshwork marks experimental needs experimental: true', async () => {
  const { registerPlugin } = await import('../../src/config/plugins.js');
  registerPlugin({ category: 'telemeter', kind: 'io.l5d.statsd', fields: { port: { type: 'int' } }, experimental: true, create: () => ({}) });
  const got = issues(minimal + 'telemetry:\n- kind: io.l5d.statsd\n  port: 8125\n');
  assert.deepEqual(
    got.map((i) => [i.code, i.message]),
    [['MESH_ERR_CONFIG_EXPERIMENTAL', "linkerd.yaml: telemetry[0].experimental: io.l5d.statsd is experimental and must be enabled with 'experimental: true'"]],
  );
  const ok = parseLinkerdConfig(minimal + 'telemetry:\n- kind: io.l5d.statsd\n  experimental: true\n', 'l.yaml');
  assert.deepEqual(ok.telemetry, [{ kind: 'io.l5d.statsd', experimental: true }]);
});

test("a server entry without a port gets its protocol's Linkerd default; http and h2 routers still need servers", () => {
  implementPlugin('protocol', 'h2', () => ({}));
  const c = parseLinkerdConfig('routers:\n- protocol: http\n  servers: [{ip: 0.0.0.0}]\n- protocol: h2\n  servers: [{ip: 0.0.0.0}]\n', 'l.yaml');
  assert.deepEqual(
    c.routers.map((r) => r.servers[0]!.port),
    [4140, 4142],
  );
  assert.deepEqual(
    issues('routers: [{protocol: http}]').map((i) => i.message),
    ["linkerd.yaml: routers[0].servers: required key 'servers' missing"],
  );
});

test('thrift: servers default to port 4114; enums name their values; thriftmux needs experimental: true', () => {
  implementPlugin('protocol', 'thrift', () => ({}));
  // implementPlugin leaves "experimental" to the area; this one keeps Linkerd's flag.
  registerPlugin({ ...getPlugin('protocol', 'thriftmux')!, create: () => ({}), experimental: true });
  const c = parseLinkerdConfig('routers: [{protocol: thrift, dtab: "/svc => /$/inet/127.1/5005"}]', 'l.yaml');
  const r = c.routers[0]!;
  assert.equal(r.label, 'thrift');
  assert.equal(r['thriftProtocol'], 'binary');
  assert.equal(r['thriftMethodInDst'], false);
  assert.equal(r.identifier, undefined);
  assert.deepEqual(r.servers, [{ port: 4114, ip: '127.0.0.1', announce: [], clearContext: false, thriftFramed: true }]);
  assert.deepEqual(
    issues('routers: [{protocol: thrift, identifier: {kind: io.l5d.path}, thriftProtocol: json}]').map((i) => [i.code, i.message]),
    [
      ['MESH_ERR_CONFIG_UNKNOWN_KEY', "linkerd.yaml: routers[0].identifier: unknown key 'identifier'; allowed keys: protocol, servers, client, service, label, experimental, dtab, dstPrefix, announcers, bindingTimeoutMs, bindingCache, originator, interpreter, thriftMethodInDst, thriftProtocol"],
      ['MESH_ERR_CONFIG_TYPE', 'linkerd.yaml: routers[0].thriftProtocol: expected one of binary, compact; found "json"'],
    ],
  );
  assert.deepEqual(issues('routers: [{protocol: thriftmux, servers: [{port: 4400}]}]').map((i) => i.message), [
    "linkerd.yaml: routers[0].experimental: thriftmux is experimental and must be enabled with 'experimental: true'",
  ]);
  assert.equal(parseLinkerdConfig('routers: [{protocol: thriftmux, experimental: true}]', 'l.yaml').routers[0]!.servers[0]!.port, 4144);
  // serverSession is built for thriftmux servers too (mux sessions drain with Tdrain), and checked.
  const tmux = 'routers: [{protocol: thriftmux, experimental: true, servers: [{port: 4400, serverSession: ';
  assert.deepEqual(parseLinkerdConfig(`${tmux}{idleTimeMs: 1000, lifeTimeMs: 5000}}]}]`, 'l.yaml').routers[0]!.servers[0]!.serverSession, { idleTimeMs: 1000, lifeTimeMs: 5000 });
  assert.deepEqual(issues(`${tmux}{idleTimeMs: -1}}]}]`).map((i) => [i.code, i.keyPath]), [['MESH_ERR_CONFIG_RANGE', 'routers[0].servers[0].serverSession.idleTimeMs']]);
});

test('with src/naming\'s parser (the default), bad paths and dtabs carry its message', () => {
  const got = issues('routers: [{protocol: http, dstPrefix: svc, dtab: "/svc => /b;", servers: [{port: 4140}]}]');
  assert.deepEqual(got.map((i) => [i.code, i.message]), [
    ['MESH_ERR_CONFIG_BAD_PATH', `linkerd.yaml: routers[0].dstPrefix: bad path "svc": '/' expected but 's' found at '[s]vc'`],
  ]);
  const dtab = issues('routers: [{protocol: http, dtab: "/svc => /b; /c =>", servers: [{port: 4140}]}]');
  assert.deepEqual(dtab.map((i) => [i.code, i.keyPath]), [['MESH_ERR_CONFIG_BAD_DTAB', 'routers[0].dtab']]);
  assert.ok(dtab[0]!.message.startsWith('linkerd.yaml: routers[0].dtab: bad dtab: '), dtab[0]!.message);
  assert.ok(dtab[0]!.message.endsWith("at '/svc => /b; /c =>[]'"), dtab[0]!.message);
  // namerd's in-memory namespaces are dtabs too.
  assert.throws(
    () => parseNamerdConfig('storage: {kind: io.l5d.inMemory, namespaces: {default: "/svc =>"}}\ninterfaces: [{kind: io.l5d.httpController}]\n', 'namerd.yaml'),
    (e: unknown) => e instanceof ConfigError && e.errors.some((i) => i.code === 'MESH_ERR_CONFIG_BAD_DTAB' && i.keyPath === 'storage.namespaces.default'),
  );
});

test('loadLinkerdConfig("-") reads stdin; file is "-", messages say <stdin>', async () => {
  const { loadLinkerdConfig } = await import('../../src/config/load.js');
  const { Readable } = await import('node:stream');
  const c = await loadLinkerdConfig('-', { stdin: Readable.from([Buffer.from('routers: [{protocol: http, '), Buffer.from('servers: [{port: 4140}]}]\n')]) });
  assert.equal(c.file, '-');
  assert.equal(c.routers[0]!.servers[0]!.port, 4140);
  await assert.rejects(
    loadLinkerdConfig('-', { stdin: Readable.from(['routers: [{protocol: http, servers: [{port: x}]}]']) }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.file === '<stdin>' &&
      e.message === '<stdin>: routers[0].servers[0].port: expected integer, found "x"',
  );
});
