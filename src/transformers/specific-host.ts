/**
 * `io.l5d.specificHost`: keeps only addresses equal to the IP of `host` (resolved once, as
 * Linkerd does at startup; an IP literal needs no lookup). Until a host name resolves, bound
 * Addrs read as pending.
 */
import { lookup } from 'node:dns/promises';
import type { PluginSpec } from '../config/schema.js';
import { Activity } from '../naming/activity.js';
import type { Addr } from '../naming/addr.js';
import type { BoundName, Var } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { AsyncVar, collect, map } from '../naming/var.js';
import { TransformerError } from './errors.js';
import { subnetLocalTransformer } from './localhost.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { MASK_32, filterSubnet, inetBytes, mapTree, transformerPrefix } from './transformer.js';

export const KIND = 'io.l5d.specificHost';

async function dnsResolve(host: string): Promise<readonly string[]> {
  const all = await lookup(host, { all: true });
  return all.map((a) => a.address);
}

const PENDING_ADDR: Addr = Object.freeze({ type: 'pending' });

/** The host name case: addresses filtered against IPs that arrive later. */
class ResolvingSpecificHost implements NameTreeTransformer {
  readonly kind = KIND;
  readonly delegateName = 'SubnetLocalTransformer';
  private readonly ips: Var<readonly (readonly number[])[] | undefined>;
  private readonly cache = new WeakMap<Var<Addr>, Var<Addr>>();
  readonly mapBound: (b: BoundName) => BoundName;

  constructor(
    readonly prefix: Path,
    host: string,
    resolve: (host: string) => Promise<readonly string[]>,
  ) {
    let resolved: readonly (readonly number[])[] | undefined;
    const pending = resolve(host).then(
      (ips) => (resolved = ips.map(inetBytes).filter((b): b is number[] => b !== undefined)),
      () => (resolved = []),
    );
    this.ips = new AsyncVar<readonly (readonly number[])[] | undefined>(undefined, (update) => {
      let closed = false;
      if (resolved !== undefined) update(resolved);
      else void pending.then((r) => !closed && update(r));
      return { close: () => (closed = true) };
    });
    this.mapBound = (b) => ({ id: this.prefix.concat(b.id), addr: this.addrFor(b.addr), residual: b.residual });
  }

  private addrFor(v: Var<Addr>): Var<Addr> {
    let m = this.cache.get(v);
    if (m === undefined) {
      m = map(collect<unknown>([v, this.ips]), (pair): Addr => {
        const a = pair[0] as Addr;
        const ips = pair[1] as readonly (readonly number[])[] | undefined;
        if (a.type !== 'bound') return a;
        if (ips === undefined) return PENDING_ADDR;
        const out = filterSubnet(a.addrs, ips, MASK_32);
        return out === null ? { type: 'neg' } : { type: 'bound', addrs: out, meta: a.meta };
      });
      this.cache.set(v, m);
    }
    return m;
  }

  transform(tree: NameTree<BoundName>): Activity<NameTree<BoundName>> {
    return Activity.value(mapTree(tree, this.mapBound));
  }
}

export const specificHostTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: { host: { type: 'string', required: true, doc: 'Keep only addresses of this host.' }, prefix: { type: 'path' } },
  create: (cfg, ctx) => {
    const host = cfg['host'];
    if (typeof host !== 'string' || host === '') {
      throw new TransformerError(
        host === undefined || host === null ? 'MESH_ERR_TRANSFORMER_MISSING_KEY' : 'MESH_ERR_TRANSFORMER_BAD_VALUE',
        host === undefined || host === null ? `${KIND}: 'host' is required` : `${KIND}: 'host' must be a non-empty string, found ${JSON.stringify(host)}`,
        'host',
      );
    }
    const prefix = transformerPrefix(KIND, cfg, Path.utf8(KIND));
    if (inetBytes(host) !== undefined) return subnetLocalTransformer(KIND, prefix, [host]);
    return new ResolvingSpecificHost(prefix, host, ctx?.resolveHost ?? dnsResolve);
  },
};
