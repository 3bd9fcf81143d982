/**
 * Marks router protocol `h2` as built (the h2 router, src/router/h2, assembled by linker.ts)
 * with its identifiers `io.l5d.header.token`, `io.l5d.header.path` and `io.l5d.ingress`
 * (category `h2Identifier`) and the `io.l5d.h2.*` response classifiers. Keys the h2 router does not build
 * stay "not supported yet" at validation: server and client keys in config/router-fields.ts
 * (notBuiltYet). h2 requests are traced as http ones are (`tracePropagator`, the telemeters).
 */
import { implementPlugin, markKeyBuilt, registerPlugin } from '../config/plugins.js';
import { PROPAGATORS } from '../telemetry/propagators.js';
import { h2ClassifierPlugins } from './classifiers/h2.js';
import { h2IdentifierPlugins } from './h2/identifiers.js';

implementPlugin('protocol', 'h2', () => 'h2');
// `tracePropagator` of h2 routers (h2/router.ts): Linkerd's two kinds and Meshwork's two, as for http.
for (const p of PROPAGATORS) {
  if (p.kind.startsWith('io.l5d.')) implementPlugin('h2TracePropagator', p.kind, () => p);
  else registerPlugin({ category: 'h2TracePropagator', kind: p.kind, fields: {}, create: () => p });
}
for (const spec of h2IdentifierPlugins) registerPlugin(spec);
// The io.l5d.h2.* response classifiers (classifiers/h2.ts) are built into h2 services by the
// h2 router (createH2Classifier), so they are registered with it.
for (const spec of h2ClassifierPlugins) registerPlugin(spec);
// The h2 router writes `h2AccessLog` (with its roll/append/rotate keys) through AccessLogWriter.
markKeyBuilt('routers.h2AccessLog');
