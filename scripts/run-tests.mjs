// Runs every compiled test file under dist/test with node's test runner.
// Node 20's `node --test` takes no globs, so the file list is gathered here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const only = process.argv.slice(2);
const roots = only.length > 0 ? only.map((p) => p.replace(/^test\//, 'dist/test/').replace(/\.ts$/, '.js')) : ['dist/test'];
const files = roots.flatMap((r) => (statSync(r).isDirectory() ? collect(r, []) : [r])).sort();
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
