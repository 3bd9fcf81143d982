/** The teardown helpers: a step that overruns is named, and handles left open are named and closed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bounded } from './teardown.js';

const TEARDOWN = fileURLToPath(new URL('./teardown.js', import.meta.url));

test('bounded: a step that overruns is reported and left behind; a quick one is awaited', async () => {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (m: string) => errors.push(m);
  try {
    let done = false;
    await bounded('quick', 1000, new Promise<void>((r) => setTimeout(() => ((done = true), r()), 20)));
    assert.ok(done);
    const t0 = Date.now();
    await bounded('stuck', 100, new Promise<void>(() => {}));
    assert.ok(Date.now() - t0 < 1000);
    await bounded('absent', 100, undefined);
  } finally {
    console.error = orig;
  }
  assert.deepEqual(errors, ['teardown: stuck did not finish within 100 ms']);
});

test('reportLeftovers: a process kept alive by an open socket and server ends, naming them', () => {
  // A child that leaves a listening server and a connection to it open after its "teardown".
  const script = `
    import * as net from 'node:net';
    import { reportLeftovers } from ${JSON.stringify(TEARDOWN)};
    const srv = net.createServer(() => {});
    srv.listen(0, '127.0.0.1', () => {
      net.connect(srv.address().port, '127.0.0.1', () => reportLeftovers('demo', 200));
    });`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - t0 < 5000, `ended after ${Date.now() - t0} ms`);
  assert.match(r.stderr, /teardown: demo still had [3-9] handle\(s\) open 200 ms after its teardown/);
  assert.match(r.stderr, /server \{"address":"127\.0\.0\.1"/);
  assert.match(r.stderr, /socket 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+/);
});

test('reportLeftovers: a process that ends by itself prints nothing', () => {
  const script = `import { reportLeftovers } from ${JSON.stringify(TEARDOWN)}; reportLeftovers('clean', 200);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
});
