/**
 * The parts of the `admin:` section (linkerd.yaml / namerd.yaml) the admin server reads. The
 * keys are validated by src/config (router-fields.ts `adminFields`); its validated
 * `AdminConfig` is assignable to this one. Defaults are Linkerd's.
 */
import type { AdminSecurityConfig } from './security.js';

export interface AdminTlsConfig {
  readonly certPath: string;
  readonly keyPath: string;
  readonly intermediateCertsPath?: string;
  readonly caCertPath?: string;
  readonly requireClientAuth?: boolean;
  readonly ciphers?: readonly string[];
  /** `enabled: false` serves plain HTTP. */
  readonly enabled?: boolean;
}

export interface AdminConfig {
  readonly ip?: string;
  readonly port?: number;
  readonly tls?: AdminTlsConfig;
  readonly security?: AdminSecurityConfig;
  readonly shutdownGraceMs?: number;
}

export const ADMIN_DEFAULT_IP = '127.0.0.1';
export const ADMIN_DEFAULT_PORT = 9990; // namerd's default is 9991: its loader passes that in
export const ADMIN_DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
