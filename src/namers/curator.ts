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
 * bindingTimeoutMs bounds a request's wait). An expired session gets a new client. The
 * ZooKeeper reading and watching is zk-dir.ts's, shared with io.l5d.serversets.
 */
import { Activity } from '../naming/activity.js';
import type { Addr, Address } from '../naming/addr.js';
import { boundName } from '../naming/bound.js';
import type { Name, NameNamer } from '../naming/contracts.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import type { AsyncVar } from '../naming/var.js';
import { NamerError } from './errors.js';
import { addrLeaf, configuredPrefix, type NamerSpec } from './spec.js';
import { ZkDirWatcher, zkConnect } from './zk-dir.js';
import { zkAddrs } from '../config/catalogue.js';

const KIND = 'io.l5d.curator';

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

export class CuratorNamer implements NameNamer {
  private readonly dirs: ZkDirWatcher;

  constructor(
    readonly prefix: Path,
    readonly opts: CuratorNamerOptions,
  ) {
    this.dirs = new ZkDirWatcher(KIND, opts);
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.isEmpty) return Activity.value<NameTree<Name>>(NEG);
    const service = path.utf8Elems[0]!;
    return addrLeaf(boundName(this.prefix.concat(Path.utf8(service)), this.addr(service), path.drop(1)));
  }

  /** The instances of `service`, read while observed. */
  addr(service: string): AsyncVar<Addr> {
    return this.dirs.dir(`${this.opts.basePath.replace(/\/+$/, '')}/${service}`, KIND, (_, datas) => addrOfInstances(datas));
  }
}

export const curatorNamerSpec: NamerSpec = {
  category: 'namer',
  kind: KIND,
  // Experimental in Linkerd: configs say `experimental: true`, as they must there.
  experimental: true,
  fields: {
    prefix: { type: 'path', default: '/io.l5d.curator' },
    zkAddrs,
    basePath: { type: 'string', default: '/' },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, KIND, ctx);
    const connect = zkConnect(config['zkAddrs'], `${ctx.file ? `${ctx.file}: ` : ''}${ctx.keyPath ?? 'namer'}`, (m) => new NamerError('MESH_ERR_NAMER_CONFIG', m));
    const basePath = typeof config['basePath'] === 'string' && config['basePath'] !== '' ? (config['basePath'] as string) : '/';
    return { prefix, namer: new CuratorNamer(prefix, { connect, basePath: basePath.startsWith('/') ? basePath : '/' + basePath }) };
  },
};
