/**
 * namerd's interfaces as config plugins. `io.l5d.thriftNameInterpreter` stays catalogued but is
 * not planned: its ThriftMux protocol is superseded by the gRPC `io.l5d.mesh` interface.
 */
import { implementPlugin, markKeyBuilt } from '../config/plugins.js';

export interface InterfaceConfig {
  readonly kind: string;
  readonly ip?: string;
  readonly port: number;
}

/** The interface factories only return their validated config; namerd.ts starts them. */
implementPlugin('namerdInterface', 'io.l5d.httpController', (c: InterfaceConfig) => c);
implementPlugin('namerdInterface', 'io.l5d.mesh', (c: InterfaceConfig) => c);

/** An interface's `tls` serves it over HTTPS / gRPC with TLS (namerd.ts). */
markKeyBuilt('interfaces.tls');
