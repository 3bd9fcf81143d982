/**
 * `io.l5d.localhost`: keeps only addresses that are one of this host's own IPs (every
 * interface address); none left is `Neg`. For an incoming router that must stay local.
 */
import { networkInterfaces } from 'node:os';
import type { PluginSpec } from '../config/schema.js';
import { Path } from '../naming/path.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { LeafTransformer, filterLocal, ipBytes, mapBoundAddresses, transformerPrefix } from './transformer.js';

export const KIND = 'io.l5d.localhost';

export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.push(i.address);
  return out;
}

/** Keeps addresses equal to one of `ips` (Linkerd's SubnetLocalTransformer with a /32 mask). */
export function subnetLocalTransformer(kind: string, prefix: Path, ips: readonly string[]): NameTreeTransformer {
  const bytes = ips.map(ipBytes).filter((b): b is number[] => b !== undefined);
  return new LeafTransformer(kind, prefix, 'SubnetLocalTransformer', (v) => mapBoundAddresses(v, (addrs) => filterLocal(addrs, bytes)));
}

export const localhostTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: { prefix: { type: 'path' } },
  create: (cfg, ctx) => subnetLocalTransformer(KIND, transformerPrefix(KIND, cfg, Path.utf8(KIND)), ctx?.localAddresses ?? localAddresses()),
};
