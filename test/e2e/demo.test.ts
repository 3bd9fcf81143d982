/**
 * `npm start` end to end: `meshwork demo` on free ports (MESHWORK_DEMO_BASE_PORT=0) starts its
 * children, hello answers `hello world` through outgoing -> incoming, the admin metrics count
 * the requests, the dashboard and playground work in headless Chromium against the live mesh,
 * and SIGTERM leaves no child behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from '../router/support.js';

const CHROMIUM = '/usr/bin/chromium';

function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('meshwork demo: hello world through the mesh, metrics, dashboard, clean stop', { timeout: 60_000 }, async (t) => {
  const proc = spawn(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'demo'], {
    env: { ...process.env, MESHWORK_DEMO_BASE_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 30_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^demo ready: outgoing 127\.0\.0\.1:(\d+) incoming 127\.0\.0\.1:(\d+) admin 127\.0\.0\.1:(\d+) namerd 127\.0\.0\.1:(\d+) mesh 127\.0\.0\.1:(\d+) namerd-admin 127\.0\.0\.1:(\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    void exited.then((c) => reject(new Error(`demo exited ${c}:\n${out}`)));
  });
  const [outgoing, incoming, adminPort, namerdPort] = [1, 2, 3, 4].map((i) => Number(ready[i]));
  const children = childPids(proc.pid!);
  assert.equal(children.length, 3, `services, namerd and linkerd children: ${children.join(' ')}`);
  assert.ok(out.includes(`curl -H 'Host: hello' http://127.0.0.1:${outgoing}/`));
  assert.ok(out.includes(`http://127.0.0.1:${adminPort}/`));

  // hello calls world through outgoing -> incoming; the canary override sends hello to world
  for (let i = 0; i < 3; i++) {
    const rsp = await request(outgoing!, { headers: { host: 'hello' } });
    assert.equal(rsp.status, 200);
    assert.equal(rsp.body, 'hello world');
  }
  const canary = await request(outgoing!, { headers: { host: 'hello', 'l5d-dtab': '/svc/hello => /svc/world' } });
  assert.equal(canary.body, 'world');

  // each hello request is 2 requests on each router (app -> hello, hello -> world), plus the canary: 7
  const metrics = (await (await fetch(`http://127.0.0.1:${adminPort}/admin/metrics.json`)).json()) as Record<string, number>;
  assert.equal(metrics[`rt/outgoing/server/127.0.0.1/${outgoing}/requests`], 7);
  assert.equal(metrics[`rt/incoming/server/127.0.0.1/${incoming}/requests`], 7);
  // the canary is identified as /svc/hello (the override changes where it goes, not its name)
  assert.equal(metrics['rt/outgoing/service/svc/world/requests'], 3);
  assert.equal(metrics['rt/outgoing/service/svc/hello/requests'], 4);
  // namerd serves the default namespace
  const dtab = await (await fetch(`http://127.0.0.1:${namerdPort}/api/1/dtabs/default`)).json();
  assert.deepEqual(dtab, [{ prefix: '/svc', dst: '/#/io.l5d.fs' }]);

  await t.test('dashboard and playground against the live demo in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (CI installs it in .ci/run)` }, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      mkdirSync('test-output', { recursive: true });
      const admin = `http://127.0.0.1:${adminPort}`;
      const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
      await page.goto(admin + '/');
      await page.waitForSelector('section.router[data-router="outgoing"][data-requests="7"]', { timeout: 15_000 });
      const card = page.locator('section.router[data-router="outgoing"]');
      assert.equal(await card.getAttribute('data-requests'), '7');
      assert.equal(await card.locator('[data-k="sr"]').textContent(), '100.00%');
      // live traffic while the page polls: 5 more hello calls (10 requests on outgoing) give a rate
      for (let i = 0; i < 5; i++) assert.equal((await request(outgoing!, { headers: { host: 'hello' } })).body, 'hello world');
      await page.waitForSelector('section.router[data-router="outgoing"][data-requests="17"]', { timeout: 15_000 });
      assert.ok(Number(await card.locator('[data-k="rate"]').textContent()) > 0, 'request rate is positive');
      await page.screenshot({ path: 'test-output/demo-dashboard.png' });

      await page.goto(admin + '/delegator?namespace=outgoing&path=/svc/world');
      await page.waitForSelector('#tree .node', { timeout: 10_000 });
      assert.equal(await page.locator('#base').textContent(), '/svc => /#/io.l5d.fs');
      const leaf = await page.locator('#tree .node[data-type="leaf"]').textContent();
      assert.match(leaf ?? '', /^leaf\/#\/io\.l5d\.fs\/world → \/#\/io\.l5d\.fs\/world \[127\.0\.0\.1:\d+\]\/svc => \/#\/io\.l5d\.fs$/);
      await page.screenshot({ path: 'test-output/demo-delegator.png' });

      await page.fill('#dtab', '/svc/world');
      await page.click('#go');
      await page.waitForSelector('#error:not([hidden])', { timeout: 10_000 });
      assert.match((await page.locator('#error').textContent()) ?? '', /^Invalid dtab: /);
      await page.screenshot({ path: 'test-output/demo-delegator-error.png' });
    } finally {
      await browser.close();
    }
  });

  proc.kill('SIGTERM');
  assert.equal(await exited, 0);
  for (const pid of children) assert.equal(alive(pid), false, `child ${pid} still running`);
});

test('meshwork demo killed with SIGKILL: its children notice and exit', { timeout: 40_000 }, async (t) => {
  const proc = spawn(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'demo'], {
    env: { ...process.env, MESHWORK_DEMO_BASE_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<string | null>((r) => proc.once('exit', (_c, sig) => r(sig)));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 30_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (/^demo ready: /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const children = childPids(proc.pid!);
  t.after(() => {
    for (const pid of children) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.equal(children.length, 3);
  proc.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  // the children are not ours to wait on: poll, bounded (50 x 100 ms)
  for (let i = 0; i < 50 && children.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(children.filter(alive), []);
});
