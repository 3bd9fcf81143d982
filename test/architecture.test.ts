/**
 * The house's import rules (../shared/docs/house-style.md, "The shape of the house"), checked
 * over src/ with TypeScript's own parser: no module imports itself back at run time, `naming`
 * and `protocol` import nothing outside themselves, `telemetry` needs nothing outside itself at
 * run time, and the router reaches namers only through their registry (and the Kubernetes API
 * client that its ingress identifier shares with the k8s namers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const SRC = join(process.cwd(), 'src');

interface Import {
  /** Path of the imported module relative to src/, `.ts`. */
  readonly to: string;
  /** `import type` / `export type`, or every named binding marked `type`: gone at run time. */
  readonly typeOnly: boolean;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function typeOnly(st: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(st)) return st.isTypeOnly;
  const clause = st.importClause;
  if (clause === undefined) return false; // `import './x.js'` runs the module
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return clause.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
}

/** src-relative module path -> its relative imports (static and dynamic `import('./x.js')`). */
function importGraph(): Map<string, Import[]> {
  const graph = new Map<string, Import[]>();
  for (const file of sourceFiles(SRC)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const imports: Import[] = [];
    const add = (spec: string, isType: boolean) => {
      if (!spec.startsWith('.')) return;
      imports.push({ to: relative(SRC, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))), typeOnly: isType });
    };
    const visit = (node: ts.Node): void => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, typeOnly(node));
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined && ts.isStringLiteral(node.arguments[0])) {
        add(node.arguments[0].text, false);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    graph.set(relative(SRC, file), imports);
  }
  return graph;
}

const graph = importGraph();
const area = (module: string) => module.split('/')[0]!;

/** `from -> to` for every import leaving `from`'s area, runtime ones only unless `types`. */
function leaving(from: string, types: boolean): string[] {
  const out: string[] = [];
  for (const [m, imports] of graph) {
    if (area(m) !== from) continue;
    for (const i of imports) if (area(i.to) !== from && (types || !i.typeOnly)) out.push(`${m} -> ${i.to}`);
  }
  return out.sort();
}

test('architecture: the parser sees the source tree and its imports', () => {
  // Guards the rules below against passing on an empty graph.
  assert.ok(graph.size > 100, `only ${graph.size} modules under src/`);
  const router = graph.get(join('router', 'route.ts'));
  assert.ok(router !== undefined && router.some((i) => i.to === join('protocol', 'http1', 'index.ts')), 'router/route.ts should import protocol/http1/index.ts');
  for (const [m, imports] of graph) for (const i of imports) assert.ok(graph.has(i.to), `${m} imports ${i.to}, which is not a module under src/`);
});

test('architecture: no import cycle at run time', () => {
  // Tarjan's strongly connected components over runtime edges; a component of two or more
  // modules is a cycle (type-only imports are erased by tsc and cannot form one).
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const i of graph.get(v) ?? []) {
      if (i.typeOnly || !graph.has(i.to)) continue;
      if (!index.has(i.to)) {
        strong(i.to);
        low.set(v, Math.min(low.get(v)!, low.get(i.to)!));
      } else if (onStack.has(i.to)) low.set(v, Math.min(low.get(v)!, index.get(i.to)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const m of graph.keys()) if (!index.has(m)) strong(m);
  assert.deepEqual(cycles, []);
});

test('architecture: naming and protocol import nothing outside themselves', () => {
  assert.deepEqual(leaving('naming', true), []);
  assert.deepEqual(leaving('protocol', true), []);
});

test('architecture: telemetry needs nothing outside itself at run time', () => {
  assert.deepEqual(leaving('telemetry', false), []);
});

test('architecture: the router reaches namers through the registry only', () => {
  const allowed = new Set([join('namers', 'registry.ts'), join('namers', 'k8s', 'api.ts')]);
  const found = leaving('router', true).filter((e) => e.split(' -> ')[1]!.startsWith(`namers${'/'}`) && !allowed.has(e.split(' -> ')[1]!));
  assert.deepEqual(found, []);
});
