/**
 * Name trees (Finagle's NameTree): Leaf, Alt (ordered fallback), Union (weighted split),
 * Neg (`~`), Fail (`!`), Empty (`$`). Plain immutable objects discriminated by `type`.
 */
export type NameTree<T> =
  | Leaf<T>
  | Alt<T>
  | Union<T>
  | Neg
  | Fail
  | Empty;

export interface Leaf<T> {
  readonly type: 'leaf';
  readonly value: T;
}
export interface Alt<T> {
  readonly type: 'alt';
  readonly trees: readonly NameTree<T>[];
}
export interface Weighted<T> {
  readonly weight: number;
  readonly tree: NameTree<T>;
}
export interface Union<T> {
  readonly type: 'union';
  readonly trees: readonly Weighted<T>[];
}
export interface Neg {
  readonly type: 'neg';
}
export interface Fail {
  readonly type: 'fail';
}
export interface Empty {
  readonly type: 'empty';
}

export const NEG: Neg = Object.freeze({ type: 'neg' });
export const FAIL: Fail = Object.freeze({ type: 'fail' });
export const EMPTY: Empty = Object.freeze({ type: 'empty' });

export const DEFAULT_WEIGHT = 1;

export function leaf<T>(value: T): Leaf<T> {
  return { type: 'leaf', value };
}
export function alt<T>(...trees: NameTree<T>[]): Alt<T> {
  return { type: 'alt', trees };
}
export function union<T>(...trees: Weighted<T>[]): Union<T> {
  return { type: 'union', trees };
}
export function weighted<T>(weight: number, tree: NameTree<T>): Weighted<T> {
  return { weight, tree };
}
