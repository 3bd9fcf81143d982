/**
 * io.l5d.curator: `/<service>[/residual]` resolves through Apache Curator's service discovery
 * layout in ZooKeeper: each instance of a service is a child znode of `<basePath>/<service>`
 * whose data is Curator's JSON ServiceInstance (`address`, `port`, `sslPort`, ...). An
 * instance's address is its `sslPort` when it has one, else its `port`, as Linkerd's namer
 * reads them; the Addr's metadata says `ssl: true` when any instance has an `sslPort`.
 *
 * A service znode that does not exist is Neg (so a dtab falls back; Linkerd's namer bound an
 * empty set there and marked it to be changed), an existing one without instances is bound
 * with no endpoints. Children and data are read again on ZooKeeper watch events and, as a
 * backstop for events lost across reconnects, every second. While ZooKeeper is unreachable the
 * last answer is kept; before any answer the name stays pending (the router's
 * bindingTimeoutMs bounds a request's wait). An expired session gets a new client.
 */
import type { Client, ZkException } from 'node-zookeeper-client';
import { Activity } from '../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../naming/addr.js';
import { addrEquals, boundName } from '../naming/bound.js';
import type { Name, NameNamer } from '../naming/contracts.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { AsyncVar } from '../naming/var.js';
import { forceClose, zkLib } from '../namerd/stores/zk-client.js';
import { reader } from './fs-watch.js';
import { NamerError, namerConfigError } from './errors.js';
import { addrLeaf, configuredPrefix, type NamerSpec } from './spec.js';

const KIND = 'io.l5d.curator';
/** The backstop re-read period. */
export const CURATOR_RESYNC_MS = 1000;

export interface CuratorNamerOptions {
  /** ZooKeeper's connect string (`host:port,host:port`). */
  readonly connect: string;
  /** Curator's discovery base path, e.g. `/` or `/services`. */
  readonly basePath: string;
  readonly sessionTimeoutMs?: number;
}

interface CuratorInstance {
  address?: unknown;
  port?: unknown;
  sslPort?: unknown;
}

const isPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536;

/** The Addr of a service's instances (each child's data, as Curator serialises it). */
export function addrOfInstances(datas: readonly (Buffer | undefined)[]): Addr {
  const out: Address[] = [];
  let ssl = false;
  const seen = new Set<string>();
  for (const d of datas) {
    if (d === undefined) continue;
    let inst: CuratorInstance;
    try {
      inst = JSON.parse(d.toString('utf8')) as CuratorInstance;
    } catch {
      continue; // not a Curator instance: skipped, as Curator's cache skips what it cannot read
    }
    if (typeof inst !== 'object' || inst === null || typeof inst.address !== 'string' || inst.address === '') continue;
    const port = isPort(inst.sslPort) ? inst.sslPort : inst.port;
    if (!isPort(port)) continue;
    if (isPort(inst.sslPort)) ssl = true;
    const key = `${inst.address}:${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ host: inst.address, port, meta: {} });
  }
  out.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
  return { type: 'bound', addrs: out, meta: { ssl } };
}

function zk<T>(fn: (cb: (err: ZkException | Error | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

const codeOf = (e: unknown): number | undefined => {
  const ex = e as Partial<ZkException> | null;
  return typeof ex?.getCode === 'function' ? ex.getCode() : undefined;
};

export class CuratorNamer implements NameNamer {
  private client: Client | null = null;
  /** When reads first found the client not connected (0: it is connected). */
  private waitingSince = 0;
  private readonly vars = new Map<string, AsyncVar<Addr>>();
  private active = 0;

  constructor(
    readonly prefix: Path,
    readonly opts: CuratorNamerOptions,
  ) {}

  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.isEmpty) return Activity.value<NameTree<Name>>(NEG);
    const service = path.utf8Elems[0]!;
    return addrLeaf(boundName(this.prefix.concat(Path.utf8(service)), this.addr(service), path.drop(1)));
  }

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
    c.connect();
    this.client = c;
    return c;
  }

  private servicePath(service: string): string {
    return `${this.opts.basePath.replace(/\/+$/, '')}/${service}`;
  }

  /** The instances of `service`, read while observed. */
  addr(service: string): AsyncVar<Addr> {
    let v = this.vars.get(service);
    if (v === undefined) {
      v = new AsyncVar<Addr>(
        ADDR_PENDING,
        (update) => {
          this.active++;
          const dir = this.servicePath(service);
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
            () => this.read(dir, watch, release),
            (a) => {
              if (a === undefined) return; // not connected: keep what we have
              if (a.type === 'failed' && answered) return;
              if (a.type !== 'failed') answered = true;
              update(a);
            },
          );
          const timer = setInterval(r.run, CURATOR_RESYNC_MS);
          timer.unref();
          r.run();
          return {
            close: () => {
              r.stop();
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
      this.vars.set(service, v);
    }
    return v;
  }

  /**
   * One read of a service directory, with the watches `watch` hands out (none for a znode
   * already watched); undefined while not connected.
   */
  private async read(dir: string, watch: (c: Client, path: string) => ((e: unknown) => void) | undefined, release: (path: string) => void): Promise<Addr | undefined> {
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
    try {
      const children = await zk<string[]>((cb) => c.getChildren(dir, watch(c, dir), (err, ch) => cb(err, ch)));
      const datas = await Promise.all(
        children.map((ch) =>
          zk<Buffer | undefined>((cb) => c.getData(`${dir}/${ch}`, watch(c, `${dir}/${ch}`), (err, data) => cb(err, data ?? undefined))).catch((e: unknown) => {
            // Removed between the two reads (ZooKeeper set no watch on it).
            if (codeOf(e) === zkLib().Exception.NO_NODE) {
              release(`${dir}/${ch}`);
              return undefined;
            }
            throw e;
          }),
        ),
      );
      return addrOfInstances(datas);
    } catch (e) {
      if (codeOf(e) === zkLib().Exception.NO_NODE) {
        // No service node (ZooKeeper set no children watch): Neg, and wake up when it appears.
        release(dir);
        c.exists(dir, watch(c, `exists:${dir}`), () => undefined);
        return ADDR_NEG;
      }
      release(dir); // the watch may not have been set: let the next read set it
      return { type: 'failed', cause: new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `io.l5d.curator: cannot read ${dir}: ${(e as Error).message}`) };
    }
  }
}

export const curatorNamerSpec: NamerSpec = {
  category: 'namer',
  kind: KIND,
  // Experimental in Linkerd: configs say `experimental: true`, as they must there.
  experimental: true,
  fields: {
    prefix: { type: 'path', default: '/io.l5d.curator' },
    zkAddrs: {
      type: { array: { object: { host: { type: 'string', required: true }, port: { type: 'int', min: 1, max: 65535, default: 2181 } } } },
      required: true,
    },
    basePath: { type: 'string', default: '/' },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, KIND, ctx);
    const addrs = config['zkAddrs'];
    if (!Array.isArray(addrs) || addrs.length === 0) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${ctx.keyPath ?? 'namer'}.zkAddrs`, addrs, 'a list of {host, port}');
    const connect = (addrs as { host: string; port?: number }[]).map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port ?? 2181}`).join(',');
    const basePath = typeof config['basePath'] === 'string' && config['basePath'] !== '' ? (config['basePath'] as string) : '/';
    return { prefix, namer: new CuratorNamer(prefix, { connect, basePath: basePath.startsWith('/') ? basePath : '/' + basePath }) };
  },
};
