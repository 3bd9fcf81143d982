/**
 * Printing and mapping of name trees. The printed form reads back to the same tree:
 * `" | "` between alternatives, `" & "` between union branches, weight 1 bare and any other
 * weight with two decimals (`0.30*` before the branch), parentheses only where needed.
 */
import type { NameTree } from './name-tree.js';
import { DEFAULT_WEIGHT } from './name-tree.js';
import type { Path } from './path.js';

const enum Ctx {
  Top,
  AltBranch,
  UnionBranch,
}

export function showTree<T>(t: NameTree<T>, showLeaf: (v: T) => string): string {
  const go = (t: NameTree<T>, ctx: Ctx): string => {
    switch (t.type) {
      case 'leaf':
        return showLeaf(t.value);
      case 'neg':
        return '~';
      case 'fail':
        return '!';
      case 'empty':
        return '$';
      case 'alt': {
        if (t.trees.length === 0) return '~';
        if (t.trees.length === 1) return go(t.trees[0]!, ctx);
        const s = t.trees.map((b) => go(b, Ctx.AltBranch)).join(' | ');
        return ctx === Ctx.Top ? s : `(${s})`;
      }
      case 'union': {
        if (t.trees.length === 0) return '~';
        if (t.trees.length === 1) return go(t.trees[0]!.tree, ctx);
        const s = t.trees
          .map((w) => (w.weight === DEFAULT_WEIGHT ? '' : `${w.weight.toFixed(2)}*`) + go(w.tree, Ctx.UnionBranch))
          .join(' & ');
        return ctx === Ctx.UnionBranch ? `(${s})` : s;
      }
    }
  };
  return go(t, Ctx.Top);
}

export function showNameTree(t: NameTree<Path>): string {
  return showTree(t, (p) => p.show());
}

export function mapTree<T, U>(t: NameTree<T>, f: (v: T) => U): NameTree<U> {
  switch (t.type) {
    case 'leaf':
      return { type: 'leaf', value: f(t.value) };
    case 'alt':
      return { type: 'alt', trees: t.trees.map((b) => mapTree(b, f)) };
    case 'union':
      return { type: 'union', trees: t.trees.map((w) => ({ weight: w.weight, tree: mapTree(w.tree, f) })) };
    default:
      return t;
  }
}
