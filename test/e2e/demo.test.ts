import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { request } from '../router/support.js';

test('npm start demo: hello calls world through outgoing -> incoming routers', async () => {
  const proc = spawn(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'demo'], {
    env: { ...process.env, MESHWORK_DEMO_PORTS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  try {
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('demo did not start')), 10_000);
      proc.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /curl -H 'Host: hello' http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    assert.match(out, /^listening outgoing 127\.0\.0\.1:\d+\nlistening incoming 127\.0\.0\.1:\d+\n/);
    const rsp = await request(port, { headers: { host: 'hello' } });
    assert.equal(rsp.status, 200);
    assert.equal(rsp.body, 'Hello (/svc/hello) world!\n');
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
});
