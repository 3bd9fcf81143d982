/**
 * Compatibility suite over the Linkerd 1.x config corpus (../shared/compat-corpus beside the
 * repository; see its README.md). Every linkerd/namerd config there must load, or fail only
 * with "not supported yet" errors; the files the README says must be rejected must fail.
 * Files that load are listed in test/config/compat-loaded.txt, and that list only grows:
 * regenerate it with `UPDATE_COMPAT=1 node scripts/run-tests.mjs test/config/compat-corpus.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { checkLinkerdObject, checkNamerdObject, detectConfigKind, parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
// What Meshwork really builds: the same registrations the CLI sees.
import '../../src/config/builtin-plugins.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const corpus = resolve(repo, '..', 'shared', 'compat-corpus');
const listFile = join(repo, 'test', 'config', 'compat-loaded.txt');

/** Folders whose configs must load or be "not supported yet" (README "How to use it"). */
const MUST_LOAD = ['linkerd/', 'linkerd-examples/', '_extracted/'];

/** README: "Expected to be rejected with a clear message". */
const MUST_REJECT: Array<{ readme: string; match: (rel: string) => boolean }> = [
  { readme: '_historical/**/{zk,perhost,k8s-hostnetwork}.yaml', match: (r) => r.startsWith('_historical/') && /\/(zk|perhost|k8s-hostnetwork)\.yaml$/.test(r) },
  { readme: '_historical/**/istio.yaml', match: (r) => r.startsWith('_historical/') && r.endsWith('/istio.yaml') },
  { readme: 'linkerd-examples/linkerd-tcp/linkerd-tcp.yml', match: (r) => r === 'linkerd-examples/linkerd-tcp/linkerd-tcp.yml' },
  // "the Linkerd 2 files under linkerd-examples/lifecycle and perf-baseline": multi-document
  // Kubernetes manifests, so they never classify as a Linkerd 1 config in the first place.
];

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push(p);
  }
  return out;
}

type Outcome =
  | { rel: string; kind: 'linkerd' | 'namerd'; result: 'loaded' }
  | { rel: string; kind: 'linkerd' | 'namerd'; result: 'not-supported'; features: string[] }
  | { rel: string; kind: 'linkerd' | 'namerd'; result: 'error'; messages: string[] };

/** Which files are configs: one YAML document whose top-level keys are a linkerd or namerd config. */
function classify(text: string): 'linkerd' | 'namerd' | undefined {
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  if (!Array.isArray(docs) || docs.length !== 1 || docs[0]!.errors.length > 0) return undefined;
  return detectConfigKind(docs[0]!.toJS());
}

test('compat corpus: every Linkerd/namerd config loads or is "not supported yet"', { skip: existsSync(corpus) ? false : `compat corpus not found at ${corpus}` }, () => {
  const outcomes: Outcome[] = [];
  const historical: string[] = [];
  for (const file of walk(corpus).sort()) {
    const rel = relative(corpus, file).split('\\').join('/');
    const text = readFileSync(file, 'utf8');
    const mustReject = MUST_REJECT.some((m) => m.match(rel));
    // Upstream skips #notest files; the must-reject ones are checked anyway.
    if (text.startsWith('#notest') && !mustReject) continue;
    const kind = classify(text);
    if (kind === undefined) continue;
    let outcome: Outcome;
    try {
      const raw = parseConfigText(text, rel);
      if (kind === 'linkerd') checkLinkerdObject(raw, rel);
      else checkNamerdObject(raw, rel);
      outcome = { rel, kind, result: 'loaded' };
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      outcome = e.onlyNotSupported
        ? { rel, kind, result: 'not-supported', features: e.errors.map((i) => i.message.replace(/^.*?: not supported yet: /, '')) }
        : { rel, kind, result: 'error', messages: e.errors.filter((i) => i.code !== 'MESH_ERR_CONFIG_NOT_SUPPORTED').map((i) => i.message) };
    }
    if (mustReject) {
      assert.equal(outcome.result, 'error', `${rel} must be rejected (corpus README) but was ${outcome.result}`);
      continue;
    }
    if (!MUST_LOAD.some((d) => rel.startsWith(d))) {
      historical.push(`${rel}: ${outcome.result}`);
      continue;
    }
    outcomes.push(outcome);
  }

  const loaded = outcomes.filter((o) => o.result === 'loaded').map((o) => o.rel);
  const notSupported = outcomes.filter((o) => o.result === 'not-supported');
  const failed = outcomes.filter((o): o is Extract<Outcome, { result: 'error' }> => o.result === 'error');
  const features = new Map<string, number>();
  for (const o of notSupported) for (const f of new Set(o.features.map((x) => x.replace(/ at .*$/, '')))) features.set(f, (features.get(f) ?? 0) + 1);
  const top = [...features.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  process.stdout.write(
    `compat corpus: ${loaded.length} loaded, ${notSupported.length} not supported` +
      ` (${outcomes.filter((o) => o.kind === 'namerd').length} of them namerd configs)\n` +
      `not supported yet, by files blocked: ${top.length === 0 ? 'none' : top.map(([f, n]) => `${f} (${n})`).join(', ')}\n` +
      historical.map((h) => `historical, not checked: ${h}\n`).join(''),
  );
  assert.ok(outcomes.length >= 100, `expected the corpus to hold at least 100 configs, found ${outcomes.length}`);
  assert.deepEqual(
    failed.map((o) => `${o.rel}:\n  ${o.messages.join('\n  ')}`),
    [],
    'these configs fail with errors other than "not supported yet"',
  );

  // The loaded list only grows.
  const listed = existsSync(listFile)
    ? readFileSync(listFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    : [];
  const lost = listed.filter((rel) => !loaded.includes(rel));
  assert.deepEqual(lost, [], 'configs listed in test/config/compat-loaded.txt no longer load');
  const gained = loaded.filter((rel) => !listed.includes(rel));
  if (process.env['UPDATE_COMPAT'] === '1') {
    writeFileSync(
      listFile,
      '# Corpus configs that load completely (written by UPDATE_COMPAT=1; this list may only grow).\n' +
        [...new Set([...listed, ...loaded])].sort().map((l) => l + '\n').join(''),
    );
  } else if (gained.length > 0) {
    process.stdout.write(`${gained.length} more configs load than compat-loaded.txt lists; run with UPDATE_COMPAT=1 to record them\n`);
  }
});

test('compat corpus: the README still lists the files this suite expects to be rejected', { skip: existsSync(corpus) ? false : `compat corpus not found at ${corpus}` }, () => {
  const readme = readFileSync(join(corpus, 'README.md'), 'utf8');
  for (const m of MUST_REJECT) assert.ok(readme.includes(m.readme), m.readme);
});
