/**
 * `io.l5d.namerd`: a router interpreter that asks namerd's thrift interface
 * (io.l5d.thriftNameInterpreter: namer.thrift's Namer service over ThriftMux) instead of binding
 * with local namers, as Linkerd's NamerdInterpreterConfig + ThriftNamerClient do:
 *   bind(dtab, path)  long-polls `bind` with the stamp of the last answer (empty at first)
 *   addr(id)          long-polls `addr` the same way, once per bound id
 *   delegate          one `delegate` call, turned into Linkerd's delegation JSON
 * One loop per (dtab, path) and per bound id is shared by every observer and stopped (its
 * pending call discarded) with the last one. namerd's declared failures (BindFailure,
 * AddrFailure) are retried after the backoff with the same stamp; anything else (connection
 * lost, an application exception, an unreadable answer) with the empty stamp, which asks
 * namerd for its current value. Meanwhile the last state stays in place (requests keep
 * routing). All calls share one mux session, whose pings are Linkerd's failureThreshold.
 *
 * Which dtab is sent: the one the router hands bind(), unchanged (`dtab.show`), as
 * ThriftNamerClient.watchName does; see mesh.ts for why that is `base ++ local`.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Activity } from '../naming/activity.js';
import type { Addr, Address } from '../naming/addr.js';
import { addrEquals } from '../naming/bound.js';
import type { BoundName, Closable, Var } from '../naming/contracts.js';
import { delegateTreeToJson, type DelegateTree, type DentryRef } from '../naming/delegator.js';
import type { Dentry, Dtab } from '../naming/dtab.js';
import { EMPTY, FAIL, NEG, alt, leaf, union, weighted } from '../naming/name-tree.js';
import { readDentry } from '../naming/parser.js';
import { Path } from '../naming/path.js';
import { showNameTree } from '../naming/show.js';
import { NOOP_CLOSABLE, async as asyncVar, type Equality } from '../naming/var.js';
import { decodeReply, encodeCall } from '../namerd/thrift/codec.js';
import { NOP_DENTRY, fromTPathOr, toTPath } from '../namerd/thrift/paths.js';
import type {
  AddrMeta,
  AddrVal,
  BoundNameT,
  BoundNode,
  BoundTreeT,
  DelegateNodeT,
  DelegateTreeT,
  NamerMethod,
  NamerMethods,
  NamerReply,
  TPath,
} from '../namerd/thrift/types.js';
import { MuxClient } from '../protocol/mux/index.js';
import { InterpreterError, interpreterConfigError, type ConfigWhere } from './errors.js';
import { ADDR_PENDING, PENDING_STATE, backoffDelay, backoffFrom, inetTarget, treeStateEquals, type Backoff, type BoundTree, type TreeState } from './follow.js';
import { commonNameCheck } from './tls.js';

/** Past this many names the caches are dropped (live observers keep their loops). */
const MAX_CACHED = 10_000;
/** Linkerd's FailureThresholdConfig defaults: a ping every 5 s, the session closed after 4 s without an answer. */
export const DEFAULT_PING_INTERVAL_MS = 5000;
export const DEFAULT_PING_TIMEOUT_MS = 4000;

const EMPTY_STAMP = Buffer.alloc(0);
const NO_CLIENT_ID: TPath = [];
export { NOP_DENTRY };

export interface NamerdThriftInterpreterConfig {
  readonly dst: string;
  readonly namespace?: string;
  readonly retry?: { readonly baseSeconds?: number; readonly maxSeconds?: number };
  /** Linkerd's ClientTlsConfig: namerd's certificate is always validated, against `commonName`. */
  readonly tls?: { readonly commonName: string; readonly caCert?: string };
  /** Linkerd's session failure detector, here the mux session's Tping interval and timeout. */
  readonly failureThreshold?: { readonly minPeriodMs?: number; readonly closeTimeoutMs?: number };
}

/** Counters for tests and the admin page (Linkerd's interpreter/io.l5d.namerd bind/addr stats). */
export interface NamerdThriftStats {
  /** Calls sent (bind, addr, delegate). */
  calls: number;
  /** Answers that carried a value. */
  answers: number;
  /** namerd's declared failures (BindFailure, AddrFailure, DelegationFailure). */
  failures: number;
  /** Anything else: connection lost, application exception, unreadable answer. */
  errors: number;
}

const ADDR_NEG: Addr = Object.freeze({ type: 'neg' });

function responseError(message: string): InterpreterError {
  return new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', message);
}

export { toTPath };

/** A path from the wire; Finagle paths have no empty element. */
export function fromTPath(t: TPath): Path {
  return fromTPathOr(t, () => responseError('unreadable path from namerd: an empty element'));
}

/**
 * An address's ip bytes as text, as Java's InetAddress.getByAddress(...).getHostAddress()
 * writes them (so Addr JSON reads as Linkerd's): dotted quad, an IPv4-mapped IPv6 address as
 * its IPv4, other IPv6 as eight uncompressed hex groups.
 */
export function ipText(ip: Buffer): string {
  if (ip.length === 4) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
  if (ip.length === 16) {
    if (ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff) return `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(ip.readUInt16BE(i).toString(16));
    return groups.join(':');
  }
  throw responseError(`unreadable address from namerd: an ip of ${ip.length} bytes (4 or 16 expected)`);
}

/** Linkerd's ThriftNamerClient.convertMeta: the keys of io.buoyant.namer.Metadata. */
export function metaFrom(m: AddrMeta | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m?.authority !== undefined) out['authority'] = m.authority;
  if (m?.nodeName !== undefined) out['nodeName'] = m.nodeName;
  if (m?.endpointAddrWeight !== undefined) out['endpoint_addr_weight'] = m.endpointAddrWeight;
  return out;
}

/** An `addr` answer as an Addr. */
export function addrFrom(v: AddrVal): Addr {
  if (v.type === 'neg') return ADDR_NEG;
  const addrs: Address[] = v.bound.addresses.map((a) => {
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw responseError(`unreadable address from namerd: port ${a.port}`);
    return { host: ipText(a.ip), port: a.port, meta: metaFrom(a.meta) };
  });
  return { type: 'bound', addrs, meta: metaFrom(v.bound.meta) };
}

/**
 * Follows node ids through a tree's node map. Linkerd numbers each node once (a tree, not a
 * graph); a second reference to an id would let a peer build cycles or exponential fan-out.
 */
function nodeTable<N>(nodes: ReadonlyMap<number, N>, what: string): (id: number) => N {
  const used = new Set<number>();
  return (id) => {
    const n = nodes.get(id);
    if (n === undefined) throw responseError(`unreadable ${what} from namerd: unknown node id: ${id}`);
    if (used.has(id)) throw responseError(`unreadable ${what} from namerd: node id ${id} referenced twice`);
    used.add(id);
    return n;
  };
}

/** namerd's dentry text; Linkerd's `Dentry.nop` (the root's) is our `null`. */
function dentryFrom(text: string): DentryRef {
  if (text === NOP_DENTRY || text === '') return null;
  let d: Dentry;
  try {
    d = readDentry(text);
  } catch (e) {
    throw responseError(`unreadable dentry from namerd: ${JSON.stringify(text)}: ${(e as Error).message}`);
  }
  if (d.prefix.size === 1 && d.prefix.elems[0] === '/' && d.dst.type === 'neg') return null;
  return d;
}

function tlsOptions(tls: NamerdThriftInterpreterConfig['tls'], where: ConfigWhere | undefined): ConnectionOptions | undefined {
  if (tls === undefined) return undefined;
  const cn = tls.commonName;
  if (typeof cn !== 'string' || cn === '') throw interpreterConfigError(where, 'tls.commonName', cn, "the name namerd's certificate carries");
  const out: ConnectionOptions = { rejectUnauthorized: true, checkServerIdentity: commonNameCheck(cn) };
  if (isIP(cn) === 0) out.servername = cn;
  if (tls.caCert !== undefined) {
    try {
      out.ca = readFileSync(tls.caCert);
    } catch (e) {
      throw interpreterConfigError(where, 'tls.caCert', tls.caCert, `a readable file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  return out;
}

function checkRetry(retry: NamerdThriftInterpreterConfig['retry'], where: ConfigWhere | undefined): void {
  if (retry === undefined) return;
  const seconds = (key: 'baseSeconds' | 'maxSeconds'): void => {
    const v = retry[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw interpreterConfigError(where, `retry.${key}`, v, 'a number of seconds >= 0');
  };
  seconds('baseSeconds');
  seconds('maxSeconds');
  // As Linkerd's Retry ("illegal retry values"): a cap below the first wait is a typo, not a wish.
  if (retry.baseSeconds !== undefined && retry.maxSeconds !== undefined && retry.baseSeconds > retry.maxSeconds) {
    throw interpreterConfigError(where, 'retry.maxSeconds', retry.maxSeconds, `a number of seconds >= baseSeconds (${retry.baseSeconds})`);
  }
}

function positiveMs(v: unknown, dflt: number, where: ConfigWhere | undefined, key: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw interpreterConfigError(where, key, v, 'a whole number of milliseconds >= 1');
  return v;
}

export class NamerdThriftInterpreter {
  readonly namespace: string;
  readonly backoff: Backoff;
  readonly stats: NamerdThriftStats = { calls: 0, answers: 0, failures: 0, errors: 0 };
  /** The mux session's Tping interval and timeout (from failureThreshold). */
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  private readonly client: MuxClient;
  private readonly addrs = new Map<string, Var<Addr>>();
  private readonly binds = new Map<string, Activity<BoundTree>>();
  /** Every running loop, so close() can stop them all. */
  private readonly loops = new Set<Closable>();
  private closed = false;

  constructor(config: NamerdThriftInterpreterConfig, readPath: (s: string) => Path, where?: ConfigWhere) {
    const target = inetTarget(readPath(config.dst), where);
    const ns = config.namespace ?? 'default';
    if (typeof ns !== 'string' || ns === '') throw interpreterConfigError(where, 'namespace', ns, 'a non-empty namerd namespace');
    this.namespace = ns;
    checkRetry(config.retry, where);
    // Linkerd's default Retry(5, 10.minutes); the first wait is baseSeconds, as
    // Backoff.exponentialJittered(base, max) starts there.
    this.backoff = backoffFrom(config.retry);
    this.pingIntervalMs = positiveMs(config.failureThreshold?.minPeriodMs, DEFAULT_PING_INTERVAL_MS, where, 'failureThreshold.minPeriodMs');
    this.pingTimeoutMs = positiveMs(config.failureThreshold?.closeTimeoutMs, DEFAULT_PING_TIMEOUT_MS, where, 'failureThreshold.closeTimeoutMs');
    const tls = tlsOptions(config.tls, where);
    this.client = new MuxClient({
      host: target.host,
      port: target.port,
      ...(tls !== undefined ? { tls } : {}),
      pingIntervalMs: this.pingIntervalMs,
      pingTimeoutMs: this.pingTimeoutMs,
    });
  }

  /** The Addr of a bound id from namerd's `addr`, shared per id. */
  addr(id: Path): Var<Addr> {
    const key = id.show();
    let v = this.addrs.get(key);
    if (!v) {
      const name = toTPath(id);
      v = this.longPoll(
        'addr',
        (stamp) => ({ name: { stamp, name, ns: this.namespace }, clientId: NO_CLIENT_ID }),
        (rsp): Addr => {
          try {
            return addrFrom(rsp.value);
          } catch (e) {
            return { type: 'failed', cause: e as Error };
          }
        },
        ADDR_PENDING,
        addrEquals,
      );
      if (this.addrs.size >= MAX_CACHED) this.addrs.clear();
      this.addrs.set(key, v);
    }
    return v;
  }

  /** The bound tree of `path` under `dtab` (sent whole, after namerd's namespace dtab), shared per key. */
  bind(dtab: Dtab, path: Path): Activity<BoundTree> {
    const dtabText = dtab.show();
    const key = `${dtabText}\u0000${path.show()}`;
    let act = this.binds.get(key);
    if (!act) {
      const name = toTPath(path);
      const states = this.longPoll(
        'bind',
        (stamp) => ({ dtab: dtabText, name: { stamp, name, ns: this.namespace }, clientId: NO_CLIENT_ID }),
        (rsp): TreeState => {
          // As ThriftNamerClient: a tree that cannot be read makes the Activity failed.
          try {
            return { type: 'ok', value: this.treeFrom(rsp.tree) };
          } catch (e) {
            return { type: 'failed', error: e as Error };
          }
        },
        PENDING_STATE,
        treeStateEquals,
      );
      act = new Activity(states);
      if (this.binds.size >= MAX_CACHED) this.binds.clear();
      this.binds.set(key, act);
    }
    return act;
  }

  /**
   * namerd's explanation of `path` under its namespace dtab followed by `dtab` (the dtab
   * playground of a router that follows namerd), as Linkerd's delegator JSON; bound leaves show
   * their Addr from namerd's `addr`. The request is ThriftNamerClient's: an empty stamp and the
   * one-node tree mkDelegateTree makes of `DelegateTree.Leaf(path, Dentry.nop, path)`.
   */
  async delegate(dtab: Dtab, path: Path, timeoutMs = 5000): Promise<unknown> {
    const p = toTPath(path);
    const req: NamerMethods['delegate']['req'] = {
      dtab: dtab.show(),
      delegation: { stamp: EMPTY_STAMP, tree: { root: { path: p, dentry: NOP_DENTRY, contents: { type: 'pathLeaf', pathLeaf: p } }, nodes: new Map() }, ns: this.namespace },
      clientId: NO_CLIENT_ID,
    };
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let reply: NamerReply<'delegate'>;
    try {
      reply = await this.call('delegate', req, ctl.signal);
    } catch (e) {
      this.stats.errors++;
      const why = ctl.signal.aborted ? `no answer within ${timeoutMs} ms` : (e as Error).message;
      throw new InterpreterError('MESH_ERR_INTERPRETER_STREAM', `namerd delegation failed: ${why}`);
    } finally {
      clearTimeout(timer);
    }
    if (!reply.ok) {
      this.stats.failures++;
      throw responseError(`namerd delegation failed: ${reply.failure.reason}`);
    }
    this.stats.answers++;
    return delegateTreeToJson(this.delegateTreeFrom(reply.value.tree), { showTree: showNameTree, timeoutMs });
  }

  /** Stops every loop (observers keep their last state) and closes the mux session. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of [...this.loops]) l.close();
    this.loops.clear();
    this.client.close();
  }

  private async call<M extends NamerMethod>(method: M, req: NamerMethods[M]['req'], signal?: AbortSignal): Promise<NamerReply<M>> {
    this.stats.calls++;
    // seqid 0, as Finagle's thrift clients write it: over mux the tag matches the reply.
    const rsp = await this.client.dispatch(encodeCall(method, 0, req), signal);
    return decodeReply(method, rsp).reply;
  }

  /**
   * One long-poll loop per Var, running while it is observed: each answer is published and
   * its stamp sent back at once; a declared failure is retried with the same stamp after the
   * backoff, any other error with the empty stamp. A success resets the backoff.
   */
  private longPoll<M extends 'bind' | 'addr', T>(
    method: M,
    request: (stamp: Buffer) => NamerMethods[M]['req'],
    toValue: (rsp: NamerMethods[M]['rsp']) => T,
    initial: T,
    eq: Equality<T>,
  ): Var<T> {
    return asyncVar<T>(
      initial,
      (update) => {
        if (this.closed) return NOOP_CLOSABLE;
        let stopped = false;
        let inFlight: AbortController | undefined;
        let timer: NodeJS.Timeout | undefined;
        let attempt = 0;
        const later = (stamp: Buffer, ms: number): void => {
          timer = setTimeout(() => {
            timer = undefined;
            send(stamp);
          }, ms);
          timer.unref();
        };
        const send = (stamp: Buffer): void => {
          if (stopped || this.closed) return;
          const ctl = new AbortController();
          inFlight = ctl;
          this.call(method, request(stamp), ctl.signal).then(
            (reply) => {
              inFlight = undefined;
              if (stopped) return;
              if (!reply.ok) {
                this.stats.failures++;
                later(stamp, backoffDelay(this.backoff, attempt++));
                return;
              }
              this.stats.answers++;
              attempt = 0;
              const next = reply.value.stamp;
              // namerd answers a stamp it has seen only on change; an immediate answer with the
              // same stamp would make this a busy loop, so such a server is polled at base pace.
              // The next poll goes out before publishing, so an observer cannot stall the loop.
              if (next.equals(stamp)) later(next, this.backoff.baseMs);
              else send(next);
              update(toValue(reply.value));
            },
            () => {
              inFlight = undefined;
              if (stopped) return;
              this.stats.errors++;
              later(EMPTY_STAMP, backoffDelay(this.backoff, attempt++));
            },
          );
        };
        const loop: Closable = {
          close: () => {
            if (stopped) return;
            stopped = true;
            this.loops.delete(loop);
            if (timer) clearTimeout(timer);
            timer = undefined;
            // Aborting the pending call makes the mux client send Tdiscarded for it.
            const c = inFlight;
            inFlight = undefined;
            c?.abort();
          },
        };
        this.loops.add(loop);
        send(EMPTY_STAMP);
        return loop;
      },
      eq,
    );
  }

  private boundName(b: BoundNameT): BoundName {
    const id = fromTPath(b.id);
    return { id, residual: fromTPath(b.residual), addr: this.addr(id) };
  }

  /** A BoundTree (root + numbered nodes) as our NameTree; unknown ids make it unreadable. */
  private treeFrom(t: BoundTreeT): BoundTree {
    const node = nodeTable(t.nodes, 'bound tree');
    const mk = (n: BoundNode): BoundTree => {
      switch (n.type) {
        case 'neg':
          return NEG;
        case 'empty':
          return EMPTY;
        case 'fail':
          return FAIL;
        case 'leaf':
          return leaf(this.boundName(n.leaf));
        case 'alt':
          return alt(...n.alt.map((id) => mk(node(id))));
        case 'weighted':
          return union(...n.weighted.map((w) => weighted(w.weight, mk(node(w.id)))));
      }
    };
    return mk(t.root);
  }

  /**
   * A DelegateTree from namerd as ours. Unlike ThriftNamerClient (which gives alt and union
   * nodes the root's dentry), each node keeps its own; transformations are read too.
   */
  private delegateTreeFrom(t: DelegateTreeT): DelegateTree<BoundName> {
    const node = nodeTable(t.nodes, 'delegate tree');
    const mk = (n: DelegateNodeT): DelegateTree<BoundName> => {
      const path = fromTPath(n.path);
      const c = n.contents;
      if (c.type === 'transformation') {
        return { type: 'transformation', path, name: n.dentry, value: this.boundName(c.transformation.value), tree: mk(node(c.transformation.tree)) };
      }
      const dentry = dentryFrom(n.dentry);
      switch (c.type) {
        case 'error':
          return { type: 'exception', path, dentry, error: new Error(c.error) };
        case 'empty':
        case 'fail':
        case 'neg':
          return { type: c.type, path, dentry };
        case 'delegate':
          return { type: 'delegate', path, dentry, tree: mk(node(c.delegate)) };
        case 'boundLeaf':
          return { type: 'leaf', path, dentry, value: this.boundName(c.boundLeaf) };
        case 'alt':
          return { type: 'alt', path, dentry, trees: c.alt.map((id) => mk(node(id))) };
        case 'weighted':
          return { type: 'union', path, dentry, trees: c.weighted.map((w) => ({ weight: w.weight, tree: mk(node(w.id)) })) };
        case 'pathLeaf':
          throw responseError('unreadable delegate tree from namerd: delegation cannot accept path names');
      }
    };
    try {
      return mk(t.root);
    } catch (e) {
      throw e instanceof InterpreterError ? e : responseError(`unreadable delegate tree from namerd: ${(e as Error).message}`);
    }
  }
}
