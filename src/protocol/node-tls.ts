/**
 * node:tls, loaded the first time a TLS server or client is made. A proxy with no TLS never
 * loads it (nor the crypto it pulls in), which keeps a plain sidecar's resident memory down.
 */
import { createRequire } from 'node:module';

let tlsModule: typeof import('node:tls') | undefined;
const requireBuiltin = createRequire(import.meta.url);

export function nodeTls(): typeof import('node:tls') {
  return (tlsModule ??= requireBuiltin('node:tls') as typeof import('node:tls'));
}
