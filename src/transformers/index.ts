/**
 * Transformer registry (category `transformer`).
 *
 * Contract (see transformer.ts): `createTransformers(configs, ctx?)` once per interpreter (or
 * namer) `transformers:` list; `applyTransformers(list, boundActivity)` chains them in order.
 * Each transformer's `transform(tree)` answers an Activity of the new bound tree, with ids
 * prefixed `/%/...`. `transformBinder(list, bind)` wraps a router's binder (the linker's
 * `interpreter` hook).
 */
import type { PluginSpec } from '../config/schema.js';
import { constTransformerSpec } from './const.js';
import { TransformerError } from './errors.js';
import { localhostTransformerSpec } from './localhost.js';
import { daemonSetTransformerSpec } from './k8s-daemonset.js';
import { localNodeTransformerSpec } from './local-node.js';
import { portTransformerSpec } from './port.js';
import { replaceTransformerSpec } from './replace.js';
import { specificHostTransformerSpec } from './specific-host.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';

export type { NameTreeTransformer, TransformerContext } from './transformer.js';
export { applyTransformers, transformBinder, transformNamer, TRANSFORMER_PREFIX } from './transformer.js';
export { TransformerError } from './errors.js';

export const transformerPlugins: readonly PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext>[] = [
  localhostTransformerSpec,
  specificHostTransformerSpec,
  portTransformerSpec,
  replaceTransformerSpec,
  constTransformerSpec,
  daemonSetTransformerSpec,
  localNodeTransformerSpec,
];

export function createTransformer(cfg: Readonly<Record<string, unknown>>, ctx: TransformerContext = {}): NameTreeTransformer {
  const kind = cfg['kind'];
  const spec = transformerPlugins.find((p) => p.kind === kind);
  const supported = transformerPlugins.filter((p) => p.create !== undefined).map((p) => p.kind);
  if (spec === undefined) {
    throw new TransformerError('MESH_ERR_TRANSFORMER_UNKNOWN_KIND', `transformer: unknown kind ${JSON.stringify(kind)}; supported: ${supported.join(', ')}`, 'kind');
  }
  if (spec.create === undefined) {
    throw new TransformerError('MESH_ERR_TRANSFORMER_NOT_SUPPORTED', `transformer: kind ${spec.kind} is not supported yet; supported: ${supported.join(', ')}`, 'kind');
  }
  return spec.create(cfg as Record<string, unknown>, ctx);
}

export function createTransformers(
  configs: readonly Readonly<Record<string, unknown>>[] | undefined,
  ctx: TransformerContext = {},
): NameTreeTransformer[] {
  return (configs ?? []).map((c) => createTransformer(c, ctx));
}
export { explainTransformed } from './delegate.js';
export type { LeafJson, TransformationJson } from './delegate.js';
