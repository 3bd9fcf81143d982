/**
 * io.l5d.zkLeader: `/#/io.l5d.zkLeader/<zk path>[/residual]` binds the leader of the ZooKeeper
 * leader group at `<zk path>`, as Linkerd's namer reads Twitter commons' leader election: the
 * group's candidates are its `member_*` children (ephemeral sequential znodes), the leader is
 * the lowest of them (the oldest candidate), and the leader's data is its address, Finagle's
 * host list: `host:port` entries separated by commas or spaces (`:port` is the wildcard
 * address, `host:*` port 0). Only the leader's data is read; data that is not such a list makes
 * the name fail (Linkerd's parser throws there), and after a good answer the last one is kept.
 *
 * A group that does not exist or has no candidates is Neg, and as Linkerd's namer does, a Neg
 * path is tried again without its last element, which moves into the residual
 * (`/leaders/web/v1` binds `/leaders/web` with residual `/v1`), up to the root znode. Unlike
 * Linkerd, which decides that walk once per lookup, the answer follows the groups: a group that
 * gains a leader later binds, and one that loses its last candidate walks up again. Leadership
 * changes are followed with ZooKeeper watches (and the one-second re-read), sessions are kept
 * and replaced by zk-dir.ts, shared with io.l5d.serversets and io.l5d.curator.
 */
import { ADDR_NEG, type Addr, type Address } from '../naming/addr.js';
import type { Path } from '../naming/path.js';
import type { AsyncVar } from '../naming/var.js';
import { NamerError } from './errors.js';
import { configuredPrefix, type NamerSpec } from './spec.js';
import { ZkPathNamer, zkConnect } from './zk-dir.js';
import { zkAddrs } from '../config/catalogue.js';

const KIND = 'io.l5d.zkLeader';
/** Twitter commons' Group names its members `member_<sequence>`. */
const MEMBER_PREFIX = 'member_';
/** Finagle's host list writes the wildcard address as an empty host. */
const WILDCARD_HOST = '0.0.0.0';
const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The leader among a group's children: the lowest `member_*` name (sequence numbers are
 * zero-padded, so the lowest name is the oldest candidate); none when there is no candidate.
 */
export function leaderOf(children: readonly string[]): string | undefined {
  let leader: string | undefined;
  for (const c of children) if (c.startsWith(MEMBER_PREFIX) && (leader === undefined || c < leader)) leader = c;
  return leader;
}

/**
 * Finagle's host list (`host:port` entries separated by commas or spaces) as addresses, in
 * order and without repeats; a string saying what is wrong when an entry is not `host:port`.
 */
export function parseHostList(text: string): Address[] | string {
  if (text === ':*') return [{ host: WILDCARD_HOST, port: 0, meta: EMPTY_META }];
  const out: Address[] = [];
  const seen = new Set<string>();
  for (const entry of text.split(/[ ,]/)) {
    if (entry === '') continue;
    const parts = entry.split(':');
    // Finagle splits with Java's String.split, which drops trailing empty strings (`h:` is `h`).
    while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
    if (parts.length !== 2) return `${JSON.stringify(entry)} is not host:port`;
    const [host, p] = parts as [string, string];
    const port = p === '*' ? 0 : /^[+-]?[0-9]+$/.test(p) ? Number(p) + 0 : NaN;
    if (!(port >= 0 && port <= 65535)) return `${JSON.stringify(entry)} has no port 0-65535 or *`;
    const h = host === '' ? WILDCARD_HOST : host;
    const key = `${h}:${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ host: h, port, meta: EMPTY_META });
  }
  return out;
}

/**
 * The Addr of a group's leader from its one child read (see `leaderOf`): Neg without a
 * candidate, failed when the leader's data is missing or not a host list.
 */
export function leaderAddr(group: string, children: readonly string[], datas: readonly (Buffer | undefined)[]): Addr {
  const id = children[0];
  if (id === undefined) return ADDR_NEG;
  const where = `${group === '/' ? '' : group}/${id}`;
  const data = datas[0];
  // Gone between the two reads (its deletion wakes another read) or created without data.
  if (data === undefined) return { type: 'failed', cause: new NamerError('MESH_ERR_NAMER_BAD_DATA', `${KIND}: leader ${where} has no data`) };
  const text = data.toString('utf8');
  const hosts = parseHostList(text);
  if (typeof hosts === 'string') {
    const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
    return { type: 'failed', cause: new NamerError('MESH_ERR_NAMER_BAD_DATA', `${KIND}: leader ${where}: ${hosts} in its data ${JSON.stringify(shown)}`) };
  }
  return { type: 'bound', addrs: hosts, meta: EMPTY_META };
}

export class ZkLeaderNamer extends ZkPathNamer {
  constructor(prefix: Path, connect: string, sessionTimeoutMs?: number) {
    super(prefix, KIND, connect, sessionTimeoutMs);
  }

  protected addrOf(path: Path): AsyncVar<Addr> {
    return this.leader(path);
  }

  /** The leader of the group at `path` (the root znode for the empty path, as in Linkerd). */
  leader(path: Path): AsyncVar<Addr> {
    const group = '/' + path.utf8Elems.join('/');
    return this.dirs.dir(
      group,
      KIND,
      (children, datas) => leaderAddr(group, children, datas),
      (children) => {
        const l = leaderOf(children);
        return l === undefined ? [] : [l];
      },
    );
  }
}

export const zkLeaderNamerSpec: NamerSpec = {
  category: 'namer',
  kind: KIND,
  fields: {
    prefix: { type: 'path', default: '/io.l5d.zkLeader' },
    zkAddrs,
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, KIND, ctx);
    const connect = zkConnect(config['zkAddrs'], `${ctx.file ? `${ctx.file}: ` : ''}${ctx.keyPath ?? 'namer'}`, (m) => new NamerError('MESH_ERR_NAMER_CONFIG', m));
    return { prefix, namer: new ZkLeaderNamer(prefix, connect) };
  },
};
