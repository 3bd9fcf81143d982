import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function meshwork(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/meshwork.js', ...args], { input, encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('dtab fmt prints the canonical dtab from stdin and from a file', () => {
  const r = meshwork(['dtab', 'fmt', '-'], '# routes\n/svc => /#/io.l5d.fs ;\n/svc/web => 9 * /a & 1*/b | ~;\n');
  assert.deepEqual(r, { status: 0, stdout: '/svc=>/#/io.l5d.fs;/svc/web=>9.00*/a & /b | ~\n', stderr: '' });
  const dir = mkdtempSync(join(tmpdir(), 'dtab-fmt-'));
  try {
    writeFileSync(join(dir, 'd.dtab'), '/a=>/b;/c=>/d');
    assert.deepEqual(meshwork(['dtab', 'fmt', '--multiline', join(dir, 'd.dtab')]), { status: 0, stdout: '/a=>/b;\n/c=>/d;\n', stderr: '' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dtab fmt: an invalid dtab is exit 2 with the parser message on stderr and nothing on stdout', () => {
  assert.deepEqual(meshwork(['dtab', 'fmt'], '/a=>b'), { status: 2, stdout: '', stderr: "Invalid dtab: simple expected but 'b' found at '/a=>[b]'\n" });
  const unknown = meshwork(['dtab', 'frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown subcommand 'frobnicate'/);
});
