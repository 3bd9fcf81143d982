/**
 * Conversions between Meshwork's naming types and io.linkerd.mesh messages (as plain objects
 * from @grpc/proto-loader with `keepCase`, `oneofs`, bytes as Buffers).
 */
import { Path } from '../../naming/path.js';
import type { NameTree } from '../../naming/name-tree.js';
import { EMPTY, FAIL, NEG, alt, leaf, union, weighted } from '../../naming/name-tree.js';
import { WEIGHT_KEY, type Addr } from '../../naming/addr.js';
import { ANY_ELEM, Dentry, Dtab, Prefix, type PrefixElem } from '../../naming/dtab.js';
import { isIPv4, isIPv6 } from 'node:net';
import type { DelegateTree } from '../../naming/delegator.js';

export interface PathMsg {
  elems?: Buffer[];
}

export function pathToMsg(p: Path): PathMsg {
  return { elems: p.elems.map((e) => Buffer.from(e, 'latin1')) };
}

export function pathFromMsg(m: PathMsg | null | undefined): Path {
  if (!m || !m.elems || m.elems.length === 0) return Path.empty;
  return Path.fromElems(m.elems.map((b) => Buffer.from(b).toString('latin1')));
}

export interface PathNameTreeMsg {
  node?: 'nop' | 'alt' | 'union' | 'leaf';
  nop?: 'NEG' | 'FAIL' | 'EMPTY' | number;
  alt?: { trees?: PathNameTreeMsg[] };
  union?: { trees?: { weight?: number; tree?: PathNameTreeMsg }[] };
  leaf?: { id?: PathMsg };
}

export function pathTreeToMsg(t: NameTree<Path>): PathNameTreeMsg {
  switch (t.type) {
    case 'neg':
      return { nop: 'NEG' };
    case 'fail':
      return { nop: 'FAIL' };
    case 'empty':
      return { nop: 'EMPTY' };
    case 'leaf':
      return { leaf: { id: pathToMsg(t.value) } };
    case 'alt':
      return { alt: { trees: t.trees.map(pathTreeToMsg) } };
    case 'union':
      return { union: { trees: t.trees.map((w) => ({ weight: w.weight, tree: pathTreeToMsg(w.tree) })) } };
  }
}

export class MeshDecodeError extends Error {
  readonly code = 'MESH_ERR_MESH_DECODE';
}

export function pathTreeFromMsg(m: PathNameTreeMsg | null | undefined): NameTree<Path> {
  if (!m) throw new MeshDecodeError('name tree missing');
  const kind = m.node ?? (m.leaf ? 'leaf' : m.alt ? 'alt' : m.union ? 'union' : 'nop');
  switch (kind) {
    case 'leaf':
      return leaf(pathFromMsg(m.leaf?.id));
    case 'alt':
      return alt(...(m.alt?.trees ?? []).map(pathTreeFromMsg));
    case 'union':
      return union(...(m.union?.trees ?? []).map((w) => weighted(w.weight ?? 0, pathTreeFromMsg(w.tree))));
    case 'nop': {
      const nop = m.nop ?? 'NEG';
      if (nop === 'NEG' || nop === 0) return NEG;
      if (nop === 'FAIL' || nop === 1) return FAIL;
      if (nop === 'EMPTY' || nop === 2) return EMPTY;
      throw new MeshDecodeError(`unknown nop ${String(nop)}`);
    }
  }
}

/** A bound leaf as it travels on the wire: the bound id and the residual. */
export interface BoundLeaf {
  readonly id: Path;
  readonly residual: Path;
}

export interface BoundNameTreeMsg {
  node?: 'neg' | 'fail' | 'empty' | 'alt' | 'union' | 'leaf';
  neg?: object;
  fail?: object;
  empty?: object;
  alt?: { trees?: BoundNameTreeMsg[] };
  union?: { trees?: { weight?: number; tree?: BoundNameTreeMsg }[] };
  leaf?: { id?: PathMsg; residual?: PathMsg };
}

export function boundTreeToMsg(t: NameTree<BoundLeaf>): BoundNameTreeMsg {
  switch (t.type) {
    case 'neg':
      return { neg: {} };
    case 'fail':
      return { fail: {} };
    case 'empty':
      return { empty: {} };
    case 'leaf':
      return { leaf: { id: pathToMsg(t.value.id), residual: pathToMsg(t.value.residual) } };
    case 'alt':
      return { alt: { trees: t.trees.map(boundTreeToMsg) } };
    case 'union':
      return { union: { trees: t.trees.map((w) => ({ weight: w.weight, tree: boundTreeToMsg(w.tree) })) } };
  }
}

export function boundTreeFromMsg(m: BoundNameTreeMsg | null | undefined): NameTree<BoundLeaf> {
  if (!m) throw new MeshDecodeError('bound tree missing');
  const kind = m.node ?? (m.leaf ? 'leaf' : m.alt ? 'alt' : m.union ? 'union' : m.fail ? 'fail' : m.empty ? 'empty' : 'neg');
  switch (kind) {
    case 'neg':
      return NEG;
    case 'fail':
      return FAIL;
    case 'empty':
      return EMPTY;
    case 'leaf':
      return leaf({ id: pathFromMsg(m.leaf?.id), residual: pathFromMsg(m.leaf?.residual) });
    case 'alt':
      return alt(...(m.alt?.trees ?? []).map(boundTreeFromMsg));
    case 'union':
      return union(...(m.union?.trees ?? []).map((w) => weighted(w.weight ?? 0, boundTreeFromMsg(w.tree))));
  }
}

export interface EndpointMsg {
  inet_af?: 'INET4' | 'INET6';
  address?: Buffer;
  port?: number;
  meta?: { nodeName?: string };
  metadata?: Record<string, string>;
}

export interface ReplicasMsg {
  result?: 'pending' | 'neg' | 'failed' | 'bound';
  pending?: object;
  neg?: object;
  failed?: { message?: string };
  bound?: { endpoints?: EndpointMsg[]; metadata?: Record<string, string> };
}

function ipToBytes(ip: string): { af: 'INET4' | 'INET6'; bytes: Buffer } | undefined {
  if (isIPv4(ip)) return { af: 'INET4', bytes: Buffer.from(ip.split('.').map((x) => Number(x))) };
  if (isIPv6(ip)) {
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
    return { af: 'INET6', bytes: b };
  }
  return undefined;
}

function bytesToIp(af: string | undefined, b: Buffer): string {
  if (af === 'INET6' || b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    return groups.join(':');
  }
  return Array.from(b).join('.');
}

/** Addresses that are not IP literals cannot travel in Replicas; they are left out. */
export function addrToReplicas(a: Addr): ReplicasMsg {
  switch (a.type) {
    case 'pending':
      return { pending: {} };
    case 'neg':
      return { neg: {} };
    case 'failed':
      return { failed: { message: a.cause.message } };
    case 'bound': {
      const endpoints: EndpointMsg[] = [];
      for (const addr of a.addrs) {
        const ip = ipToBytes(addr.host);
        if (!ip) continue;
        const nodeName = typeof addr.meta['nodeName'] === 'string' ? (addr.meta['nodeName'] as string) : undefined;
        const metadata = metaToStrings(addr.meta);
        endpoints.push({ inet_af: ip.af, address: ip.bytes, port: addr.port, ...(nodeName ? { meta: { nodeName } } : {}), ...(metadata ? { metadata } : {}) });
      }
      const metadata = metaToStrings(a.meta);
      return { bound: { endpoints, ...(metadata ? { metadata } : {}) } };
    }
  }
}

/**
 * Metadata as the mesh API carries it, values as strings (Linkerd's `toString` of each): the
 * string, number and boolean values (others have no portable text); undefined when none.
 */
function metaToStrings(meta: Readonly<Record<string, unknown>>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') (out ??= {})[k] = String(v);
  }
  return out;
}

/** The mesh API's string metadata as Addr metadata; an endpoint weight is read back as the number it was. */
function stringsToMeta(m: Record<string, string> | undefined): Record<string, unknown> {
  if (m === undefined) return {};
  const out: Record<string, unknown> = { ...m };
  const w = m[WEIGHT_KEY];
  if (w !== undefined) {
    const n = Number(w);
    if (Number.isFinite(n) && n >= 0) out[WEIGHT_KEY] = n;
  }
  return out;
}

export function replicasToAddr(m: ReplicasMsg): Addr {
  const kind = m.result ?? (m.bound ? 'bound' : m.failed ? 'failed' : m.neg ? 'neg' : 'pending');
  switch (kind) {
    case 'pending':
      return { type: 'pending' };
    case 'neg':
      return { type: 'neg' };
    case 'failed':
      return { type: 'failed', cause: new Error(m.failed?.message ?? 'failed') };
    case 'bound':
      return {
        type: 'bound',
        addrs: (m.bound?.endpoints ?? []).map((e) => ({
          host: bytesToIp(e.inet_af, Buffer.from(e.address ?? Buffer.alloc(0))),
          port: e.port ?? 0,
          meta: { ...stringsToMeta(e.metadata), ...(e.meta?.nodeName ? { nodeName: e.meta.nodeName } : {}) },
        })),
        meta: stringsToMeta(m.bound?.metadata),
      };
  }
}

export interface PrefixElemMsg {
  value?: 'label' | 'wildcard';
  label?: Buffer;
  wildcard?: object;
}

export interface DentryMsg {
  prefix?: { elems?: PrefixElemMsg[] };
  dst?: PathNameTreeMsg;
}

export interface DtabMsg {
  dentries?: DentryMsg[];
}

export function dentryToMsg(d: { prefix: Prefix; dst: NameTree<Path> }): DentryMsg {
  return {
    prefix: {
      elems: d.prefix.elems.map((e) => (e === ANY_ELEM ? { wildcard: {} } : { label: Buffer.from(e, 'latin1') })),
    },
    dst: pathTreeToMsg(d.dst),
  };
}

export function dtabToMsg(d: Dtab): DtabMsg {
  return { dentries: d.dentries.map(dentryToMsg) };
}

export function dentryFromMsg(m: DentryMsg): Dentry {
  const elems: PrefixElem[] = (m.prefix?.elems ?? []).map((e) => {
    const kind = e.value ?? (e.wildcard ? 'wildcard' : 'label');
    if (kind === 'wildcard') return ANY_ELEM;
    const label = Buffer.from(e.label ?? Buffer.alloc(0)).toString('latin1');
    if (label === '') throw new MeshDecodeError('empty prefix label');
    return label;
  });
  return new Dentry(Prefix.of(elems), pathTreeFromMsg(m.dst));
}

export function dtabFromMsg(m: DtabMsg): Dtab {
  const ds = (m.dentries ?? []).map(dentryFromMsg);
  return ds.length === 0 ? Dtab.empty : new Dtab(ds);
}

/** `io.linkerd.mesh.BoundDelegateTree` as the proto loader gives it (oneof `node`). */
export interface BoundDelegateTreeMsg {
  path?: PathMsg;
  dentry?: DentryMsg;
  node?: 'neg' | 'fail' | 'empty' | 'alt' | 'union' | 'leaf' | 'delegate' | 'transformation' | 'exception';
  alt?: { trees?: BoundDelegateTreeMsg[] };
  union?: { trees?: { weight?: number; tree?: BoundDelegateTreeMsg }[] };
  leaf?: { id?: PathMsg; residual?: PathMsg };
  delegate?: BoundDelegateTreeMsg;
  transformation?: { name?: string; leaf?: { id?: PathMsg; residual?: PathMsg }; tree?: BoundDelegateTreeMsg };
  exception?: string;
}

/**
 * A delegation tree from namerd's Delegator, with each bound leaf made a value by `bound`
 * (the interpreter gives it a live Addr). The reverse of the server's delegateTreeToMsg.
 */
export function delegateTreeFromMsg<T>(m: BoundDelegateTreeMsg | null | undefined, bound: (leaf: BoundLeaf) => T): DelegateTree<T> {
  if (!m) throw new MeshDecodeError('delegate tree missing');
  const path = pathFromMsg(m.path);
  const dentry = m.dentry ? dentryFromMsg(m.dentry) : null;
  const leafOf = (l: { id?: PathMsg; residual?: PathMsg } | undefined): T => bound({ id: pathFromMsg(l?.id), residual: pathFromMsg(l?.residual) });
  const go = (x: BoundDelegateTreeMsg | undefined): DelegateTree<T> => delegateTreeFromMsg(x, bound);
  switch (m.node) {
    case 'neg':
      return { type: 'neg', path, dentry };
    case 'fail':
      return { type: 'fail', path, dentry };
    case 'empty':
      return { type: 'empty', path, dentry };
    case 'exception':
      return { type: 'exception', path, dentry, error: new Error(m.exception ?? '') };
    case 'leaf':
      return { type: 'leaf', path, dentry, value: leafOf(m.leaf) };
    case 'delegate':
      return { type: 'delegate', path, dentry, tree: go(m.delegate) };
    case 'alt':
      return { type: 'alt', path, dentry, trees: (m.alt?.trees ?? []).map(go) };
    case 'union':
      return { type: 'union', path, dentry, trees: (m.union?.trees ?? []).map((w) => ({ weight: w.weight ?? 0, tree: go(w.tree) })) };
    case 'transformation':
      return { type: 'transformation', path, name: m.transformation?.name ?? '', value: leafOf(m.transformation?.leaf), tree: go(m.transformation?.tree) };
    default:
      throw new MeshDecodeError(`delegate tree node ${String(m.node)}`);
  }
}
