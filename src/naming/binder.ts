/**
 * The binding interpreter (Finagle's Namer.bind driven by Linkerd's
 * ConfiguredNamersInterpreter): a path is looked up in the dtab; when the dtab says `Neg`,
 * configured namers (`/#/...`, the last listed first) and then the built-in `/$/` namers
 * are asked. Whatever comes back is bound again, recursively and reactively, until only
 * bound names, unions, `Neg`, `Fail` and `Empty` remain.
 */
import { Activity } from './activity.js';
import { boundTreeEquals, isPath } from './bound.js';
import type { Activity as ActivityContract, ActivityState, BoundName, Name } from './contracts.js';
import { NEG, FAIL, leaf, union, type NameTree, type Weighted } from './name-tree.js';
import {
  MAX_DEPTH,
  NO_NAMERS,
  NamerMaxDepthError,
  lookupName,
  type ConfiguredNamers,
  type DtabLookup,
  type NameTreeActivity,
} from './namer-ops.js';
import type { Path } from './path.js';
import { collect, map } from './var.js';
import { delegate, type DelegateOptions, type DelegateTree, type DelegationDtab } from './delegator.js';

export { MAX_DEPTH, NO_NAMERS, NamerMaxDepthError, lookupName, lookupNamers } from './namer-ops.js';
export type { ConfiguredNamer, ConfiguredNamers, DtabLookup } from './namer-ops.js';

type BoundActivity = Activity<NameTree<BoundName>>;
const NEG_BOUND: BoundActivity = Activity.value<NameTree<BoundName>>(NEG);
const FAIL_BOUND: BoundActivity = Activity.value<NameTree<BoundName>>(FAIL);

/** Binders share one interface: the router and namerd hold a NameInterpreter. */
export interface NameInterpreter {
  bind(dtab: DtabLookup, path: Path): ActivityContract<NameTree<BoundName>>;
}

type Lookup = (path: Path) => NameTreeActivity;

/** Binds `path` through `dtab` and `namers`; the result has no Alt and no unbound paths. */
export function bind(dtab: DtabLookup, path: Path, namers: ConfiguredNamers = NO_NAMERS): BoundActivity {
  const lookup: Lookup = (p) => lookupName(dtab, namers, p);
  return bindTree(lookup, 0, leaf<Name>(path)).dedup(boundTreeEquals);
}

/** Binds an already-refined tree (used by namerd and tests). */
export function bindNameTree(dtab: DtabLookup, tree: NameTree<Name>, namers: ConfiguredNamers = NO_NAMERS): BoundActivity {
  const lookup: Lookup = (p) => lookupName(dtab, namers, p);
  return bindTree(lookup, 0, tree).dedup(boundTreeEquals);
}

function bindTree(lookup: Lookup, depth: number, tree: NameTree<Name>): BoundActivity {
  if (depth > MAX_DEPTH) return Activity.exception(new NamerMaxDepthError(MAX_DEPTH));
  switch (tree.type) {
    case 'leaf': {
      const v = tree.value;
      if (!isPath(v)) return Activity.value<NameTree<BoundName>>(tree as NameTree<BoundName>);
      return lookup(v).flatMap((t) => bindTree(lookup, depth + 1, t), boundTreeEquals);
    }
    case 'neg':
    case 'fail':
    case 'empty':
      return Activity.value<NameTree<BoundName>>(tree);
    case 'union':
      if (tree.trees.length === 0) return NEG_BOUND;
      if (tree.trees.length === 1) return bindTree(lookup, depth, tree.trees[0]!.tree);
      return bindUnion(lookup, depth, tree.trees);
    case 'alt':
      if (tree.trees.length === 0) return NEG_BOUND;
      if (tree.trees.length === 1) return bindTree(lookup, depth, tree.trees[0]!);
      return bindAlt(lookup, depth, tree.trees, 0);
  }
}

/** Ordered fallback: Neg tries the next branch, Fail stops everything, anything else wins. */
function bindAlt(lookup: Lookup, depth: number, trees: readonly NameTree<Name>[], i: number): BoundActivity {
  if (i >= trees.length) return NEG_BOUND;
  return bindTree(lookup, depth, trees[i]!).flatMap((t) => {
    if (t.type === 'fail') return FAIL_BOUND;
    if (t.type === 'neg') return bindAlt(lookup, depth, trees, i + 1);
    return Activity.value(t);
  }, boundTreeEquals);
}

/**
 * Every branch is bound; the union is made of the branches that succeeded with something
 * other than Neg/Fail. With no success: the first failure, else pending; with successes
 * that are all Neg/Fail: Neg.
 */
function bindUnion(lookup: Lookup, depth: number, trees: readonly Weighted<Name>[]): BoundActivity {
  const branches = trees.map((w) => bindTree(lookup, depth, w.tree).states);
  const states = map(
    collect(branches),
    (ss): ActivityState<NameTree<BoundName>> => {
      const kept: Weighted<BoundName>[] = [];
      let anyOk = false;
      let firstFailed: ActivityState<NameTree<BoundName>> | undefined;
      for (let i = 0; i < ss.length; i++) {
        const s = ss[i]!;
        if (s.type === 'ok') {
          anyOk = true;
          if (s.value.type !== 'neg' && s.value.type !== 'fail') kept.push({ weight: trees[i]!.weight, tree: s.value });
        } else if (s.type === 'failed' && !firstFailed) firstFailed = s;
      }
      if (!anyOk) return firstFailed ?? { type: 'pending' };
      if (kept.length === 0) return { type: 'ok', value: NEG };
      if (kept.length === 1) return { type: 'ok', value: kept[0]!.tree };
      return { type: 'ok', value: union(...kept) };
    },
  );
  return new Activity(states).dedup(boundTreeEquals);
}

/** Linkerd's default interpreter: the dtab, then configured namers, then `/$/`. */
export class DefaultInterpreter implements NameInterpreter {
  constructor(readonly namers: ConfiguredNamers = NO_NAMERS) {}

  bind(dtab: DtabLookup, path: Path): BoundActivity {
    return bind(dtab, path, this.namers);
  }

  /** Explains the delegation of `path` (Linkerd's Delegator, used by /delegator.json). */
  delegate(dtab: DelegationDtab, path: Path, options?: DelegateOptions): Promise<DelegateTree<BoundName>> {
    return delegate(dtab, path, this.namers, options);
  }
}

