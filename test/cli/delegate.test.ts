import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { command } from '../../src/cli/commands/delegate.js';

const dir = mkdtempSync(join(tmpdir(), 'meshwork-cli-delegate-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'disco'));
writeFileSync(join(dir, 'disco', 'users'), '127.0.0.1 8081\n127.0.0.1 8082\n');
const config = join(dir, 'linkerd.yaml');
writeFileSync(
  config,
  `namers:
- kind: io.l5d.fs
  rootDir: ${join(dir, 'disco')}
routers:
- protocol: http
  label: first
  dtab: /svc => /#/io.l5d.fs
- protocol: http
  label: second
  dtab: /svc => /$/inet/127.0.0.1/9999
- protocol: http
  label: third
  dtab: /svc/x => /$/inet/127.0.0.1/7777
  interpreter:
    kind: io.l5d.fs
    dtabFile: ${join(dir, 'third.dtab')}
`,
);
writeFileSync(join(dir, 'third.dtab'), '/svc => /#/io.l5d.fs;\n');

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await command.run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

test('delegate: neg through a dtab (semantics page example)', async () => {
  const r = await run('--dtab', '/foo=>/bar', '/foo');
  assert.deepEqual(r, {
    code: 0,
    out: '{"type":"delegate","path":"/foo","delegate":{"type":"neg","path":"/bar","dentry":{"prefix":"/foo","dst":"/bar"}}}\n',
    err: '',
  });
});

test('delegate: explicit ~ has path "~"', async () => {
  const r = await run('--dtab', '/neg=>~', '/neg');
  assert.equal(r.out, '{"type":"delegate","path":"/neg","delegate":{"type":"neg","path":"~","dentry":{"prefix":"/neg","dst":"~"}}}\n');
});

test('delegate: --config uses the namers and the first router dtab; --dtab is appended', async () => {
  const r = await run('--config', config, '/svc/users');
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out,
    '{"type":"delegate","path":"/svc/users","delegate":{"type":"leaf","path":"/#/io.l5d.fs/users","dentry":{"prefix":"/svc","dst":"/#/io.l5d.fs"},' +
      '"bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":8081,"meta":{}},{"ip":"127.0.0.1","port":8082,"meta":{}}],"meta":{}},"id":"/#/io.l5d.fs/users","path":"/"}}}\n',
  );
  const second = await run('--config', config, '--router', 'second', '/svc/x');
  assert.equal(
    second.out,
    '{"type":"delegate","path":"/svc/x","delegate":{"type":"leaf","path":"/$/inet/127.0.0.1/9999/x","dentry":{"prefix":"/svc","dst":"/$/inet/127.0.0.1/9999"},' +
      '"bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":9999,"meta":{}}],"meta":{}},"id":"/$/inet/127.0.0.1/9999","path":"/x"}}}\n',
  );
  const appended = await run('--config', config, '--dtab', '/svc/users=>/$/nil', '/svc/users');
  assert.equal(
    appended.out,
    '{"type":"alt","path":"/svc/users","alt":[{"type":"empty","path":"/$/nil","dentry":{"prefix":"/svc/users","dst":"/$/nil"}},' +
      '{"type":"leaf","path":"/#/io.l5d.fs/users","dentry":{"prefix":"/svc","dst":"/#/io.l5d.fs"},' +
      '"bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":8081,"meta":{}},{"ip":"127.0.0.1","port":8082,"meta":{}}],"meta":{}},"id":"/#/io.l5d.fs/users","path":"/"}}]}\n',
  );
});

test('delegate --tree prints an indented tree', async () => {
  const r = await run('--tree', '--dtab', '/a=>/b|/$/inet/127.0.0.1/1;/b=>~', '/a');
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out,
    ['/a  alt:', '  | /b  (/a=>/b | /$/inet/127.0.0.1/1)', '  |   ~  (/b=>~)  neg', '  | /$/inet/127.0.0.1/1  (/a=>/b | /$/inet/127.0.0.1/1)  => /$/inet/127.0.0.1/1 [127.0.0.1:1]', ''].join('\n'),
  );
});

test('delegate: invalid path and dtab are exit 2 with Linkerd messages and nothing on stdout', async () => {
  assert.deepEqual(await run('invalid-param'), { code: 2, out: '', err: "Invalid path: '/' expected but 'i' found at '[i]nvalid-param'\n" });
  assert.deepEqual(await run('--dtab', 'invalid-param', '/boo/humbug'), {
    code: 2,
    out: '',
    err: "Invalid dtab: '/' expected but 'i' found at '[i]nvalid-param'\n",
  });
  const noPath = await run();
  assert.equal(noPath.code, 2);
  assert.equal(noPath.out, '');
  const badRouter = await run('--config', config, '--router', 'nope', '/svc/x');
  assert.equal(badRouter.code, 2);
  assert.equal(badRouter.err, `${config}: routers: no router labelled "nope"; allowed: first, second, third\n`);
});

test('meshwork delegate runs as a process', () => {
  const res = spawnSync(process.execPath, ['bin/meshwork.js', 'delegate', '--dtab', '/foo=>/$/nil', '/foo'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(res.status, 0, res.stderr);
  assert.equal(res.stdout, '{"type":"delegate","path":"/foo","delegate":{"type":"empty","path":"/$/nil","dentry":{"prefix":"/foo","dst":"/$/nil"}}}\n');
});

test('delegate: a router with the io.l5d.fs interpreter explains with its dtab file first, then its dtab', async () => {
  const users = await run('--config', config, '--router', 'third', '/svc/users');
  assert.equal(users.code, 0, users.err);
  assert.match(users.out, /"dentry":\{"prefix":"\/svc","dst":"\/#\/io\.l5d\.fs"\}/);
  const x = await run('--config', config, '--router', 'third', '/svc/x');
  assert.match(x.out, /^\{"type":"alt","path":"\/svc\/x","alt":\[\{"type":"leaf","path":"\/\$\/inet\/127\.0\.0\.1\/7777"/);
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, `routers:\n- protocol: http\n  interpreter:\n    kind: io.l5d.fs\n    dtabFile: ${join(dir, 'nope.dtab')}\n`);
  const r = await run('--config', broken, '/svc/x');
  assert.equal(r.code === 0, false);
  assert.match(r.err, /routers\[0\]\.interpreter\.dtabFile: cannot read .*nope\.dtab: ENOENT/);
});

test('delegate --config: a router following Consul or a ConfigMap explains with the stored dtab first; one that cannot be read names it', async (t) => {
  const { startFakeConsul } = await import('../support/fake-consul.js');
  const { startFakeK8s } = await import('../support/fake-k8s.js');
  const consul = await startFakeConsul();
  t.after(() => consul.stop());
  const k8s = await startFakeK8s();
  t.after(() => k8s.stop());
  consul.set('namerd/dtabs/web', '/svc => /#/io.l5d.fs');
  k8s.putObject('routing', 'configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dtabs' }, data: { 'web.dtab': '/svc => /#/io.l5d.fs' } });
  const file = join(dir, 'remote.yaml');
  writeFileSync(
    file,
    `namers:\n- kind: io.l5d.fs\n  rootDir: ${join(dir, 'disco')}\nrouters:\n` +
      `- protocol: http\n  label: consul\n  dtab: /svc/x => /$/inet/127.0.0.1/7777\n  interpreter: {kind: io.l5d.consul.interpreter, host: 127.0.0.1, port: ${consul.port}, namespace: web}\n` +
      `- protocol: http\n  label: cm\n  interpreter: {kind: io.l5d.k8s.configMap, host: 127.0.0.1, port: ${k8s.port}, namespace: routing, name: dtabs, filename: web.dtab}\n` +
      `- protocol: http\n  label: down\n  interpreter: {kind: io.l5d.k8s.configMap, host: 127.0.0.1, port: 1, namespace: routing, name: dtabs, filename: web.dtab}\n`,
  );
  for (const router of ['consul', 'cm']) {
    const users = await run('--config', file, '--router', router, '/svc/users');
    assert.equal(users.code, 0, users.err);
    assert.match(users.out, /"dentry":\{"prefix":"\/svc","dst":"\/#\/io\.l5d\.fs"\}.*"id":"\/#\/io\.l5d\.fs\/users"/, router);
  }
  // The router's own entries come after the stored ones (and win).
  const x = await run('--config', file, '--router', 'consul', '/svc/x');
  assert.match(x.out, /^\{"type":"alt","path":"\/svc\/x","alt":\[\{"type":"leaf","path":"\/\$\/inet\/127\.0\.0\.1\/7777"/);
  // Nothing answers on port 1: within --timeout the command says which interpreter it could not read.
  const down = await run('--config', file, '--router', 'down', '--timeout', '500', '/svc/users');
  assert.equal(down.code, 2);
  assert.match(down.err, /remote\.yaml: routers\[2\]\.interpreter: cannot read the io\.l5d\.k8s\.configMap dtab: no answer within 500 ms \(--timeout\)$/m, down.err);
});
