/** `meshwork http1-proxy` as a real process, including `--workers` (node:cluster). */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { exchange, ok, rawUpstream } from '../protocol/http1/helpers.js';

const bin = new URL('../../../bin/meshwork.js', import.meta.url).pathname;

test('bad usage exits 2 and names the problem', () => {
  const r = spawnSync(process.execPath, [bin, 'http1-proxy', '--listen', '127.0.0.1:0', '--upstream', 'nope'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^meshwork http1-proxy: --upstream wants HOST:PORT, found "nope"\n/);
});

test('--workers 2 shares one listen port across two processes and stops cleanly', async () => {
  const up = await rawUpstream((req) => ok(req.line));
  after(() => up.close());
  const child = spawn(process.execPath, [bin, 'http1-proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  after(() => { child.kill('SIGKILL'); });
  let out = '';
  const workers = new Map<number, number>();
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`workers did not start: ${out}`)), 15_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      for (const m of out.matchAll(/worker (\d+) listening on 127\.0\.0\.1:(\d+)/g)) workers.set(Number(m[1]), Number(m[2]));
      if (workers.size === 2 && /primary \d+: 2 workers/.test(out)) { clearTimeout(t); resolve(); }
    });
    child.once('exit', () => { clearTimeout(t); reject(new Error(`exited early: ${out}`)); });
  });
  const ports = new Set(workers.values());
  assert.equal(ports.size, 1, `workers listen on ${[...ports].join(', ')}`);
  const port = [...ports][0]!;
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(port, `GET /w${i} HTTP/1.1\r\nHost: svc\r\n\r\n`, 1)));
  assert.deepEqual(results.map((r) => r.responses[0]?.body), Array.from({ length: 20 }, (_, i) => `GET /w${i} HTTP/1.1`));
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0);
  for (const pid of workers.keys()) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
});
