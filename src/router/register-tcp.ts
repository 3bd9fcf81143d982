/**
 * Marks router protocol `tcp` as built: Meshwork's raw TCP router (src/router/tcp, assembled by
 * linker.ts). Linkerd 1.x has no such protocol; its keys are the common router keys.
 */
import { implementPlugin } from '../config/plugins.js';

implementPlugin('protocol', 'tcp', () => 'tcp');
