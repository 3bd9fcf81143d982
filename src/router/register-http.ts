/**
 * Marks router protocol `http` as built (the config catalogue knows every protocol; the
 * others stay "not supported yet"). The router itself is assembled by linker.ts.
 */
import { implementPlugin } from '../config/plugins.js';

implementPlugin('protocol', 'http', () => 'http');
