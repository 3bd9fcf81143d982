/**
 * End to end: `meshwork linkerd <config>` as a real child process against loopback upstreams,
 * with the real config loader, naming core and io.l5d.fs namer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import * as http from 'node:http';
import { request, upstream, type Upstream } from '../router/support.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');

interface Linkerd {
  readonly proc: ChildProcess;
  readonly ports: Record<string, number>;
  stdout: string;
  exited: Promise<number | null>;
}

async function startLinkerd(configFile: string, routers: number): Promise<Linkerd> {
  const proc = spawn(process.execPath, [BIN, 'linkerd', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const l: Linkerd = { proc, ports: {}, stdout: '', exited: new Promise((r) => proc.once('exit', (code) => r(code))) };
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`linkerd did not start: ${stderr}`)), 10_000);
    proc.stdout!.on('data', (c: Buffer) => {
      l.stdout += c.toString();
      for (const m of l.stdout.matchAll(/^listening (\S+) 127\.0\.0\.1:(\d+)$/gm)) l.ports[m[1]!] = Number(m[2]);
      const admin = /^admin listening on 127\.0\.0\.1:(\d+)$/m.exec(l.stdout);
      if (admin) l.ports['admin'] = Number(admin[1]);
      if (Object.keys(l.ports).length === routers + 1) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', () => reject(new Error(`linkerd exited: ${stderr}`)));
  });
  return l;
}

let dir: string;
let world: Upstream;
let backup: Upstream;
let staging: Upstream;
let dying: Upstream;
let slow: Upstream;
let lk: Linkerd;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-e2e-'));
  world = await upstream((req, res) => res.end(`world ${req.url}`));
  backup = await upstream((req, res) => res.end(`backup ${req.url}`));
  staging = await upstream((req, res) => res.end(`staging ${req.url}`));
  writeFileSync(join(dir, 'world'), `127.0.0.1 ${world.port}\n`);
  writeFileSync(join(dir, 'backup'), `127.0.0.1 ${backup.port}\n`);
  writeFileSync(join(dir, 'staging'), `127.0.0.1 ${staging.port}\n`);
  // Written before the linker starts so the fs namer sees them on its first read.
  dying = await upstream((req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  slow = await upstream((req, res) => setTimeout(() => res.end('slow done'), 300));
  writeFileSync(join(dir, 'dying'), `127.0.0.1 ${dying.port}\n`);
  writeFileSync(join(dir, 'slow'), `127.0.0.1 ${slow.port}\n`);
  const cfg = join(dir, 'linkerd.yaml');
  writeFileSync(
    cfg,
    `admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
- protocol: http
  label: host
  dtab: |
    /svc/world => /#/io.l5d.fs/backup;
    /svc => /#/io.l5d.fs;
  servers:
  - port: 0
- protocol: http
  label: path
  identifier:
    kind: io.l5d.path
    segments: 1
    consume: true
  dtab: /svc => /#/io.l5d.fs
  servers:
  - port: 0
- protocol: http
  label: header
  identifier:
  - kind: io.l5d.header
  - kind: io.l5d.methodAndHost
  dtab: |
    /svc/1.1/GET => /#/io.l5d.fs;
    /svc => /#/io.l5d.fs;
  servers:
  - port: 0
`,
  );
  lk = await startLinkerd(cfg, 3);
});

after(async () => {
  lk?.proc.kill('SIGKILL');
  await Promise.all([world?.close(), backup?.close(), staging?.close(), dying?.close(), slow?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

test('io.l5d.header.token routes by Host through the fs namer', async () => {
  const rsp = await request(lk.ports['host']!, { path: '/a', headers: { host: 'world' } });
  assert.equal(rsp.status, 200);
  assert.equal(rsp.body, 'world /a');
});

test('io.l5d.path (consume) routes by the first segment and strips it', async () => {
  const rsp = await request(lk.ports['path']!, { path: '/staging/x/y?q=1', headers: { host: 'anything' } });
  assert.equal(rsp.status, 200);
  assert.equal(rsp.body, 'staging /x/y?q=1');
});

test('identifier list: io.l5d.header first, then io.l5d.methodAndHost', async () => {
  const byHeader = await request(lk.ports['header']!, { path: '/h', headers: { host: 'ignored', 'l5d-name': '/backup' } });
  assert.equal(byHeader.body, 'backup /h');
  const byMethod = await request(lk.ports['header']!, { path: '/m', headers: { host: 'staging' } });
  assert.equal(byMethod.body, 'staging /m');
});

test('l5d-dtab sends one request to staging; the next goes back to world', async () => {
  const port = lk.ports['host']!;
  const over = await request(port, { path: '/o', headers: { host: 'world', 'l5d-dtab': '/svc/world => /#/io.l5d.fs/staging' } });
  assert.equal(over.body, 'staging /o');
  const plain = await request(port, { path: '/o', headers: { host: 'world' } });
  assert.equal(plain.body, 'world /o');
});

test('unknown names are 502 with the logical name and dtab; bad l5d-dtab is 400', async () => {
  const port = lk.ports['host']!;
  const neg = await request(port, { headers: { host: 'nobody' } });
  assert.equal(neg.status, 502);
  assert.equal(
    neg.headers['l5d-err'],
    'No hosts are available for /svc/nobody, Dtab.base=[/svc/world=>/#/io.l5d.fs/backup;/svc=>/#/io.l5d.fs], Dtab.local=[]. Remote Info: Not Available',
  );
  const bad = await request(port, { headers: { host: 'world', 'l5d-dtab': '/svc => ' } });
  assert.equal(bad.status, 400);
  assert.match(String(bad.headers['l5d-err']), /^Invalid dtab in l5d-dtab header: /);
});

test('an upstream killed mid-response cuts the client response', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const req = http.get({ port: lk.ports['host']!, host: '127.0.0.1', headers: { host: 'dying' }, agent: false }, (res) => {
      let got = '';
      res.on('data', (c: Buffer) => (got += c.toString()));
      res.on('end', () => resolve(`complete ${got}`));
      res.on('error', () => resolve(`cut ${got}`));
      res.on('aborted', () => resolve(`cut ${got}`));
    });
    req.on('error', () => resolve('cut'));
  });
  assert.equal(outcome, 'cut partial');
  // The linker survives and keeps routing.
  assert.equal((await request(lk.ports['host']!, { headers: { host: 'world' } })).status, 200);
});

test('dtab fallback: when the fs file disappears, the earlier dentry answers', async () => {
  const port = lk.ports['host']!;
  assert.equal((await request(port, { path: '/f', headers: { host: 'world' } })).body, 'world /f');
  const saved = readFileSync(join(dir, 'world'), 'utf8');
  unlinkSync(join(dir, 'world'));
  let body = '';
  for (let i = 0; i < 60; i++) {
    body = (await request(port, { path: '/f', headers: { host: 'world' } })).body;
    if (body === 'backup /f') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(body, 'backup /f');
  writeFileSync(join(dir, 'world'), saved);
  for (let i = 0; i < 60; i++) {
    body = (await request(port, { path: '/f', headers: { host: 'world' } })).body;
    if (body === 'world /f') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(body, 'world /f');
});

test('the admin server answers ping, exact request counts and the delegator for a router', async () => {
  const admin = lk.ports['admin']!;
  assert.equal((await request(admin, { path: '/admin/ping' })).body, 'pong');
  const metrics = async (): Promise<Record<string, number>> => JSON.parse((await request(admin, { path: '/admin/metrics.json' })).body) as Record<string, number>;
  const port = lk.ports['path']!;
  const key = (k: string): string => `rt/path/server/127.0.0.1/${port}/${k}`;
  const before = await metrics();
  for (let i = 0; i < 3; i++) assert.equal((await request(port, { path: '/world/ok' })).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await request(port, { path: '/nowhere/x' })).status, 502);
  const after = await metrics();
  const delta = (k: string): number => (after[key(k)] ?? 0) - (before[key(k)] ?? 0);
  assert.deepEqual([delta('requests'), delta('success'), delta('failures')], [5, 3, 2]);
  const d = await request(admin, { path: '/delegator.json?namespace=path&path=/svc/world&dtab=' });
  assert.equal(d.status, 200);
  assert.match(d.body, /^\{"type":"delegate","path":"\/svc\/world","delegate":\{"type":"leaf","path":"\/#\/io.l5d.fs\/world"/);
  assert.equal((await request(admin, { path: '/delegator.json?namespace=path&path=/svc/world&dtab=/a=>b' })).status, 400);
});

test('SIGTERM drains: the request in flight finishes, then the port is closed', async () => {
  const port = lk.ports['host']!;
  const inflight = request(port, { headers: { host: 'slow' } });
  for (let i = 0; i < 100 && slow.requests === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(slow.requests, 1);
  lk.proc.kill('SIGTERM');
  const rsp = await inflight;
  assert.equal(rsp.status, 200);
  assert.equal(rsp.body, 'slow done');
  assert.equal(await lk.exited, 0);
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED');
});
