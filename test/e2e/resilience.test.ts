/**
 * End to end through `meshwork linkerd`: per-prefix service and client config (retries within
 * budget, total timeout, failure accrual), a 90/10 weighted dtab union, 100-continue and a
 * WebSocket-style upgrade.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import type * as net from 'node:net';
import { echo, request, upstream, type Upstream } from '../router/support.js';
import { startLinker } from '../support/linker.js';
import type { ReadyProcess } from '../support/process.js';

let dir: string;
let proc: ReadyProcess;
let port = 0;
const ups: Record<string, Upstream> = {};
let flakyFailNext = 0;
let badHealthy = false;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-res-'));
  ups['flaky'] = await upstream((req, res) => {
    res.statusCode = flakyFailNext-- > 0 ? 500 : 200;
    res.end('flaky');
  });
  ups['slow'] = await upstream((req, res) => {
    const t = setTimeout(() => res.end('late'), 2000);
    res.on('close', () => clearTimeout(t));
  });
  ups['good'] = await upstream((req, res) => res.end('good'));
  ups['bad'] = await upstream((req, res) => {
    res.statusCode = badHealthy ? 200 : 500;
    res.end('bad');
  });
  ups['a'] = await upstream((req, res) => res.end('a'));
  ups['b'] = await upstream((req, res) => res.end('b'));
  ups['echo'] = await upstream(echo);
  ups['echo']!.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (c: Buffer) => socket.write(Buffer.from(c.toString().toUpperCase())));
    socket.on('end', () => socket.destroy());
    socket.on('error', () => socket.destroy());
  });
  for (const n of ['flaky', 'slow', 'a', 'b', 'echo']) writeFileSync(join(dir, n), `127.0.0.1 ${ups[n]!.port}\n`);
  writeFileSync(join(dir, 'pair'), `127.0.0.1 ${ups['good']!.port}\n127.0.0.1 ${ups['bad']!.port}\n`);
  writeFileSync(
    join(dir, 'l.yaml'),
    `admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
- protocol: http
  dtab: |
    /svc => /#/io.l5d.fs;
    /svc/split => 9 * /#/io.l5d.fs/a & 1 * /#/io.l5d.fs/b;
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc/flaky
      responseClassifier:
        kind: io.l5d.http.retryableRead5XX
      retries:
        budget:
          ttlSecs: 10
          minRetriesPerSec: 0
          percentCanRetry: 0.5
    - prefix: /svc/slow
      totalTimeoutMs: 100
  client:
    kind: io.l5d.static
    configs:
    - prefix: /#/io.l5d.fs/pair
      failureAccrual:
        kind: io.l5d.consecutiveFailures
        failures: 2
        backoff:
          kind: constant
          ms: 1500
  servers:
  - port: 0
`,
  );
  const l = await startLinker(join(dir, 'l.yaml'), 'http', 10_000);
  proc = l.proc;
  port = l.port;
});

after(async () => {
  proc?.child.kill('SIGKILL');
  await Promise.all(Object.values(ups).map((u) => u.close()));
  rmSync(dir, { recursive: true, force: true });
});

test('retries within the budget: attempts counted exactly', async () => {
  const u = ups['flaky']!;
  // Always failing: deposits 1..4 allow floor(0.5 * d) retries: at requests 2 and 4.
  flakyFailNext = 1000;
  for (let i = 0; i < 4; i++) assert.equal((await request(port, { headers: { host: 'flaky' } })).status, 500);
  assert.equal(u.requests, 6);
  // Request 5: floor(0.5 * 5) = 2 retries allowed, 2 already used: the 500 is returned unretried.
  flakyFailNext = 1;
  const r5 = await request(port, { headers: { host: 'flaky' } });
  assert.equal(r5.status, 500);
  assert.equal(u.requests, 7);
  flakyFailNext = 1;
  const r6 = await request(port, { headers: { host: 'flaky' } });
  assert.equal(r6.status, 200); // floor(0.5 * 6) = 3 > 2 used: retried once
  assert.equal(u.requests, 9);
});

test('totalTimeoutMs from the service config: 504 after 100 ms', async () => {
  const t0 = Date.now();
  const rsp = await request(port, { headers: { host: 'slow' } });
  assert.equal(rsp.status, 504);
  assert.equal(rsp.headers['l5d-err'], 'exceeded 100ms total timeout for /svc/slow');
  assert.ok(Date.now() - t0 < 1500);
});

test('failure accrual removes the failing endpoint and revives it after the backoff', async () => {
  for (let i = 0; i < 30; i++) await request(port, { headers: { host: 'pair' } });
  assert.equal(ups['bad']!.requests, 2);
  badHealthy = true;
  // The backoff is long enough that 30 requests on a loaded machine finish inside it.
  await new Promise((r) => setTimeout(r, 1600));
  for (let i = 0; i < 200 && ups['bad']!.requests === 2; i++) await request(port, { headers: { host: 'pair' } });
  assert.equal(ups['bad']!.requests, 3);
});

test('9 * a & 1 * b splits about 90/10', async () => {
  let remaining = 1000;
  const worker = async (): Promise<void> => {
    while (remaining-- > 0) await request(port, { headers: { host: 'split' } });
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  const a = ups['a']!.requests;
  const b = ups['b']!.requests;
  assert.equal(a + b, 1000);
  assert.ok(b >= 52 && b <= 148, `b got ${b}`);
});

test('Expect: 100-continue and Connection: Upgrade pass through the linker', async () => {
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', headers: { host: 'echo', expect: '100-continue', 'content-length': '2' }, agent: false }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => resolve(s));
    });
    req.on('continue', () => req.end('hi'));
    req.on('error', reject);
  });
  assert.equal(JSON.parse(body).body, 'hi');
  const echoed = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, headers: { host: 'echo', connection: 'Upgrade', upgrade: 'websocket' }, agent: false });
    req.on('upgrade', (res, socket: net.Socket) => {
      socket.write('ws');
      socket.once('data', (c: Buffer) => {
        resolve(c.toString());
        socket.destroy();
      });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(echoed, 'WS');
});
