/** Router interpreters built besides `default` (which the router applies itself). */
import { implementPlugin } from '../config/plugins.js';

implementPlugin('interpreter', 'io.l5d.mesh', (c: Record<string, unknown>) => c);
