import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { freePort, spawnReady } from '../support/process.js';
import { operatorSetYoungGeneration, SERVER_COMMANDS } from '../../src/cli/heap.js';

test('young-generation flags the operator gave are recognised in node options and NODE_OPTIONS', () => {
  assert.equal(operatorSetYoungGeneration([], undefined), false);
  assert.equal(operatorSetYoungGeneration(['--enable-source-maps'], '--max-old-space-size=512'), false);
  assert.equal(operatorSetYoungGeneration(['--max-semi-space-size=8'], undefined), true);
  assert.equal(operatorSetYoungGeneration([], '--trace-gc --max_semi_space_size=4'), true);
  assert.equal(operatorSetYoungGeneration(['--semi-space-growth-factor=2'], ''), true);
  assert.equal(operatorSetYoungGeneration(['--min-semi-space-size=2'], ''), true);
});

test('only the long-running commands are tuned', () => {
  assert.deepEqual([...SERVER_COMMANDS].sort(), ['demo', 'http1-proxy', 'linkerd', 'namerd']);
});

test('a tuned process keeps the young generation at its initial size under allocation', () => {
  // The same call main() makes, then 200 MB of short-lived garbage: new space must not grow.
  const script = `
    import { tuneHeapForServing } from ${JSON.stringify(new URL('../../src/cli/heap.js', import.meta.url).href)};
    import v8 from 'node:v8';
    if (process.env.HEAP_MODE === 'tuned') tuneHeapForServing();
    const keep = [];
    for (let i = 0; i < 200_000; i++) { keep.push({ i, s: 'x'.repeat(1000) + i }); if (keep.length > 2000) keep.length = 0; }
    const n = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(n.space_size));`;
  const size = (mode: string) => Number(spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, HEAP_MODE: mode, NODE_OPTIONS: '' } }).stdout);
  const tuned = size('tuned');
  const plain = size('plain');
  assert.ok(tuned > 0 && plain > 0, `sizes ${tuned} ${plain}`);
  assert.ok(tuned <= 4 * 2 ** 20, `tuned new space ${tuned} bytes`);
  assert.ok(plain > tuned, `untuned new space ${plain} should have grown past ${tuned}`);
});

test('a server process drops its start-up garbage once listening; other processes are left alone', () => {
  // 20 MB of objects that survive into the old generation, then become garbage (as a parsed
  // config does once the routers are built): compactAfterStart must free them when main()
  // tuned the heap for serving, and must not touch the heap, or leave `gc` exposed, otherwise.
  const script = `
    import { tuneHeapForServing, compactAfterStart } from ${JSON.stringify(new URL('../../src/cli/heap.js', import.meta.url).href)};
    if (process.env.HEAP_MODE === 'tuned') tuneHeapForServing();
    let keep = [];
    for (let i = 0; i < 200_000; i++) keep.push({ i, s: 'y'.repeat(60) + i });
    for (let i = 0; i < 200_000; i++) ({ i, s: 'z'.repeat(60) + i });
    keep = null;
    const before = process.memoryUsage().heapUsed;
    compactAfterStart();
    const after = process.memoryUsage().heapUsed;
    process.stdout.write(JSON.stringify({ freed: before - after, gc: typeof globalThis.gc }));`;
  const run = (mode: string) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, HEAP_MODE: mode, NODE_OPTIONS: '' } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { freed: number; gc: string };
  };
  const tuned = run('tuned');
  const plain = run('plain');
  assert.ok(tuned.freed > 10 * 2 ** 20, `tuned freed ${tuned.freed} bytes`);
  assert.ok(plain.freed < 2 ** 20, `untuned freed ${plain.freed} bytes`);
  assert.equal(tuned.gc, 'undefined');
  assert.equal(plain.gc, 'undefined');
});

test('the launcher runs node with its V8 flags when executed as a command', { skip: process.platform !== 'linux' ? 'reads /proc/<pid>/cmdline' : false }, async () => {
  const bin = new URL('../../../bin/meshwork.js', import.meta.url).pathname;
  const up = await freePort();
  // As `npx meshwork` or a PATH install runs it: through the #! line, with this node on PATH.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}` };
  const p = await spawnReady(bin, ['http1-proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up}`], /listening/, 15_000, env);
  try {
    const argv = readFileSync(`/proc/${p.child.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(argv.includes('--no-concurrent-recompilation'), argv.join(' '));
    assert.ok(argv.includes('--single-threaded-gc'), argv.join(' '));
    assert.ok(argv.includes(bin), argv.join(' '));
  } finally {
    await p.stop();
  }
});
