/**
 * The delegation explainer (Linkerd's Delegator / DelegateTree): unlike binding, it explores
 * every branch and records, for each node, the path it was reached by and the dentry that
 * produced it. This is what the dtab playground, `/delegator.json` and namerd's
 * `/api/1/delegate` show. `delegateTreeToJson` produces Linkerd's exact JSON.
 */
import { Activity } from './activity.js';
import type { Addr } from './addr.js';
import { addrToJson, isPath, type AddrJson } from './bound.js';
import type { BoundName, Name } from './contracts.js';
import type { NameTree } from './name-tree.js';
import { MAX_DEPTH, lookupNamers, type ConfiguredNamers, type DtabLookup, NO_NAMERS } from './namer-ops.js';
import { Path } from './path.js';
import { firstMatching } from './var.js';

/** What the explainer needs of a dentry (src/naming/dtab.ts `Dentry`). */
export interface DelegationDentry {
  readonly prefix: { matches(path: Path): boolean; readonly size: number; show(): string };
  readonly dst: NameTree<Path>;
}

/** What the explainer needs of a dtab (src/naming/dtab.ts `Dtab`). */
export interface DelegationDtab extends DtabLookup {
  readonly dentries: readonly DelegationDentry[];
}

/** `null` is Linkerd's `Dentry.nop`: the root, which the JSON prints without a dentry. */
export type DentryRef = DelegationDentry | null;

export type DelegateTree<T> =
  | { readonly type: 'exception'; readonly path: Path; readonly dentry: DentryRef; readonly error: Error }
  | { readonly type: 'empty'; readonly path: Path; readonly dentry: DentryRef }
  | { readonly type: 'fail'; readonly path: Path; readonly dentry: DentryRef }
  | { readonly type: 'neg'; readonly path: Path; readonly dentry: DentryRef }
  | { readonly type: 'delegate'; readonly path: Path; readonly dentry: DentryRef; readonly tree: DelegateTree<T> }
  | { readonly type: 'leaf'; readonly path: Path; readonly dentry: DentryRef; readonly value: T }
  | { readonly type: 'alt'; readonly path: Path; readonly dentry: DentryRef; readonly trees: readonly DelegateTree<T>[] }
  | {
      readonly type: 'union';
      readonly path: Path;
      readonly dentry: DentryRef;
      readonly trees: readonly { readonly weight: number; readonly tree: DelegateTree<T> }[];
    }
  | { readonly type: 'transformation'; readonly path: Path; readonly name: string; readonly value: T; readonly tree: DelegateTree<T> };

export interface DelegateOptions {
  /** How long one namer lookup may stay pending (Linkerd's playground gives up after 2 s). */
  readonly timeoutMs?: number;
}

export class DelegationTimeoutError extends Error {
  readonly code = 'MESH_ERR_DELEGATION_TIMEOUT';
  constructor(what: string, ms: number) {
    super(`${what} still pending after ${ms} ms`);
    this.name = 'DelegationTimeoutError';
  }
}

export class DelegationDepthError extends Error {
  readonly code = 'MESH_ERR_NAMING_MAX_DEPTH';
  constructor() {
    super('Max recursion level reached.');
    this.name = 'DelegationDepthError';
  }
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function mapPaths(t: NameTree<Path>, suffix: Path): NameTree<Path> {
  if (suffix.isEmpty) return t;
  switch (t.type) {
    case 'leaf':
      return { type: 'leaf', value: t.value.concat(suffix) };
    case 'alt':
      return { type: 'alt', trees: t.trees.map((x) => mapPaths(x, suffix)) };
    case 'union':
      return { type: 'union', trees: t.trees.map((w) => ({ weight: w.weight, tree: mapPaths(w.tree, suffix) })) };
    default:
      return t;
  }
}

/** A name tree as a delegate tree whose every node has `path` and `dentry`. */
export function fromNameTree<T>(path: Path, dentry: DentryRef, t: NameTree<T>): DelegateTree<T> {
  switch (t.type) {
    case 'empty':
      return { type: 'empty', path, dentry };
    case 'fail':
      return { type: 'fail', path, dentry };
    // A `~` in a tree has no path of its own (it prints as "~").
    case 'neg':
      return { type: 'neg', path: Path.empty, dentry };
    case 'leaf':
      return { type: 'leaf', path, dentry, value: t.value };
    case 'alt':
      return { type: 'alt', path, dentry, trees: t.trees.map((x) => fromNameTree(path, dentry, x)) };
    case 'union':
      return { type: 'union', path, dentry, trees: t.trees.map((w) => ({ weight: w.weight, tree: fromNameTree(path, dentry, w.tree) })) };
  }
}

async function delegateLookup(
  dtab: DelegationDtab,
  namers: ConfiguredNamers,
  dentry: DentryRef,
  path: Path,
  timeoutMs: number,
): Promise<DelegateTree<Name>> {
  const matches: DelegateTree<Name>[] = [];
  const ds = dtab.dentries;
  for (let i = ds.length - 1; i >= 0; i--) {
    const d = ds[i]!;
    if (!d.prefix.matches(path)) continue;
    matches.push(fromNameTree<Name>(path, d, mapPaths(d.dst, path.drop(d.prefix.size))));
  }
  if (matches.length === 1) return { type: 'delegate', path, dentry, tree: matches[0]! };
  if (matches.length > 1) return { type: 'alt', path, dentry, trees: matches };
  try {
    const act = lookupNamers(namers, path);
    const tree = await firstNonPending(act, timeoutMs, `namer lookup of ${path.show()}`);
    return tree.type === 'neg' ? { type: 'neg', path, dentry } : fromNameTree(path, dentry, tree);
  } catch (e) {
    if (e instanceof DelegationTimeoutError) throw e;
    return { type: 'exception', path, dentry, error: toError(e) };
  }
}

async function firstNonPending<T>(act: Activity<T>, timeoutMs: number, what: string): Promise<T> {
  let s;
  try {
    s = await firstMatching(act.states, (x) => x.type !== 'pending', timeoutMs);
  } catch {
    throw new DelegationTimeoutError(what, timeoutMs);
  }
  if (s.type === 'ok') return s.value;
  throw (s as { error: Error }).error;
}

async function delegateBind(
  dtab: DelegationDtab,
  namers: ConfiguredNamers,
  depth: number,
  tree: DelegateTree<Name>,
  timeoutMs: number,
): Promise<DelegateTree<BoundName>> {
  if (depth > MAX_DEPTH) throw new DelegationDepthError();
  switch (tree.type) {
    case 'exception':
    case 'empty':
    case 'fail':
    case 'neg':
      return tree;
    case 'leaf': {
      const v = tree.value;
      if (!isPath(v)) return { type: 'leaf', path: tree.path, dentry: tree.dentry, value: v };
      const looked = await delegateLookup(dtab, namers, tree.dentry, v, timeoutMs);
      return delegateBind(dtab, namers, depth + 1, looked, timeoutMs);
    }
    case 'delegate':
      return { type: 'delegate', path: tree.path, dentry: tree.dentry, tree: await delegateBind(dtab, namers, depth, tree.tree, timeoutMs) };
    case 'alt': {
      const { path, dentry } = tree;
      if (tree.trees.length === 0) return { type: 'neg', path, dentry };
      if (tree.trees.length === 1) {
        return { type: 'delegate', path, dentry, tree: await delegateBind(dtab, namers, depth, tree.trees[0]!, timeoutMs) };
      }
      // Unlike binding, every alternative is explained.
      const alts = await Promise.all(
        tree.trees.map((t) =>
          delegateBind(dtab, namers, depth, t, timeoutMs).catch((e): DelegateTree<BoundName> => ({ type: 'exception', path, dentry, error: toError(e) })),
        ),
      );
      return { type: 'alt', path, dentry, trees: alts };
    }
    case 'union': {
      const { path, dentry } = tree;
      if (tree.trees.length === 0) return { type: 'neg', path, dentry };
      if (tree.trees.length === 1) {
        return { type: 'delegate', path, dentry, tree: await delegateBind(dtab, namers, depth, tree.trees[0]!.tree, timeoutMs) };
      }
      const branches = await Promise.all(
        tree.trees.map(async (w) => ({
          weight: w.weight,
          tree: await delegateBind(dtab, namers, depth, w.tree, timeoutMs).catch(
            (e): DelegateTree<BoundName> => ({ type: 'exception', path, dentry, error: toError(e) }),
          ),
        })),
      );
      return { type: 'union', path, dentry, trees: branches };
    }
    case 'transformation':
      return {
        type: 'transformation',
        path: tree.path,
        name: tree.name,
        value: tree.value as BoundName,
        tree: await delegateBind(dtab, namers, depth, tree.tree, timeoutMs),
      };
  }
}

function withDentry<T>(t: DelegateTree<T>, dentry: DentryRef): DelegateTree<T> {
  return t.type === 'transformation' ? t : { ...t, dentry };
}

/** Linkerd's DelegateTree.simplify: collapse single branches and same-path delegations. */
export function simplifyDelegateTree<T>(tree: DelegateTree<T>): DelegateTree<T> {
  switch (tree.type) {
    case 'delegate': {
      const s = simplifyDelegateTree(tree.tree);
      const collapse = s.type !== 'neg' && s.type !== 'fail' && s.type !== 'empty' && s.path.equals(tree.path);
      return collapse ? withDentry(s, tree.dentry) : { type: 'delegate', path: tree.path, dentry: tree.dentry, tree: s };
    }
    case 'alt': {
      const { path, dentry } = tree;
      if (tree.trees.length === 0) return { type: 'neg', path, dentry };
      if (tree.trees.length === 1) return simplifyDelegateTree({ type: 'delegate', path, dentry, tree: tree.trees[0]! });
      const out: DelegateTree<T>[] = [];
      for (const t of tree.trees) {
        const s = simplifyDelegateTree(t);
        // An Alt nested in an Alt of the same path is flattened into it.
        if (s.type === 'alt' && s.path.equals(path)) out.push(...s.trees);
        else out.push(s);
      }
      return { type: 'alt', path, dentry, trees: out };
    }
    case 'union': {
      const { path, dentry } = tree;
      if (tree.trees.length === 0) return { type: 'neg', path, dentry };
      if (tree.trees.length === 1) return simplifyDelegateTree({ type: 'delegate', path, dentry, tree: tree.trees[0]!.tree });
      return { type: 'union', path, dentry, trees: tree.trees.map((w) => ({ weight: w.weight, tree: simplifyDelegateTree(w.tree) })) };
    }
    default:
      return tree;
  }
}

/** Explains how `path` delegates through `dtab` and `namers`, every branch included. */
export async function delegate(
  dtab: DelegationDtab,
  path: Path,
  namers: ConfiguredNamers = NO_NAMERS,
  options: DelegateOptions = {},
): Promise<DelegateTree<BoundName>> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const root: DelegateTree<Name> = { type: 'leaf', path, dentry: null, value: path };
  return simplifyDelegateTree(await delegateBind(dtab, namers, 0, root, timeoutMs));
}

// ---------------------------------------------------------------------------------------------
// JSON (DelegateApiHandler's JsonDelegateTree)

export interface DentryJson {
  prefix: string;
  dst: string;
}

export interface BoundJson {
  addr: AddrJson;
  id: string;
  path: string;
}

export type DelegateJson =
  | { type: 'exception'; path: string; dentry?: DentryJson; message: string }
  | { type: 'empty' | 'fail' | 'neg'; path: string; dentry?: DentryJson }
  | { type: 'delegate'; path: string; dentry?: DentryJson; delegate: DelegateJson }
  | { type: 'leaf'; path: string; dentry?: DentryJson; bound: BoundJson }
  | { type: 'alt'; path: string; dentry?: DentryJson; alt: DelegateJson[] }
  | { type: 'union'; path: string; dentry?: DentryJson; union: { weight: number; tree: DelegateJson }[] }
  | { type: 'transformation'; path: string; name: string; bound: BoundJson; tree: DelegateJson };

export interface DelegateJsonOptions {
  /** Prints a dentry's destination tree (the naming printer's `showNameTree`). */
  readonly showTree: (t: NameTree<Path>) => string;
  /** How long a leaf's Addr may stay pending; Linkerd waits for the first non-pending Addr. */
  readonly timeoutMs?: number;
}

const FAIL_PREFIX = Path.utf8('$', 'fail');

function dentryJson(d: DentryRef, showTree: (t: NameTree<Path>) => string): DentryJson | undefined {
  return d === null ? undefined : { prefix: d.prefix.show(), dst: showTree(d.dst) };
}

async function boundJson(b: BoundName, timeoutMs: number): Promise<BoundJson> {
  let addr: Addr;
  try {
    addr = await firstMatching(b.addr, (a) => a.type !== 'pending', timeoutMs);
  } catch {
    throw new DelegationTimeoutError(`address of ${b.id.show()}`, timeoutMs);
  }
  return { addr: addrToJson(addr), id: b.id.show(), path: b.residual.show() };
}

/** The JSON Linkerd prints; field order is significant and kept. */
export async function delegateTreeToJson(tree: DelegateTree<BoundName>, options: DelegateJsonOptions): Promise<DelegateJson> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const go = async (t: DelegateTree<BoundName>): Promise<DelegateJson> => {
    const dentry = t.type === 'transformation' ? undefined : dentryJson(t.dentry, options.showTree);
    const withDentry = <O extends object>(type: string, path: string, rest: O): DelegateJson =>
      (dentry === undefined ? { type, path, ...rest } : { type, path, dentry, ...rest }) as unknown as DelegateJson;
    switch (t.type) {
      case 'exception':
        return withDentry('exception', t.path.show(), { message: t.error.message });
      case 'empty':
        return withDentry('empty', t.path.show(), {});
      case 'fail':
        return withDentry('fail', t.path.startsWith(FAIL_PREFIX) ? t.path.show() : '!', {});
      case 'neg':
        return withDentry('neg', t.path.isEmpty ? '~' : t.path.show(), {});
      case 'delegate':
        return withDentry('delegate', t.path.show(), { delegate: await go(t.tree) });
      case 'leaf':
        return withDentry('leaf', t.path.show(), { bound: await boundJson(t.value, timeoutMs) });
      case 'alt':
        return withDentry('alt', t.path.show(), { alt: await Promise.all(t.trees.map(go)) });
      case 'union':
        return withDentry('union', t.path.show(), {
          union: await Promise.all(t.trees.map(async (w) => ({ weight: w.weight, tree: await go(w.tree) }))),
        });
      case 'transformation': {
        const [bound, tree] = await Promise.all([boundJson(t.value, timeoutMs), go(t.tree)]);
        return { type: 'transformation', path: t.path.show(), name: t.name, bound, tree };
      }
    }
  };
  return go(tree);
}

/** Java prints doubles with a fraction (`1.0`); Linkerd's JSON weights look like that. */
function javaDouble(n: number): string {
  if (!Number.isFinite(n)) return JSON.stringify(n);
  return Number.isInteger(n) && Math.abs(n) < 1e7 ? n.toFixed(1) : String(n);
}

const WEIGHT_MARK = '\u0000w:';

/** Serialises delegate JSON exactly as Linkerd does (union weights as doubles, no spaces). */
export function stringifyDelegateJson(json: DelegateJson): string {
  const text = JSON.stringify(json, function (this: unknown, key, value) {
    if (key === 'weight' && typeof value === 'number') return WEIGHT_MARK + javaDouble(value);
    return value;
  });
  return text.replace(/"\\u0000w:([^"]*)"/g, '$1');
}

/** An indented, human-readable rendering of a delegate JSON tree (CLI `--tree`). */
export function renderDelegateJson(json: DelegateJson, indent = ''): string {
  const dentry = 'dentry' in json && json.dentry ? `  (${json.dentry.prefix}=>${json.dentry.dst})` : '';
  const lines: string[] = [];
  switch (json.type) {
    case 'delegate':
      lines.push(`${indent}${json.path}${dentry}`);
      lines.push(renderDelegateJson(json.delegate, indent + '  '));
      break;
    case 'alt':
      lines.push(`${indent}${json.path}${dentry}  alt:`);
      for (const a of json.alt) lines.push(renderDelegateJson(a, indent + '  | '));
      break;
    case 'union':
      lines.push(`${indent}${json.path}${dentry}  union:`);
      for (const w of json.union) lines.push(renderDelegateJson(w.tree, `${indent}  ${javaDouble(w.weight)}* `));
      break;
    case 'leaf': {
      const a = json.bound.addr;
      const addrs = a.type === 'bound' ? a.addrs.map((x) => `${x.ip}:${x.port}`).join(', ') || '(no endpoints)' : a.type === 'failed' ? `failed: ${a.cause}` : a.type;
      const residual = json.bound.path === '/' ? '' : ` residual ${json.bound.path}`;
      lines.push(`${indent}${json.path}${dentry}  => ${json.bound.id}${residual} [${addrs}]`);
      break;
    }
    case 'exception':
      lines.push(`${indent}${json.path}${dentry}  error: ${json.message}`);
      break;
    case 'transformation':
      lines.push(`${indent}${json.path}  transformed by ${json.name}`);
      lines.push(renderDelegateJson(json.tree, indent + '  '));
      break;
    default:
      lines.push(`${indent}${json.path}${dentry}  ${json.type}`);
  }
  return lines.join('\n');
}

/**
 * A bound tree as namerd's `/api/1/bind` JSON: delegate JSON without paths or dentries, e.g.
 * `{"type":"leaf","bound":{"addr":…,"id":…,"path":…}}` or `{"type":"neg"}`.
 */
export async function boundTreeToJson(tree: NameTree<BoundName>, timeoutMs = 2000): Promise<DelegateJson> {
  const go = async (t: NameTree<BoundName>): Promise<DelegateJson> => {
    switch (t.type) {
      case 'leaf':
        return { type: 'leaf', bound: await boundJson(t.value, timeoutMs) } as unknown as DelegateJson;
      case 'alt':
        return { type: 'alt', alt: await Promise.all(t.trees.map(go)) } as unknown as DelegateJson;
      case 'union':
        return {
          type: 'union',
          union: await Promise.all(t.trees.map(async (w) => ({ weight: w.weight, tree: await go(w.tree) }))),
        } as unknown as DelegateJson;
      default:
        return { type: t.type } as unknown as DelegateJson;
    }
  };
  return go(tree);
}

/**
 * The chain of (path, how it was reached) from the root to the first leaf whose value matches
 * (Linkerd's DelegateTree.find): the root's label is "", a node's is its dentry's text. A
 * transformation directly above the leaf takes the leaf's dentry and gives the leaf its name,
 * which reads better in a trace.
 */
export function findInDelegateTree<T>(
  tree: DelegateTree<T>,
  pred: (value: T) => boolean,
  showDentry: (d: DelegationDentry) => string,
): [Path, string][] | undefined {
  const label = (d: DentryRef): string => (d === null ? '' : showDentry(d));
  const first = <C>(children: readonly C[], get: (c: C) => DelegateTree<T>): [Path, string][] | undefined => {
    for (const c of children) {
      const f = findInDelegateTree(get(c), pred, showDentry);
      if (f) return f;
    }
    return undefined;
  };
  switch (tree.type) {
    case 'leaf':
      return pred(tree.value) ? [[tree.path, label(tree.dentry)]] : undefined;
    case 'transformation': {
      const rest = findInDelegateTree(tree.tree, pred, showDentry);
      if (!rest) return undefined;
      if (rest.length === 1) return [[tree.path, rest[0]![1]], [rest[0]![0], tree.name]];
      return [[tree.path, tree.name], ...rest];
    }
    case 'delegate': {
      const rest = findInDelegateTree(tree.tree, pred, showDentry);
      return rest && [[tree.path, label(tree.dentry)], ...rest];
    }
    case 'alt': {
      const rest = first(tree.trees, (c) => c);
      return rest && [[tree.path, label(tree.dentry)], ...rest];
    }
    case 'union': {
      const rest = first(tree.trees, (w) => w.tree);
      return rest && [[tree.path, label(tree.dentry)], ...rest];
    }
    default:
      return undefined;
  }
}

/**
 * One call for `/delegator.json` and namerd's `/api/1/delegate`: explain, then render Linkerd's
 * JSON (waiting for leaf Addrs). Serialise with `stringifyDelegateJson` for exact bytes.
 */
export async function explainDelegation(
  dtab: DelegationDtab,
  path: Path,
  namers: ConfiguredNamers,
  options: DelegateJsonOptions,
): Promise<DelegateJson> {
  const tree = await delegate(dtab, path, namers, { timeoutMs: options.timeoutMs });
  return delegateTreeToJson(tree, options);
}
