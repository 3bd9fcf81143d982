/**
 * namerd's thrift Namer service (Linkerd's ThriftNamerInterface): bind, addr, delegate and
 * dtab over `Namespaces`, as one mux handler (bytes of a thrift CALL in, bytes of its REPLY
 * out). bind, addr and dtab are long polls: a request carrying the stamp of the value the
 * client already has waits until that value changes; each value gets a fresh stamp from one
 * counter per service. Observers are kept in Linkerd's two-level ObserverCache (active while
 * requests wait on them; inactive ones kept open up to a count and for a TTL, then closed).
 */
import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { Addr, Address } from '../../naming/addr.js';
import { addrEquals, boundTreeEquals, isPath } from '../../naming/bound.js';
import type { BoundName, Closable } from '../../naming/contracts.js';
import type { DelegateTree, DentryRef } from '../../naming/delegator.js';
import { Dentry, Dtab } from '../../naming/dtab.js';
import type { NameTree } from '../../naming/name-tree.js';
import { readDtab } from '../../naming/parser.js';
import { Path } from '../../naming/path.js';
import { showNameTree } from '../../naming/show.js';
import type { MuxHandler } from '../../protocol/mux/index.js';
import { inetBytes } from '../../transformers/transformer.js';
import type { Namespaces } from '../namespaces.js';
import { decodeCall, encodeApplicationException, encodeReply, peekMethod } from './codec.js';
import { ThriftCodecError } from './errors.js';
import { NOP_DENTRY, fromTPathOr, toTPath } from './paths.js';
import { ThriftNamerError, closedError, discarded, maxObservations } from './service-errors.js';
import {
  NAMER_METHODS,
  THRIFT_APP_EXCEPTION,
  type AddrMeta,
  type AddrReq,
  type AddrVal,
  type BindReq,
  type BoundAddr,
  type BoundNode,
  type BoundTreeT,
  type DelegateContents,
  type DelegateNodeT,
  type DelegateReq,
  type DelegateTreeT,
  type DtabReq,
  type NamerCall,
  type NamerMethod,
  type NamerReply,
  type TPath,
  type TransportAddress,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Stamps

/** Issues the stamp of a new value. */
export type Stamper = () => Buffer;

/**
 * Linkerd's LocalStamper: an 8-byte big-endian counter starting at a random value, so stamps of
 * two namerd instances behind one address are unlikely to collide.
 */
export function localStamper(start: bigint = randomBytes(8).readBigInt64BE()): Stamper {
  let counter = BigInt.asIntN(64, start);
  return () => {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(counter);
    counter = BigInt.asIntN(64, counter + 1n);
    return b;
  };
}

/** Linkerd's `TStamp.one`: the fixed stamp of every Delegation answer. */
const STAMP_ONE = Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]);

// ---------------------------------------------------------------------------------------------
// Observer: one watched value and the long polls waiting on it

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };

export interface Observation<T> {
  readonly stamp: Buffer;
  readonly outcome: Outcome<T>;
}

interface Waiter<T> {
  settle(o: Observation<T> | Error): void;
}

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

function outcomeEquals<T>(eq: (a: T, b: T) => boolean): (a: Outcome<T>, b: Outcome<T>) => boolean {
  return (a, b) => {
    if (a.ok && b.ok) return eq(a.value, b.value);
    if (!a.ok && !b.ok) return a.error === b.error || (a.error.message === b.error.message && a.error.constructor === b.error.constructor);
    return false;
  };
}

/**
 * Linkerd's ThriftNamerInterface.Observer: subscribes to its source when built and keeps the
 * latest value with its stamp. A pending source leaves the last value in place; a value equal to
 * the current one keeps its stamp, so a long poll is answered only by a real change.
 */
export class Observer<T> {
  private current: Observation<T> | undefined;
  private waiters = new Set<Waiter<T>>();
  private readonly updater: Closable;
  private closed = false;

  constructor(
    private readonly stamper: Stamper,
    private readonly eq: (a: Outcome<T>, b: Outcome<T>) => boolean,
    run: (update: (o: Outcome<T>) => void) => Closable,
  ) {
    let updater: Closable;
    try {
      updater = run((o) => this.update(o));
    } catch (e) {
      this.update({ ok: false, error: toError(e) });
      updater = { close() {} };
    }
    this.updater = updater;
  }

  /** Requests waiting for this observer's next value. */
  get waiting(): number {
    return this.waiters.size;
  }

  private update(o: Outcome<T>): void {
    if (this.closed) return;
    if (this.current !== undefined && this.eq(this.current.outcome, o)) return;
    const obs: Observation<T> = { stamp: this.stamper(), outcome: o };
    this.current = obs;
    const ws = this.waiters;
    this.waiters = new Set();
    for (const w of ws) w.settle(obs);
  }

  /**
   * The current value when `stamp` is not its stamp (an empty stamp is never one), else the next
   * value; the wait ends early when `signal` aborts (the client discarded the request).
   */
  next(stamp: Buffer, signal?: AbortSignal): Promise<Observation<T>> {
    const cur = this.current;
    if (cur !== undefined && !cur.stamp.equals(stamp)) return Promise.resolve(cur);
    if (this.closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(discarded());
    return new Promise<Observation<T>>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.waiters.delete(w)) reject(discarded());
      };
      const w: Waiter<T> = {
        settle: (o) => {
          signal?.removeEventListener('abort', onAbort);
          if (o instanceof Error) reject(o);
          else resolve(o);
        },
      };
      this.waiters.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.current = undefined;
    this.updater.close();
    const ws = this.waiters;
    this.waiters = new Set();
    for (const w of ws) w.settle(closedError());
  }
}

// ---------------------------------------------------------------------------------------------
// ObserverCache

export interface ObserverCacheOptions {
  /** Observers with waiting requests; one more is refused (MaximumObservationsReached). */
  readonly activeCapacity: number;
  /** Idle observers kept open, least recently used evicted (and closed) first. */
  readonly inactiveCapacity: number;
  /** How long an idle observer is kept open, in ms. */
  readonly inactiveTtlMs: number;
  /** Clock in ms (tests pass their own). */
  readonly now?: () => number;
}

export interface ObserverCacheStats {
  readonly active: number;
  readonly inactive: number;
  /** Requests waiting on the active observers. */
  readonly waiting: number;
  /** Observers built so far, and closed so far (evicted, expired, or at shutdown). */
  readonly opened: number;
  readonly closed: number;
}

interface ActiveEntry<T> {
  readonly obs: Observer<T>;
  refs: number;
}

/**
 * Linkerd's ObserverCache. An observer is active while requests use it and cannot be closed
 * then; when its last request ends it becomes inactive: still subscribed, so the next poll is
 * answered from its current value, but evicted and closed when more than `inactiveCapacity` are
 * idle (oldest first) or once idle for the TTL (Guava's expireAfterAccess). Linkerd moves an
 * observer back to inactive on its next value change rather than when its requests end; counting
 * requests is what its documentation promises and frees the slot of a discarded poll at once.
 */
export class ObserverCache<T> {
  private readonly active = new Map<string, ActiveEntry<T>>();
  /** Insertion order is idle-since order: the first entry expires first. */
  private readonly inactive = new Map<string, { readonly obs: Observer<T>; readonly since: number }>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private opened = 0;
  private closedCount = 0;
  private shut = false;

  constructor(private readonly opts: ObserverCacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The value of `key`'s observer after `stamp` (see Observer.next), the observer active meanwhile. */
  async observe(key: string, stamp: Buffer, signal: AbortSignal | undefined, make: () => Observer<T>): Promise<Observation<T>> {
    const obs = this.acquire(key, make);
    try {
      return await obs.next(stamp, signal);
    } finally {
      this.release(key, obs);
    }
  }

  private acquire(key: string, make: () => Observer<T>): Observer<T> {
    if (this.shut) throw closedError();
    this.sweep();
    const a = this.active.get(key);
    if (a !== undefined) {
      a.refs++;
      return a.obs;
    }
    if (this.active.size >= this.opts.activeCapacity) throw maxObservations(this.opts.activeCapacity);
    let obs = this.inactive.get(key)?.obs;
    if (obs !== undefined) {
      this.inactive.delete(key);
    } else {
      obs = make();
      this.opened++;
    }
    this.active.set(key, { obs, refs: 1 });
    return obs;
  }

  private release(key: string, obs: Observer<T>): void {
    const a = this.active.get(key);
    if (a === undefined || a.obs !== obs || --a.refs > 0) return;
    this.active.delete(key);
    if (this.shut) return;
    this.inactive.set(key, { obs, since: this.now() });
    while (this.inactive.size > this.opts.inactiveCapacity) {
      const [k, e] = this.inactive.entries().next().value as [string, { obs: Observer<T> }];
      this.inactive.delete(k);
      this.closeObserver(e.obs);
    }
    this.sweep();
  }

  /** Closes the inactive observers idle for the TTL; runs on every use and on a timer. */
  sweep(): void {
    const now = this.now();
    for (const [k, e] of this.inactive) {
      if (now - e.since < this.opts.inactiveTtlMs) break;
      this.inactive.delete(k);
      this.closeObserver(e.obs);
    }
    this.arm(now);
  }

  private arm(now: number): void {
    if (this.timer !== undefined || this.shut) return;
    const first = this.inactive.values().next();
    if (first.done) return;
    // One timer per cache, for the observer that expires first.
    const delay = Math.min(Math.max(0, first.value.since + this.opts.inactiveTtlMs - now), this.opts.inactiveTtlMs) + 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweep();
    }, delay);
    this.timer.unref();
  }

  private closeObserver(obs: Observer<T>): void {
    this.closedCount++;
    obs.close();
  }

  stats(): ObserverCacheStats {
    let waiting = 0;
    for (const a of this.active.values()) waiting += a.obs.waiting;
    return { active: this.active.size, inactive: this.inactive.size, waiting, opened: this.opened, closed: this.closedCount };
  }

  /** Closes every observer; waiting requests reject with MESH_ERR_THRIFT_NAMER_CLOSED. */
  close(): void {
    if (this.shut) return;
    this.shut = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const all = [...this.active.values()].map((a) => a.obs).concat([...this.inactive.values()].map((e) => e.obs));
    this.active.clear();
    this.inactive.clear();
    for (const o of all) this.closeObserver(o);
  }
}

// ---------------------------------------------------------------------------------------------
// Conversions between naming values and namer.thrift structs

export { NOP_DENTRY, toTPath };

/** A Path from a thrift Path; an empty element is refused as Finagle's Path refuses it. */
export function fromTPath(t: TPath): Path {
  return fromTPathOr(t, () => new Error('path elements must be non-empty'));
}

/**
 * Linkerd's mkTree: the root inline, every other node in `nodes` under an id given depth-first,
 * a child taking its id before its own children are numbered.
 */
export function boundTreeToThrift(tree: NameTree<BoundName>): BoundTreeT {
  const nodes = new Map<number, BoundNode>();
  const [root] = mkBoundNode(tree, 0, nodes);
  return { root, nodes: sortedById(nodes) };
}

/**
 * Linkerd's numbering of an Alt's or Union's children: each child takes the next id, its own
 * subtree is numbered after it, and the node goes into `nodes` under its id.
 */
function numberChildren<T, N>(children: readonly T[], nextId: number, nodes: Map<number, N>, mk: (child: T, nextId: number) => [N, number]): [number[], number] {
  const ids: number[] = [];
  let next = nextId;
  for (const c of children) {
    const id = next;
    const [node, after] = mk(c, id + 1);
    nodes.set(id, node);
    ids.push(id);
    next = after;
  }
  return [ids, next];
}

function mkBoundNode(t: NameTree<BoundName>, nextId: number, nodes: Map<number, BoundNode>): [BoundNode, number] {
  switch (t.type) {
    case 'neg':
    case 'empty':
    case 'fail':
      return [{ type: t.type }, nextId];
    case 'leaf':
      return [{ type: 'leaf', leaf: { id: toTPath(t.value.id), residual: toTPath(t.value.residual) } }, nextId];
    case 'alt': {
      const [ids, next] = numberChildren(t.trees, nextId, nodes, (c, id) => mkBoundNode(c, id, nodes));
      return [{ type: 'alt', alt: ids }, next];
    }
    case 'union': {
      const [ids, next] = numberChildren(t.trees, nextId, nodes, (w, id) => mkBoundNode(w.tree, id, nodes));
      return [{ type: 'weighted', weighted: ids.map((id, i) => ({ weight: t.trees[i]!.weight, id })) }, next];
    }
  }
}

function showDentry(d: DentryRef): string {
  if (d === null) return NOP_DENTRY;
  if (d instanceof Dentry) return d.show();
  return `${d.prefix.show()}=>${showNameTree(d.dst)}`;
}

/**
 * Linkerd's mkDelegateTree. Alt and Union children are numbered like mkTree; a Delegate's or a
 * Transformation's single child is numbered after the child's own subtree.
 */
export function delegateTreeToThrift(tree: DelegateTree<BoundName>): DelegateTreeT {
  const nodes = new Map<number, DelegateNodeT>();
  const [root] = mkDelegateNode(tree, 0, nodes);
  return { root, nodes: sortedById(nodes) };
}

function mkDelegateNode(dt: DelegateTree<BoundName>, nextId: number, nodes: Map<number, DelegateNodeT>): [DelegateNodeT, number] {
  const path = toTPath(dt.path);
  if (dt.type === 'transformation') {
    const [child, id] = mkDelegateNode(dt.tree, nextId, nodes);
    nodes.set(id, child);
    const v = dt.value as BoundName | Path;
    const value = { id: toTPath(isPath(v) ? v : v.id), residual: [] };
    return [{ path, dentry: dt.name, contents: { type: 'transformation', transformation: { value, tree: id } } }, id + 1];
  }
  const dentry = showDentry(dt.dentry);
  const node = (contents: DelegateContents): DelegateNodeT => ({ path, dentry, contents });
  switch (dt.type) {
    case 'exception':
      return [node({ type: 'error', error: dt.error.message }), nextId];
    case 'empty':
    case 'fail':
    case 'neg':
      return [node({ type: dt.type }), nextId];
    case 'leaf': {
      const v = dt.value as BoundName | Path;
      const contents: DelegateContents = isPath(v)
        ? { type: 'pathLeaf', pathLeaf: toTPath(v) }
        : { type: 'boundLeaf', boundLeaf: { id: toTPath(v.id), residual: toTPath(v.residual) } };
      return [node(contents), nextId];
    }
    case 'delegate': {
      const [child, id] = mkDelegateNode(dt.tree, nextId, nodes);
      nodes.set(id, child);
      return [node({ type: 'delegate', delegate: id }), id + 1];
    }
    case 'alt': {
      const [ids, next] = numberChildren(dt.trees, nextId, nodes, (c, id) => mkDelegateNode(c, id, nodes));
      return [node({ type: 'alt', alt: ids }), next];
    }
    case 'union': {
      const [ids, next] = numberChildren(dt.trees, nextId, nodes, (w, id) => mkDelegateNode(w.tree, id, nodes));
      return [node({ type: 'weighted', weighted: ids.map((id, i) => ({ weight: dt.trees[i]!.weight, id })) }), next];
    }
  }
}

function sortedById<N>(nodes: Map<number, N>): Map<number, N> {
  return new Map([...nodes].sort((a, b) => a[0] - b[0]));
}

/**
 * The path a delegate request asks about. Linkerd's own client sends one path leaf; a chain of
 * Delegate nodes down to one is the same name. Other trees are refused with Linkerd's words.
 */
function delegatedPath(t: DelegateTreeT): Path {
  let node = t.root;
  for (let hops = 0; hops <= t.nodes.size; hops++) {
    const c = node.contents;
    switch (c.type) {
      case 'pathLeaf':
        return fromTPath(c.pathLeaf);
      case 'delegate': {
        const child = t.nodes.get(c.delegate);
        if (child === undefined) throw new Error(`delegate tree node ${c.delegate} is missing`);
        node = child;
        continue;
      }
      case 'boundLeaf':
        throw new Error('delegation cannot accept bound names');
      case 'transformation':
        throw new Error('delegation cannot accept transformations');
      default:
        throw new Error('Delegation too complex');
    }
  }
  throw new Error('delegate tree has a cycle');
}

/** Linkerd's convertMeta: metadata only when an authority or a node name is known. */
export function toAddrMeta(meta: Readonly<Record<string, unknown>>): AddrMeta | undefined {
  const text = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
  const authority = text(meta['authority']);
  const nodeName = text(meta['nodeName']);
  if (authority === undefined && nodeName === undefined) return undefined;
  const w = text(meta['endpoint_addr_weight']);
  const weight = w === undefined || w.trim() === '' ? undefined : Number(w);
  return {
    ...(authority !== undefined ? { authority } : {}),
    ...(nodeName !== undefined ? { nodeName } : {}),
    ...(weight !== undefined && !Number.isNaN(weight) ? { endpointAddrWeight: weight } : {}),
  };
}

/** Resolves a host name to one IP literal (Java's InetSocketAddress resolves at creation). */
export type HostLookup = (host: string) => Promise<string>;

const defaultLookup: HostLookup = async (host) => (await dnsLookup(host)).address;

async function toTransportAddress(a: Address, lookup: HostLookup): Promise<TransportAddress | undefined> {
  let bytes = inetBytes(a.host);
  if (bytes === undefined) {
    // A host name that does not resolve has no bytes to send; it is left out.
    const ip = await lookup(a.host).catch(() => undefined);
    bytes = ip === undefined ? undefined : inetBytes(ip);
    if (bytes === undefined) return undefined;
  }
  const meta = toAddrMeta(a.meta);
  return { ip: Buffer.from(bytes), port: a.port, ...(meta ? { meta } : {}) };
}

async function toBoundAddr(a: Extract<Addr, { type: 'bound' }>, lookup: HostLookup): Promise<BoundAddr> {
  const all = await Promise.all(a.addrs.map((x) => toTransportAddress(x, lookup)));
  const addresses = all.filter((x): x is TransportAddress => x !== undefined);
  const meta = toAddrMeta(a.meta);
  return { addresses, ...(meta ? { meta } : {}) };
}

/** Linkerd's Paths.stripTransformerPrefix: `/%/t/args/#/namer/x` → `/#/namer/x`. */
export function stripTransformerPrefix(p: Path): Path {
  if (p.elems[0] !== '%') return p;
  const i = p.elems.findIndex((e) => e === '#' || e === '$');
  return i < 0 ? Path.empty : p.drop(i);
}

// ---------------------------------------------------------------------------------------------
// The service

/** Linkerd's Capacity (the interface's `cache` block). */
export interface ThriftNamerCapacity {
  readonly bindingCacheActive: number;
  readonly bindingCacheInactive: number;
  readonly bindingCacheInactiveTTLSecs: number;
  readonly addrCacheActive: number;
  readonly addrCacheInactive: number;
  readonly addrCacheInactiveTTLSecs: number;
}

export const DEFAULT_CAPACITY: ThriftNamerCapacity = Object.freeze({
  bindingCacheActive: 1000,
  bindingCacheInactive: 100,
  bindingCacheInactiveTTLSecs: 600,
  addrCacheActive: 1000,
  addrCacheInactive: 100,
  addrCacheInactiveTTLSecs: 600,
});

/** TMessageType.CALL: the only message type a server accepts. */
const CALL = 1;

/** Linkerd's fixed sizes of the dtab observer cache. */
const DTAB_CACHE = { activeCapacity: 10, inactiveCapacity: 1, inactiveTtlMs: 600_000 };

export interface ThriftNamerServiceOptions {
  readonly cache?: Partial<ThriftNamerCapacity>;
  /** Defaults to a LocalStamper starting at a random value. */
  readonly stamper?: Stamper;
  /** The caches' clock in ms (tests). */
  readonly now?: () => number;
  /** Resolves host names of addresses (defaults to DNS). */
  readonly lookupHost?: HostLookup;
}

/** `undefined` is Addr.Neg: Linkerd's observer holds `Option[Addr.Bound]`. */
type AddrValue = Extract<Addr, { type: 'bound' }> | undefined;

const addrValueEquals = (a: AddrValue, b: AddrValue): boolean => (a === undefined || b === undefined ? a === b : addrEquals(a, b));

export class ThriftNamerService {
  private readonly stamper: Stamper;
  private readonly bindings: ObserverCache<NameTree<BoundName>>;
  private readonly addrs: ObserverCache<AddrValue>;
  private readonly dtabs: ObserverCache<Dtab>;
  private readonly lookupHost: HostLookup;
  /** Rendered addresses per observation: DNS and conversion once per value, not per poll. */
  private readonly rendered = new WeakMap<Observation<AddrValue>, Promise<AddrVal>>();
  /** Delegate requests in progress or parked forever (a stamped re-poll), released at close. */
  private readonly parked = new Set<() => void>();
  private closed = false;

  /** The mux handler: one thrift CALL in, its REPLY (or a TApplicationException) out. */
  readonly handle: MuxHandler = (body, signal) => this.serve(body, signal);

  constructor(
    private readonly namespaces: Namespaces,
    opts: ThriftNamerServiceOptions = {},
  ) {
    const cap = { ...DEFAULT_CAPACITY, ...definedOnly(opts.cache ?? {}) };
    this.stamper = opts.stamper ?? localStamper();
    this.lookupHost = opts.lookupHost ?? defaultLookup;
    const now = opts.now;
    this.bindings = new ObserverCache({
      activeCapacity: cap.bindingCacheActive,
      inactiveCapacity: cap.bindingCacheInactive,
      inactiveTtlMs: cap.bindingCacheInactiveTTLSecs * 1000,
      now,
    });
    this.addrs = new ObserverCache({
      activeCapacity: cap.addrCacheActive,
      inactiveCapacity: cap.addrCacheInactive,
      inactiveTtlMs: cap.addrCacheInactiveTTLSecs * 1000,
      now,
    });
    this.dtabs = new ObserverCache({ ...DTAB_CACHE, now });
  }

  /** The observer caches' counts (`bind`, `addr`, `dtab`), for tests and diagnostics. */
  observers(): { readonly bind: ObserverCacheStats; readonly addr: ObserverCacheStats; readonly dtab: ObserverCacheStats } {
    return { bind: this.bindings.stats(), addr: this.addrs.stats(), dtab: this.dtabs.stats() };
  }

  /** Runs the caches' TTL eviction now (tests with their own clock). */
  sweep(): void {
    this.bindings.sweep();
    this.addrs.sweep();
    this.dtabs.sweep();
  }

  private async serve(body: Buffer, signal: AbortSignal): Promise<Buffer> {
    if (this.closed) throw closedError();
    const head = peekMethod(body);
    if (head === undefined) throw new ThriftNamerError('MESH_ERR_THRIFT_NAMER_UNREADABLE', 'not a thrift message: its header does not decode');
    const appError = (type: number, message: string): Buffer => encodeApplicationException(head.method, head.seqid, type, message);
    if (head.type !== CALL) return appError(THRIFT_APP_EXCEPTION.INVALID_MESSAGE_TYPE, `expected a CALL message, got message type ${head.type}`);
    if (!(NAMER_METHODS as readonly string[]).includes(head.method)) {
      // Scrooge's words, which Finagle clients log.
      return appError(THRIFT_APP_EXCEPTION.UNKNOWN_METHOD, `Invalid method name: '${head.method}'`);
    }
    let call: NamerCall;
    try {
      call = decodeCall(body);
    } catch (e) {
      const type = e instanceof ThriftCodecError ? e.appExceptionType : THRIFT_APP_EXCEPTION.PROTOCOL_ERROR;
      return appError(type, toError(e).message);
    }
    try {
      switch (call.method) {
        case 'bind':
          return encodeReply('bind', call.seqid, await this.bind(call.req, signal));
        case 'addr':
          return encodeReply('addr', call.seqid, await this.addr(call.req, signal));
        case 'delegate':
          return encodeReply('delegate', call.seqid, await this.delegate(call.req, signal));
        case 'dtab':
          return encodeReply('dtab', call.seqid, await this.dtab(call.req, signal));
      }
    } catch (e) {
      // A discarded or closed request is not answered here; anything else is a server error.
      if (e instanceof ThriftNamerError && e.interrupted) throw e;
      return appError(THRIFT_APP_EXCEPTION.INTERNAL_ERROR, `Internal error processing ${(call as { method: NamerMethod }).method}: ${toError(e).message}`);
    }
  }

  /** Refines a name in a namespace (plus the request's dtab), long-polled by stamp. */
  async bind(req: BindReq, signal?: AbortSignal): Promise<NamerReply<'bind'>> {
    const ref = req.name;
    const ns = ref.ns;
    const fail = (reason: string): NamerReply<'bind'> => ({ ok: false, failure: { reason, retryInSeconds: 0, name: ref, ns } });
    let extra: Dtab;
    let path: Path;
    try {
      extra = readDtab(req.dtab);
      path = fromTPath(ref.name);
    } catch (e) {
      return fail(toError(e).message);
    }
    if (path.isEmpty) return fail('empty path');
    const key = JSON.stringify([ns, extra.show(), path.show()]);
    const make = (): Observer<NameTree<BoundName>> =>
      new Observer(this.stamper, outcomeEquals(boundTreeEquals), (update) =>
        this.namespaces.bind(ns, path, extra).states.observe((s) => {
          if (s.type === 'ok') update({ ok: true, value: s.value });
          else if (s.type === 'failed') update({ ok: false, error: s.error });
        }),
      );
    const o = await this.observing(this.bindings, key, ref.stamp, signal, make);
    if (o instanceof ThriftNamerError) return fail(o.message);
    if (!o.outcome.ok) return fail(o.outcome.error.message);
    return { ok: true, value: { stamp: o.stamp, tree: boundTreeToThrift(o.outcome.value), ns } };
  }

  /** The addresses of a bound id, long-polled by stamp. */
  async addr(req: AddrReq, signal?: AbortSignal): Promise<NamerReply<'addr'>> {
    const ref = req.name;
    const fail = (reason: string): NamerReply<'addr'> => ({ ok: false, failure: { reason, retryInSeconds: 0, name: ref } });
    let full: Path;
    try {
      full = fromTPath(ref.name);
    } catch (e) {
      return fail(toError(e).message);
    }
    if (full.isEmpty) return fail('empty path');
    const id = stripTransformerPrefix(full);
    const make = (): Observer<AddrValue> =>
      new Observer(this.stamper, outcomeEquals(addrValueEquals), (update) =>
        this.namespaces.addrOf(id).observe((a) => {
          if (a.type === 'bound') update({ ok: true, value: a });
          else if (a.type === 'neg') update({ ok: true, value: undefined });
          else if (a.type === 'failed') update({ ok: false, error: a.cause });
        }),
      );
    const o = await this.observing(this.addrs, id.show(), ref.stamp, signal, make);
    if (o instanceof ThriftNamerError) return fail(o.message);
    if (!o.outcome.ok) return fail(o.outcome.error.message);
    return { ok: true, value: { stamp: o.stamp, value: await this.renderAddr(o) } };
  }

  private renderAddr(o: Observation<AddrValue>): Promise<AddrVal> {
    let r = this.rendered.get(o);
    if (r === undefined) {
      const v = o.outcome.ok ? o.outcome.value : undefined;
      r = v === undefined ? Promise.resolve<AddrVal>({ type: 'neg' }) : toBoundAddr(v, this.lookupHost).then((bound): AddrVal => ({ type: 'bound', bound }));
      this.rendered.set(o, r);
    }
    return r;
  }

  /**
   * Explains a name's delegation once. Not a long poll: a request with a stamp is an old
   * client polling again, and (as in Linkerd) it is never answered, until discarded.
   */
  async delegate(req: DelegateReq, signal?: AbortSignal): Promise<NamerReply<'delegate'>> {
    const ns = req.delegation.ns;
    const fail = (reason: string): NamerReply<'delegate'> => ({ ok: false, failure: { reason } });
    let extra: Dtab;
    let path: Path;
    try {
      extra = readDtab(req.dtab);
      path = delegatedPath(req.delegation.tree);
    } catch (e) {
      return fail(toError(e).message);
    }
    if (req.delegation.stamp.length > 0) await this.park(signal);
    let tree: DelegateTree<BoundName>;
    try {
      tree = await this.untilDiscarded(this.namespaces.delegate(ns, path, extra), signal);
    } catch (e) {
      if (e instanceof ThriftNamerError && e.interrupted) throw e;
      return fail(toError(e).message);
    }
    return { ok: true, value: { stamp: STAMP_ONE, tree: delegateTreeToThrift(tree), ns } };
  }

  /** The namespace's dtab as text, long-polled by stamp. */
  async dtab(req: DtabReq, signal?: AbortSignal): Promise<NamerReply<'dtab'>> {
    const ns = req.ns;
    const make = (): Observer<Dtab> =>
      new Observer(this.stamper, outcomeEquals((a: Dtab, b: Dtab) => a.equals(b)), (update) =>
        this.namespaces.dtab(ns).states.observe((s) => {
          if (s.type === 'ok') update({ ok: true, value: s.value });
          else if (s.type === 'failed') update({ ok: false, error: s.error });
        }),
      );
    const o = await this.observing(this.dtabs, ns, req.stamp, signal, make);
    if (o instanceof ThriftNamerError) return { ok: false, failure: { reason: o.message } };
    if (!o.outcome.ok) return { ok: false, failure: { reason: o.outcome.error.message } };
    return { ok: true, value: { stamp: o.stamp, dtab: o.outcome.value.show() } };
  }

  /** An observation, or the full-cache error as a value (it becomes the method's failure). */
  private async observing<T>(
    cache: ObserverCache<T>,
    key: string,
    stamp: Buffer,
    signal: AbortSignal | undefined,
    make: () => Observer<T>,
  ): Promise<Observation<T> | ThriftNamerError> {
    try {
      return await cache.observe(key, stamp, signal, make);
    } catch (e) {
      if (e instanceof ThriftNamerError && e.code === 'MESH_ERR_THRIFT_NAMER_MAX_OBSERVATIONS') return e;
      throw e;
    }
  }

  /** Waits until the request is discarded or the service closes; never resolves. */
  private park(signal: AbortSignal | undefined): Promise<never> {
    return this.untilDiscarded(new Promise<never>(() => undefined), signal);
  }

  /** `p`, unless the request is discarded or the service closes first. */
  private untilDiscarded<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) return reject(closedError());
      if (signal?.aborted) return reject(discarded());
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.parked.delete(onClose);
      };
      const onAbort = (): void => {
        done();
        reject(discarded());
      };
      const onClose = (): void => {
        done();
        reject(closedError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.parked.add(onClose);
      p.then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e);
        },
      );
    });
  }

  /** Closes every observer; requests still waiting reject with MESH_ERR_THRIFT_NAMER_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bindings.close();
    this.addrs.close();
    this.dtabs.close();
    for (const release of [...this.parked]) release();
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}
