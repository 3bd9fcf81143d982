/**
 * io.l5d.serversets: names are ZooKeeper paths of Twitter/Finagle serversets,
 * `/#/io.l5d.serversets/<zk path>[:<endpoint>][#<shard>]`, as Linkerd's namer reads them. A
 * serverset is a znode whose `member_*` children hold ServiceInstance JSON
 * (`serviceEndpoint`, `additionalEndpoints`, `status`, `shard`); a name binds the members whose
 * status is `ALIVE`, at their `serviceEndpoint`, or at `additionalEndpoints[<endpoint>]` when
 * the name says `:<endpoint>`, and only shard `<shard>` when it says `#<shard>`.
 *
 * As Finagle's resolver does, a serverset without any such member is Neg; and as Linkerd's
 * namer does, a Neg path is tried again without its last element, which moves into the residual
 * (`/discovery/prod/web/v1` binds `/discovery/prod/web` with residual `/v1` when `.../web/v1`
 * is not a serverset). Reading, watching and that walk up are zk-dir.ts's. Not built:
 * Finagle's weight vectors (`vector_*` nodes) and its stabilizer's delayed removals.
 */
import { ADDR_NEG, type Addr, type Address } from '../naming/addr.js';
import type { Path } from '../naming/path.js';
import type { AsyncVar } from '../naming/var.js';
import { NamerError } from './errors.js';
import { configuredPrefix, type NamerSpec } from './spec.js';
import { ZkPathNamer, zkConnect } from './zk-dir.js';
import { zkAddrs } from '../config/catalogue.js';

const KIND = 'io.l5d.serversets';
const MEMBER_PREFIX = 'member_';

/** A serverset name's last element: `name[:endpoint][#shard]`. */
export interface Job {
  readonly name: string;
  readonly endpoint: string | undefined;
  readonly shard: number | undefined;
}

/** Parses `name`, `name:endpoint`, `name#shard` or `name:endpoint#shard`; undefined otherwise. */
export function parseJob(s: string): Job | undefined {
  const m = /^([^:#]+)(?::([^:#]+))?(?:#(\d+))?$/.exec(s);
  if (m === null) return undefined;
  const shard = m[3] === undefined ? undefined : Number(m[3]);
  if (shard !== undefined && !Number.isSafeInteger(shard)) return undefined;
  return { name: m[1]!, endpoint: m[2], shard };
}

interface HostPort {
  host?: unknown;
  port?: unknown;
}

function hostPort(v: unknown): { host: string; port: number } | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { host, port } = v as HostPort;
  if (typeof host !== 'string' || host === '' || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** The Addr of a serverset's members for one endpoint (undefined: the service endpoint) and shard. */
export function addrOfMembers(children: readonly string[], datas: readonly (Buffer | undefined)[], job: Pick<Job, 'endpoint' | 'shard'>): Addr {
  const out: Address[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < children.length; i++) {
    const d = datas[i];
    if (!children[i]!.startsWith(MEMBER_PREFIX) || d === undefined) continue;
    let m: { serviceEndpoint?: unknown; additionalEndpoints?: unknown; status?: unknown; shard?: unknown };
    try {
      m = JSON.parse(d.toString('utf8')) as typeof m;
    } catch {
      continue; // not a ServiceInstance: skipped, as Finagle's parser yields no endpoint for it
    }
    if (typeof m !== 'object' || m === null || m.status !== 'ALIVE') continue;
    const shard = typeof m.shard === 'number' && Number.isInteger(m.shard) ? m.shard : undefined;
    if (job.shard !== undefined && shard !== job.shard) continue;
    const extra = m.additionalEndpoints;
    const hp = job.endpoint === undefined ? hostPort(m.serviceEndpoint) : typeof extra === 'object' && extra !== null ? hostPort((extra as Record<string, unknown>)[job.endpoint]) : undefined;
    if (hp === undefined) continue;
    const key = `${hp.host}:${hp.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ host: hp.host, port: hp.port, meta: shard === undefined ? {} : { shard } });
  }
  if (out.length === 0) return ADDR_NEG;
  out.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
  return { type: 'bound', addrs: out, meta: {} };
}

export class ServersetsNamer extends ZkPathNamer {
  constructor(prefix: Path, connect: string, sessionTimeoutMs?: number) {
    super(prefix, KIND, connect, sessionTimeoutMs);
  }

  /** The members of the serverset `path` names (its last element a job); none for `/`. */
  protected addrOf(path: Path): AsyncVar<Addr> | Error | undefined {
    if (path.isEmpty) return undefined;
    const elems = path.utf8Elems;
    const last = elems[elems.length - 1]!;
    const job = parseJob(last);
    if (job === undefined) return new NamerError('MESH_ERR_NAMER_BAD_PATH', `${KIND}: invalid job syntax: ${last} (name[:endpoint][#shard])`);
    const zkPath = '/' + [...elems.slice(0, -1), job.name].join('/');
    const key = `${job.endpoint ?? ''}#${job.shard ?? ''}`;
    return this.dirs.dir(zkPath, key, (children, datas) => addrOfMembers(children, datas, job));
  }
}

export const serversetsNamerSpec: NamerSpec = {
  category: 'namer',
  kind: KIND,
  fields: {
    prefix: { type: 'path', default: '/io.l5d.serversets' },
    zkAddrs,
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, KIND, ctx);
    const connect = zkConnect(config['zkAddrs'], `${ctx.file ? `${ctx.file}: ` : ''}${ctx.keyPath ?? 'namer'}`, (m) => new NamerError('MESH_ERR_NAMER_CONFIG', m));
    return { prefix, namer: new ServersetsNamer(prefix, connect) };
  },
};
