/**
 * The namer registry: every `namers:` kind Meshwork builds, keyed by its exact Linkerd kind.
 * Adding a namer is one file exporting a NamerSpec and one line in NAMER_SPECS. The specs are
 * also registered with the config area's plugin registry so configs validate against them.
 */
import type { NameNamer } from '../naming/contracts.js';
import type { ConfiguredNamer, ConfiguredNamers } from '../naming/namer-ops.js';
import { createTransformers, transformNamer } from '../transformers/index.js';
import { registerPlugin } from '../config/plugins.js';
import { globalNamer } from './builtin/index.js';
import { namerConfigError } from './errors.js';
import { consulNamerSpec } from './consul.js';
import { curatorNamerSpec } from './curator.js';
import { dnsSrvNamerSpec } from './dnssrv.js';
import { fsNamerSpec } from './fs.js';
import { k8sExternalNamerSpec, k8sNamerSpec, k8sNsNamerSpec } from './k8s/spec.js';
import { marathonNamerSpec } from './marathon.js';
import { rancherNamerSpec } from './rancher.js';
import { rewriteNamerSpec } from './rewrite.js';
import { serversetsNamerSpec } from './serversets.js';
import { zkLeaderNamerSpec } from './zk-leader.js';
import type { NamerConfigObject, NamerContext, NamerSpec } from './spec.js';

export type { MadeNamer, NamerContext, NamerSpec } from './spec.js';

const NAMER_SPECS: readonly NamerSpec[] = [
  fsNamerSpec,
  consulNamerSpec,
  curatorNamerSpec,
  dnsSrvNamerSpec,
  k8sNamerSpec,
  k8sExternalNamerSpec,
  k8sNsNamerSpec,
  marathonNamerSpec,
  rancherNamerSpec,
  rewriteNamerSpec,
  serversetsNamerSpec,
  zkLeaderNamerSpec,
];

const registry = new Map<string, NamerSpec>();

/** Adds (or replaces) a namer kind; other areas register theirs (k8s, consul, ...) here. */
export function registerNamer(spec: NamerSpec): void {
  registry.set(spec.kind, spec);
  registerPlugin(spec);
}

for (const spec of NAMER_SPECS) registerNamer(spec);

export function namerKinds(): string[] {
  return [...registry.keys()].sort();
}

export function getNamerSpec(kind: string): NamerSpec | undefined {
  return registry.get(kind);
}

/**
 * Builds one namer from its config object (`{kind, prefix?, transformers?, ...}`). Any
 * namer's `transformers` (Linkerd's common namer key) apply to every answer it binds.
 */
export function createNamer(config: NamerConfigObject, ctx: NamerContext): ConfiguredNamer {
  const kind = config['kind'];
  const spec = typeof kind === 'string' ? registry.get(kind) : undefined;
  if (!spec || !spec.create) {
    throw namerConfigError('MESH_ERR_NAMER_KIND', ctx.file, `${ctx.keyPath ?? 'namer'}.kind`, kind, namerKinds().join(', '));
  }
  const made = spec.create(config, ctx);
  return { prefix: made.prefix, namer: withTransformers(made.namer, config, ctx), kind: spec.kind };
}

function withTransformers(namer: NameNamer, config: NamerConfigObject, ctx: NamerContext): NameNamer {
  const tcfg = config['transformers'];
  if (tcfg === undefined || tcfg === null) return namer;
  const kp = `${ctx.keyPath ?? 'namer'}.transformers`;
  if (!Array.isArray(tcfg)) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, kp, tcfg, 'a list of transformers');
  try {
    return transformNamer(createTransformers(tcfg as Record<string, unknown>[]), namer);
  } catch (e) {
    throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, kp, tcfg, `valid transformers (${(e as Error).message})`);
  }
}

/** Builds a `namers:` list, in config order, with the built-in `/$/` namers. */
export function createNamers(configs: readonly NamerConfigObject[], ctx: Omit<NamerContext, 'keyPath'>): ConfiguredNamers {
  const configured = configs.map((c, i) => createNamer(c, { ...ctx, keyPath: `namers[${i}]` }));
  return { configured, global: globalNamer };
}

/** Only the built-in namers (no `namers:` section). */
export const BUILTIN_ONLY: ConfiguredNamers = Object.freeze({ configured: [], global: globalNamer });
