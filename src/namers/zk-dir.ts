/**
 * ZooKeeper directory watches for the namers that read a znode's children and their data
 * (io.l5d.curator, io.l5d.serversets, io.l5d.zkLeader), and the walk up a ZooKeeper path that
 * serversets and zkLeader share. A namer's one client is made when a name is first observed
 * and closed when none is. Children and data are read again on ZooKeeper watch events and, as a
 * backstop for events lost across reconnects, every second. A directory znode that does not
 * exist is Neg (and an exists-watch wakes the read when it appears). While ZooKeeper is
 * unreachable the last answer is kept; before any answer the Addr stays pending. An expired
 * session gets a new client, and so does one a restarting server took and never served.
 */
import type { Client, ZkException } from 'node-zookeeper-client';
import { Activity, PENDING, failed, ok, type ActivityState } from '../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr } from '../naming/addr.js';
import { addrEquals, boundName } from '../naming/bound.js';
import type { Name, NameNamer } from '../naming/contracts.js';
import { NEG, leaf, type NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { AsyncVar, ConstVar, flatMap } from '../naming/var.js';
import { forceClose, zkLib } from '../namerd/stores/zk-client.js';
import { reader } from './fs-watch.js';
import { NamerError } from './errors.js';

/** The backstop re-read period. */
export const ZK_RESYNC_MS = 1000;

/** An Addr from a directory's children (names) and their data (undefined: gone meanwhile). */
export type DirDecoder = (children: readonly string[], datas: readonly (Buffer | undefined)[]) => Addr;

/** The children whose data a decoder needs (all of them when a directory has no selector). */
export type DirSelector = (children: readonly string[]) => readonly string[];

export interface ZkDirOptions {
  /** ZooKeeper's connect string (`host:port,host:port`). */
  readonly connect: string;
  readonly sessionTimeoutMs?: number;
}

function zk<T>(fn: (cb: (err: ZkException | Error | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

const codeOf = (e: unknown): number | undefined => {
  const ex = e as Partial<ZkException> | null;
  return typeof ex?.getCode === 'function' ? ex.getCode() : undefined;
};

/**
 * A plugin's `zkAddrs` (`[{host, port}]`) as ZooKeeper's connect string (IPv6 hosts
 * bracketed); an empty or missing list is an error naming `where` (file: key path).
 */
export function zkConnect(addrs: unknown, where: string, makeError: (message: string) => Error): string {
  if (!Array.isArray(addrs) || addrs.length === 0) throw makeError(`${where}.zkAddrs: found ${JSON.stringify(addrs) ?? 'undefined'}; allowed: a list of {host, port}`);
  return (addrs as { host: string; port?: number }[]).map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port ?? 2181}`).join(',');
}

/**
 * The answer of a namer whose names are ZooKeeper paths (io.l5d.serversets, io.l5d.zkLeader):
 * `prefix ++ path` bound to `addrOf(path)`, and while that Addr is Neg, the same question about
 * `path` without its last element, which moves to the front of the residual, as Linkerd's
 * namers walk up; Neg when no element is left to drop. `addrOf` answers undefined for a path it
 * does not read (Neg) and an Error for one it cannot read.
 */
export function bindZkPath(prefix: Path, path: Path, residual: Path, addrOf: (path: Path) => AsyncVar<Addr> | Error | undefined): Activity<NameTree<Name>> {
  const addr = addrOf(path);
  if (addr === undefined) return Activity.value<NameTree<Name>>(NEG);
  if (addr instanceof Error) return Activity.exception(addr);
  const bound = boundName(prefix.concat(path), addr, residual);
  const n = path.size;
  const states = flatMap(addr, (a: Addr) => {
    if (a.type === 'neg') {
      if (n === 0) return new ConstVar(ok<NameTree<Name>>(NEG));
      return bindZkPath(prefix, path.take(n - 1), path.drop(n - 1).concat(residual), addrOf).states;
    }
    const s: ActivityState<NameTree<Name>> = a.type === 'pending' ? PENDING : a.type === 'failed' ? failed(a.cause) : ok<NameTree<Name>>(leaf<Name>(bound));
    return new ConstVar(s);
  });
  return new Activity(states).dedup();
}

/**
 * A namer whose names are ZooKeeper paths walked up as bindZkPath does (io.l5d.serversets,
 * io.l5d.zkLeader), over one ZkDirWatcher; each kind says what Addr a path reads (`addrOf`).
 */
export abstract class ZkPathNamer implements NameNamer {
  protected readonly dirs: ZkDirWatcher;

  constructor(
    readonly prefix: Path,
    kind: string,
    connect: string,
    sessionTimeoutMs?: number,
  ) {
    this.dirs = new ZkDirWatcher(kind, sessionTimeoutMs === undefined ? { connect } : { connect, sessionTimeoutMs });
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    return bindZkPath(this.prefix, path, path.drop(path.size), (p) => this.addrOf(p));
  }

  /** The Addr `path` reads: undefined for a path the kind does not read, an Error for one it cannot. */
  protected abstract addrOf(path: Path): AsyncVar<Addr> | Error | undefined;
}

export class ZkDirWatcher {
  private client: Client | null = null;
  /** When reads first found the client not connected (0: it is connected). */
  private waitingSince = 0;
  private readonly vars = new Map<string, AsyncVar<Addr>>();
  private active = 0;
  /** The readers of observed directories, run again as soon as a client connects. */
  private readonly readers = new Set<() => void>();

  constructor(
    /** The namer's kind, for error messages. */
    private readonly kind: string,
    private readonly opts: ZkDirOptions,
  ) {}

  /** The ZooKeeper client, made when a name is first observed and while any is. */
  private zk(): Client {
    if (this.client !== null) return this.client;
    const c = zkLib().createClient(this.opts.connect, { sessionTimeout: this.opts.sessionTimeoutMs ?? 10_000, spinDelay: 200, retries: 0 });
    // An expired session never comes back: the next read makes a new client.
    c.on('expired', () => {
      if (this.client === c) {
        this.client = null;
        forceClose(c);
      }
    });
    // The first reads find the client still connecting: read again once it is connected
    // rather than at the next resync, a second later.
    c.on('connected', () => {
      if (this.client === c) for (const run of this.readers) run();
    });
    c.connect();
    this.client = c;
    return c;
  }

  /**
   * What `decode` makes of `dir`'s children, read while observed. `key` tells decoders of the
   * same directory apart (one shared watch per directory and key). With `select`, only the
   * children it picks are read and handed to `decode` (io.l5d.zkLeader reads one).
   */
  dir(dir: string, key: string, decode: DirDecoder, select?: DirSelector): AsyncVar<Addr> {
    const id = `${key}\u0000${dir}`;
    let v = this.vars.get(id);
    if (v === undefined) {
      v = new AsyncVar<Addr>(
        ADDR_PENDING,
        (update) => {
          this.active++;
          let answered = false;
          // One watch per znode at a time: the backstop re-read must not pile up watchers.
          const armed = new Set<string>();
          let armedOn: Client | null = null;
          const watch = (c: Client, path: string): ((e: unknown) => void) | undefined => {
            if (armedOn !== c) {
              armed.clear(); // a new client (expired session) has none of the old watches
              armedOn = c;
            }
            if (armed.has(path)) return undefined;
            armed.add(path);
            return () => {
              armed.delete(path);
              r.run();
            };
          };
          const release = (path: string): void => void armed.delete(path);
          const r = reader(
            () => this.read(dir, decode, select, watch, release),
            (a) => {
              if (a === undefined) return; // not connected: keep what we have
              if (a.type === 'failed' && answered) return;
              if (a.type !== 'failed') answered = true;
              update(a);
            },
          );
          const timer = setInterval(r.run, ZK_RESYNC_MS);
          timer.unref();
          this.readers.add(r.run);
          r.run();
          return {
            close: () => {
              r.stop();
              this.readers.delete(r.run);
              clearInterval(timer);
              if (--this.active === 0 && this.client !== null) {
                forceClose(this.client);
                this.client = null;
              }
            },
          };
        },
        addrEquals,
      );
      this.vars.set(id, v);
    }
    return v;
  }

  /**
   * One read of a directory, with the watches `watch` hands out (none for a znode already
   * watched); undefined while not connected.
   */
  private async read(
    dir: string,
    decode: DirDecoder,
    select: DirSelector | undefined,
    watch: (c: Client, path: string) => ((e: unknown) => void) | undefined,
    release: (path: string) => void,
  ): Promise<Addr | undefined> {
    const c = this.zk();
    if (c.getState() !== zkLib().State.SYNC_CONNECTED) {
      // A restarting ZooKeeper can take a connection and never serve its session (see the zk
      // store's watchdog): a client not connected for this long is replaced by a fresh one.
      const now = Date.now();
      if (this.waitingSince === 0) this.waitingSince = now;
      else if (now - this.waitingSince > (this.opts.sessionTimeoutMs ?? 10_000) && this.client === c) {
        this.client = null;
        this.waitingSince = 0;
        forceClose(c);
      }
      return undefined;
    }
    this.waitingSince = 0;
    const child = (ch: string): string => (dir === '/' ? `/${ch}` : `${dir}/${ch}`);
    try {
      const all = await zk<string[]>((cb) => c.getChildren(dir, watch(c, dir), (err, ch) => cb(err, ch)));
      const children = select === undefined ? all : select(all);
      const datas = await Promise.all(
        children.map((ch) =>
          zk<Buffer | undefined>((cb) => c.getData(child(ch), watch(c, child(ch)), (err, data) => cb(err, data ?? undefined))).catch((e: unknown) => {
            // Removed between the two reads (ZooKeeper set no watch on it).
            if (codeOf(e) === zkLib().Exception.NO_NODE) {
              release(child(ch));
              return undefined;
            }
            throw e;
          }),
        ),
      );
      return decode(children, datas);
    } catch (e) {
      if (codeOf(e) === zkLib().Exception.NO_NODE) {
        // No such directory (ZooKeeper set no children watch): Neg, and wake up when it appears.
        release(dir);
        c.exists(dir, watch(c, `exists:${dir}`), () => undefined);
        return ADDR_NEG;
      }
      release(dir); // the watch may not have been set: let the next read set it
      return { type: 'failed', cause: new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `${this.kind}: cannot read ${dir}: ${(e as Error).message}`) };
    }
  }
}
