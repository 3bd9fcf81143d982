/**
 * io.l5d.dnssrv (experimental in Linkerd): `/<srv record name>[/residual]` resolves the SRV
 * record with node:dns (servers from `dnsHosts`, system resolvers when empty), then each
 * target's A records, re-resolving every `refreshIntervalSeconds` while observed.
 * NXDOMAIN / no data is Neg (so a dtab falls back); other DNS errors fail the Addr.
 */
import { Resolver } from 'node:dns/promises';
import { Activity } from '../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../naming/addr.js';
import { addrEquals, boundName } from '../naming/bound.js';
import type { BoundName, Name } from '../naming/contracts.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { AsyncVar } from '../naming/var.js';
import { NamerError } from './errors.js';
import { addrLeaf, configuredPrefix, type NamerSpec } from './spec.js';

const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});
const NEG_CODES = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsSrvNamer {
  private readonly addrs = new Map<string, AsyncVar<Addr>>();
  private readonly resolver: Resolver;

  constructor(
    readonly prefix: Path,
    readonly refreshMs: number,
    dnsHosts: readonly string[],
  ) {
    this.resolver = new Resolver({ timeout: 1000, tries: 2 });
    if (dnsHosts.length > 0) this.resolver.setServers([...dnsHosts]);
  }

  /** One resolution of `record`: SRV, then A for each target (IP targets are used as is). */
  async resolve(record: string): Promise<Addr> {
    let srvs;
    try {
      srvs = await this.resolver.resolveSrv(record);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (NEG_CODES.has(code)) return ADDR_NEG;
      return { type: 'failed', cause: new NamerError('MESH_ERR_NAMER_CONFIG', `dns srv ${record}: ${code || String(e)}`) };
    }
    const out: Address[] = [];
    for (const s of srvs) {
      let ips: string[];
      try {
        ips = /^[0-9.]+$/.test(s.name) ? [s.name] : await this.resolver.resolve4(s.name);
      } catch {
        continue; // a target without A records contributes no address, as Linkerd
      }
      for (const ip of ips) out.push({ host: ip, port: s.port, meta: EMPTY_META });
    }
    out.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
    return { type: 'bound', addrs: out, meta: EMPTY_META };
  }

  addr(record: string): AsyncVar<Addr> {
    let v = this.addrs.get(record);
    if (!v) {
      v = new AsyncVar<Addr>(
        ADDR_PENDING,
        (update) => {
          let stopped = false;
          let timer: NodeJS.Timeout | undefined;
          const tick = (): void => {
            void this.resolve(record).then((a) => {
              if (stopped) return;
              update(a);
              timer = setTimeout(tick, this.refreshMs);
              timer.unref();
            });
          };
          tick();
          return {
            close: () => {
              stopped = true;
              if (timer) clearTimeout(timer);
            },
          };
        },
        addrEquals,
      );
      this.addrs.set(record, v);
    }
    return v;
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.isEmpty) return Activity.value<NameTree<Name>>(NEG);
    const record = path.utf8Elems[0]!;
    const residual = path.drop(1);
    const v = this.addr(record);
    const bound: BoundName = boundName(this.prefix.concat(Path.utf8(record)), v, residual);
    return addrLeaf(bound);
  }
}

export const dnsSrvNamerSpec: NamerSpec = {
  category: 'namer',
  kind: 'io.l5d.dnssrv',
  experimental: true,
  fields: {
    prefix: { type: 'path', default: '/io.l5d.dnssrv' },
    refreshIntervalSeconds: { type: 'int', min: 1, default: 5 },
    dnsHosts: { type: { array: 'string' }, default: [] },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, 'io.l5d.dnssrv', ctx);
    const secs = typeof config['refreshIntervalSeconds'] === 'number' ? config['refreshIntervalSeconds'] : 5;
    const hosts = Array.isArray(config['dnsHosts']) ? (config['dnsHosts'] as string[]) : [];
    return { prefix, namer: new DnsSrvNamer(prefix, secs * 1000, hosts) };
  },
};
