import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, unlinkSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsNamer, parseAddrFile } from '../../src/namers/fs.js';
import type { BoundName } from '../../src/naming/contracts.js';
import type { Addr } from '../../src/naming/addr.js';
import { Path } from '../../src/naming/path.js';
import { Var } from '../../src/naming/var.js';
import { observerCountOf } from '../../src/naming/activity.js';
import { describeTree } from '../support/addrs.js';

const p = (s: string): Path => Path.utf8(...s.split('/').filter((e) => e.length > 0));
const root = mkdtempSync(join(tmpdir(), 'meshwork-fs-'));
after(() => rmSync(root, { recursive: true, force: true }));

const PREFIX = p('/#/io.l5d.fs');
const WAIT_MS = 3000;

function describeAddr(a: Addr): string {
  if (a.type === 'bound') return 'bound:' + a.addrs.map((x) => `${x.host}:${x.port}${x.meta['endpoint_addr_weight'] !== undefined ? '*' + String(x.meta['endpoint_addr_weight']) : ''}`).join(',');
  if (a.type === 'failed') return 'failed:' + a.cause.message;
  return a.type;
}

test('parseAddrFile: lines, comments, weights, empty and malformed', () => {
  assert.equal(describeAddr(parseAddrFile('127.0.0.1 8080\n# comment\n  10.0.0.1\t9090 # trailing\n\n', 'f')), 'bound:127.0.0.1:8080,10.0.0.1:9090');
  assert.equal(describeAddr(parseAddrFile('127.0.0.1 8080 * 2.5\n', 'f')), 'bound:127.0.0.1:8080*2.5');
  assert.equal(describeAddr(parseAddrFile('', 'f')), 'bound:');
  assert.equal(describeAddr(parseAddrFile('# only a comment\n', 'f')), 'bound:');
  const bad = parseAddrFile('127.0.0.1 8080\nnot-an-address\n', '/tmp/users');
  assert.equal(describeAddr(bad), 'failed:malformed address: not-an-address (/tmp/users line 2)');
  assert.equal((bad as unknown as { cause: { code: string } }).cause.code, 'MESH_ERR_FS_MALFORMED_ADDRESS');
  assert.equal(describeAddr(parseAddrFile('h 0\n', 'f')), 'failed:malformed address: h 0 (f line 1)');
  assert.equal(describeAddr(parseAddrFile('h 65536\n', 'f')), 'failed:malformed address: h 65536 (f line 1)');
  assert.equal(describeAddr(parseAddrFile('h 1 * x\n', 'f')), 'failed:malformed address: h 1 * x (f line 1)');
});

test('lookup: file → bound leaf with residual, missing → neg, empty path → neg', async () => {
  writeFileSync(join(root, 'users'), '127.0.0.1 8080\n');
  const namer = new FsNamer(root, PREFIX);
  const users = namer.lookup(p('/users/extra/bits'));
  const s = await Var.firstMatching(users.states, (x) => x.type !== 'pending', WAIT_MS);
  assert.equal(describeTree(s), 'leaf:/#/io.l5d.fs/users:/extra/bits');
  const b = (s as { value: { value: BoundName } }).value.value;
  assert.equal(describeAddr(await Var.firstMatching(b.addr, (a) => a.type !== 'pending', WAIT_MS)), 'bound:127.0.0.1:8080');
  assert.equal(describeTree(await Var.firstMatching(namer.lookup(p('/nobody')).states, (x) => x.type !== 'pending', WAIT_MS)), 'neg');
  assert.equal(describeTree(namer.lookup(Path.empty).states.sample()), 'neg');
});

test('updates: create, edit, empty, malformed and delete reach observers, then watches close', async () => {
  const namer = new FsNamer(root, PREFIX);
  const act = namer.lookup(p('/orders'));
  const trees: string[] = [];
  const sub = act.states.observe((s) => trees.push(describeTree(s)));
  try {
    await Var.firstMatching(act.states, (s) => describeTree(s) === 'neg', WAIT_MS);
    writeFileSync(join(root, 'orders'), '127.0.0.1 1001\n');
    const s = await Var.firstMatching(act.states, (x) => describeTree(x).startsWith('leaf:'), WAIT_MS);
    assert.equal(describeTree(s), 'leaf:/#/io.l5d.fs/orders:/');
    const addr = (s as { value: { value: BoundName } }).value.value.addr;
    const addrs: string[] = [];
    const addrSub = addr.observe((a) => addrs.push(describeAddr(a)));
    try {
      await Var.firstMatching(addr, (a) => describeAddr(a) === 'bound:127.0.0.1:1001', WAIT_MS);
      writeFileSync(join(root, 'orders'), '127.0.0.1 1001\n127.0.0.1 1002\n');
      await Var.firstMatching(addr, (a) => describeAddr(a) === 'bound:127.0.0.1:1001,127.0.0.1:1002', WAIT_MS);
      writeFileSync(join(root, 'orders'), '');
      await Var.firstMatching(addr, (a) => describeAddr(a) === 'bound:', WAIT_MS);
      writeFileSync(join(root, 'orders'), 'garbage\n');
      await Var.firstMatching(addr, (a) => a.type === 'failed', WAIT_MS);
      // Atomic replace (what editors and config management do) is seen too.
      writeFileSync(join(root, 'orders.tmp'), '127.0.0.1 1003\n');
      renameSync(join(root, 'orders.tmp'), join(root, 'orders'));
      await Var.firstMatching(addr, (a) => describeAddr(a) === 'bound:127.0.0.1:1003', WAIT_MS);
    } finally {
      addrSub.close();
    }
    assert.equal(observerCountOf(addr), 0);
    // No value is reported twice in a row.
    for (let i = 1; i < addrs.length; i++) assert.notEqual(addrs[i], addrs[i - 1]);
    unlinkSync(join(root, 'orders'));
    await Var.firstMatching(act.states, (x) => describeTree(x) === 'neg', WAIT_MS);
  } finally {
    sub.close();
  }
  assert.deepEqual(trees, ['pending', 'neg', 'leaf:/#/io.l5d.fs/orders:/', 'neg']);
  assert.equal(observerCountOf(act.states), 0);
});

test('sub-directories add path elements and are watched', async () => {
  const namer = new FsNamer(root, PREFIX);
  const act = namer.lookup(p('/prod/web/rest'));
  const sub = act.states.observe(() => {});
  try {
    await Var.firstMatching(act.states, (s) => describeTree(s) === 'neg', WAIT_MS);
    mkdirSync(join(root, 'prod'));
    writeFileSync(join(root, 'prod', 'web'), '127.0.0.1 7000\n');
    await Var.firstMatching(act.states, (s) => describeTree(s) === 'leaf:/#/io.l5d.fs/prod/web:/rest', WAIT_MS);
    rmSync(join(root, 'prod'), { recursive: true });
    await Var.firstMatching(act.states, (s) => describeTree(s) === 'neg', WAIT_MS);
  } finally {
    sub.close();
  }
});

test('a change reaches subscribers within one second', async () => {
  const namer = new FsNamer(root, PREFIX);
  const act = namer.lookup(p('/fast'));
  const sub = act.states.observe(() => {});
  try {
    await Var.firstMatching(act.states, (s) => describeTree(s) === 'neg', WAIT_MS);
    const t0 = Date.now();
    writeFileSync(join(root, 'fast'), '127.0.0.1 1\n');
    await Var.firstMatching(act.states, (s) => describeTree(s).startsWith('leaf:'), 1000);
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    sub.close();
  }
});
