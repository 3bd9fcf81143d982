/**
 * A supervisor may stop a server the moment it says it is listening (a readiness check, then a
 * rolling update's SIGTERM). `meshwork linkerd` and `meshwork namerd` must then stop gracefully
 * (exit 0, `stopped` for the linker), not die of the signal's default action.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');

/** Starts `meshwork <cmd> <file>`, sends SIGTERM as soon as `ready` is printed; resolves how it ended. */
function stopWhenReady(cmd: string, file: string, ready: RegExp): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, cmd, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`not ended after 15 s:\n${out}`));
    }, 15_000);
    const onData = (b: Buffer): void => {
      out += b.toString();
      if (!sent && ready.test(out)) {
        sent = true;
        c.kill('SIGTERM');
      }
    };
    c.stdout.on('data', onData);
    c.stderr.on('data', onData);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

test('SIGTERM right after the listening lines stops linkerd and namerd gracefully, 5 times each', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-signals-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const linkerd = join(dir, 'linkerd.yaml');
  writeFileSync(linkerd, 'admin: {ip: 127.0.0.1, port: 0}\nrouters:\n- protocol: http\n  dtab: /svc => /$/inet/127.1/9\n  servers: [{ip: 127.0.0.1, port: 0}]\n');
  const namerd = join(dir, 'namerd.yaml');
  writeFileSync(namerd, 'admin: {ip: 127.0.0.1, port: 0}\nstorage: {kind: io.l5d.inMemory}\nnamers: []\ninterfaces:\n- {kind: io.l5d.httpController, ip: 127.0.0.1, port: 0}\n');
  for (let i = 0; i < 5; i++) {
    const l = await stopWhenReady('linkerd', linkerd, /^admin listening on /m);
    assert.deepEqual([l.code, l.signal], [0, null], l.out);
    assert.match(l.out, /^stopped$/m);
    const n = await stopWhenReady('namerd', namerd, /^namerd admin listening on /m);
    assert.deepEqual([n.code, n.signal], [0, null], n.out);
  }
});
