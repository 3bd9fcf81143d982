/** `meshwork linkerd --workers N`: the whole linker in N processes on shared sockets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, upstream } from '../router/support.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');

test('--workers takes a whole number and not stdin', () => {
  const bad = spawnSync(process.execPath, [BIN, 'linkerd', '--workers', 'two', 'x.yaml'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^meshwork linkerd: --workers takes a whole number from 1 to 64, found 'two'\n/);
  const stdin = spawnSync(process.execPath, [BIN, 'linkerd', '--workers', '2', '-'], { encoding: 'utf8', timeout: 10_000, input: '' });
  assert.equal(stdin.status, 2);
  assert.match(stdin.stderr, /--workers cannot read the config from stdin/);
});

test('--workers 2: two linker processes share the router port, route, and stop on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const up = await upstream((req, res) => res.end(`hi ${req.headers['l5d-dst-service']}`));
  t.after(() => up.close());
  const cfg = join(dir, 'l.yaml');
  writeFileSync(cfg, `admin: {ip: 127.0.0.1, port: 0}\nrouters:\n- protocol: http\n  label: w\n  dtab: /svc => /$/inet/127.0.0.1/${up.port}\n  servers: [{ip: 127.0.0.1, port: 0}]\n`);
  const child = spawn(process.execPath, [BIN, 'linkerd', '--workers', '2', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`workers did not start: ${out}`)), 20_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^listening w 127\.0\.0\.1:(\d+)$/m.exec(out);
      if (m && /^linkerd primary \d+: 2 workers$/m.test(out)) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', () => reject(new Error(`exited early: ${out}`)));
  });
  // Only the first worker prints its listening lines.
  assert.equal(out.match(/^listening w /gm)?.length, 1);
  const workers = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  assert.equal(workers.length, 2);
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => request(port, { path: `/${i}`, headers: { host: `app${i % 3}` } })));
  assert.deepEqual(
    replies.map((r) => `${r.status} ${r.body}`),
    Array.from({ length: 20 }, (_, i) => `200 hi /svc/app${i % 3}`),
  );
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0);
  assert.equal(out.match(/^stopped$/gm)?.length, 1);
  for (const pid of workers) assert.throws(() => process.kill(Number(pid), 0), /ESRCH/);
});
