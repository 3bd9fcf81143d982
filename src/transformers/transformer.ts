/**
 * The transformer contract: a transformer rewrites the bound tree an interpreter (or a namer)
 * produced, over time: `transform(tree) → Activity<tree>`. Transformers in a list apply in
 * order (`applyTransformers`). Every bound id a transformer produces is prefixed with
 * `/%/<prefix>` (the `prefix:` key, or a per-kind default such as `/io.l5d.port/4141`), so
 * clients for transformed and untransformed names never mix.
 *
 * Leaf-by-leaf transformers (port, localhost, specificHost) also expose `mapBound` and
 * `delegateName` so the delegation explainer can show a `transformation` node.
 */
import { Activity } from '../naming/activity.js';
import type { Addr, Address } from '../naming/addr.js';
import type { Activity as ActivityContract, BoundName, Name, NameNamer, Var } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { map } from '../naming/var.js';
import { boundTreeEquals, isPath } from '../naming/bound.js';
import { TransformerError } from './errors.js';
import { readPath as readPathText } from '../naming/parser.js';

export interface NameTreeTransformer {
  readonly kind: string;
  /** The full id prefix, e.g. `/%/io.l5d.port/4141`. */
  readonly prefix: Path;
  transform(tree: NameTree<BoundName>): ActivityContract<NameTree<BoundName>>;
  /** For leaf-by-leaf transformers: one bound name mapped (what `transform` does to each leaf). */
  readonly mapBound?: (bound: BoundName) => BoundName;
  /** The name Linkerd shows on a delegation `transformation` node for this transformer. */
  readonly delegateName?: string;
}

/** What a transformer is built with. */
export interface TransformerContext {
  /** Binds a path with the `/$/` namers only (Linkerd's NameInterpreter.global), for const/replace. */
  readonly bindGlobal?: (path: Path) => ActivityContract<NameTree<BoundName>>;
  /** This host's IPs (io.l5d.localhost); defaults to every interface address. */
  readonly localAddresses?: readonly string[];
  /** Resolves a host name to IPs (io.l5d.specificHost); defaults to DNS. */
  readonly resolveHost?: (host: string) => Promise<readonly string[]>;
  /** Environment (io.l5d.k8s.localnode reads POD_IP / NODE_NAME); defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export const TRANSFORMER_PREFIX = Path.of('%');

/** `/%` ++ (`prefix:` key or the kind's default). */
export function transformerPrefix(kind: string, cfg: Readonly<Record<string, unknown>>, dflt: Path): Path {
  const p = cfg['prefix'];
  return TRANSFORMER_PREFIX.concat(p === undefined || p === null ? dflt : pathKey(kind, 'prefix', p));
}

export function pathKey(kind: string, key: string, v: unknown): Path {
  if (v instanceof Path) return v;
  if (typeof v !== 'string') {
    if (v === undefined || v === null) throw new TransformerError('MESH_ERR_TRANSFORMER_MISSING_KEY', `${kind}: '${key}' is required`, key);
    throw new TransformerError('MESH_ERR_TRANSFORMER_BAD_VALUE', `${kind}: '${key}' must be a path, found ${JSON.stringify(v)}`, key);
  }
  try {
    return readPathText(v);
  } catch (e) {
    throw new TransformerError('MESH_ERR_TRANSFORMER_BAD_VALUE', `${kind}: '${key}' must be a path: ${(e as Error).message}`, key);
  }
}

/** Maps every leaf of a tree, keeping its shape. */
export function mapTree<T, U>(tree: NameTree<T>, f: (v: T) => U): NameTree<U> {
  switch (tree.type) {
    case 'leaf':
      return { type: 'leaf', value: f(tree.value) };
    case 'alt':
      return { type: 'alt', trees: tree.trees.map((t) => mapTree(t, f)) };
    case 'union':
      return { type: 'union', trees: tree.trees.map((w) => ({ weight: w.weight, tree: mapTree(w.tree, f) })) };
    default:
      return tree;
  }
}

/**
 * A leaf-by-leaf transformer: maps each bound name's Addr and prefixes its id. Mapped Addr
 * observables are cached per source so re-emitted trees share them.
 */
export class LeafTransformer implements NameTreeTransformer {
  private readonly cache = new WeakMap<Var<Addr>, Var<Addr>>();
  readonly mapBound: (bound: BoundName) => BoundName;

  constructor(
    readonly kind: string,
    readonly prefix: Path,
    readonly delegateName: string,
    private readonly mapAddr: (addr: Var<Addr>) => Var<Addr>,
  ) {
    this.mapBound = (b) => ({ id: this.prefix.concat(b.id), addr: this.addrFor(b.addr), residual: b.residual });
  }

  private addrFor(v: Var<Addr>): Var<Addr> {
    let m = this.cache.get(v);
    if (m === undefined) {
      m = this.mapAddr(v);
      this.cache.set(v, m);
    }
    return m;
  }

  transform(tree: NameTree<BoundName>): ActivityContract<NameTree<BoundName>> {
    return Activity.value(mapTree(tree, this.mapBound));
  }
}

/** Maps the addresses of a Bound Addr; other Addrs pass through. */
export function mapBoundAddresses(v: Var<Addr>, f: (addrs: readonly Address[]) => readonly Address[] | null): Var<Addr> {
  return map(v, (a): Addr => {
    if (a.type !== 'bound') return a;
    const out = f(a.addrs);
    return out === null ? { type: 'neg' } : { type: 'bound', addrs: out, meta: a.meta };
  });
}

/** Applies transformers in order to a bound tree activity. */
export function applyTransformers(
  transformers: readonly NameTreeTransformer[],
  bound: ActivityContract<NameTree<BoundName>>,
): ActivityContract<NameTree<BoundName>> {
  let act = Activity.from(bound);
  for (const t of transformers) act = act.flatMap((tree) => t.transform(tree), boundTreeEquals);
  return act;
}

/**
 * Wraps a binder so every answer goes through the transformers (an interpreter's
 * `transformers:` list); with none, the binder itself.
 */
export function transformBinder<D>(
  transformers: readonly NameTreeTransformer[],
  bind: (dtab: D, path: Path) => ActivityContract<NameTree<BoundName>>,
): (dtab: D, path: Path) => ActivityContract<NameTree<BoundName>> {
  if (transformers.length === 0) return bind;
  return (dtab, path) => applyTransformers(transformers, bind(dtab, path));
}

function allBound(tree: NameTree<Name>): boolean {
  switch (tree.type) {
    case 'leaf':
      return !isPath(tree.value);
    case 'alt':
      return tree.trees.every(allBound);
    case 'union':
      return tree.trees.every((w) => allBound(w.tree));
    default:
      return true;
  }
}

/**
 * Wraps a namer (a `namers:` entry's `transformers:`): answers made only of bound names go
 * through the transformers; answers with paths still to bind pass unchanged (Linkerd).
 */
export function transformNamer(transformers: readonly NameTreeTransformer[], namer: NameNamer): NameNamer {
  if (transformers.length === 0) return namer;
  return {
    lookup(path: Path): ActivityContract<NameTree<Name>> {
      return Activity.from(namer.lookup(path)).flatMap(
        (tree): ActivityContract<NameTree<Name>> =>
          allBound(tree) ? applyTransformers(transformers, Activity.value(tree as NameTree<BoundName>)) : Activity.value(tree),
      );
    },
  };
}

// ---- IP matching (Linkerd's Netmask with a /32 or /128 mask: same address) ----

/** The bytes of an IPv4 or IPv6 literal; undefined for host names. */
export function ipBytes(ip: string): number[] | undefined {
  let s = ip;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? b : undefined;
  }
  if (!s.includes(':')) return undefined;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  const maybeV4 = s.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    const t = ipBytes(maybeV4);
    if (t === undefined || t.length !== 4) return undefined;
    tail = t;
    s = s.slice(0, lastColon) + ':0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === undefined || rest === undefined) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...rest];
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Java's InetAddress bytes: IPv4 and IPv4-mapped IPv6 are 4 bytes, other IPv6 16. */
export function inetBytes(ip: string): number[] | undefined {
  const b = ipBytes(ip);
  if (b === undefined || b.length !== 16) return b;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return b;
  return b[10] === 0xff && b[11] === 0xff ? b.slice(12) : b;
}

export const MASK_32: readonly number[] = [255, 255, 255, 255];
export const MASK_24: readonly number[] = [255, 255, 255, 0];

/**
 * Linkerd's Netmask: same network under `mask`. Masks are IPv4 (4 bytes), so an IPv6 address
 * is never on the same subnet as anything (as in Linkerd).
 */
export function sameSubnet(mask: readonly number[], a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== mask.length || b.length !== mask.length) return false;
  for (let i = 0; i < mask.length; i++) if ((a[i]! & mask[i]!) !== (b[i]! & mask[i]!)) return false;
  return true;
}

/**
 * Keeps the addresses on the same subnet as one of `locals` (non-IP hosts are kept, as Linkerd
 * keeps non-inet addresses); none left is `Neg` (null).
 */
export function filterSubnet(addrs: readonly Address[], locals: readonly (readonly number[])[], mask: readonly number[]): readonly Address[] | null {
  const out = addrs.filter((a) => {
    const b = inetBytes(a.host);
    if (b === undefined) return true;
    for (const l of locals) if (sameSubnet(mask, b, l)) return true;
    return false;
  });
  return out.length === 0 ? null : out;
}
