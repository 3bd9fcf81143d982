/**
 * The registries whose kinds load on use (namers, telemeters, transformers): each table entry
 * names its module's own spec, and a stand-in spec loads nothing until its fields or factory
 * are used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazyPluginSpecs, loadPluginEntry, type LazyPluginEntry } from '../../src/config/lazy-plugins.js';
import { NAMERS } from '../../src/namers/registry.js';
import { TELEMETERS } from '../../src/telemetry/telemeters.js';
import { TRANSFORMERS } from '../../src/transformers/index.js';

/** The registries' files, which their entries' module paths are relative to. */
const TABLES: readonly [string, string, readonly LazyPluginEntry[]][] = [
  ['namer', new URL('../../src/namers/registry.js', import.meta.url).href, NAMERS],
  ['telemeter', new URL('../../src/telemetry/telemeters.js', import.meta.url).href, TELEMETERS],
  ['transformer', new URL('../../src/transformers/index.js', import.meta.url).href, TRANSFORMERS],
];

test('each table entry names its module\'s own spec: kind, category and experimental flag agree', () => {
  for (const [category, from, entries] of TABLES) {
    assert.equal(new Set(entries.map((e) => e.kind)).size, entries.length, `${category}: each kind once`);
    for (const e of entries) {
      const spec = loadPluginEntry(from, e);
      assert.deepEqual([spec.category, spec.kind, spec.experimental === true], [category, e.kind, e.experimental === true], `${e.module} ${e.spec}`);
      assert.equal(typeof spec.create, 'function', e.kind);
    }
  }
});

test('a stand-in spec loads its module only when its fields or factory are used', () => {
  const entry: LazyPluginEntry = { kind: 'io.test.nowhere', module: './no-such-module.js', spec: 'nowhereSpec', experimental: true };
  const [spec] = lazyPluginSpecs('namer', import.meta.url, [entry]);
  assert.deepEqual([spec!.category, spec!.kind, spec!.experimental], ['namer', 'io.test.nowhere', true]);
  assert.throws(() => spec!.fields, /no-such-module\.js/);
  assert.throws(() => spec!.create!({}, {}), /no-such-module\.js/);
  const wrongExport: LazyPluginEntry = { kind: 'io.l5d.fs', module: './fs.js', spec: 'noSuchSpec' };
  assert.throws(() => loadPluginEntry(TABLES[0]![1], wrongExport), /plugin registry: \.\/fs\.js exports no noSuchSpec/);
});
