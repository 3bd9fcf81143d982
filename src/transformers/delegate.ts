/**
 * How transformers appear in a delegation explanation (dtab playground, namerd delegate API):
 * a bound leaf that leaf-by-leaf transformers rewrote is shown as nested `transformation`
 * nodes, outermost first, ending in the leaf with the final bound name (Linkerd's
 * DelegatingNameTreeTransformer). Transformers without `mapBound` (const, replace) do not
 * delegate and are skipped.
 */
import type { BoundName } from '../naming/contracts.js';
import { boundToJson, type BoundJson } from '../naming/bound.js';
import type { NameTreeTransformer } from './transformer.js';

export interface LeafJson {
  type: 'leaf';
  path: string;
  dentry?: unknown;
  bound: BoundJson;
}

export interface TransformationJson {
  type: 'transformation';
  path: string;
  name: string;
  bound: BoundJson;
  tree: TransformationJson | LeafJson;
}

function boundJson(b: BoundName): BoundJson {
  return boundToJson(b.addr.sample(), b);
}

/**
 * The explanation of one bound leaf (`path`, the dentry that produced it, its bound name) after
 * the transformers, applied in order.
 */
export function explainTransformed(
  transformers: readonly NameTreeTransformer[],
  path: string,
  dentry: unknown,
  bound: BoundName,
): TransformationJson | LeafJson {
  const leaf = (p: string, b: BoundName): LeafJson =>
    dentry === undefined ? { type: 'leaf', path: p, bound: boundJson(b) } : { type: 'leaf', path: p, dentry, bound: boundJson(b) };
  const go = (i: number, p: string, b: BoundName): TransformationJson | LeafJson => {
    for (; i < transformers.length; i++) {
      const t = transformers[i]!;
      if (t.mapBound === undefined) continue;
      const next = t.mapBound(b);
      return { type: 'transformation', path: p, name: t.delegateName ?? t.kind, bound: boundJson(b), tree: go(i + 1, next.id.show(), next) };
    }
    return leaf(p, b);
  };
  return go(0, path, bound);
}
