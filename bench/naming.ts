/**
 * Binding throughput: binds per second through the naming core (dtab lookups, namer lookups,
 * rewriting, Activity plumbing), with in-memory stand-ins for io.l5d.k8s so only the naming
 * core is measured. Run: `npx tsc -p . && node dist/bench/naming.js [seconds-per-row]`.
 */
import { Activity } from '../src/naming/activity.js';
import { bind, type ConfiguredNamers, type DtabLookup } from '../src/naming/binder.js';
import { boundName } from '../src/naming/bound.js';
import type { BoundName, Name, NameNamer } from '../src/naming/contracts.js';
import { NEG, leaf, type NameTree } from '../src/naming/name-tree.js';
import { readDtab, readPath } from '../src/naming/index.js';
import { Path } from '../src/naming/path.js';
import { Var } from '../src/naming/var.js';
import { globalNamer } from '../src/namers/builtin/index.js';
import { RewriteNamer } from '../src/namers/rewrite.js';

/** io.l5d.k8s stand-in: `/<ns>/<port>/<svc>` binds to one fixed endpoint per service. */
class InMemoryK8s implements NameNamer {
  private readonly cache = new Map<string, Activity<NameTree<Name>>>();
  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.size < 3) return Activity.value<NameTree<Name>>(NEG);
    const key = path.show();
    let a = this.cache.get(key);
    if (!a) {
      const id = Path.utf8('#', 'io.l5d.k8s').concat(path.take(3));
      const b: BoundName = boundName(id, Var.value({ type: 'bound', addrs: [{ host: '10.0.0.1', port: 8080, meta: {} }], meta: {} }), path.drop(3));
      a = Activity.value<NameTree<Name>>(leaf<Name>(b));
      this.cache.set(key, a);
    }
    return a;
  }
}

function bindOnce(dtab: DtabLookup, path: Path, namers: ConfiguredNamers): string {
  const act = bind(dtab, path, namers);
  let out = 'pending';
  const sub = act.states.observe((s) => {
    out = s.type === 'ok' ? s.value.type : s.type;
  });
  sub.close();
  return out;
}

interface Row {
  name: string;
  binds: number;
  seconds: number;
}

function measure(name: string, seconds: number, paths: readonly Path[], dtab: DtabLookup, namers: ConfiguredNamers, expect: string): Row {
  // Warm up and check the answer so the benchmark cannot silently measure failures.
  for (let i = 0; i < 5000; i++) {
    const got = bindOnce(dtab, paths[i % paths.length]!, namers);
    if (got !== expect) throw new Error(`${name}: expected ${expect}, got ${got}`);
  }
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 100; i++) bindOnce(dtab, paths[(n + i) % paths.length]!, namers);
    n += 100;
    now = process.hrtime.bigint();
  }
  return { name, binds: n, seconds: Number(now - start) / 1e9 };
}

function main(): void {
  const seconds = Number(process.argv[2] ?? '1');
  const namers: ConfiguredNamers = {
    configured: [
      { prefix: readPath('/#/io.l5d.k8s'), namer: new InMemoryK8s(), kind: 'io.l5d.k8s' },
      { prefix: readPath('/#/portNsSvcToK8s'), namer: new RewriteNamer('/{port}/{ns}/{svc}', '/k8s/{ns}/{port}/{svc}', readPath), kind: 'io.l5d.rewrite' },
    ],
    global: globalNamer,
  };
  const mesh = readDtab(
    '/k8s=>/#/io.l5d.k8s;/portNsSvc=>/#/portNsSvcToK8s;/host=>/portNsSvc/http/default;/host=>/portNsSvc/http;/svc=>/$/io.buoyant.http.domainToPathPfx/host',
  );
  const meshPaths = ['users', 'web', 'orders', 'users.prod', 'web.staging'].map((h) => readPath(`/svc/${h}`));

  const entries: string[] = [];
  for (let i = 0; i < 1000; i++) entries.push(`/svc/s${i}=>/$/inet/127.0.0.1/${10000 + i}`);
  const big = readDtab(entries.join(';'));
  const bigPaths = [0, 250, 500, 750, 999].map((i) => readPath(`/svc/s${i}`));

  const rows = [
    measure('servicemesh dtab (5 dentries, k8s + rewrite)', seconds, meshPaths, mesh, namers, 'leaf'),
    measure('1,000-dentry dtab (/$/inet)', seconds, bigPaths, big, namers, 'leaf'),
  ];
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'scenario'.padEnd(w)}  ${'binds'.padStart(9)}  ${'seconds'.padStart(7)}  ${'binds/s'.padStart(10)}`);
  for (const r of rows) {
    const rate = Math.round(r.binds / r.seconds);
    console.log(`${r.name.padEnd(w)}  ${String(r.binds).padStart(9)}  ${r.seconds.toFixed(2).padStart(7)}  ${String(rate).padStart(10)}`);
  }
}

main();
