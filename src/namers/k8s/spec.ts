/** The io.l5d.k8s namer spec: host (default localhost) and port (default 8001, kubectl proxy). */
import { configuredPrefix, type NamerSpec } from '../spec.js';
import { namerConfigError } from '../errors.js';
import { K8sApi } from './api.js';
import { K8sNamer, type K8sNamerOptions } from './namer.js';

function k8sSpec(kind: string, experimental: boolean, mode: 'endpoints' | 'external' | 'ns'): NamerSpec {
  return {
  category: 'namer',
  kind,
  ...(experimental ? { experimental: true } : {}),
  fields: {
    prefix: { type: 'path', default: '/' + kind },
    ...(mode === 'ns' ? { envVar: { type: 'string' as const, default: 'POD_NAMESPACE', doc: 'Environment variable holding the namespace.' } } : {}),
    host: { type: 'string', default: 'localhost', doc: 'Kubernetes API host (kubectl proxy).' },
    port: { type: 'int', default: 8001, doc: 'Kubernetes API port.' },
    labelSelector: { type: 'string', doc: "A label key: names then end with the label's value, and bind only to services carrying it." },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, kind, ctx);
    const host = config['host'] ?? 'localhost';
    const port = config['port'] ?? 8001;
    const kp = ctx.keyPath ?? 'namer';
    if (typeof host !== 'string' || host.length === 0) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.host`, host, 'a non-empty host name');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.port`, port, 'a port number 1-65535');
    const sel = config['labelSelector'];
    let options: K8sNamerOptions = {};
    if (mode === 'external') options = { plural: 'services' };
    if (mode === 'ns') {
      const envVar = config['envVar'] ?? 'POD_NAMESPACE';
      const ns = typeof envVar === 'string' ? process.env[envVar] : undefined;
      if (ns === undefined || ns === '') throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.envVar`, envVar, 'the name of a set environment variable holding the namespace');
      options = { namespace: ns };
    }
    // `transformers` are applied by the namer registry, as for every namer.
    return { prefix, namer: new K8sNamer(new K8sApi(host, port), prefix, typeof sel === 'string' ? sel : undefined, options) };
  },
};
}

export const k8sNamerSpec: NamerSpec = k8sSpec('io.l5d.k8s', false, 'endpoints');
export const k8sExternalNamerSpec: NamerSpec = k8sSpec('io.l5d.k8s.external', true, 'external');
export const k8sNsNamerSpec: NamerSpec = k8sSpec('io.l5d.k8s.ns', false, 'ns');
