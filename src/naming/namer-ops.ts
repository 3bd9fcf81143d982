/**
 * The lookup step shared by binding and delegation: a path is refined by the dtab, or, when
 * the dtab says `Neg`, answered by the configured namers (last listed first, a namer's `Neg`
 * falling through to the next matching one) and finally by the `/$/` namers.
 */
import { Activity } from './activity.js';
import { nameTreeEquals } from './bound.js';
import type { Name, NameNamer } from './contracts.js';
import { NEG, type NameTree } from './name-tree.js';
import type { Path } from './path.js';

/** Lookups allowed in one bind before it fails (Finagle's namerMaxDepth default). */
export const MAX_DEPTH = 100;

/** What binding needs of a dtab: one lookup step (see naming-semantics.md, "One lookup step"). */
export interface DtabLookup {
  lookup(path: Path): NameTree<Path>;
}

/** A namer from `namers:` with its full prefix (`/#/io.l5d.fs`). */
export interface ConfiguredNamer {
  readonly prefix: Path;
  readonly namer: NameNamer;
  /** Its Linkerd kind, for display only. */
  readonly kind?: string;
}

export interface ConfiguredNamers {
  /** In the order of the `namers:` list; the binder tries the last one first (Linkerd). */
  readonly configured: readonly ConfiguredNamer[];
  /** The `/$/` namers (src/namers/builtin `globalNamer`); without it every `/$/` path is `Neg`. */
  readonly global?: NameNamer;
}

export const NO_NAMERS: ConfiguredNamers = Object.freeze({ configured: [] });

export class NamerMaxDepthError extends Error {
  readonly code = 'MESH_ERR_NAMING_MAX_DEPTH';
  constructor(depth: number) {
    super(`Max recursion level: ${depth} reached in Namer lookup`);
    this.name = 'NamerMaxDepthError';
  }
}

export type NameTreeActivity = Activity<NameTree<Name>>;

const NEG_NAME: NameTreeActivity = Activity.value<NameTree<Name>>(NEG);

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function safeLookup(namer: NameNamer, path: Path): NameTreeActivity {
  try {
    return Activity.from(namer.lookup(path));
  } catch (e) {
    return Activity.exception(toError(e));
  }
}

/** Ask the configured namers from index `i` down, then the global namer. */
export function lookupNamers(namers: ConfiguredNamers, path: Path, i = namers.configured.length - 1): NameTreeActivity {
  for (; i >= 0; i--) {
    const c = namers.configured[i]!;
    if (!path.startsWith(c.prefix)) continue;
    const next = i - 1;
    // A namer's Neg falls back to the next matching namer (Linkerd).
    return safeLookup(c.namer, path.drop(c.prefix.size)).flatMap(
      (t) => (t.type === 'neg' ? lookupNamers(namers, path, next) : Activity.value(t)),
      nameTreeEquals,
    );
  }
  return namers.global ? safeLookup(namers.global, path) : NEG_NAME;
}

/** One refinement of `path`: the dtab's answer, or the namers' when the dtab says Neg. */
export function lookupName(dtab: DtabLookup, namers: ConfiguredNamers, path: Path): NameTreeActivity {
  let t: NameTree<Path>;
  try {
    t = dtab.lookup(path);
  } catch (e) {
    return Activity.exception(toError(e));
  }
  return t.type === 'neg' ? lookupNamers(namers, path) : Activity.value<NameTree<Name>>(t);
}

