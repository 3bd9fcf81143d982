/**
 * The admin port listens before the routers, as in Linkerd: a router whose io.l5d.ingress
 * identifier cannot read its ingress list waits up to 10 s before it serves, and a liveness
 * probe on /admin/ping must be answered meanwhile, not refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { REFUSED_PORT, freePort } from '../support/process.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');

test('/admin/ping answers while a router still waits for its ingress list', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-admin-first-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Nothing listens on the API port: the ingress identifier's first list never comes.
  const apiPort = REFUSED_PORT;
  const file = join(dir, 'linkerd.yaml');
  // The admin port is chosen here (the test must know it before anything is printed); another
  // process may take it first, so a linker that exits at once is started again, at most 5 times.
  for (let attempt = 0; attempt < 5; attempt++) {
    const adminPort = await freePort();
    writeFileSync(
      file,
      `admin: {ip: 127.0.0.1, port: ${adminPort}}\nrouters:\n- protocol: http\n  identifier: {kind: io.l5d.ingress, host: 127.0.0.1, port: ${apiPort}}\n  servers: [{ip: 127.0.0.1, port: 0}]\n`,
    );
    const child = spawn(process.execPath, [BIN, 'linkerd', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const started = Date.now();
      let answer: { status: number; body: string } | undefined;
      // Polled for at most 8 s (40 tries, each at most 100 ms of waiting plus a 1 s fetch bound,
      // stopped early by the clock), well inside the identifier's 10 s wait.
      for (let i = 0; i < 40 && answer === undefined && child.exitCode === null && Date.now() - started < 8000; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${adminPort}/admin/ping`, { signal: AbortSignal.timeout(1000) });
          answer = { status: res.status, body: await res.text() };
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      if (answer === undefined && /EADDRINUSE/.test(out)) continue;
      assert.deepEqual(answer, { status: 200, body: 'pong' }, out);
      assert.doesNotMatch(out, /^listening /m, 'the router was already listening: the test shows nothing');
      assert.doesNotMatch(out, /no ingress list after/, 'the admin answered only after the ingress wait');
      return;
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }
  assert.fail('the admin port was taken by another process 5 times');
});
