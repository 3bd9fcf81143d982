/** The io.l5d.k8s namer spec: host (default localhost) and port (default 8001, kubectl proxy). */
import { configuredPrefix, type NamerSpec } from '../spec.js';
import { namerConfigError } from '../errors.js';
import { createTransformers, transformNamer } from '../../transformers/index.js';
import { K8sApi } from './api.js';
import { K8sNamer } from './namer.js';

export const k8sNamerSpec: NamerSpec = {
  category: 'namer',
  kind: 'io.l5d.k8s',
  fields: {
    prefix: { type: 'path', default: '/io.l5d.k8s' },
    host: { type: 'string', default: 'localhost', doc: 'Kubernetes API host (kubectl proxy).' },
    port: { type: 'int', default: 8001, doc: 'Kubernetes API port.' },
    labelSelector: { type: 'string', doc: 'Accepted; not applied yet.' },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, 'io.l5d.k8s', ctx);
    const host = config['host'] ?? 'localhost';
    const port = config['port'] ?? 8001;
    const kp = ctx.keyPath ?? 'namer';
    if (typeof host !== 'string' || host.length === 0) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.host`, host, 'a non-empty host name');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.port`, port, 'a port number 1-65535');
    const sel = config['labelSelector'];
    const namer = new K8sNamer(new K8sApi(host, port), prefix, typeof sel === 'string' ? sel : undefined);
    const tcfg = config['transformers'];
    if (tcfg === undefined || tcfg === null) return { prefix, namer };
    if (!Array.isArray(tcfg)) throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.transformers`, tcfg, 'a list of transformers');
    try {
      return { prefix, namer: transformNamer(createTransformers(tcfg as Record<string, unknown>[]), namer) };
    } catch (e) {
      throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${kp}.transformers`, tcfg, `valid transformers (${(e as Error).message})`);
    }
  },
};
