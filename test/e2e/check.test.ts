/**
 * `meshwork check` against a real `meshwork linkerd` and `meshwork namerd`: a healthy mesh
 * passes (exit 0); a client whose only endpoint refused a connection (failFast) and one whose
 * name the namer no longer has each fail with the reason (exit 1); namerd's namespaces are
 * listed and `--resolve` says whether a name has endpoints; an admin server that is not there
 * fails; bad usage exits 2.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { e2eScratch, startLinker } from '../support/linker.js';
import { REFUSED_PORT, spawnReady } from '../support/process.js';
import { captureIO as capture } from '../support/capture-io.js';
import { request, upstream } from '../router/support.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const { dir, procs, ups } = e2eScratch('meshwork-check-');
let routerPort = 0;
let admin = '';
let namerdApi = '';


async function check(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { out, io } = capture();
  const code = await main(['check', ...args], io);
  return { code, ...out };
}

before(async () => {
  const up = await upstream((_req, res) => res.end('up'));
  ups.push(up);
  const dead = REFUSED_PORT;
  writeFileSync(join(dir, 'up'), `127.0.0.1 ${up.port}\n`);
  writeFileSync(join(dir, 'gone'), `127.0.0.1 ${up.port}\n`);
  writeFileSync(join(dir, 'dead'), `127.0.0.1 ${dead}\n`);
  writeFileSync(
    join(dir, 'linkerd.yaml'),
    `admin: {port: 0}
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
- protocol: http
  label: web
  dtab: /svc => /#/io.l5d.fs
  client:
    failFast: true
  servers:
  - port: 0
`,
  );
  writeFileSync(
    join(dir, 'namerd.yaml'),
    `admin: {port: 0}
storage:
  kind: io.l5d.inMemory
  namespaces:
    default: /svc => /#/io.l5d.fs
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
interfaces:
- kind: io.l5d.httpController
  port: 0
`,
  );
  const [l, n] = await Promise.all([
    startLinker(join(dir, 'linkerd.yaml')),
    spawnReady(process.execPath, [BIN, 'namerd', join(dir, 'namerd.yaml')], /^namerd io\.l5d\.httpController listening on \S+:\d+$/m, 15_000),
  ]);
  procs.push(l.proc, n);
  routerPort = l.port;
  admin = `http://127.0.0.1:${l.admin}`;
  namerdApi = `http://127.0.0.1:${/^namerd io\.l5d\.httpController listening on \S+:(\d+)$/m.exec(n.output())![1]}`;
});

test('meshwork check: a healthy linker passes', async () => {
  assert.equal((await request(routerPort, { headers: { host: 'up' } })).body, 'up');
  const r = await check('--admin', admin);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^linker admin http:\/\/127\.0\.0\.1:\d+ \(linkerd [\d.]+, up \d+ s\)$/m);
  assert.match(r.stdout, /^ {2}ok {3}the admin server answers \/admin\/ping$/m);
  assert.match(r.stdout, /^ {2}ok {3}1 router: web \(http\)$/m);
  assert.match(r.stdout, /^ {2}ok {3}web: 1 client with every endpoint available$/m);
  assert.match(r.stdout, /^ {2}ok {3}web: 0 of 1 request failed since start \(0\.0%\)$/m);
  assert.match(r.stdout, /^\d+ ok, 0 warnings, 0 failed$/m);
});

test('meshwork check: an endpoint out by failFast and a name the namer lost each fail, with the reason', async () => {
  assert.equal((await request(routerPort, { headers: { host: 'dead' } })).status, 502);
  assert.equal((await request(routerPort, { headers: { host: 'gone' } })).body, 'up');
  unlinkSync(join(dir, 'gone'));
  // The fs namer sees the file go within its poll; the client's Addr turns negative.
  let r = await check('--admin', admin);
  for (let i = 0; i < 50 && !r.stdout.includes('/#/io.l5d.fs/gone: the namer has no such name'); i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await check('--admin', admin);
  }
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stdout, /^ {2}FAIL web: \/#\/io\.l5d\.fs\/dead: all 1 endpoint taken out \(127\.0\.0\.1:\d+ failFast\)$/m);
  assert.match(r.stdout, /^ {2}FAIL web: \/#\/io\.l5d\.fs\/gone: the namer has no such name \(negative\): requests to it fail$/m);
  assert.match(r.stdout, /^ {2}ok {3}web: 1 client with every endpoint available$/m);
  assert.match(r.stdout, /^\d+ ok, 0 warnings, 2 failed$/m);
});

test('meshwork check --namerd: namespaces, dtabs, and whether a name resolves', async () => {
  const good = await check('--admin', 'none', '--namerd', namerdApi, '--resolve', 'default:/svc/up');
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^namerd http:\/\/127\.0\.0\.1:\d+$/m);
  assert.match(good.stdout, /^ {2}ok {3}1 namespace: default$/m);
  assert.match(good.stdout, /^ {2}ok {3}default: 1 dentry$/m);
  assert.match(good.stdout, /^ {2}ok {3}default: \/svc\/up resolves to 1 endpoint \(127\.0\.0\.1:\d+\)$/m);
  assert.doesNotMatch(good.stdout, /^linker/m);

  const bad = await check('--admin', 'none', '--namerd', namerdApi, '--resolve', 'default:/svc/nothing', '--resolve', 'other:/svc/up');
  assert.equal(bad.code, 1, bad.stdout);
  assert.match(bad.stdout, /^ {2}FAIL default: \/svc\/nothing does not resolve \(negative: no dentry or namer knows it\)$/m);
  assert.match(bad.stdout, /^ {2}FAIL other: no such namespace, so \/svc\/up cannot resolve$/m);
});

test('meshwork check: an admin server that is not there fails; bad usage exits 2', async () => {
  const gone = await check('--admin', `http://127.0.0.1:${REFUSED_PORT}`, '--timeout-ms', '2000');
  assert.equal(gone.code, 1, gone.stdout);
  assert.match(gone.stdout, /^ {2}FAIL the admin server does not answer \/admin\/ping: ECONNREFUSED$/m);

  for (const args of [['--admin', 'localhost:9990'], ['--resolve', 'default:/svc/x'], ['--admin', 'none'], ['--resolve', 'nopath', '--namerd', namerdApi], ['--timeout-ms', '5'], ['--bogus']]) {
    const r = await check(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, /^meshwork check: .+\nusage: meshwork check /, args.join(' '));
  }
});
