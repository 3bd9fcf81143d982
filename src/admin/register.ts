/** The admin server enforces `admin.security` (security.ts) and serves `admin.tls`, so configs may use them. */
import { markKeyBuilt } from '../config/plugins.js';

markKeyBuilt('admin.security');
// HTTPS on the admin port (server.ts), linkerd's and namerd's.
markKeyBuilt('admin.tls');
