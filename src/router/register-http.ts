/**
 * Marks router protocol `http` and interpreter `default` as built (the config catalogue knows every protocol; the
 * others stay "not supported yet"). The router itself is assembled by linker.ts.
 */
import { implementPlugin, markKeyBuilt } from '../config/plugins.js';

implementPlugin('protocol', 'http', () => 'http');
// The router applies the `default` interpreter itself (binder + `transformers`), see naming-deps.ts.
implementPlugin('interpreter', 'default', () => 'default');
// The router writes `httpAccessLog` (with its roll/append/rotate keys) through AccessLogWriter.
markKeyBuilt('routers.httpAccessLog');
// Forwarded labelers are applied by the router (router.ts `forwardedValue`).
for (const kind of ['ip', 'ip:port', 'connectionRandom', 'requestRandom', 'router', 'static']) {
  implementPlugin('forwardedLabeler', kind, (c: Record<string, unknown>) => c);
}
