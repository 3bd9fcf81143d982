/**
 * `io.l5d.k8s.localnode`: keeps only addresses on this Kubernetes node. By default that is the
 * /24 subnet of `POD_IP` (ids prefixed `/%/io.l5d.k8s.localnode/<POD_IP>`); with
 * `hostNetwork: true` it is the addresses whose `nodeName` metadata equals `NODE_NAME` (ids
 * prefixed `/%/io.l5d.k8s.localnode/<NODE_NAME>`). None left is `Neg`.
 */
import type { PluginSpec } from '../config/schema.js';
import type { Address } from '../naming/addr.js';
import { Path } from '../naming/path.js';
import { TransformerError } from './errors.js';
import { subnetLocalTransformer } from './localhost.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { LeafTransformer, MASK_24, inetBytes, mapBoundAddresses, transformerPrefix } from './transformer.js';

export const KIND = 'io.l5d.k8s.localnode';

/** Linkerd's metadata key for the node an address runs on. */
export const NODE_NAME_META = 'nodeName';

function keepNode(addrs: readonly Address[], node: string): readonly Address[] | null {
  const out = addrs.filter((a) => a.meta[NODE_NAME_META] === node);
  return out.length === 0 ? null : out;
}

function envVar(ctx: TransformerContext | undefined, name: string, what: string): string {
  const v = (ctx?.env ?? process.env)[name];
  if (v === undefined || v === '') {
    throw new TransformerError('MESH_ERR_TRANSFORMER_MISSING_ENV', `${KIND}: ${name} env variable must be set to the ${what}`, name);
  }
  return v;
}

export const localNodeTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: { hostNetwork: { type: 'boolean', default: false }, prefix: { type: 'path' } },
  create: (cfg, ctx) => {
    const base = transformerPrefix(KIND, cfg, Path.utf8(KIND));
    if (cfg['hostNetwork'] === true) {
      const node = envVar(ctx, 'NODE_NAME', "node's name");
      return new LeafTransformer(KIND, base.concat(Path.utf8(node)), 'MetadataFiltertingNameTreeTransformer', (v) =>
        mapBoundAddresses(v, (addrs) => keepNode(addrs, node)),
      );
    }
    const ip = envVar(ctx, 'POD_IP', "pod's IP");
    if (inetBytes(ip) === undefined) {
      throw new TransformerError('MESH_ERR_TRANSFORMER_BAD_VALUE', `${KIND}: POD_IP must be an IP address, found ${JSON.stringify(ip)}`, 'POD_IP');
    }
    return subnetLocalTransformer(KIND, base.concat(Path.utf8(ip)), [ip], MASK_24);
  },
};
