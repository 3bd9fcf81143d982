/**
 * Marks router protocol `http` and interpreter `default` as built (the config catalogue knows every protocol; the
 * others stay "not supported yet"). The router itself is assembled by linker.ts.
 */
import { implementPlugin, markKeyBuilt, registerPlugin } from '../config/plugins.js';
import { PROPAGATORS } from '../telemetry/propagators.js';

implementPlugin('protocol', 'http', () => 'http');
// The router applies the `default` interpreter itself (binder + `transformers`), see naming-deps.ts.
implementPlugin('interpreter', 'default', () => 'default');
// The router writes `httpAccessLog` (with its roll/append/rotate keys) through AccessLogWriter.
markKeyBuilt('routers.httpAccessLog');
// TLS on servers and to upstreams (tls.ts).
markKeyBuilt('routers.servers.tls');
markKeyBuilt('routers.client.tls');
// `x-forwarded-client-cert` from the caller's TLS certificate (client-cert.ts; http and h2).
markKeyBuilt('routers.client.forwardClientCert');
// The http routers' identifier debug endpoint (admin/identifier-server.ts, started by run.ts).
markKeyBuilt('admin.httpIdentifierPort');
// Forwarded labelers are applied by the routers (forwarded.ts `forwardedValue`).
for (const kind of ['ip', 'ip:port', 'connectionRandom', 'requestRandom', 'router', 'static']) {
  implementPlugin('forwardedLabeler', kind, (c: Record<string, unknown>) => c);
}
// `tracePropagator` (src/telemetry/propagators.ts): Linkerd's two kinds and Meshwork's two.
for (const p of PROPAGATORS) {
  if (p.kind.startsWith('io.l5d.')) implementPlugin('tracePropagator', p.kind, () => p);
  else registerPlugin({ category: 'tracePropagator', kind: p.kind, fields: {}, create: () => p });
}
