/**
 * `io.l5d.const`: ignores the tree (even `Neg`) and answers with `path` bound by the `/$/`
 * namers; ids become `/%/io.l5d.const ++ path` (the `prefix:` key replaces `/io.l5d.const`).
 */
import type { PluginSpec } from '../config/schema.js';
import { Activity } from '../naming/activity.js';
import type { Activity as ActivityContract, BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { mapTree, pathKey, transformerPrefix } from './transformer.js';
import { bindGlobal } from './global.js';

export const KIND = 'io.l5d.const';

/** `path` bound globally, every leaf renamed `prefix ++ path` (residual kept). */
export function boundReplacement(prefix: Path, path: Path, bind: (p: Path) => ActivityContract<NameTree<BoundName>>): Activity<NameTree<BoundName>> {
  const id = prefix.concat(path);
  return Activity.from(bind(path)).map((tree) => mapTree(tree, (b): BoundName => ({ id, addr: b.addr, residual: b.residual })));
}

export class ConstTransformer implements NameTreeTransformer {
  readonly kind = KIND;
  private readonly bound: Activity<NameTree<BoundName>>;

  constructor(
    readonly prefix: Path,
    path: Path,
    bind: (p: Path) => ActivityContract<NameTree<BoundName>>,
  ) {
    this.bound = boundReplacement(prefix, path, bind);
  }

  transform(_tree: NameTree<BoundName>): ActivityContract<NameTree<BoundName>> {
    return this.bound;
  }
}

export const constTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: { path: { type: 'path', required: true }, prefix: { type: 'path' } },
  create: (cfg, ctx) =>
    new ConstTransformer(transformerPrefix(KIND, cfg, Path.utf8(KIND)), pathKey(KIND, 'path', cfg['path']), ctx?.bindGlobal ?? bindGlobal),
};
