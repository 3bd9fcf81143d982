import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { command } from '../../src/cli/commands/bind.js';

const dir = mkdtempSync(join(tmpdir(), 'meshwork-cli-bind-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'web'), '127.0.0.1 7001 * 3\n');
writeFileSync(join(dir, 'empty'), '');
const config = join(dir, 'linkerd.yaml');
writeFileSync(
  config,
  `namers:
- kind: io.l5d.fs
  prefix: /disco
  rootDir: ${dir}
routers:
- protocol: http
  dtab: /svc => /#/disco
`,
);

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await command.run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

test('bind: a leaf as namerd /api/1/bind JSON', async () => {
  assert.deepEqual(await run('--config', config, '/svc/web/rest'), {
    code: 0,
    out: '{"type":"leaf","bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":7001,"meta":{"endpoint_addr_weight":3}}],"meta":{}},"id":"/#/disco/web","path":"/rest"}}\n',
    err: '',
  });
  assert.equal(
    (await run('--config', config, '/svc/empty')).out,
    '{"type":"leaf","bound":{"addr":{"type":"bound","addrs":[],"meta":{}},"id":"/#/disco/empty","path":"/"}}\n',
  );
});

test('bind: neg, fail, empty and unions', async () => {
  assert.equal((await run('--config', config, '/svc/missing')).out, '{"type":"neg"}\n');
  assert.equal((await run('--dtab', '/a=>!', '/a')).out, '{"type":"fail"}\n');
  assert.equal((await run('--dtab', '/a=>$', '/a')).out, '{"type":"empty"}\n');
  assert.equal(
    (await run('--dtab', '/a=>0.7*/$/inet/127.0.0.1/1 & 0.3*/$/inet/127.0.0.1/2', '/a')).out,
    '{"type":"union","union":[{"weight":0.7,"tree":{"type":"leaf","bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":1,"meta":{}}],"meta":{}},"id":"/$/inet/127.0.0.1/1","path":"/"}}},' +
      '{"weight":0.3,"tree":{"type":"leaf","bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":2,"meta":{}}],"meta":{}},"id":"/$/inet/127.0.0.1/2","path":"/"}}}]}\n',
  );
  assert.match((await run('--dtab', '/a=>/$/inet/127.0.0.1/1 & /$/inet/127.0.0.1/2', '/a')).out, /"weight":1\.0,/);
});

test('bind: failures exit 1 with the message', async () => {
  assert.deepEqual(await run('--dtab', '/a=>/b;/b=>/a', '/a'), { code: 1, out: '', err: 'bind failed: Max recursion level: 100 reached in Namer lookup\n' });
  assert.deepEqual(await run('/$/nope/x'), { code: 1, out: '', err: 'bind failed: Unknown namer: nope for path: /$/nope/x\n' });
});

test('bind: invalid input is exit 2', async () => {
  assert.deepEqual(await run('nope'), { code: 2, out: '', err: "Invalid path: '/' expected but 'n' found at '[n]ope'\n" });
  assert.equal((await run('--dtab', '/a=>', '/a')).code, 2);
});

test('meshwork bind runs as a process', () => {
  const res = spawnSync(process.execPath, ['bin/meshwork.js', 'bind', '--dtab', '/a=>/$/inet/127.0.0.1/80', '/a/b'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(res.status, 0, res.stderr);
  assert.equal(
    res.stdout,
    '{"type":"leaf","bound":{"addr":{"type":"bound","addrs":[{"ip":"127.0.0.1","port":80,"meta":{}}],"meta":{}},"id":"/$/inet/127.0.0.1/80","path":"/b"}}\n',
  );
});
