/**
 * The `tls` block of a namerd-backed interpreter (Linkerd's namer client TLS: disableValidation,
 * commonName, trustCerts, trustCertsBundle, clientAuth), read once when the interpreter is built.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { PeerCertificate } from 'node:tls';
import { interpreterConfigError, type ConfigWhere } from './errors.js';

export interface NamerdTlsConfig {
  readonly enabled?: boolean;
  readonly disableValidation?: boolean;
  readonly commonName?: string;
  readonly trustCerts?: readonly string[];
  readonly trustCertsBundle?: string;
  readonly clientAuth?: { readonly certPath: string; readonly keyPath: string; readonly intermediateCertsPath?: string };
}

export interface TlsMaterial {
  /** Trusted CAs; undefined means the system's. */
  readonly ca: Buffer | undefined;
  /** Client certificate (with intermediates) and key for mutual TLS. */
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly rejectUnauthorized: boolean;
  /** The name namerd's certificate must carry, when it is not the dialled host. */
  readonly commonName: string | undefined;
}

function readOne(path: string, where: ConfigWhere | undefined, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw interpreterConfigError(where, key, path, `a readable file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Undefined when TLS is off (no block, or `enabled: false`). */
export function readTls(tls: NamerdTlsConfig | undefined, where: ConfigWhere | undefined): TlsMaterial | undefined {
  if (!tls || tls.enabled === false) return undefined;
  const cas = (tls.trustCerts ?? []).map((p) => readOne(p, where, 'tls.trustCerts'));
  if (tls.trustCertsBundle) cas.push(readOne(tls.trustCertsBundle, where, 'tls.trustCertsBundle'));
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  if (tls.clientAuth) {
    cert = readOne(tls.clientAuth.certPath, where, 'tls.clientAuth.certPath');
    key = readOne(tls.clientAuth.keyPath, where, 'tls.clientAuth.keyPath');
    if (tls.clientAuth.intermediateCertsPath) {
      cert = Buffer.concat([cert, Buffer.from('\n'), readOne(tls.clientAuth.intermediateCertsPath, where, 'tls.clientAuth.intermediateCertsPath')]);
    }
  }
  return {
    ca: cas.length > 0 ? Buffer.concat(cas.flatMap((c) => [c, Buffer.from('\n')])) : undefined,
    cert,
    key,
    rejectUnauthorized: tls.disableValidation !== true,
    commonName: tls.commonName,
  };
}

/** Loads a builtin when first needed: node:tls and node:https hold ~1.3 MB resident. */
export const requireBuiltin = createRequire(import.meta.url);

/**
 * A `checkServerIdentity` that validates namerd's certificate against `commonName` rather
 * than against the address dialled (node:tls is loaded here, only once TLS is configured).
 */
export function commonNameCheck(commonName: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const { checkServerIdentity } = requireBuiltin('node:tls') as typeof import('node:tls');
  return (_host, cert) => checkServerIdentity(commonName, cert);
}
