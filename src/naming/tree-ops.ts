/**
 * Finagle's NameTree.simplify and eval: simplify gives an evaluation-equivalent tree that is a
 * fixpoint; eval picks Alt's first non-negative branch and unions the leaves of a Union.
 */
import { alt, EMPTY, FAIL, NEG, union, type NameTree, type Weighted } from './name-tree.js';

export function simplifyTree<T>(tree: NameTree<T>): NameTree<T> {
  switch (tree.type) {
    case 'alt': {
      if (tree.trees.length === 0) return NEG;
      if (tree.trees.length === 1) return simplifyTree(tree.trees[0]!);
      const out: NameTree<T>[] = [];
      for (const b of tree.trees) {
        const s = simplifyTree(b);
        if (s.type === 'fail') {
          out.push(FAIL);
          break;
        }
        if (s.type !== 'neg') out.push(s);
      }
      if (out.length === 0) return NEG;
      if (out.length === 1) return out[0]!;
      return alt(...out);
    }
    case 'union': {
      if (tree.trees.length === 0) return NEG;
      if (tree.trees.length === 1) return simplifyTree(tree.trees[0]!.tree);
      const out: Weighted<T>[] = [];
      for (const w of tree.trees) {
        const s = simplifyTree(w.tree);
        if (s.type === 'fail') return FAIL;
        if (s.type === 'neg' || s.type === 'empty') continue;
        out.push({ weight: w.weight, tree: s });
      }
      if (out.length === 0) return NEG;
      if (out.length === 1) return out[0]!.tree;
      return union(...out);
    }
    default:
      return tree;
  }
}

/** The evaluated form: `Fail`, `Neg`, or a leaf holding the set of reachable values. */
export type Evaluated<T> = { type: 'fail' } | { type: 'neg' } | { type: 'leaf'; value: readonly T[] };

export function evalTree<T>(tree: NameTree<T>): Evaluated<T> {
  switch (tree.type) {
    case 'fail':
      return FAIL;
    case 'neg':
      return NEG;
    case 'empty':
      return { type: 'leaf', value: [] };
    case 'leaf':
      return { type: 'leaf', value: [tree.value] };
    case 'alt': {
      for (const b of tree.trees) {
        const e = evalTree(b);
        if (e.type !== 'neg') return e;
      }
      return NEG;
    }
    case 'union': {
      if (tree.trees.length === 1) return evalTree(tree.trees[0]!.tree);
      const acc: T[] = [];
      let any = false;
      for (const w of tree.trees) {
        const e = evalTree(w.tree);
        if (e.type === 'fail') return FAIL;
        if (e.type === 'neg') continue;
        any = true;
        for (const v of e.value) if (!acc.includes(v)) acc.push(v);
      }
      return any ? { type: 'leaf', value: acc } : NEG;
    }
  }
}

export { EMPTY };
