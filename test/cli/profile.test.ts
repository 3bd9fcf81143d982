import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdminServer } from '../../src/admin/server.js';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';
import { main } from '../../src/cli/main.js';
import { captureIO as capture } from '../support/capture-io.js';
import { REFUSED_PORT } from '../support/process.js';


test('meshwork profile: time per request served, by part and by function, and the raw profile', async (t) => {
  const metrics = new MetricsRegistry();
  const requests = metrics.counter(['rt', 'web', 'server', '127.0.0.1/4140', 'requests']);
  metrics.counter(['rt', 'web', 'client', '$/inet/127.1/80', 'requests']).incr(1000); // not a server counter
  const admin = createAdminServer({ metrics, config: { port: 0 } });
  await admin.listen();
  t.after(() => admin.close());
  // "Requests": 100 counted every 10 ms while the process does some work.
  const work = setInterval(() => {
    const end = Date.now() + 3;
    let x = 0;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    requests.incr(100);
  }, 10);
  t.after(() => clearInterval(work));
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-profile-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'p.cpuprofile');
  const { out, io } = capture();
  const code = await main(['profile', '--admin', admin.url(), '--seconds', '0.5', '--top', '5', '--out', file], io);
  assert.equal(code, 0, out.stderr);
  const m = /(\d[\d,]*) requests served meanwhile \(([\d.]+) µs of wall time each\)/.exec(out.stdout);
  assert.ok(m, out.stdout);
  const served = Number(m[1]!.replace(/,/g, ''));
  // ~50 ticks of 100 in 0.5 s (fewer on a busy machine); the client counter never counts.
  assert.ok(served >= 100 && served <= 6000 && served % 100 === 0, `served ${served}`);
  assert.match(out.stdout, /\npart of the process\s+µs\/req\s+share\n/);
  const top = /\ntop (\d) functions by self time \(µs\/req, share, function, where, part\)\n/.exec(out.stdout);
  assert.ok(top !== null && Number(top[1]) >= 1 && Number(top[1]) <= 5, out.stdout);
  const rows = out.stdout.split('\n').filter((l) => /^\s+[\d.]+\s+[\d.]+%\s+\S/.test(l));
  assert.equal(rows.length, Number(top[1]), out.stdout);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { nodes: unknown[]; samples: unknown[] };
  assert.ok(raw.nodes.length > 0 && raw.samples.length > 0);
  assert.match(out.stdout, /raw profile written to .*p\.cpuprofile/);
});

test('meshwork profile: no routers means totals, not per request', async (t) => {
  const admin = createAdminServer({ metrics: new MetricsRegistry(), config: { port: 0 } });
  await admin.listen();
  t.after(() => admin.close());
  const { out, io } = capture();
  assert.equal(await main(['profile', `--admin=${admin.url()}`, '--seconds=0.2'], io), 0, out.stderr);
  assert.match(out.stdout, /; 0 requests served meanwhile \(times below are totals\)\n/);
  assert.match(out.stdout, /\npart of the process\s+ms\s+share\n/);
});

test('meshwork profile: refusals, unreachable servers and bad arguments', async (t) => {
  const admin = createAdminServer({ metrics: new MetricsRegistry(), config: { port: 0 } });
  await admin.listen();
  t.after(() => admin.close());
  // A profile already running: the admin server says 409 and the command says so.
  const busy = fetch(`${admin.url()}/admin/profile.cpuprofile?seconds=0.6`);
  await new Promise((r) => setTimeout(r, 150));
  const a = capture();
  assert.equal(await main(['profile', '--admin', admin.url(), '--seconds', '0.2'], a.io), 1);
  assert.match(a.out.stderr, /profile\.cpuprofile answered 409: a CPU profile is already being taken/);
  assert.equal((await busy).status, 200);

  const b = capture();
  const port = REFUSED_PORT;
  assert.equal(await main(['profile', '--admin', `http://127.0.0.1:${port}`, '--seconds', '0.2'], b.io), 1);
  assert.match(b.out.stderr, new RegExp(`cannot reach the admin server at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));

  // A server that accepts and never answers: the command gives up, it does not hang.
  const held: Socket[] = [];
  const mute = createServer((sock) => held.push(sock));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const sock of held) sock.destroy(); mute.close(() => r()); }));
  const silent = capture();
  const t0 = Date.now();
  assert.equal(await main(['profile', '--admin', `http://127.0.0.1:${(mute.address() as AddressInfo).port}`, '--seconds', '0.1'], silent.io), 1);
  assert.match(silent.out.stderr, /cannot reach the admin server at .*: no answer within 5000 ms \(beyond the profile's own seconds\)/);
  assert.ok(Date.now() - t0 < 9000);

  for (const [args, msg] of [
    [['--seconds', '0'], /--seconds must be a number from 0\.1 to 60; found '0'/],
    [['--top', '2.5'], /--top must be an integer from 1 to 200; found '2\.5'/],
    [['--admin', 'localhost:9990'], /--admin must be an http\(s\) URL; found 'localhost:9990'/],
    [['--seconds'], /option '--seconds' needs a value/],
    [['--frobnicate'], /unknown argument '--frobnicate'/],
  ] as const) {
    const c = capture();
    assert.equal(await main(['profile', ...args], c.io), 2, args.join(' '));
    assert.match(c.out.stderr, msg);
    assert.match(c.out.stderr, /usage: meshwork profile/);
  }
});
