/**
 * `io.l5d.localhost`: keeps only addresses that are one of this host's own IPv4 addresses
 * (every interface; Linkerd's /32 netmask never matches IPv6); none left is `Neg`. For an
 * incoming router that must stay local.
 */
import { networkInterfaces } from 'node:os';
import type { PluginSpec } from '../config/schema.js';
import { Path } from '../naming/path.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { LeafTransformer, MASK_32, filterSubnet, inetBytes, mapBoundAddresses, transformerPrefix } from './transformer.js';

export const KIND = 'io.l5d.localhost';

export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.push(i.address);
  return out;
}

/** Keeps addresses on the subnet of one of `ips` (Linkerd's SubnetLocalTransformer). */
export function subnetLocalTransformer(kind: string, prefix: Path, ips: readonly string[], mask: readonly number[] = MASK_32): NameTreeTransformer {
  const bytes = ips.map(inetBytes).filter((b): b is number[] => b !== undefined);
  return new LeafTransformer(kind, prefix, 'SubnetLocalTransformer', (v) => mapBoundAddresses(v, (addrs) => filterSubnet(addrs, bytes, mask)));
}

export const localhostTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: { prefix: { type: 'path' } },
  create: (cfg, ctx) => subnetLocalTransformer(KIND, transformerPrefix(KIND, cfg, Path.utf8(KIND)), ctx?.localAddresses ?? localAddresses()),
};
