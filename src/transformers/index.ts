/**
 * Transformer registry (category `transformer`).
 *
 * Contract (see transformer.ts): `createTransformers(configs, ctx?)` once per interpreter (or
 * namer) `transformers:` list; `applyTransformers(list, boundActivity)` chains them in order.
 * Each transformer's `transform(tree)` answers an Activity of the new bound tree, with ids
 * prefixed `/%/...`. `transformBinder(list, bind)` wraps a router's binder (the linker's
 * `interpreter` hook).
 */
import { lazyPluginSpecs, type LazyPluginEntry } from '../config/lazy-plugins.js';
import type { PluginSpec } from '../config/schema.js';
import { TransformerError } from './errors.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';

export type { NameTreeTransformer, TransformerContext } from './transformer.js';
export { applyTransformers, transformBinder, transformNamer, TRANSFORMER_PREFIX } from './transformer.js';
export { TransformerError } from './errors.js';

type TransformerSpec = PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext>;

/**
 * Every transformer kind Meshwork builds, and the module that builds it: loaded when a config
 * uses the kind (config/lazy-plugins.ts), as the namers' and telemeters' are.
 */
export const TRANSFORMERS: readonly LazyPluginEntry[] = [
  { kind: 'io.l5d.localhost', module: './localhost.js', spec: 'localhostTransformerSpec' },
  { kind: 'io.l5d.specificHost', module: './specific-host.js', spec: 'specificHostTransformerSpec' },
  { kind: 'io.l5d.port', module: './port.js', spec: 'portTransformerSpec' },
  { kind: 'io.l5d.replace', module: './replace.js', spec: 'replaceTransformerSpec' },
  { kind: 'io.l5d.const', module: './const.js', spec: 'constTransformerSpec' },
  { kind: 'io.l5d.k8s.daemonset', module: './k8s-daemonset.js', spec: 'daemonSetTransformerSpec' },
  { kind: 'io.l5d.k8s.localnode', module: './local-node.js', spec: 'localNodeTransformerSpec' },
];

export const transformerPlugins: readonly TransformerSpec[] = lazyPluginSpecs<TransformerSpec>('transformer', import.meta.url, TRANSFORMERS);

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
