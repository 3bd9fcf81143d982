import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { implementPlugin } from '../../src/config/plugins.js';

implementPlugin('protocol', 'http', () => ({}));
implementPlugin('protocol', 'h2', () => ({}));
implementPlugin('storage', 'io.l5d.inMemory', () => ({}));
implementPlugin('namerdInterface', 'io.l5d.httpController', () => ({}));

const dir = mkdtempSync(join(tmpdir(), 'meshwork-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

test('meshwork linkerd --validate: exit 0 and a one-line summary for a valid file', async () => {
  const f = write('ok.yaml', 'routers:\n- protocol: http\n  label: web\n  servers: [{port: 4140}]\n');
  assert.deepEqual(await run(['linkerd', '--validate', f]), {
    code: 0,
    out: `${f}: valid: 1 router (http 'web'), 0 namers, 0 telemeters\n`,
    err: '',
  });
});

test('meshwork linkerd --validate: exit 2 with every error, one per line', async () => {
  const f = write('bad.yaml', 'routers:\n- protocol: http\n  lable: web\n  servers: [{port: x}]\n');
  const r = await run(['linkerd', '--validate', f]);
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.ok(lines[0]!.startsWith(`${f}: routers[0].lable: unknown key 'lable'; allowed keys: protocol, `));
  assert.equal(lines[1], `${f}: routers[0].servers[0].port: expected integer, found "x"`);
});

test('meshwork linkerd --validate: a missing file and bad usage exit 2', async () => {
  const missing = join(dir, 'nope.yaml');
  assert.deepEqual(await run(['linkerd', '--validate', missing]), {
    code: 2,
    out: '',
    err: `${missing}: cannot read config: ENOENT\n`,
  });
  const r = await run(['linkerd', '--validate']);
  assert.equal(r.code, 2);
  assert.ok(r.err.startsWith('meshwork linkerd: a config FILE is required\nusage: meshwork linkerd'));
  assert.equal((await run(['linkerd', '--frobnicate', 'x'])).err.split('\n')[0], "meshwork linkerd: unknown option '--frobnicate'");
});

test('meshwork linkerd without --validate runs the config; an unbuilt kind fails at start-up (exit 2)', async () => {
  const f = write('ok2.yaml', 'namers:\n- kind: io.l5d.k8s.istio\n  experimental: true\nrouters:\n- protocol: http\n  servers: [{port: 4140}]\n');
  const r = await run(['linkerd', f]);
  assert.equal(r.code, 2);
  assert.equal(r.err, `${f}: not supported yet: io.l5d.k8s.istio at namers[0]\n`);
});

test('meshwork namerd --validate', async () => {
  const ok = write('namerd.yaml', 'storage: {kind: io.l5d.inMemory}\ninterfaces: [{kind: io.l5d.httpController}]\n');
  assert.deepEqual(await run(['namerd', '--validate', ok]), {
    code: 0,
    out: `${ok}: valid: storage io.l5d.inMemory, 1 interface (io.l5d.httpController), 0 namers\n`,
    err: '',
  });
  const bad = write('namerd-bad.yaml', 'storage: {kind: io.l5d.inMemory}\n');
  assert.deepEqual(await run(['namerd', '--validate', bad]), {
    code: 2,
    out: '',
    err: `${bad}: interfaces: required key 'interfaces' missing\n`,
  });
});

test('the real CLI reads the config from stdin with `-` (no ports opened, exits 2 on a bad file)', () => {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'meshwork.js'), 'linkerd', '--validate', '-'], {
    input: '{"routers": [{"protocol": "http", "servers": [{"port": "4140x"}]}]}',
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  // http is not registered in that process unless the router area has registered it.
  const lines = r.stderr.trimEnd().split('\n');
  assert.ok(lines.includes('<stdin>: routers[0].servers[0].port: expected integer, found "4140x"'), r.stderr);
});

test('namerd: io.l5d.thriftNameInterpreter and io.l5d.destination validate; an unknown interface is refused naming it', async () => {
  const f = write('thrift.yaml', 'storage: {kind: io.l5d.inMemory}\ninterfaces: [{kind: io.l5d.thriftNameInterpreter, cache: {bindingCacheActive: 10}}]\n');
  assert.deepEqual(await run(['namerd', '--validate', f]), {
    code: 0,
    out: `${f}: valid: storage io.l5d.inMemory, 1 interface (io.l5d.thriftNameInterpreter), 0 namers\n`,
    err: '',
  });
  const d = write('destination.yaml', 'storage: {kind: io.l5d.inMemory}\ninterfaces: [{kind: io.l5d.destination, namespace: internal}]\n');
  assert.deepEqual(await run(['namerd', '--validate', d]), { code: 0, out: `${d}: valid: storage io.l5d.inMemory, 1 interface (io.l5d.destination), 0 namers\n`, err: '' });
  const u = write('unknown.yaml', 'storage: {kind: io.l5d.inMemory}\ninterfaces: [{kind: io.l5d.nosuch}]\n');
  const r = await run(['namerd', '--validate', u]);
  assert.equal(r.code, 2);
  assert.match(r.err, /interfaces\[0\]/);
  assert.match(r.err, /io\.l5d\.nosuch/);
});

test('meshwork linkerd --validate: unreadable TLS files are errors, one per file, with key paths', async () => {
  const cert = write('cert.pem', '-----BEGIN CERTIFICATE-----\n');
  const f = write(
    'tls.yaml',
    `admin:\n  tls:\n    certPath: ${join(dir, 'no-admin.pem')}\n    keyPath: ${cert}\n` +
      `routers:\n- protocol: http\n  servers:\n  - port: 4140\n    tls:\n      certPath: ${cert}\n      keyPath: ${join(dir, 'no-key.pem')}\n` +
      `  client:\n    kind: io.l5d.static\n    configs:\n    - prefix: /\n      tls:\n        trustCerts: [${join(dir, 'no-ca.pem')}]\n    - prefix: /$/inet/localhost\n      tls:\n        enabled: false\n        trustCerts: [${join(dir, 'ignored.pem')}]\n`,
  );
  const r = await run(['linkerd', '--validate', f]);
  assert.equal(r.code, 2, r.out);
  assert.equal(r.out, '');
  assert.deepEqual(r.err.trim().split('\n'), [
    `${f}: admin.tls.certPath: found "${join(dir, 'no-admin.pem')}"; allowed: a readable PEM file (ENOENT)`,
    `${f}: routers[0].servers[0].tls.keyPath: found "${join(dir, 'no-key.pem')}"; allowed: a readable PEM file (ENOENT)`,
    `${f}: routers[0].client.configs[0].tls.trustCerts[0]: found "${join(dir, 'no-ca.pem')}"; allowed: a readable PEM file (ENOENT)`,
  ]);
});

test('meshwork linkerd --validate: keys Node cannot apply are valid, each named in a warning on stderr; an http router applies the transport timeouts', async () => {
  const f = write('socket.yaml', 'routers:\n- protocol: http\n  client:\n    clientSession: {lifeTimeMs: 60000}\n    socketOptions: {keepAlive: true, writeTimeoutMs: 100}\n  servers:\n  - port: 4140\n    socketOptions: {noDelay: true, reusePort: true, readTimeoutMs: 61000}\n');
  const r = await run(['linkerd', '--validate', f]);
  assert.equal(r.code, 0);
  assert.equal(r.out, `${f}: valid: 1 router (http 'http'), 0 namers, 0 telemeters\n`);
  assert.deepEqual(r.err.trim().split('\n'), [
    `${f}: warning: routers[0].servers[0].socketOptions.reusePort: true is not applied (Node 20 cannot set SO_REUSEPORT; use --workers to share the port between processes)`,
  ]);
});

test('meshwork linkerd --validate: h2 windowUpdateRatio, client socketOptions and hostConnectionPool are valid, named in warnings', async () => {
  const f = write(
    'h2.yaml',
    [
      'routers:',
      '- protocol: h2',
      '  client:',
      '    windowUpdateRatio: 0.5',
      '    socketOptions: {noDelay: false, keepAlive: true, readTimeoutMs: 100}',
      '    hostConnectionPool: {maxSize: 10, idleTimeMs: 1000}',
      '  servers:',
      '  - port: 4142',
      '    windowUpdateRatio: 0.75',
      '- protocol: h2',
      '  label: static',
      '  client:',
      '    kind: io.l5d.static',
      '    configs:',
      '    - prefix: /svc/a',
      '      hostConnectionPool: {minSize: 1}',
      '    - prefix: /svc/b',
      '      hostConnectionPool: {}',
      '      socketOptions: {keepAlive: true}',
      '  servers:',
      '  - port: 4143',
      '',
    ].join('\n'),
  );
  const r = await run(['linkerd', '--validate', f]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `${f}: valid: 2 routers (h2 'h2', h2 'static'), 0 namers, 0 telemeters\n`);
  assert.deepEqual(r.err.trim().split('\n'), [
    `${f}: warning: routers[0].client.hostConnectionPool: {"maxSize":10,"idleTimeMs":1000} is not applied (h2 clients use one multiplexed connection per endpoint; clientSession.idleTimeMs closes it when idle)`,
    `${f}: warning: routers[0].client.windowUpdateRatio: 0.5 is not applied (node:http2 sends WINDOW_UPDATE frames by itself and has no setting for the ratio)`,
    `${f}: warning: routers[0].servers[0].windowUpdateRatio: 0.75 is not applied (node:http2 sends WINDOW_UPDATE frames by itself and has no setting for the ratio)`,
    `${f}: warning: routers[1].client.configs[0].hostConnectionPool: {"minSize":1} is not applied (h2 clients use one multiplexed connection per endpoint; clientSession.idleTimeMs closes it when idle)`,
  ]);
});

test('meshwork linkerd --validate: a mux router is valid; its client keys a mux session does not take are named', async () => {
  const f = write(
    'mux.yaml',
    [
      'routers:',
      '- protocol: mux',
      '  dtab: /svc => /$/inet/127.1/9001',
      '  client:',
      '    hostConnectionPool: {maxSize: 4}',
      '    clientSession: {idleTimeMs: 1000}',
      '    socketOptions: {keepAlive: true}',
      '',
    ].join('\n'),
  );
  const r = await run(['linkerd', '--validate', f]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `${f}: valid: 1 router (mux 'mux'), 0 namers, 0 telemeters\n`);
  assert.deepEqual(r.err.trim().split('\n'), [
    `${f}: warning: routers[0].client.hostConnectionPool: {"maxSize":4} is not applied (mux clients use one multiplexed session per endpoint)`,
    `${f}: warning: routers[0].client.socketOptions.keepAlive: true is not applied (mux sessions are watched with Tping instead)`,
  ]);
});

test('meshwork linkerd --validate: a tcp router is valid with a port per server; keys a connection cannot use are named or refused', async () => {
  const ok = write(
    'tcp.yaml',
    [
      'routers:',
      '- protocol: tcp',
      '  label: redis',
      '  dstPrefix: /svc/redis',
      '  dtab: /svc/redis => /$/inet/127.1/6379',
      '  client:',
      '    clientSession: {idleTimeMs: 1000, lifeTimeMs: 60000}',
      '  servers:',
      '  - port: 16379',
      '    clearContext: true',
      '',
    ].join('\n'),
  );
  const r = await run(['linkerd', '--validate', ok]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `${ok}: valid: 1 router (tcp 'redis'), 0 namers, 0 telemeters\n`);
  assert.deepEqual(r.err.trim().split('\n'), [
    `${ok}: warning: routers[0].client.clientSession.idleTimeMs: 1000 is not applied (a tcp connection's idle limit is its server's serverSession.idleTimeMs, which sees both directions)`,
    `${ok}: warning: routers[0].client.clientSession.lifeTimeMs: 60000 is not applied (a tcp connection's age limit is its server's serverSession.lifeTimeMs)`,
    `${ok}: warning: routers[0].servers[0].clearContext: true is not applied (a tcp connection carries no context to clear)`,
  ]);
  // No default port, no servers list, no pool, nothing to retry or classify.
  const bad = write(
    'tcp-bad.yaml',
    [
      'routers:',
      '- protocol: tcp',
      '  client:',
      '    hostConnectionPool: {maxSize: 4}',
      '  service:',
      '    retries: {budget: {percentCanRetry: 0.5}}',
      '    responseClassifier: {kind: io.l5d.http.retryableRead5XX}',
      '  servers:',
      '  - ip: 127.0.0.1',
      '- protocol: tcp',
      '  label: second',
      '',
    ].join('\n'),
  );
  const b = await run(['linkerd', '--validate', bad]);
  assert.equal(b.code, 2);
  assert.deepEqual(b.err.trim().split('\n'), [
    `${bad}: routers[0].servers[0].port: required key 'port' missing`,
    `${bad}: not supported yet: hostConnectionPool at routers[0].client.hostConnectionPool`,
    `${bad}: not supported yet: retries at routers[0].service.retries`,
    `${bad}: not supported yet: responseClassifier at routers[0].service.responseClassifier`,
    `${bad}: routers[0].service.responseClassifier.kind: kind 'io.l5d.http.retryableRead5XX' is not a tcp response classifier; tcp routers take: (none)`,
    `${bad}: routers[1].servers: required key 'servers' missing`,
  ]);
});

test("meshwork namerd --validate: a key whose feature is not built is accepted at its default value, refused otherwise", async () => {
  const cfg = (v: boolean): string =>
    write(`etcd-tls-${v}.yaml`, `storage:\n  kind: io.l5d.etcd\n  tls: {disableValidation: ${v}}\ninterfaces: [{kind: io.l5d.httpController}]\n`);
  const off = cfg(false);
  const ok = await run(['namerd', '--validate', off]);
  assert.equal(ok.code, 0, ok.err);
  const on = cfg(true);
  const r = await run(['namerd', '--validate', on]);
  assert.equal(r.code, 2);
  assert.equal(r.err, `${on}: not supported yet: disableValidation at storage.tls.disableValidation\n`);
  // Linkerd's own docs write `enableProbation: false`; probation is built, so true is valid too.
  for (const v of [false, true]) {
    const f = write(`probation-${v}.yaml`, `routers:\n- protocol: http\n  client:\n    loadBalancer: {kind: ewma, enableProbation: ${v}}\n  servers: [{port: 4140}]\n`);
    assert.equal((await run(['linkerd', '--validate', f])).code, 0);
  }
  // The Consul store's and interpreter's failFast is accepted either way.
  const ff = write('failfast.yaml', `routers:\n- protocol: http\n  interpreter: {kind: io.l5d.consul.interpreter, failFast: true}\n  servers: [{port: 4140}]\n`);
  assert.equal((await run(['linkerd', '--validate', ff])).code, 0);
});
