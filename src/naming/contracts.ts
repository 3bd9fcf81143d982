/**
 * The observable contracts of the naming core. Implementations live beside this file
 * (var.ts / activity.ts, binder.ts, ...); other areas import only these names.
 */
import type { Addr } from './addr.js';
import type { NameTree } from './name-tree.js';
import type { Path } from './path.js';

export interface Closable {
  close(): void;
}

/**
 * A value that changes over time. `observe` calls `fn` at once with the current value and
 * then on every change; identical consecutive values (by the Var's equality) are not
 * re-emitted. Closing the returned handle stops updates and releases upstream subscriptions
 * when the last observer leaves.
 */
export interface Var<T> {
  sample(): T;
  observe(fn: (value: T) => void): Closable;
}

export type ActivityState<T> =
  | { readonly type: 'pending' }
  | { readonly type: 'ok'; readonly value: T }
  | { readonly type: 'failed'; readonly error: Error };

/** An observable computation that may be pending or failed (Finagle's Activity). */
export interface Activity<T> {
  readonly states: Var<ActivityState<T>>;
}

/** A name a namer bound: `id` is the bound id (`/#/...` or `/$/...`), `residual` the rest. */
export interface BoundName {
  readonly id: Path;
  readonly addr: Var<Addr>;
  readonly residual: Path;
}

/** A namer answers a path (relative to its prefix) with a tree of bound names, over time. */
export interface Namer {
  lookup(path: Path): Activity<NameTree<BoundName>>;
}

/**
 * Finagle's Name: a bound name, or a path to bind again through the dtab. Rewriting namers
 * (io.l5d.rewrite, /$/io.buoyant.http.*) answer with paths; every `Namer` is a `NameNamer`.
 */
export type Name = BoundName | Path;

/** A namer whose answers may contain paths to bind again (Finagle's Namer.lookup). */
export interface NameNamer {
  lookup(path: Path): Activity<NameTree<Name>>;
}
