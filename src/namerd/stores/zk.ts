/**
 * `io.l5d.zk`: each namespace is the znode `<pathPrefix>/<ns>`, its data the dtab text.
 *
 * The version is `<czxid>.<dataVersion>`: ZooKeeper's data version restarts at 0 when a znode
 * is re-created, so the creation zxid is part of it to keep an old ETag from matching a new
 * node. CAS checks the creation zxid, then lets ZooKeeper check the data version atomically.
 *
 * Watches: one children watch on the prefix and one data watch per namespace. After a
 * reconnect everything is listed again under a new epoch (watches of older epochs are
 * ignored); an expired session gets a new client.
 */
import zookeeper, { type ACL, type Client, type Stat, type ZkException } from 'node-zookeeper-client';
import { forceClose } from './zk-client.js';
import type { PluginSpec } from '../../config/schema.js';
import { zkFields } from './fields.js';
import {
  DtabExistsError,
  DtabNotFoundError,
  DtabVersionMismatchError,
  StoreProtocolError,
  StoreUnavailableError,
} from '../errors.js';
import type { DtabStore, StoreContext } from './store.js';
import {
  Backoff,
  WatchedStore,
  type RawEntry,
  type RetryOptions,
  type WatchedStoreOptions,
  type WatchSink,
  normalizePrefix,
} from './watched-store.js';

export const KIND = 'io.l5d.zk';

export interface ZkAcl {
  readonly scheme: string;
  readonly id: string;
  readonly perms: string;
}

export interface ZkConfig {
  readonly zkAddrs: readonly { readonly host: string; readonly port: number }[];
  readonly pathPrefix?: string;
  readonly sessionTimeoutMs?: number;
  readonly authInfo?: { readonly scheme: string; readonly auth: string };
  readonly acls?: readonly ZkAcl[];
}

export interface ZkStoreOptions extends WatchedStoreOptions, RetryOptions {}

const PERM_BITS: Readonly<Record<string, number>> = {
  c: zookeeper.Permission.CREATE,
  r: zookeeper.Permission.READ,
  w: zookeeper.Permission.WRITE,
  d: zookeeper.Permission.DELETE,
  a: zookeeper.Permission.ADMIN,
};

/** `crwda` → permission bits; undefined when the string is not a set of those letters. */
export function permsToBits(perms: string): number | undefined {
  if (!/^[crwda]+$/.test(perms) || new Set(perms).size !== perms.length) return undefined;
  let bits = 0;
  for (const c of perms) bits |= PERM_BITS[c]!;
  return bits;
}

const { NO_NODE, NODE_EXISTS, BAD_VERSION, NOT_EMPTY } = zookeeper.Exception;

function code(e: unknown): number | undefined {
  const ex = e as Partial<ZkException> | null;
  return typeof ex?.getCode === 'function' ? ex.getCode() : undefined;
}

function zxidOf(buf: Buffer): string {
  return buf.readBigInt64BE(0).toString();
}

function versionOf(stat: Stat): string {
  return `${zxidOf(stat.czxid)}.${stat.version}`;
}

/** Turns a node-style callback API into a promise. */
function zk<T>(fn: (cb: (err: ZkException | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

interface ConnListener {
  up(): void;
  down(e: Error): void;
}

export class ZkDtabStore extends WatchedStore {
  readonly kind = KIND;
  private client: Client;
  private readonly connect: string;
  private readonly dir: string;
  private readonly acls: ACL[];
  private readonly sessionTimeoutMs: number;
  private readonly auth: { scheme: string; auth: string } | undefined;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly listeners = new Set<ConnListener>();
  private shuttingDown = false;
  private everConnected = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(config: ZkConfig, opts: ZkStoreOptions = {}) {
    super(opts);
    this.connect = config.zkAddrs.map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`).join(',');
    this.dir = normalizePrefix(config.pathPrefix ?? '/dtabs');
    this.sessionTimeoutMs = config.sessionTimeoutMs ?? 10000;
    this.auth = config.authInfo;
    this.retryMinMs = opts.retryMinMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    const acls = config.acls ?? [{ scheme: 'world', id: 'anyone', perms: 'crwda' }];
    this.acls = acls.map((a) => {
      const bits = permsToBits(a.perms);
      if (bits === undefined) throw new Error(`acl perms ${JSON.stringify(a.perms)} must be distinct letters of 'crwda'`);
      return new zookeeper.ACL(bits, new zookeeper.Id(a.scheme, a.id));
    });
    this.client = this.newClient();
    this.armWatchdog();
  }

  private newClient(): Client {
    const c = zookeeper.createClient(this.connect, {
      sessionTimeout: this.sessionTimeoutMs,
      spinDelay: this.retryMinMs,
      retries: 0,
    });
    if (this.auth) c.addAuthInfo(this.auth.scheme, Buffer.from(this.auth.auth));
    c.on('connected', () => {
      if (c !== this.client) return;
      this.everConnected = true;
      clearTimeout(this.watchdog);
      for (const l of this.listeners) l.up();
    });
    c.on('disconnected', () => {
      if (c !== this.client) return;
      this.armWatchdog();
      const e = new StoreUnavailableError(KIND, 'disconnected');
      for (const l of this.listeners) l.down(e);
    });
    // An expired session never comes back: replace the client and start over.
    c.on('expired', () => {
      if (c === this.client && !this.shuttingDown) this.replaceClient();
    });
    c.connect();
    return c;
  }

  /**
   * A restarting ZooKeeper accepts connections before it serves them, and the client then
   * waits forever for its session: a client that is not connected within the request
   * timeout is replaced by a fresh one (the watch loop lists everything again anyway).
   */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.shuttingDown || this.connected) return;
      this.replaceClient();
      this.armWatchdog();
    }, this.requestTimeoutMs);
  }

  private replaceClient(): void {
    const old = this.client;
    this.client = this.newClient();
    forceClose(old);
  }

  private get connected(): boolean {
    return this.client.getState() === zookeeper.State.SYNC_CONNECTED;
  }

  /**
   * The client queues requests while disconnected and would send them after a reconnect,
   * long after the caller gave up: refuse instead, so a failed write is never applied later.
   */
  private async live(): Promise<Client> {
    if (this.connected) return this.client;
    if (this.everConnected) throw new StoreUnavailableError(KIND, 'disconnected');
    // Right after start the first connection is still being made: wait for it (nothing is
    // sent before it is up), within the call's deadline.
    const c = this.client;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.removeListener('connected', onUp);
        reject(new StoreUnavailableError(KIND, 'not connected'));
      }, this.requestTimeoutMs);
      const onUp = () => {
        clearTimeout(timer);
        resolve();
      };
      c.once('connected', onUp);
    });
    return this.live();
  }

  private path(ns: string): string {
    return `${this.dir}/${ns}`;
  }

  protected startWatch(sink: WatchSink): () => void {
    let stopped = false;
    let epoch = 0;
    let timer: NodeJS.Timeout | undefined;
    const watched = new Set<string>();
    const backoff = new Backoff(this.retryMinMs, this.retryMaxMs);

    const fail = (ep: number, e: unknown) => {
      if (stopped || ep !== epoch) return;
      sink.down(e instanceof Error ? e : new Error(String(e)));
      // A disconnect brings its own resync on 'connected'; other errors retry here.
      if (this.connected) {
        clearTimeout(timer);
        timer = setTimeout(sync, backoff.take());
      }
    };

    const readData = (ep: number, ns: string): Promise<RawEntry | null> =>
      new Promise((resolve, reject) => {
        this.client.getData(
          this.path(ns),
          (ev) => {
            if (stopped || ep !== epoch) return;
            if (ev.getType() === zookeeper.Event.NODE_DELETED) {
              watched.delete(ns);
              sink.remove(ns);
            } else {
              readData(ep, ns).then(
                (e) => {
                  if (stopped || ep !== epoch) return;
                  if (e === null) {
                    watched.delete(ns);
                    sink.remove(ns);
                  } else sink.upsert(ns, e);
                },
                (err) => fail(ep, err),
              );
            }
          },
          (err, data, stat) => {
            if (err && err.getCode() === NO_NODE) resolve(null);
            else if (err) reject(err);
            else resolve({ text: (data ?? Buffer.alloc(0)).toString('utf8'), version: versionOf(stat) });
          },
        );
      });

    /** Reads the children (re-arming the watch) and the data of any not yet watched. */
    const readChildren = async (ep: number, full: boolean): Promise<void> => {
      let children: string[];
      try {
        children = await zk<string[]>((cb) =>
          this.client.getChildren(
            this.dir,
            () => {
              if (!stopped && ep === epoch) void readChildren(ep, false);
            },
            (err, ch) => cb(err, ch),
          ),
        );
      } catch (e) {
        if (code(e) !== NO_NODE) return fail(ep, e);
        // No prefix node yet: empty, and wake up when it appears.
        this.client.exists(
          this.dir,
          () => {
            if (!stopped && ep === epoch) void readChildren(ep, false);
          },
          (err, stat) => {
            if (err) fail(ep, err);
            else if (stat !== null && !stopped && ep === epoch) void readChildren(ep, false);
          },
        );
        if (stopped || ep !== epoch) return;
        if (full) sink.reset([]);
        else for (const ns of watched) sink.remove(ns);
        watched.clear();
        return;
      }
      if (stopped || ep !== epoch) return;
      const fresh = full ? children : children.filter((c) => !watched.has(c));
      let entries: (RawEntry | null)[];
      try {
        entries = await Promise.all(fresh.map((ns) => readData(ep, ns)));
      } catch (e) {
        return fail(ep, e);
      }
      if (stopped || ep !== epoch) return;
      if (full) {
        watched.clear();
        const list: [string, RawEntry][] = [];
        fresh.forEach((ns, i) => {
          const e = entries[i];
          if (e) {
            watched.add(ns);
            list.push([ns, e]);
          }
        });
        sink.reset(list);
        backoff.reset();
        return;
      }
      const present = new Set(children);
      for (const ns of [...watched]) {
        if (!present.has(ns)) {
          watched.delete(ns);
          sink.remove(ns);
        }
      }
      fresh.forEach((ns, i) => {
        const e = entries[i];
        if (e) {
          watched.add(ns);
          sink.upsert(ns, e);
        }
      });
    };

    const sync = () => {
      if (stopped) return;
      const ep = ++epoch;
      if (!this.connected) return; // 'connected' will call us again
      void readChildren(ep, true);
    };

    const listener: ConnListener = {
      up: () => sync(),
      down: (e) => {
        if (!stopped) sink.down(e);
      },
    };
    this.listeners.add(listener);
    if (this.connected) sync();
    else {
      // Report an outage at once if the first connection attempt does not succeed in time.
      timer = setTimeout(() => {
        if (!stopped && !this.connected) sink.down(new StoreUnavailableError(KIND, 'not connected'));
      }, this.requestTimeoutMs);
    }
    return () => {
      stopped = true;
      epoch++;
      clearTimeout(timer);
      this.listeners.delete(listener);
    };
  }

  protected async readRaw(ns: string): Promise<RawEntry | null> {
    const c = await this.live();
    return new Promise((resolve, reject) =>
      c.getData(this.path(ns), undefined, (err, data, stat) => {
        if (err && err.getCode() === NO_NODE) resolve(null);
        else if (err) reject(err);
        else resolve({ text: (data ?? Buffer.alloc(0)).toString('utf8'), version: versionOf(stat) });
      }),
    );
  }

  protected async readNames(): Promise<string[]> {
    const c = await this.live();
    try {
      return await zk<string[]>((cb) => c.getChildren(this.dir, undefined, (err, ch) => cb(err, ch)));
    } catch (e) {
      if (code(e) === NO_NODE) return [];
      throw e;
    }
  }

  private async createNode(c: Client, ns: string, text: string): Promise<void> {
    const data = Buffer.from(text, 'utf8');
    const create = () => zk<string>((cb) => c.create(this.path(ns), data, this.acls, zookeeper.CreateMode.PERSISTENT, cb));
    try {
      await create();
    } catch (e) {
      if (code(e) !== NO_NODE) throw e;
      // The prefix is missing: make it (empty parents, same ACLs), then create again.
      await zk<string>((cb) => c.mkdirp(this.dir, null, this.acls, zookeeper.CreateMode.PERSISTENT, cb)).catch((err) => {
        if (code(err) !== NODE_EXISTS) throw err;
      });
      await create();
    }
  }

  protected async writeCreate(ns: string, text: string): Promise<void> {
    try {
      await this.createNode(await this.live(), ns, text);
    } catch (e) {
      if (code(e) === NODE_EXISTS) throw new DtabExistsError(ns);
      throw e;
    }
  }

  protected async writeUpdate(ns: string, text: string, version: string): Promise<void> {
    const c = await this.live();
    const m = /^(-?\d{1,20})\.(\d{1,10})$/.exec(version);
    const stat = await zk<Stat | null>((cb) => c.exists(this.path(ns), undefined, cb));
    if (stat === null) throw new DtabNotFoundError(ns);
    if (m === null || zxidOf(stat.czxid) !== m[1]) throw new DtabVersionMismatchError(ns, version);
    try {
      await zk<Stat>((cb) => c.setData(this.path(ns), Buffer.from(text, 'utf8'), Number(m[2]), cb));
    } catch (e) {
      if (code(e) === BAD_VERSION) throw new DtabVersionMismatchError(ns, version);
      if (code(e) === NO_NODE) throw new DtabNotFoundError(ns);
      throw e;
    }
  }

  protected async writePut(ns: string, text: string): Promise<void> {
    const c = await this.live();
    const data = Buffer.from(text, 'utf8');
    // Set, or create when absent; a racing create or delete makes us go round again.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await zk<Stat>((cb) => c.setData(this.path(ns), data, -1, cb));
        return;
      } catch (e) {
        if (code(e) !== NO_NODE) throw e;
      }
      try {
        await this.createNode(c, ns, text);
        return;
      } catch (e) {
        if (code(e) !== NODE_EXISTS) throw e;
      }
    }
    throw new StoreUnavailableError(KIND, `put of '${ns}' kept racing with other writers`);
  }

  protected async writeDelete(ns: string): Promise<void> {
    const c = await this.live();
    try {
      await zk<void>((cb) => c.remove(this.path(ns), -1, (err) => cb(err, undefined)));
    } catch (e) {
      if (code(e) === NO_NODE) throw new DtabNotFoundError(ns);
      if (code(e) === NOT_EMPTY) throw new StoreProtocolError(KIND, `znode ${this.path(ns)} has children`);
      throw e;
    }
  }

  protected override classify(e: unknown) {
    const c = code(e);
    if (c !== undefined && c !== zookeeper.Exception.CONNECTION_LOSS) {
      const ex = e as ZkException;
      if (c === zookeeper.Exception.NO_AUTH) return new StoreUnavailableError(KIND, 'not authorized', e);
      return new StoreProtocolError(KIND, `${ex.getName()} (${c})`);
    }
    return super.classify(e);
  }

  protected async closeBackend(): Promise<void> {
    this.shuttingDown = true;
    clearTimeout(this.watchdog);
    this.listeners.clear();
    forceClose(this.client);
  }
}

export const zkStorage: PluginSpec<ZkConfig, DtabStore, StoreContext> = {
  category: 'storage',
  kind: KIND,
  fields: zkFields,
  create: (config) => new ZkDtabStore({ ...config, acls: config.acls && config.acls.length > 0 ? config.acls : undefined }),
};
