/**
 * `io.l5d.ingress` for http routers: Meshwork as a Kubernetes ingress controller. Each request
 * is named after the first Ingress rule its Host header (without the port) and its path
 * (without the query) match; the rules, their order and the watch are Linkerd's IngressCache
 * (ingress-cache.ts, shared with the h2 router's `io.l5d.ingress`). A proxy-form request is
 * matched on the host and path of its target (RouterIdentifier rewrites it first).
 */
import type { PluginSpec } from '../../config/schema.js';
import type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult } from './identifier.js';
import { pathEnd } from './identifier.js';
import { IngressCache, KIND, ingressArgs, ingressFields, matchIngress } from './ingress-cache.js';

export { INGRESS_CLASS_ANNOTATION, KIND, hostSansPort, matchIngress, readIngress, type IngressPath, type IngressSpec } from './ingress-cache.js';

export class IngressIdentifier extends IngressCache {
  identify(req: IdentifyRequest): IdentifyResult {
    if (!this.hasList) return this.notReady;
    const url = req.url;
    return matchIngress(this.ingresses, req.header('host'), url.slice(0, pathEnd(url)));
  }
}

export const ingressIdentifier: PluginSpec<Record<string, unknown>, Identifier, IdentifierContext> = {
  category: 'identifier',
  kind: KIND,
  fields: ingressFields,
  create: (cfg, ctx) => new IngressIdentifier(...ingressArgs(cfg, ctx.dstPrefix)),
};
