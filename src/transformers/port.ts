/** `io.l5d.port`: every address keeps its IP and gets the configured port. */
import type { PluginSpec } from '../config/schema.js';
import { Path } from '../naming/path.js';
import { TransformerError } from './errors.js';
import type { NameTreeTransformer, TransformerContext } from './transformer.js';
import { LeafTransformer, mapBoundAddresses, transformerPrefix } from './transformer.js';

export const KIND = 'io.l5d.port';

export function portTransformer(prefix: Path, port: number): NameTreeTransformer {
  // Linkerd names this node after the helper object that builds it.
  return new LeafTransformer(KIND, prefix, 'DelegatingNameTreeTransformer$', (v) =>
    mapBoundAddresses(v, (addrs) => addrs.map((a) => ({ host: a.host, port, meta: a.meta }))),
  );
}

export const portTransformerSpec: PluginSpec<Record<string, unknown>, NameTreeTransformer, TransformerContext> = {
  category: 'transformer',
  kind: KIND,
  fields: {
    port: { type: 'int', required: true, min: 1, max: 65535, doc: 'The port every address gets.' },
    prefix: { type: 'path' },
  },
  create: (cfg) => {
    const port = cfg['port'];
    if (port === undefined || port === null) throw new TransformerError('MESH_ERR_TRANSFORMER_MISSING_KEY', `${KIND}: 'port' is required`, 'port');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TransformerError('MESH_ERR_TRANSFORMER_BAD_VALUE', `${KIND}: 'port' must be an integer between 1 and 65535, found ${JSON.stringify(port)}`, 'port');
    }
    return portTransformer(transformerPrefix(KIND, cfg, Path.utf8(KIND, String(port))), port);
  },
};
