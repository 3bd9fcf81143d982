/** Router interpreters built besides `default` (which the router applies itself). */
import { implementPlugin } from '../config/plugins.js';
import type { Fields } from '../config/schema.js';

/**
 * Linkerd reads `retry` seconds as integers; Meshwork also takes fractions (0.05) so a restarted
 * namerd can be followed within milliseconds in tests and small setups. Integers read the same.
 */
const retry: Fields = {
  retry: {
    type: {
      object: {
        baseSeconds: { type: 'number', min: 0, default: 5 },
        maxSeconds: { type: 'number', min: 0, default: 600 },
      },
    },
  },
};

implementPlugin('interpreter', 'io.l5d.mesh', (c: Record<string, unknown>) => c, retry);
implementPlugin('interpreter', 'io.l5d.namerd.http', (c: Record<string, unknown>) => c, retry);
// io.l5d.namerd (thrift): the catalogue's tls {commonName, caCert} and failureThreshold are kept.
implementPlugin('interpreter', 'io.l5d.namerd', (c: Record<string, unknown>) => c, retry);
implementPlugin('interpreter', 'io.l5d.fs', (c: Record<string, unknown>) => c);
implementPlugin('interpreter', 'io.l5d.consul.interpreter', (c: Record<string, unknown>) => c, {
  // As namerd's io.l5d.consul store, which this interpreter reads through: accepted either way.
  failFast: { type: 'boolean', default: false },
});
// Linkerd marks it experimental (`experimental: true` required); Meshwork's is built like the
// consul interpreter's and does not ask for it (a config that says it still loads).
implementPlugin('interpreter', 'io.l5d.k8s.configMap', (c: Record<string, unknown>) => c);
