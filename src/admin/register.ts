/** The admin server enforces `admin.security` (security.ts), so configs may use it. */
import { markKeyBuilt } from '../config/plugins.js';

markKeyBuilt('admin.security');
