/**
 * `io.l5d.replace`: every bound leaf of the tree is replaced by `path` bound by the `/$/`
 * namers (ids `/%/io.l5d.replace ++ path`); `Neg`, `Empty` and `Fail` stay as they are, so a
 * namer can vouch for a name while traffic goes elsewhere.
 */
import type { PluginSpec } from '../config/schema.js';
import type { Activity } from '../naming/activity.js';
import type { Activity as ActivityContract, BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { boundReplacement } from './const.js';
import { bindGlobal } from './global.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { pathKey, transformerPrefix } from './transformer.js';

export const KIND = 'io.l5d.replace';

function replaceLeaves<T>(tree: NameTree<T>, replacement: NameTree<T>): NameTree<T> {
  switch (tree.type) {
    case 'leaf':
      return replacement;
    case 'alt':
      return { type: 'alt', trees: tree.trees.map((t) => replaceLeaves(t, replacement)) };
    case 'union':
      return { type: 'union', trees: tree.trees.map((w) => ({ weight: w.weight, tree: replaceLeaves(w.tree, replacement) })) };
    default:
      return tree;
  }
}

export class ReplaceTransformer implements NameTreeTransformer {
  readonly kind = KIND;
  private readonly bound: Activity<NameTree<BoundName>>;

  constructor(
    readonly prefix: Path,
    path: Path,
    bind: (p: Path) => ActivityContract<NameTree<BoundName>>,
  ) {
    this.bound = boundReplacement(prefix, path, bind);
  }

  transform(tree: NameTree<BoundName>): ActivityContract<NameTree<BoundName>> {
    return this.bound.map((replacement) => replaceLeaves(tree, replacement));
  }
}

export const replaceTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: { path: { type: 'path', required: true }, prefix: { type: 'path' } },
  create: (cfg, ctx) =>
    new ReplaceTransformer(transformerPrefix(KIND, cfg, Path.utf8(KIND)), pathKey(KIND, 'path', cfg['path']), ctx?.bindGlobal ?? bindGlobal),
};
