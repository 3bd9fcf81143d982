/**
 * Bound names and Addrs: structural equality (so observables do not re-emit identical
 * answers) and the JSON shapes Linkerd's admin and namerd APIs print.
 */
import type { Addr, Address } from './addr.js';
import type { BoundName, Name } from './contracts.js';
import type { NameTree } from './name-tree.js';
import { Path } from './path.js';

export function isPath(n: Name): n is Path {
  return n instanceof Path;
}

function metaEquals(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    const x = a[k];
    const y = b[k];
    if (Object.is(x, y)) continue;
    if (x && y && typeof x === 'object' && typeof y === 'object') {
      if (!metaEquals(x as Record<string, unknown>, y as Record<string, unknown>)) return false;
    } else return false;
  }
  return true;
}

function addressKey(a: Address): string {
  return `${a.host}\u0000${a.port}`;
}

/** Addrs are equal when they are the same kind with the same set of addresses and metadata. */
export function addrEquals(a: Addr, b: Addr): boolean {
  if (a === b) return true;
  if (a.type !== b.type) return false;
  switch (a.type) {
    case 'pending':
    case 'neg':
      return true;
    case 'failed':
      return a.cause.message === (b as typeof a).cause.message;
    case 'bound': {
      const bb = b as typeof a;
      if (a.addrs.length !== bb.addrs.length || !metaEquals(a.meta, bb.meta)) return false;
      // Addresses are a set: order does not matter.
      const byKey = new Map<string, Address>();
      for (const x of bb.addrs) byKey.set(addressKey(x), x);
      for (const x of a.addrs) {
        const y = byKey.get(addressKey(x));
        if (!y || !metaEquals(x.meta, y.meta)) return false;
      }
      return true;
    }
  }
}

/** Bound names are equal when id and residual are (the Addr is an observable of the id). */
export function boundNameEquals(a: BoundName, b: BoundName): boolean {
  return a === b || (a.id.equals(b.id) && a.residual.equals(b.residual));
}

export function nameEquals(a: Name, b: Name): boolean {
  if (a === b) return true;
  const ap = isPath(a);
  if (ap !== isPath(b)) return false;
  return ap ? a.equals(b as Path) : boundNameEquals(a as BoundName, b as BoundName);
}

export function treeEquals<T>(eq: (a: T, b: T) => boolean): (a: NameTree<T>, b: NameTree<T>) => boolean {
  const go = (a: NameTree<T>, b: NameTree<T>): boolean => {
    if (a === b) return true;
    if (a.type !== b.type) return false;
    switch (a.type) {
      case 'leaf':
        return eq(a.value, (b as typeof a).value);
      case 'alt': {
        const bt = (b as typeof a).trees;
        if (a.trees.length !== bt.length) return false;
        for (let i = 0; i < bt.length; i++) if (!go(a.trees[i]!, bt[i]!)) return false;
        return true;
      }
      case 'union': {
        const bt = (b as typeof a).trees;
        if (a.trees.length !== bt.length) return false;
        for (let i = 0; i < bt.length; i++) {
          if (a.trees[i]!.weight !== bt[i]!.weight || !go(a.trees[i]!.tree, bt[i]!.tree)) return false;
        }
        return true;
      }
      default:
        return true;
    }
  };
  return go;
}

export const boundTreeEquals = treeEquals<BoundName>(boundNameEquals);
export const nameTreeEquals = treeEquals<Name>(nameEquals);

export interface AddressJson {
  ip: string;
  port: number;
  meta: Record<string, unknown>;
}
export type AddrJson =
  | { type: 'pending' }
  | { type: 'neg' }
  | { type: 'failed'; cause: string }
  | { type: 'bound'; addrs: AddressJson[]; meta: Record<string, unknown> };

/** Linkerd's Addr JSON: `{"type":"bound","addrs":[{"ip","port","meta"}],"meta":{}}` etc. */
export function addrToJson(a: Addr): AddrJson {
  switch (a.type) {
    case 'pending':
      return { type: 'pending' };
    case 'neg':
      return { type: 'neg' };
    case 'failed':
      return { type: 'failed', cause: a.cause.message };
    case 'bound':
      return {
        type: 'bound',
        addrs: a.addrs.map((x) => ({ ip: x.host, port: x.port, meta: { ...x.meta } })),
        meta: { ...a.meta },
      };
  }
}

export interface BoundJson {
  addr: AddrJson;
  id: string;
  path: string;
}

export function boundToJson(addr: Addr, b: BoundName): BoundJson {
  return { addr: addrToJson(addr), id: b.id.show(), path: b.residual.show() };
}

/** Creates a bound name. */
export function boundName(id: Path, addr: BoundName['addr'], residual: Path = Path.empty): BoundName {
  return { id, addr, residual };
}
