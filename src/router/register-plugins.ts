/**
 * Registers the router's built pieces with the config registry (src/config/plugins.ts), so a
 * linkerd.yaml using them validates: identifiers, load balancers, failure accrual, response
 * classifiers and retry backoffs. Kinds recognised but not built stay in the config catalogue.
 */
import { registerPlugin } from '../config/plugins.js';
import { balancerPlugins } from './balancers/index.js';
import { classifierPlugins } from './classifiers/index.js';
import { accrualPlugins } from './failure-accrual/index.js';
import { identifierPlugins } from './identifiers/index.js';
import { backoffPlugins } from './retries.js';

for (const spec of [...identifierPlugins, ...balancerPlugins, ...accrualPlugins, ...classifierPlugins, ...backoffPlugins]) {
  if (spec.create !== undefined) registerPlugin(spec);
}
