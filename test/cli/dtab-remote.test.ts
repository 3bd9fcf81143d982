import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createNamers } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/index.js';
import { createStore } from '../../src/namerd/stores/registry.js';
import { Namespaces } from '../../src/namerd/namespaces.js';
import { HttpController } from '../../src/namerd/http-controller.js';
import { REFUSED_PORT } from '../support/process.js';

const store = createStore({ kind: 'io.l5d.inMemory', namespaces: { default: '/svc => /#/io.l5d.fs' } });
const namers = createNamers([] as never, { file: 't.yaml', readPath });
const ctl = new HttpController(new Namespaces(store, namers), { ip: '127.0.0.1', port: 0 });
const { port } = await ctl.listen();
const base = `http://127.0.0.1:${port}`;
after(async () => {
  await ctl.close();
  await store.close();
});

interface Out {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a child process (asynchronously: the namerd under test lives in this process). */
function meshwork(args: string[], input = '', env: NodeJS.ProcessEnv = { ...process.env, NAMERCTL_BASE_URL: '' }): Promise<Out> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['bin/meshwork.js', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    c.stdin.end(input);
  });
}

test('dtab list/get/create/apply/delete round-trip through namerd', async () => {
  assert.deepEqual(await meshwork(['dtab', 'list', '--base-url', base]), { status: 0, stdout: 'default\n', stderr: '' });
  const got = await meshwork(['dtab', 'get', 'default', '--base-url', base]);
  assert.equal(got.status, 0);
  assert.equal(got.stdout, '/svc=>/#/io.l5d.fs\n');
  assert.match(got.stderr, /^version: \S+\n$/);

  assert.deepEqual(await meshwork(['dtab', 'create', 'canary', '-', '--base-url', base], '/svc => /a'), { status: 0, stdout: 'created canary\n', stderr: '' });
  const dup = await meshwork(['dtab', 'create', 'canary', '-', '--base-url', base], '/svc => /a');
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /^meshwork dtab create: namerd answered 409: /);

  assert.deepEqual(await meshwork(['dtab', 'apply', 'canary', '-', '--base-url', base], '/svc => /b'), { status: 0, stdout: 'updated canary\n', stderr: '' });
  assert.deepEqual(await meshwork(['dtab', 'apply', 'fresh', '-', '--base-url', base], '/x => /y'), { status: 0, stdout: 'updated fresh\n', stderr: '' });
  assert.equal((await meshwork(['dtab', 'get', 'canary', '--base-url', base])).stdout, '/svc=>/b\n');
  assert.deepEqual(await meshwork(['dtab', 'list', '--base-url', base]), { status: 0, stdout: 'canary\ndefault\nfresh\n', stderr: '' });

  assert.deepEqual(await meshwork(['dtab', 'delete', 'fresh', '--base-url', base]), { status: 0, stdout: 'deleted fresh\n', stderr: '' });
  const gone = await meshwork(['dtab', 'get', 'fresh', '--base-url', base]);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /namerd answered 404: dtab namespace 'fresh' does not exist/);
});

test('dtab update: --version is compare-and-set; a stale version is 412 -> exit 1 with a clear message', async () => {
  const got = await meshwork(['dtab', 'get', 'canary', '--base-url', base]);
  const version = /^version: (\S+)\n$/.exec(got.stderr)![1]!;
  assert.deepEqual(await meshwork(['dtab', 'update', 'canary', '-', '--version', version, '--base-url', base], '/svc => /c'), {
    status: 0,
    stdout: 'updated canary\n',
    stderr: '',
  });
  const stale = await meshwork(['dtab', 'update', 'canary', '-', '--version', version, '--base-url', base], '/svc => /d');
  assert.deepEqual(stale, {
    status: 1,
    stdout: '',
    stderr: `meshwork dtab update: version ${version} of 'canary' is stale (someone else changed it); get it again and retry\n`,
  });
  assert.equal((await meshwork(['dtab', 'get', 'canary', '--base-url', base])).stdout, '/svc=>/c\n');
  const missing = await meshwork(['dtab', 'update', 'nope', '-', '--base-url', base], '/a => /b');
  assert.deepEqual(missing, { status: 1, stdout: '', stderr: "meshwork dtab update: namespace 'nope' does not exist (use create or apply)\n" });
});

test('dtab: a bad dtab is the server 400 message and exit 2, stored dtab unchanged; unreachable namerd is exit 1', async () => {
  const bad = await meshwork(['dtab', 'apply', 'canary', '-', '--base-url', base], '/svc => b');
  assert.equal(bad.status, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /^meshwork dtab apply: .*simple expected but 'b' found/);
  assert.equal((await meshwork(['dtab', 'get', 'canary', '--base-url', base])).stdout, '/svc=>/c\n');
  const usage = await meshwork(['dtab', 'get', '--base-url', base]);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /1 argument\(s\) expected, found 0/);
  // A port nothing listens on.
  const down = await meshwork(['dtab', 'list', '--base-url', `http://127.0.0.1:${REFUSED_PORT}`]);
  assert.deepEqual(down, { status: 1, stdout: '', stderr: `meshwork dtab list: cannot reach namerd at http://127.0.0.1:${REFUSED_PORT}: connect ECONNREFUSED 127.0.0.1:${REFUSED_PORT}\n` });
});

test('dtab <sub> --help prints the namerd subcommands\' help; dtab --help and dtab fmt --help the command\'s', async () => {
  const { main } = await import('../../src/cli/main.js');
  const run = async (...args: string[]): Promise<{ code: number; out: string }> => {
    let out = '';
    const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (out += s) });
    return { code, out };
  };
  for (const sub of ['apply', 'get', 'list']) {
    const r = await run('dtab', sub, '--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /^usage: meshwork dtab <subcommand> \[--base-url URL\]/, sub);
    assert.match(r.out, /apply NS FILE\|- +create NS or replace it/);
    // Every description starts in one column, the longest synopsis (update's) included.
    const cols = r.out
      .split('\n')
      .filter((l) => /^  (list|get|create|update|delete|apply)\b/.test(l))
      .map((l) => /^ {2}\S.*?\S {2,}(?=\S)/.exec(l)![0].length);
    assert.equal(cols.length, 6);
    assert.equal(new Set(cols).size, 1, `description columns ${cols.join(', ')}`);
  }
  for (const args of [['dtab', '--help'], ['dtab', 'fmt', '--help'], ['dtab', '-h']]) {
    const r = await run(...args);
    assert.equal(r.code, 0);
    assert.match(r.out, /^usage: meshwork dtab <subcommand> \.\.\.\n/, args.join(' '));
  }
});

test('dtab: namerd\'s address from --namerd, --base-url=URL or NAMERCTL_BASE_URL (namerctl\'s), the flag winning', async () => {
  const listed = { status: 0, stdout: 'canary\ndefault\n', stderr: '' };
  assert.deepEqual(await meshwork(['dtab', 'list', '--namerd', base]), listed);
  assert.deepEqual(await meshwork(['dtab', 'list', `--namerd=${base}/`]), listed);
  assert.deepEqual(await meshwork(['dtab', 'list', `--base-url=${base}`]), listed);
  assert.deepEqual(await meshwork(['dtab', 'list'], '', { ...process.env, NAMERCTL_BASE_URL: base }), listed);
  // A port nothing listens on, from the environment, loses to the flag; alone it is the one asked.
  const closed = `http://127.0.0.1:${REFUSED_PORT}`;
  assert.deepEqual(await meshwork(['dtab', 'list', '--namerd', base], '', { ...process.env, NAMERCTL_BASE_URL: closed }), listed);
  const down = await meshwork(['dtab', 'list'], '', { ...process.env, NAMERCTL_BASE_URL: closed });
  assert.equal(down.status, 1);
  assert.match(down.stderr, new RegExp(`cannot reach namerd at ${closed}: `));
  assert.deepEqual(await meshwork(['dtab', 'list', '--namerd']), { status: 2, stdout: '', stderr: `meshwork dtab list: option '--namerd' needs a value\n${(await import('../../src/cli/commands/dtab-remote.js')).usage}` });
});
