/**
 * Transformer registry (category `transformer`).
 *
 * Contract (see transformer.ts): `createTransformers(configs, ctx?)` once per interpreter (or
 * namer) `transformers:` list; `applyTransformers(list, boundActivity)` chains them in order.
 * Each transformer's `transform(tree)` answers an Activity of the new bound tree, with ids
 * prefixed `/%/...`. `transformBinder(list, bind)` wraps a router's binder (the linker's
 * `interpreter` hook).
 */
import { createRequire } from 'node:module';
import type { Fields, PluginSpec } from '../config/schema.js';
import { TransformerError } from './errors.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';

export type { NameTreeTransformer, TransformerContext } from './transformer.js';
export { applyTransformers, transformBinder, transformNamer, TRANSFORMER_PREFIX } from './transformer.js';
export { TransformerError } from './errors.js';

type TransformerSpec = PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext>;

/**
 * A built kind: the module (relative to this file) exporting its spec. Each module is loaded
 * when a config uses the kind (Node 20's synchronous `require` of an ES module), as the namers'
 * and telemeters' are.
 */
export interface TransformerEntry {
  readonly kind: string;
  readonly module: string;
  readonly spec: string;
}

export const TRANSFORMERS: readonly TransformerEntry[] = [
  { kind: 'io.l5d.localhost', module: './localhost.js', spec: 'localhostTransformerSpec' },
  { kind: 'io.l5d.specificHost', module: './specific-host.js', spec: 'specificHostTransformerSpec' },
  { kind: 'io.l5d.port', module: './port.js', spec: 'portTransformerSpec' },
  { kind: 'io.l5d.replace', module: './replace.js', spec: 'replaceTransformerSpec' },
  { kind: 'io.l5d.const', module: './const.js', spec: 'constTransformerSpec' },
  { kind: 'io.l5d.k8s.daemonset', module: './k8s-daemonset.js', spec: 'daemonSetTransformerSpec' },
  { kind: 'io.l5d.k8s.localnode', module: './local-node.js', spec: 'localNodeTransformerSpec' },
];

const requireModule = createRequire(import.meta.url);

/** The entry's spec, from its module (loaded now if it was not). */
export function loadTransformerEntry(e: TransformerEntry): TransformerSpec {
  const spec = (requireModule(e.module) as Record<string, TransformerSpec | undefined>)[e.spec];
  if (spec === undefined) throw new Error(`transformer registry: ${e.module} exports no ${e.spec}`);
  return spec;
}

/** A spec standing for the entry: its fields and factory come from the module, loaded on first use. */
function lazySpec(e: TransformerEntry): TransformerSpec {
  let loaded: TransformerSpec | undefined;
  const load = (): TransformerSpec => (loaded ??= loadTransformerEntry(e));
  return {
    category: 'transformer',
    kind: e.kind,
    get fields(): Fields {
      return load().fields;
    },
    create: (config, ctx) => load().create!(config, ctx),
  } as TransformerSpec;
}

export const transformerPlugins: readonly TransformerSpec[] = TRANSFORMERS.map(lazySpec);

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
