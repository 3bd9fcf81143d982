/** Registers the transformers Meshwork builds with the config registry (src/config/plugins.ts). */
import { registerPlugin } from '../config/plugins.js';
import { transformerPlugins } from './index.js';

for (const spec of transformerPlugins) if (spec.create !== undefined) registerPlugin(spec);
