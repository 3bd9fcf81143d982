/**
 * The io.l5d.fs interpreter (src/interpreters/dtab-file.ts) over the real naming core: a dtab
 * read from a file and watched, under the router's and the request's entries; a file that goes
 * bad after a good read keeps the last good dtab; one that was never good fails binding.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DtabFileInterpreter } from '../../src/interpreters/dtab-file.js';
import { InterpreterError } from '../../src/interpreters/errors.js';
import { Dtab, bind, explainDelegation, readDtab, readPath, showNameTree } from '../../src/naming/index.js';
import { createNamers } from '../../src/namers/registry.js';
import { okTree, watch, type Cleanups } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'meshwork-dtabfile-'));
const cleanups: Cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

const namers = createNamers([], { readPath });
let files = 0;

function interpreter(text: string | undefined, log: string[] = []): DtabFileInterpreter {
  const name = `dtab-${files++}`;
  if (text !== undefined) writeFileSync(join(dir, name), text);
  return new DtabFileInterpreter({ kind: 'io.l5d.fs', dtabFile: name }, {
    readDtab,
    bind: (dtab, path) => bind(dtab, path, namers),
    explain: (dtab, path) => explainDelegation(dtab, path, namers, { showTree: showNameTree, timeoutMs: 1000 }),
    log: (line) => log.push(line),
    baseDir: dir,
  });
}

const leaf = (id: string) => ({ id, residual: '/' });

test('names bind under the file\'s dtab, and the router\'s and the request\'s entries win over it', async () => {
  const i = interpreter('/svc => /$/inet/127.0.0.1/1111;\n/svc/b => /$/inet/127.0.0.1/3333;\n');
  assert.equal(i.file, join(dir, 'dtab-0'));
  const plainOf = async (dtab: Dtab, path: string): Promise<unknown> => okTree({ type: 'ok', value: await i.bind(dtab, readPath(path)).toPromise(3000) });
  assert.deepEqual(await plainOf(Dtab.empty, '/svc/a'), { id: '/$/inet/127.0.0.1/1111', residual: '/a' });
  assert.deepEqual(await plainOf(Dtab.empty, '/svc/b'), leaf('/$/inet/127.0.0.1/3333'));
  const router = readDtab('/svc/a => /$/inet/127.0.0.1/2222');
  assert.deepEqual(await plainOf(router, '/svc/a'), leaf('/$/inet/127.0.0.1/2222'));
  assert.deepEqual(await plainOf(router.concat(readDtab('/svc/b => /$/inet/127.0.0.1/4444')), '/svc/b'), leaf('/$/inet/127.0.0.1/4444'));
  const explained = JSON.stringify(await i.delegate(router, readPath('/svc/c')));
  assert.match(explained, /"dentry":\{"prefix":"\/svc","dst":"\/\$\/inet\/127\.0\.0\.1\/1111"\}/, 'the playground explains with the file\'s entries');
});

test('an edited file is followed; a broken or removed one keeps the last good dtab and says so once', async () => {
  const log: string[] = [];
  const i = interpreter('/svc => /$/inet/127.0.0.1/1111', log);
  const file = i.file;
  const w = watch(i.bind(Dtab.empty, readPath('/svc')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === JSON.stringify(leaf('/$/inet/127.0.0.1/1111')), 3000, 'the first dtab');
  writeFileSync(file, '/svc => /$/inet/127.0.0.1/2222');
  await w.until((s) => JSON.stringify(okTree(s)) === JSON.stringify(leaf('/$/inet/127.0.0.1/2222')), 3000, 'the edited dtab');
  writeFileSync(file, '/svc => => nonsense');
  for (let k = 0; k < 100 && log.length === 0; k++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.match(log[0]!, /dtabFile .*dtab-1 is not a valid dtab: .*; routing stays on the last dtab read from it/);
  await new Promise((r) => setTimeout(r, 900)); // two more polls of the same broken file: no more lines
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.deepEqual(okTree(w.last()), leaf('/$/inet/127.0.0.1/2222'));
  unlinkSync(file);
  for (let k = 0; k < 100 && log.length === 1; k++) await new Promise((r) => setTimeout(r, 20));
  assert.match(log[1]!, /cannot read dtabFile .*dtab-1: ENOENT/);
  assert.deepEqual(okTree(w.last()), leaf('/$/inet/127.0.0.1/2222'));
  writeFileSync(file, '/svc => /$/inet/127.0.0.1/3333');
  await w.until((s) => JSON.stringify(okTree(s)) === JSON.stringify(leaf('/$/inet/127.0.0.1/3333')), 3000, 'the fixed dtab');
});

test('a file rewritten in two steps (truncated, then written) never routes on the empty file in between', async () => {
  const i = interpreter('/svc => /$/inet/127.0.0.1/1111');
  const seen: string[] = [];
  const w = watch(i.bind(Dtab.empty, readPath('/svc')).states, cleanups);
  const c = i.bind(Dtab.empty, readPath('/svc')).states.observe((s) => seen.push(JSON.stringify(okTree(s))));
  cleanups.push(() => c.close());
  await w.until((s) => JSON.stringify(okTree(s)) === JSON.stringify(leaf('/$/inet/127.0.0.1/1111')), 3000, 'the first dtab');
  for (let round = 0; round < 5; round++) {
    const port = 2000 + round;
    writeFileSync(i.file, '');
    await new Promise((r) => setTimeout(r, 8));
    writeFileSync(i.file, `/svc => /$/inet/127.0.0.1/${port}`);
    await w.until((s) => JSON.stringify(okTree(s)) === JSON.stringify(leaf(`/$/inet/127.0.0.1/${port}`)), 3000, `round ${round}`);
  }
  assert.ok(!seen.includes('"neg"'), JSON.stringify(seen));
});

test('a file that was never read fails binding with the reason; dtabFile is required', async () => {
  const missing = interpreter(undefined);
  await assert.rejects(missing.bind(Dtab.empty, readPath('/svc/a')).toPromise(3000), (e: unknown) => e instanceof InterpreterError && e.code === 'MESH_ERR_INTERPRETER_DTAB' && /cannot read dtabFile .*: ENOENT/.test(e.message));
  const bad = interpreter('not a dtab');
  await assert.rejects(bad.bind(Dtab.empty, readPath('/svc/a')).toPromise(3000), /is not a valid dtab/);
  assert.throws(
    () => new DtabFileInterpreter({ kind: 'io.l5d.fs' }, { readDtab, bind: (d, p) => bind(d, p, namers) }, { file: 'linkerd.yaml', keyPath: 'routers[0].interpreter' }),
    /linkerd\.yaml: routers\[0\]\.interpreter\.dtabFile: found undefined; allowed: the path of a file holding a dtab/,
  );
});
