/**
 * `io.l5d.k8s.daemonset`: replaces each address of a bound name with the daemonset pod on the
 * same node (the usual linkerd-per-node deployment). The daemonset's pods are the ready
 * addresses of the Endpoints `<namespace>/<service>` on port `port` (name or number), watched
 * through the Kubernetes API (`k8sHost`, default localhost; `k8sPort`, default 8001).
 *
 * Same node means: with `hostNetwork: true`, equal `nodeName` metadata; otherwise the same /24
 * subnet (Linkerd's default pod-network assumption). Addresses with no daemonset pod on their
 * node are dropped; several addresses on one node collapse to that node's one pod. If none is
 * left the Addr is `Neg`. Ids are prefixed `/%/io.l5d.k8s.daemonset/<namespace>/<port>/<service>`.
 */
import type { PluginSpec } from '../config/schema.js';
import type { Addr, Address } from '../naming/addr.js';
import { addrEquals } from '../naming/bound.js';
import { Path } from '../naming/path.js';
import { Var } from '../naming/var.js';
import { K8sApi } from '../namers/k8s/api.js';
import { endpointsAddr } from '../namers/k8s/namer.js';
import { TransformerError } from './errors.js';
import { NODE_NAME_META } from './local-node.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { LeafTransformer, MASK_24, inetBytes, sameSubnet, transformerPrefix } from './transformer.js';

export const KIND = 'io.l5d.k8s.daemonset';

function str(cfg: Readonly<Record<string, unknown>>, key: string): string {
  const v = cfg[key];
  if (v === undefined || v === null) throw new TransformerError('MESH_ERR_TRANSFORMER_MISSING_KEY', `${KIND}: '${key}' is required`, key);
  if (typeof v !== 'string' && typeof v !== 'number') throw new TransformerError('MESH_ERR_TRANSFORMER_BAD_VALUE', `${KIND}: '${key}' must be a string, found ${JSON.stringify(v)}`, key);
  return String(v);
}

/** The daemonset pod for `a`, or undefined. */
function podFor(a: Address, pods: readonly Address[], hostNetwork: boolean): Address | undefined {
  if (hostNetwork) {
    const node = a.meta[NODE_NAME_META];
    return node === undefined ? undefined : pods.find((p) => p.meta[NODE_NAME_META] === node);
  }
  const ab = inetBytes(a.host);
  if (ab === undefined) return undefined;
  return pods.find((p) => {
    const pb = inetBytes(p.host);
    return pb !== undefined && pb.length === ab.length && sameSubnet(MASK_24, ab, pb);
  });
}

/** Maps a bound name's addresses to the daemonset pods on their nodes. */
export function toDaemonSet(src: Addr, ds: Addr, hostNetwork: boolean): Addr {
  if (src.type !== 'bound') return src;
  if (ds.type === 'pending') return ds;
  if (ds.type !== 'bound') return { type: 'neg' };
  const out: Address[] = [];
  for (const a of src.addrs) {
    const pod = podFor(a, ds.addrs, hostNetwork);
    if (pod !== undefined && !out.includes(pod)) out.push(pod);
  }
  return out.length === 0 ? { type: 'neg' } : { type: 'bound', addrs: out, meta: src.meta };
}

export const daemonSetTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: {
    k8sHost: { type: 'string', default: 'localhost' },
    k8sPort: { type: 'int', default: 8001 },
    namespace: { type: 'string', required: true },
    service: { type: 'string', required: true },
    port: { type: 'string', required: true },
    hostNetwork: { type: 'boolean', default: false },
    prefix: { type: 'path' },
  },
  create: (cfg) => {
    const namespace = str(cfg, 'namespace');
    const service = str(cfg, 'service');
    const port = str(cfg, 'port');
    const host = cfg['k8sHost'] === undefined ? 'localhost' : str(cfg, 'k8sHost');
    const k8sPort = cfg['k8sPort'] === undefined ? 8001 : Number(cfg['k8sPort']);
    if (!Number.isInteger(k8sPort) || k8sPort < 1 || k8sPort > 65535) {
      throw new TransformerError('MESH_ERR_TRANSFORMER_BAD_VALUE', `${KIND}: 'k8sPort' must be a port number 1-65535, found ${JSON.stringify(cfg['k8sPort'])}`, 'k8sPort');
    }
    const hostNetwork = cfg['hostNetwork'] === true;
    const api = new K8sApi(host, k8sPort);
    const pods = Var.map(
      api.object(namespace, 'endpoints', service),
      (s): Addr => {
        if (s.type === 'pending') return { type: 'pending' };
        if (s.type === 'failed') return { type: 'failed', cause: s.error };
        if (s.type === 'missing') return { type: 'neg' };
        return endpointsAddr(s.object, port) ?? { type: 'neg' };
      },
      addrEquals,
    );
    const base = transformerPrefix(KIND, cfg, Path.utf8(KIND, namespace, port, service));
    return new LeafTransformer(KIND, base, 'DaemonSetTransformer', (v) =>
      Var.map(Var.collect<Addr>([v, pods]), ([src, ds]) => toDaemonSet(src!, ds!, hostNetwork), addrEquals),
    );
  },
};
