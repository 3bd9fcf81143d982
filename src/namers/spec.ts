/**
 * The shape every namer plugin shares: a PluginSpec (src/config/schema.ts) of category
 * 'namer' whose `create` returns the namer with its full prefix (`/#/<prefix>`).
 */
import { Activity, PENDING, failed, ok } from '../naming/activity.js';
import type { Addr } from '../naming/addr.js';
import type { ActivityState, BoundName, Name, NameNamer } from '../naming/contracts.js';
import { NEG, leaf, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { map } from '../naming/var.js';
import type { PluginSpec } from '../config/schema.js';
import { NamerError, namerConfigError } from './errors.js';
import { TlsFiles, clientTlsOptions } from '../config/tls.js';
import type { ConnectionOptions } from 'node:tls';

export interface NamerContext {
  /** The config file, named in errors. */
  readonly file?: string;
  /** The namer's key path in the config, e.g. `namers[2]`. */
  readonly keyPath?: string;
  /** Relative directories (io.l5d.fs rootDir) are resolved against this; default the cwd. */
  readonly baseDir?: string;
  /** Parses a path (the naming parser's `readPath`). */
  readonly readPath: (s: string) => Path;
}

export interface MadeNamer {
  /** The full prefix, `/#` followed by the configured or default prefix. */
  readonly prefix: Path;
  readonly namer: NameNamer;
}

export type NamerConfigObject = Readonly<Record<string, unknown>>;

export type NamerSpec = PluginSpec<NamerConfigObject, MadeNamer, NamerContext>;

const CONFIGURED = Path.utf8('#');

function key(ctx: NamerContext, k: string): string {
  return `${ctx.keyPath ?? 'namer'}.${k}`;
}

/** `/#` ++ (`prefix:` or `/<kind>`); `required` for kinds without a default (io.l5d.rewrite). */
export function configuredPrefix(config: NamerConfigObject, kind: string, ctx: NamerContext, required = false): Path {
  const raw = config['prefix'];
  if (raw === undefined || raw === null) {
    if (required) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, key(ctx, 'prefix'), raw, `a path (the 'prefix' property is required for the ${kind} namer)`);
    return CONFIGURED.concat(Path.utf8(kind));
  }
  if (raw instanceof Path) return CONFIGURED.concat(raw);
  if (typeof raw !== 'string') throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, key(ctx, 'prefix'), raw, 'a path such as /io.l5d.fs');
  try {
    return CONFIGURED.concat(ctx.readPath(raw));
  } catch (e) {
    throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, key(ctx, 'prefix'), raw, `a path (${(e as Error).message})`);
  }
}

export function requiredString(config: NamerConfigObject, k: string, ctx: NamerContext): string {
  const v = config[k];
  if (typeof v !== 'string' || v.length === 0) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, key(ctx, k), v, 'a non-empty string');
  return v;
}

/**
 * A discovery namer's answer for one bound name, following its Addr: pending while the Addr
 * is, Neg when no instances exist, failed with its cause, else the bound leaf.
 */
export function addrLeaf(bound: BoundName): Activity<NameTree<Name>> {
  return new Activity(
    map(bound.addr, (a: Addr): ActivityState<NameTree<Name>> => {
      if (a.type === 'pending') return PENDING;
      if (a.type === 'neg') return ok<NameTree<Name>>(NEG);
      if (a.type === 'failed') return failed(a.cause);
      return ok<NameTree<Name>>(leaf<Name>(bound));
    }),
  ).dedup();
}

/**
 * A namer's `tls` block (Linkerd's namer client TLS: commonName, trustCerts, trustCertsBundle,
 * disableValidation, clientAuth, protocols) as node:tls options, its files read now; undefined
 * when absent or `enabled: false`.
 */
export function namerTls(config: NamerConfigObject, ctx: NamerContext): ConnectionOptions | undefined {
  const tls = config['tls'];
  if (tls === undefined || tls === null) return undefined;
  const block = tls as Readonly<Record<string, unknown>>;
  if (block['enabled'] === false) return undefined;
  const files = new TlsFiles(ctx.file, (m) => new NamerError('MESH_ERR_NAMER_CONFIG', m));
  files.loadClient(block, key(ctx, 'tls'));
  return clientTlsOptions(block, files);
}
